//! The rules of the users database (`_users`): who may read and write which
//! user document, how a clear `password` becomes a PBKDF2 hash on write,
//! and the checks of CouchDB's `_design/_auth` `validate_doc_update`,
//! enforced natively (Settee runs no JavaScript) with the same outcomes and
//! `forbidden` reasons.
//!
//! As in CouchDB (`couch_users_db`): admins — server admins and admins of
//! the users database — read and write everything; a user reads and writes
//! only `org.couchdb.user:<own name>` (another user's document reads as
//! missing, a design document is forbidden), and an anonymous user may
//! create one (sign-up). Whether anyone but admins gets that far is up to
//! the database's `_security`, which CouchDB 3 creates admin-only.

use serde_json::{Map, Value};

use super::access::{Security, UserCtx};
use super::password::{new_salt, Prf};

/// Ids of user documents start with this.
pub const USER_PREFIX: &str = "org.couchdb.user:";

/// The user a document id belongs to.
pub fn doc_name(id: &str) -> Option<&str> {
    id.strip_prefix(USER_PREFIX)
}

/// What reading a document of the users database comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRule {
    Allow,
    /// `404 not_found missing`: someone else's user document.
    NotFound,
    /// `403 forbidden`.
    Forbidden(&'static str),
}

pub const DESIGN_DOCS_ADMIN_ONLY: &str =
    "Only administrators can view design docs in the users database.";

/// `couch_users_db:after_doc_read/2` (without `public_fields`).
pub fn read_rule(id: &str, ctx: &UserCtx, is_admin: bool) -> ReadRule {
    if is_admin {
        ReadRule::Allow
    } else if id.starts_with("_design/") {
        ReadRule::Forbidden(DESIGN_DOCS_ADMIN_ONLY)
    } else if ctx.name.is_some() && doc_name(id) == ctx.name.as_deref() {
        ReadRule::Allow
    } else {
        ReadRule::NotFound
    }
}

/// `couch_users_db:before_doc_update/3`: admins write anything, an
/// anonymous user may sign up, a user writes only their own document;
/// `false` is `404 not_found missing` for the whole request.
pub fn may_write(id: &str, ctx: &UserCtx, is_admin: bool) -> bool {
    is_admin || ctx.name.is_none() || doc_name(id) == ctx.name.as_deref()
}

/// Fields the hash replaces.
const PASSWORD_FIELDS: [&str; 8] = [
    "derived_key",
    "iterations",
    "password",
    "password_scheme",
    "password_sha",
    "preserve_salt",
    "pbkdf2_prf",
    "salt",
];

/// Whether a body carries a clear password to hash.
pub fn has_clear_password(body: &Map<String, Value>) -> bool {
    body.get("password").is_some_and(|p| !p.is_null())
}

/// `couch_users_db:save_doc/1`: a non-null `password` is replaced by
/// `password_scheme`, `pbkdf2_prf`, `salt`, `iterations` and `derived_key`
/// (first in the body, as CouchDB puts them); `preserve_salt: true` keeps
/// the existing salt. A password that is not a string is `403 forbidden`.
pub fn hash_password(
    body: &mut Map<String, Value>,
    prf: Prf,
    iterations: u32,
    password_regexp: Option<&str>,
) -> Result<(), PasswordError> {
    let password = match body.get("password") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(p)) => p.clone(),
        Some(other) => {
            return Err(PasswordError::Refused(format!(
                "Password value of '{other}' is invalid."
            )))
        }
    };
    if let Some(rules) = password_regexp {
        check_requirements(&password, rules)?;
    }
    let salt = match (body.get("preserve_salt"), body.get("salt")) {
        (Some(Value::Bool(true)), Some(Value::String(s))) => s.clone(),
        _ => new_salt(),
    };
    let derived_key = prf.pbkdf2_hex(password.as_bytes(), salt.as_bytes(), iterations);
    let mut out = Map::new();
    out.insert("password_scheme".into(), Value::from("pbkdf2"));
    out.insert("pbkdf2_prf".into(), Value::from(prf.name()));
    out.insert("salt".into(), Value::from(salt));
    out.insert("iterations".into(), Value::from(iterations));
    out.insert("derived_key".into(), Value::from(derived_key));
    for (k, v) in std::mem::take(body) {
        if !PASSWORD_FIELDS.contains(&k.as_str()) {
            out.insert(k, v);
        }
    }
    *body = out;
    Ok(())
}

/// Why a password was not hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    /// 403 `forbidden`: the password value, or the server's requirements
    /// setting, is unusable.
    Refused(String),
    /// 400 `bad_request`: the password does not meet a requirement.
    Requirement(String),
}

/// What CouchDB says when `password_regexp` cannot be read.
const PASSWORD_SERVER_ERROR: &str = "Server cannot hash passwords at this time.";

/// `couch_users_db:validate_password`: `rules` is an Erlang list whose
/// items are a regex string, `{Regex}` or `{Regex, Reason}`; the password
/// must match every regex (anywhere in it). An empty list, or `""`, asks
/// nothing.
pub fn check_requirements(password: &str, rules: &str) -> Result<(), PasswordError> {
    const REQUIREMENT: &str = "Password does not conform to requirements.";
    let server_error = || PasswordError::Refused(PASSWORD_SERVER_ERROR.into());
    let rules = rules.trim();
    if rules.is_empty() {
        return Ok(());
    }
    let items = parse_erlang_list(rules).ok_or_else(|| {
        tracing::error!(
            rules,
            "[couch_httpd_auth] password_regexp could not get parsed"
        );
        server_error()
    })?;
    for (regex, reason) in items {
        let compiled = pcre2::bytes::RegexBuilder::new()
            .utf(true)
            .build(&regex)
            .map_err(|_| server_error())?;
        if !compiled.is_match(password.as_bytes()).unwrap_or(false) {
            return Err(PasswordError::Requirement(match reason {
                Some(reason) if !reason.is_empty() => format!("{REQUIREMENT} {reason}"),
                _ => REQUIREMENT.to_string(),
            }));
        }
    }
    Ok(())
}

/// Reads `[Item, …]` where an item is `"regex"`, `{"regex"}` or
/// `{"regex", "reason"}` (Erlang strings, with `\\` escapes).
fn parse_erlang_list(text: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut chars = text.chars().peekable();
    let skip_ws = |c: &mut std::iter::Peekable<std::str::Chars>| {
        while c.peek().is_some_and(|ch| ch.is_whitespace()) {
            c.next();
        }
    };
    let string = |c: &mut std::iter::Peekable<std::str::Chars>| -> Option<String> {
        if c.next()? != '"' {
            return None;
        }
        let mut out = String::new();
        loop {
            match c.next()? {
                '"' => return Some(out),
                '\\' => {
                    let escaped = c.next()?;
                    out.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                ch => out.push(ch),
            }
        }
    };
    skip_ws(&mut chars);
    if chars.next()? != '[' {
        return None;
    }
    let mut items = Vec::new();
    loop {
        skip_ws(&mut chars);
        match chars.peek()? {
            ']' => {
                chars.next();
                break;
            }
            '"' => items.push((string(&mut chars)?, None)),
            '{' => {
                chars.next();
                skip_ws(&mut chars);
                let regex = string(&mut chars)?;
                skip_ws(&mut chars);
                let reason = if chars.peek() == Some(&',') {
                    chars.next();
                    skip_ws(&mut chars);
                    Some(string(&mut chars)?)
                } else {
                    None
                };
                skip_ws(&mut chars);
                if chars.next()? != '}' {
                    return None;
                }
                items.push((regex, reason));
            }
            _ => return None,
        }
        skip_ws(&mut chars);
        match chars.next()? {
            ',' => {}
            ']' => break,
            _ => return None,
        }
    }
    skip_ws(&mut chars);
    chars.next().is_none().then_some(items)
}

/// JavaScript truthiness of a member (absent is `undefined`).
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0 && !x.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// JavaScript's `String(v)` for the values a JSON document holds.
fn js_string(v: Option<&Value>) -> String {
    match v {
        None => "undefined".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                if i.is_null() {
                    String::new()
                } else {
                    js_string(Some(i))
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(_)) => "[object Object]".into(),
        Some(other) => other.to_string(),
    }
}

/// A document about to be written to the users database.
pub struct UserDocWrite<'a> {
    pub id: &'a str,
    pub deleted: bool,
    /// The ordinary members (after [`hash_password`]).
    pub body: &'a Map<String, Value>,
}

/// The `_design/_auth` validation: `Err(reason)` is `403 forbidden`.
/// `old` is the previous revision as JSON (`None` for a new document; a
/// deleted one is `{"_id","_rev","_deleted":true}` as CouchDB passes it).
pub fn validate(
    new: &UserDocWrite,
    old: Option<&Map<String, Value>>,
    ctx: &UserCtx,
    sec: &Security,
) -> Result<(), String> {
    let forbid = |m: &str| Err(m.to_string());
    let get = |k: &str| new.body.get(k);
    if new.deleted {
        let old_name = old.and_then(|o| o.get("name"));
        let own = match (&ctx.name, old_name) {
            (Some(n), Some(Value::String(o))) => n == o,
            (None, None | Some(Value::Null)) => old.is_some(),
            _ => false,
        };
        return if ctx.is_server_admin() || own {
            Ok(())
        } else {
            forbid("Only admins may delete other user docs.")
        };
    }
    if get("type").and_then(Value::as_str) != Some("user") {
        return forbid("doc.type must be user");
    }
    if !truthy(get("name")) {
        return forbid("doc.name is required");
    }
    if !truthy(get("roles")) {
        return forbid("doc.roles must exist");
    }
    let Some(roles) = get("roles").and_then(Value::as_array) else {
        return forbid("doc.roles must be an array");
    };
    if roles.iter().any(|r| !r.is_string()) {
        return forbid("doc.roles can only contain strings");
    }
    let roles: Vec<&str> = roles.iter().filter_map(Value::as_str).collect();
    if new.id != format!("{USER_PREFIX}{}", js_string(get("name"))) {
        return forbid("Doc ID must be of the form org.couchdb.user:name");
    }
    if let Some(old) = old {
        if old.get("name") != get("name") {
            return forbid("Usernames can not be changed.");
        }
    }
    if truthy(get("password_sha")) && !truthy(get("salt")) {
        return forbid("Users with password_sha must have a salt.See /_utils/script/couch.js for example code.");
    }
    if truthy(get("password_scheme")) {
        let scheme = js_string(get("password_scheme"));
        if get("password_scheme").and_then(Value::as_str).is_none()
            || !["simple", "pbkdf2"].contains(&scheme.as_str())
        {
            return Err(format!("Password scheme `{scheme}` not supported."));
        }
    }
    if get("password_scheme").and_then(Value::as_str) == Some("pbkdf2") {
        if !get("iterations").is_some_and(Value::is_number) {
            return forbid("iterations must be a number.");
        }
        if !get("derived_key").is_some_and(Value::is_string) {
            return forbid("derived_key must be a string.");
        }
    }
    if !sec.is_admin(ctx) {
        match old {
            Some(old) => {
                if ctx.name.as_deref() != get("name").and_then(Value::as_str) {
                    return forbid("You may only update your own user document.");
                }
                let mut old_roles: Vec<String> = match old.get("roles") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(a)) => a.iter().map(|r| js_string(Some(r))).collect(),
                    Some(_) => return forbid("Only _admin may edit roles"),
                };
                let mut new_roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
                old_roles.sort();
                new_roles.sort();
                if old_roles != new_roles {
                    return forbid("Only _admin may edit roles");
                }
            }
            None if !roles.is_empty() => return forbid("Only _admin may set roles"),
            None => {}
        }
    }
    if roles.iter().any(|r| *r != "_metrics" && r.starts_with('_')) {
        return forbid("No system roles (starting with underscore) in users db.");
    }
    if let Some(name) = get("name").and_then(Value::as_str) {
        if name.starts_with('_') {
            return forbid("Username may not start with underscore.");
        }
        if name.contains(':') {
            return forbid("Character `:` is not allowed in usernames.");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn check(
        id: &str,
        body: Value,
        old: Option<Value>,
        ctx: &UserCtx,
        sec: &Security,
    ) -> Result<(), String> {
        let body = obj(body);
        let old = old.map(obj);
        validate(
            &UserDocWrite {
                id,
                deleted: false,
                body: &body,
            },
            old.as_ref(),
            ctx,
            sec,
        )
    }

    #[test]
    fn password_requirements_as_couchdb() {
        // the setting CouchDB's users_db_test writes
        let rules = r#"[{".{10,}"}, {"[A-Z]+", "Requirement 2."}, {"[a-z]+", ""}, {"\\d+", "Req 4."}, "[!\.,\(\)]+"]"#;
        let check = |p: &str| check_requirements(p, rules);
        let requirement = |m: &str| Err(PasswordError::Requirement(m.to_string()));
        assert_eq!(
            check("funnybone"),
            requirement("Password does not conform to requirements.")
        );
        assert_eq!(
            check("funnnnnybone"),
            requirement("Password does not conform to requirements. Requirement 2.")
        );
        assert_eq!(
            check("FUNNNNNYBONE"),
            requirement("Password does not conform to requirements.")
        );
        assert_eq!(
            check("FunnnnnyBone"),
            requirement("Password does not conform to requirements. Req 4.")
        );
        assert_eq!(
            check("Funnnnnyb0ne"),
            requirement("Password does not conform to requirements.")
        );
        assert_eq!(check("Funnnnnyb0ne!"), Ok(()));
        assert_eq!(check_requirements("x", "[]"), Ok(()));
        assert_eq!(
            check_requirements("x", "not a list"),
            Err(PasswordError::Refused(PASSWORD_SERVER_ERROR.into()))
        );
    }

    fn sec() -> Security {
        Security::from_json(&json!({"admins": {"names": ["dba"], "roles": ["user_admin"]}}))
    }

    #[test]
    fn who_reads_and_writes_which_user_doc() {
        let tom = UserCtx::named("tom", vec![]);
        let id = "org.couchdb.user:tom";
        assert_eq!(read_rule(id, &tom, false), ReadRule::Allow);
        assert_eq!(
            read_rule("org.couchdb.user:jerry", &tom, false),
            ReadRule::NotFound
        );
        assert_eq!(
            read_rule(id, &UserCtx::anonymous(), false),
            ReadRule::NotFound
        );
        assert_eq!(
            read_rule("_design/_auth", &tom, false),
            ReadRule::Forbidden(DESIGN_DOCS_ADMIN_ONLY)
        );
        assert_eq!(read_rule("_design/_auth", &tom, true), ReadRule::Allow);
        assert!(may_write(id, &tom, false));
        assert!(!may_write("org.couchdb.user:jerry", &tom, false));
        assert!(may_write(
            "org.couchdb.user:jerry",
            &UserCtx::anonymous(),
            false
        ));
        assert!(may_write("org.couchdb.user:jerry", &tom, true));
    }

    #[test]
    fn clear_password_is_hashed_first_and_removed() {
        let mut body = obj(
            json!({"name": "tom", "password": "mp3", "roles": [], "type": "user", "password_sha": "x"}),
        );
        hash_password(&mut body, Prf::Sha256, 3, None).expect("hashes");
        let keys: Vec<&str> = body.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "password_scheme",
                "pbkdf2_prf",
                "salt",
                "iterations",
                "derived_key",
                "name",
                "roles",
                "type"
            ]
        );
        let salt = body["salt"].as_str().expect("salt").to_string();
        assert_eq!(salt.len(), 32);
        assert_eq!(
            body["derived_key"],
            Prf::Sha256.pbkdf2_hex(b"mp3", salt.as_bytes(), 3)
        );
        assert_eq!(body["iterations"], 3);
        // preserve_salt keeps it; null passwords are left alone
        let mut again = obj(json!({"password": "new", "salt": salt, "preserve_salt": true}));
        hash_password(&mut again, Prf::Sha256, 3, None).expect("hashes");
        assert_eq!(again["salt"], Value::from(salt));
        assert!(!again.contains_key("preserve_salt"));
        let mut null = obj(json!({"password": null, "name": "x"}));
        hash_password(&mut null, Prf::Sha256, 3, None).expect("no-op");
        assert_eq!(Value::Object(null), json!({"password": null, "name": "x"}));
        let mut number = obj(json!({"password": 123}));
        assert_eq!(
            hash_password(&mut number, Prf::Sha256, 3, None),
            Err(PasswordError::Refused(
                "Password value of '123' is invalid.".into()
            ))
        );
    }

    #[test]
    fn validation_reasons() {
        let anon = UserCtx::anonymous();
        let s = sec();
        let id = "org.couchdb.user:tom";
        let good = json!({"type": "user", "name": "tom", "roles": []});
        assert_eq!(check(id, good.clone(), None, &anon, &s), Ok(()));
        let cases = [
            (json!({"name": "tom", "roles": []}), "doc.type must be user"),
            (json!({"type": "user", "roles": []}), "doc.name is required"),
            (json!({"type": "user", "name": "tom"}), "doc.roles must exist"),
            (json!({"type": "user", "name": "tom", "roles": "a"}), "doc.roles must be an array"),
            (json!({"type": "user", "name": "tom", "roles": [1]}), "doc.roles can only contain strings"),
            (json!({"type": "user", "name": "jerry", "roles": []}), "Doc ID must be of the form org.couchdb.user:name"),
            (json!({"type": "user", "name": "tom", "roles": [], "password_sha": "x"}),
             "Users with password_sha must have a salt.See /_utils/script/couch.js for example code."),
            (json!({"type": "user", "name": "tom", "roles": [], "password_scheme": "bcrypt"}), "Password scheme `bcrypt` not supported."),
            (json!({"type": "user", "name": "tom", "roles": [], "password_scheme": "pbkdf2", "derived_key": "k"}), "iterations must be a number."),
            (json!({"type": "user", "name": "tom", "roles": [], "password_scheme": "pbkdf2", "iterations": 1}), "derived_key must be a string."),
            (json!({"type": "user", "name": "tom", "roles": ["x"]}), "Only _admin may set roles"),
        ];
        for (body, reason) in cases {
            assert_eq!(
                check(id, body.clone(), None, &anon, &s),
                Err(reason.to_string()),
                "{body}"
            );
        }
        let admin = UserCtx::named("admin", vec!["_admin".into()]);
        assert_eq!(
            check(
                id,
                json!({"type": "user", "name": "tom", "roles": ["_x"]}),
                None,
                &admin,
                &s
            ),
            Err("No system roles (starting with underscore) in users db.".into())
        );
        assert_eq!(
            check(
                id,
                json!({"type": "user", "name": "tom", "roles": ["_metrics", "x"]}),
                None,
                &admin,
                &s
            ),
            Ok(())
        );
        assert_eq!(
            check(
                "org.couchdb.user:_x",
                json!({"type": "user", "name": "_x", "roles": []}),
                None,
                &admin,
                &s
            ),
            Err("Username may not start with underscore.".into())
        );
        assert_eq!(
            check(
                "org.couchdb.user:a:b",
                json!({"type": "user", "name": "a:b", "roles": []}),
                None,
                &admin,
                &s
            ),
            Err("Character `:` is not allowed in usernames.".into())
        );
    }

    #[test]
    fn updates_by_users_and_admins() {
        let s = sec();
        let id = "org.couchdb.user:tom";
        let old =
            json!({"_id": id, "_rev": "1-a", "type": "user", "name": "tom", "roles": ["b", "a"]});
        let tom = UserCtx::named("tom", vec![]);
        let same_roles = json!({"type": "user", "name": "tom", "roles": ["a", "b"]});
        assert_eq!(check(id, same_roles, Some(old.clone()), &tom, &s), Ok(()));
        let more = json!({"type": "user", "name": "tom", "roles": ["a", "b", "c"]});
        assert_eq!(
            check(id, more.clone(), Some(old.clone()), &tom, &s),
            Err("Only _admin may edit roles".into())
        );
        let jerry = UserCtx::named("jerry", vec![]);
        assert_eq!(
            check(id, more.clone(), Some(old.clone()), &jerry, &s),
            Err("You may only update your own user document.".into())
        );
        let dba = UserCtx::named("dba", vec![]);
        assert_eq!(
            check(id, more.clone(), Some(old.clone()), &dba, &s),
            Ok(()),
            "database admins may edit roles"
        );
        let by_role = UserCtx::named("speedy", vec!["user_admin".into()]);
        assert_eq!(check(id, more, Some(old.clone()), &by_role, &s), Ok(()));
        let renamed = json!({"type": "user", "name": "tim", "roles": []});
        assert_eq!(
            check("org.couchdb.user:tim", renamed, Some(old.clone()), &dba, &s),
            Err("Usernames can not be changed.".into())
        );
        // deletes: server admins, or the user themself
        let body = Map::new();
        let del = UserDocWrite {
            id,
            deleted: true,
            body: &body,
        };
        let old = obj(old);
        assert_eq!(validate(&del, Some(&old), &tom, &s), Ok(()));
        assert_eq!(
            validate(&del, Some(&old), &jerry, &s),
            Err("Only admins may delete other user docs.".into())
        );
        assert_eq!(
            validate(&del, Some(&old), &dba, &s),
            Err("Only admins may delete other user docs.".into())
        );
        let admin = UserCtx::named("admin", vec!["_admin".into()]);
        assert_eq!(validate(&del, Some(&old), &admin, &s), Ok(()));
    }
}
