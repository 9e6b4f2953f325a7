//! JWT bearer tokens as CouchDB's `jwt_authentication_handler` and `jwtf`
//! check them: the header's `alg` picks the key type (`hmac:` for HS*,
//! `rsa:` for RS*, `ec:` for ES*) and the header's `kid` (or `_default`)
//! the key of `[jwt_keys]`; `[jwt_auth] required_claims` (default `exp`)
//! are checked before the signature, in CouchDB's order and with its error
//! strings; `sub` names the user and `_couchdb.roles` (or
//! `roles_claim_name` / `roles_claim_path`) gives the roles. Signatures are
//! verified with the `jsonwebtoken` crate.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::access::UserCtx;

/// A refused token: `400 bad_request` or `401 unauthorized` with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    BadRequest(&'static str),
    Unauthorized(&'static str),
}

/// A claim `[jwt_auth] required_claims` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Required {
    Exp,
    Nbf,
    Iat,
    Kid,
    Typ,
    Sig,
    Iss(String),
}

/// Parses `required_claims` (`exp, nbf, {iss, "MyCompany"}`).
pub fn parse_required(text: &str) -> Result<Vec<Required>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            break;
        }
        if let Some(inner) = rest.strip_prefix('{') {
            let end = inner
                .find('}')
                .ok_or_else(|| format!("unterminated claim in {text:?}"))?;
            let (key, value) = inner[..end]
                .split_once(',')
                .ok_or_else(|| format!("bad claim in {text:?}"))?;
            let value = value.trim().trim_matches('"').to_string();
            match key.trim() {
                "iss" => out.push(Required::Iss(value)),
                other => return Err(format!("unknown claim check {other:?}")),
            }
            rest = &inner[end + 1..];
        } else {
            let end = rest
                .find(|c: char| !c.is_ascii_lowercase())
                .unwrap_or(rest.len());
            if end == 0 {
                return Err(format!("bad required_claims {text:?}"));
            }
            out.push(match &rest[..end] {
                "exp" => Required::Exp,
                "nbf" => Required::Nbf,
                "iat" => Required::Iat,
                "kid" => Required::Kid,
                "typ" => Required::Typ,
                "sig" => Required::Sig,
                "alg" => Required::Sig,
                other => return Err(format!("unknown claim check {other:?}")),
            });
            rest = &rest[end..];
        }
    }
    Ok(out)
}

/// One `[jwt_keys]` entry, decoded (or why it cannot be used).
pub type JwtKey = Result<DecodingKey, &'static str>;

/// `[jwt_auth]` and `[jwt_keys]`.
#[derive(Clone)]
pub struct JwtSettings {
    pub required: Vec<Required>,
    /// `roles_claim_path` split into its steps, else `[roles_claim_name]`.
    pub roles_path: Vec<String>,
    /// By (`hmac` | `rsa` | `ec`, kid).
    pub keys: HashMap<(String, String), JwtKey>,
}

impl Default for JwtSettings {
    fn default() -> Self {
        JwtSettings {
            required: vec![Required::Exp],
            roles_path: vec!["_couchdb.roles".into()],
            keys: HashMap::new(),
        }
    }
}

impl JwtSettings {
    /// Decodes one `[jwt_keys]` line: `hmac:KID = base64`, `rsa:KID = PEM`
    /// or `ec:KID = PEM` (PEM newlines written as `\n`).
    pub fn add_key(&mut self, name: &str, value: &str) -> Result<(), String> {
        let (kty, kid) = name
            .split_once(':')
            .ok_or_else(|| format!("[jwt_keys] {name}: expected TYPE:KID"))?;
        let pem = || value.replace("\\n", "\n");
        let key: JwtKey = match kty {
            "hmac" => STANDARD
                .decode(value.trim())
                .map(|k| DecodingKey::from_secret(&k))
                .map_err(|_| "Not a valid key"),
            "rsa" => {
                DecodingKey::from_rsa_pem(pem().as_bytes()).map_err(|_| "not an RSA public key")
            }
            "ec" => DecodingKey::from_ec_pem(pem().as_bytes()).map_err(|_| "not an EC public key"),
            other => return Err(format!("[jwt_keys] {name}: unknown key type {other:?}")),
        };
        self.keys.insert((kty.to_string(), kid.to_string()), key);
        Ok(())
    }

    /// `roles_claim_path`: `.` nests, `\.` is a literal dot.
    pub fn set_roles_claim_path(&mut self, path: &str) {
        let mut steps = Vec::new();
        let mut cur = String::new();
        let mut chars = path.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'.') => {
                    cur.push('.');
                    chars.next();
                }
                '.' => steps.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        steps.push(cur);
        self.roles_path = steps;
    }
}

fn algorithm(alg: &str) -> Option<(Algorithm, &'static str)> {
    Some(match alg {
        "HS256" => (Algorithm::HS256, "hmac"),
        "HS384" => (Algorithm::HS384, "hmac"),
        "HS512" => (Algorithm::HS512, "hmac"),
        "RS256" => (Algorithm::RS256, "rsa"),
        "RS384" => (Algorithm::RS384, "rsa"),
        "RS512" => (Algorithm::RS512, "rsa"),
        "ES256" => (Algorithm::ES256, "ec"),
        "ES384" => (Algorithm::ES384, "ec"),
        _ => return None,
    })
}

const MALFORMED: JwtError = JwtError::BadRequest("Malformed token");

fn decode_part(part: &str) -> Result<Map<String, Value>, JwtError> {
    let raw = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| MALFORMED)?;
    match serde_json::from_slice::<Value>(&raw).map_err(|_| MALFORMED)? {
        Value::Object(m) => Ok(m),
        _ => Err(JwtError::BadRequest("Not an object")),
    }
}

/// Erlang's term order puts every number before every string: `exp` given
/// as a string is always "in the future", `nbf` never "in the past".
fn erlang_gt_now(v: &Value, now: u64) -> bool {
    match v {
        Value::Number(n) => n.as_f64().is_some_and(|x| x > now as f64),
        Value::String(_) | Value::Array(_) | Value::Object(_) => true,
        Value::Bool(_) | Value::Null => true,
    }
}

fn erlang_lt_now(v: &Value, now: u64) -> bool {
    match v {
        Value::Number(n) => n.as_f64().is_some_and(|x| x < now as f64),
        _ => false,
    }
}

/// Authenticates a bearer token at time `now` (seconds).
pub fn authenticate(token: &str, settings: &JwtSettings, now: u64) -> Result<UserCtx, JwtError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature] = parts[..] else {
        return Err(MALFORMED);
    };
    let requires = |r: &Required| settings.required.contains(r);
    let header = decode_part(header_b64)?;
    match header.get("typ") {
        None if requires(&Required::Typ) => {
            return Err(JwtError::BadRequest("Missing typ header parameter"))
        }
        Some(t) if requires(&Required::Typ) && t != "JWT" => {
            return Err(JwtError::BadRequest("Invalid typ header parameter"))
        }
        _ => {}
    }
    let alg_name = match header.get("alg") {
        None => return Err(JwtError::BadRequest("Missing alg header parameter")),
        Some(v) => v.as_str().unwrap_or(""),
    };
    let (alg, kty) =
        algorithm(alg_name).ok_or(JwtError::BadRequest("Invalid alg header parameter"))?;
    let claims = decode_part(payload_b64)?;
    if let Some(Required::Iss(expected)) = settings
        .required
        .iter()
        .find(|r| matches!(r, Required::Iss(_)))
    {
        match claims.get("iss") {
            None => return Err(JwtError::BadRequest("Missing iss claim")),
            Some(v) if v.as_str() == Some(expected.as_str()) => {}
            Some(_) => return Err(JwtError::BadRequest("Invalid iss claim")),
        }
    }
    if requires(&Required::Iat) {
        match claims.get("iat") {
            None => return Err(JwtError::BadRequest("Missing iat claim")),
            Some(v) if v.is_i64() || v.is_u64() => {}
            Some(_) => return Err(JwtError::BadRequest("Invalid iat claim")),
        }
    }
    if requires(&Required::Nbf) {
        match claims.get("nbf") {
            None => return Err(JwtError::BadRequest("Missing nbf claim")),
            Some(v) if !erlang_lt_now(v, now) => {
                return Err(JwtError::Unauthorized("nbf not in past"))
            }
            Some(_) => {}
        }
    }
    if requires(&Required::Exp) {
        match claims.get("exp") {
            None => return Err(JwtError::BadRequest("Missing exp claim")),
            Some(v) if !erlang_gt_now(v, now) => {
                return Err(JwtError::Unauthorized("exp not in future"))
            }
            Some(_) => {}
        }
    }
    let kid = match header.get("kid") {
        None if requires(&Required::Kid) => return Err(JwtError::BadRequest("Missing kid claim")),
        None => "_default".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let key = settings
        .keys
        .get(&(kty.to_string(), kid))
        .ok_or(JwtError::BadRequest("Unknown kid"))?
        .as_ref()
        .map_err(|reason| JwtError::BadRequest(reason))?;
    let message = format!("{header_b64}.{payload_b64}");
    let good =
        jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg).unwrap_or(false);
    if !good {
        return Err(JwtError::BadRequest(if kty == "hmac" {
            "Bad HMAC"
        } else {
            "Bad signature"
        }));
    }
    let roles = roles_claim(&claims, &settings.roles_path)?;
    match claims.get("sub") {
        Some(Value::String(sub)) => Ok(UserCtx {
            name: Some(sub.clone()),
            roles,
        }),
        Some(other) => Ok(UserCtx {
            name: Some(other.to_string()),
            roles,
        }),
        None => Err(JwtError::Unauthorized("Token missing sub claim.")),
    }
}

fn roles_claim(claims: &Map<String, Value>, path: &[String]) -> Result<Vec<String>, JwtError> {
    let mut cur: Option<&Value> = None;
    for (i, step) in path.iter().enumerate() {
        cur = if i == 0 {
            claims.get(step)
        } else {
            cur.and_then(|v| v.get(step))
        };
    }
    match cur {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|r| r.as_str().map(str::to_string).ok_or(MALFORMED))
            .collect(),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect()),
        Some(_) => Err(MALFORMED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn settings() -> JwtSettings {
        let mut s = JwtSettings::default();
        s.add_key("hmac:_default", &STANDARD.encode("hello"))
            .expect("key");
        s.add_key("hmac:other", &STANDARD.encode("other key"))
            .expect("key");
        s
    }

    fn hs256(claims: &Value, secret: &[u8], kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_string);
        encode(&header, claims, &EncodingKey::from_secret(secret)).expect("encodes")
    }

    #[test]
    fn good_token_names_the_user_and_roles() {
        let t = hs256(
            &json!({"sub": "jan", "exp": NOW + 60, "_couchdb.roles": ["a", "b"]}),
            b"hello",
            None,
        );
        assert_eq!(
            authenticate(&t, &settings(), NOW),
            Ok(UserCtx::named("jan", vec!["a".into(), "b".into()]))
        );
        let t = hs256(
            &json!({"sub": "jan", "exp": NOW + 60}),
            b"other key",
            Some("other"),
        );
        assert_eq!(
            authenticate(&t, &settings(), NOW),
            Ok(UserCtx::named("jan", vec![]))
        );
    }

    #[test]
    fn errors_in_couchdb_order() {
        let s = settings();
        let err = |t: &str| authenticate(t, &s, NOW).expect_err("refused");
        assert_eq!(err("a.b"), JwtError::BadRequest("Malformed token"));
        assert_eq!(err("!!.b.c"), JwtError::BadRequest("Malformed token"));
        let expired = hs256(&json!({"sub": "jan", "exp": NOW - 1}), b"wrong", None);
        assert_eq!(
            err(&expired),
            JwtError::Unauthorized("exp not in future"),
            "claims before signature"
        );
        let no_exp = hs256(&json!({"sub": "jan"}), b"hello", None);
        assert_eq!(err(&no_exp), JwtError::BadRequest("Missing exp claim"));
        let forged = hs256(&json!({"sub": "jan", "exp": NOW + 5}), b"wrong", None);
        assert_eq!(err(&forged), JwtError::BadRequest("Bad HMAC"));
        let unknown = hs256(
            &json!({"sub": "jan", "exp": NOW + 5}),
            b"hello",
            Some("nope"),
        );
        assert_eq!(err(&unknown), JwtError::BadRequest("Unknown kid"));
        let no_sub = hs256(&json!({"exp": NOW + 5}), b"hello", None);
        assert_eq!(
            err(&no_sub),
            JwtError::Unauthorized("Token missing sub claim.")
        );
        let bad_roles = hs256(
            &json!({"sub": "x", "exp": NOW + 5, "_couchdb.roles": [1]}),
            b"hello",
            None,
        );
        assert_eq!(err(&bad_roles), JwtError::BadRequest("Malformed token"));
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"sub":"x","exp":9999999999}"#)
        );
        assert_eq!(
            err(&none_alg),
            JwtError::BadRequest("Invalid alg header parameter")
        );
        // an HS token is never checked against an RSA key of the same kid
        let mut s2 = JwtSettings::default();
        s2.keys.insert(
            ("rsa".into(), "_default".into()),
            Err("not an RSA public key"),
        );
        let t = hs256(&json!({"sub": "x", "exp": NOW + 5}), b"hello", None);
        assert_eq!(
            authenticate(&t, &s2, NOW),
            Err(JwtError::BadRequest("Unknown kid"))
        );
    }

    #[test]
    fn required_claims_and_roles_paths() {
        assert_eq!(
            parse_required(r#"exp, nbf, {iss, "MyCompany"}"#),
            Ok(vec![
                Required::Exp,
                Required::Nbf,
                Required::Iss("MyCompany".into())
            ])
        );
        assert_eq!(parse_required(""), Ok(vec![]));
        assert!(parse_required("exp, bogus").is_err());
        let mut s = settings();
        s.required = parse_required(r#"nbf, {iss, "me"}"#).expect("parses");
        s.set_roles_claim_path(r"my.nested._couchdb\.roles");
        assert_eq!(s.roles_path, vec!["my", "nested", "_couchdb.roles"]);
        let good = hs256(
            &json!({"sub": "x", "nbf": NOW - 1, "iss": "me", "my": {"nested": {"_couchdb.roles": "a, b"}}}),
            b"hello",
            None,
        );
        assert_eq!(
            authenticate(&good, &s, NOW),
            Ok(UserCtx::named("x", vec!["a".into(), "b".into()]))
        );
        let early = hs256(
            &json!({"sub": "x", "nbf": NOW + 10, "iss": "me"}),
            b"hello",
            None,
        );
        assert_eq!(
            authenticate(&early, &s, NOW),
            Err(JwtError::Unauthorized("nbf not in past"))
        );
        let other = hs256(
            &json!({"sub": "x", "nbf": NOW - 1, "iss": "you"}),
            b"hello",
            None,
        );
        assert_eq!(
            authenticate(&other, &s, NOW),
            Err(JwtError::BadRequest("Invalid iss claim"))
        );
    }
}
