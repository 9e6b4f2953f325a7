//! Who may do what: CouchDB 3's access decision as one pure function,
//! [`decide`], over a user context, a database's `_security` object and the
//! kind of request ([`Access`]), with CouchDB's exact outcomes and reasons.
//!
//! The rules are `chttpd_auth_request` (which paths need a server admin,
//! which a database admin) and `couch_db` (`is_member`, `is_admin`): server
//! admins (role `_admin`) may do everything; database admins are the names
//! and roles of `_security.admins`; members are the names and roles of
//! `_security.members` (or the old `readers`); a database whose members list
//! no name and no role is public. An anonymous user refused is `401`, a
//! named one `403`, except where CouchDB always answers `401`.

use serde_json::Value;

/// The server admin role.
pub const ADMIN_ROLE: &str = "_admin";

/// The user a request acts for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserCtx {
    /// `None` is CouchDB's `null`: an anonymous user.
    pub name: Option<String>,
    pub roles: Vec<String>,
}

impl UserCtx {
    pub fn anonymous() -> UserCtx {
        UserCtx::default()
    }

    /// The user of an admin party: no name, role `_admin`.
    pub fn party_admin() -> UserCtx {
        UserCtx {
            name: None,
            roles: vec![ADMIN_ROLE.to_string()],
        }
    }

    pub fn named(name: &str, roles: Vec<String>) -> UserCtx {
        UserCtx {
            name: Some(name.to_string()),
            roles,
        }
    }

    pub fn is_server_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ADMIN_ROLE)
    }
}

/// One side of a `_security` object: user names and roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principals {
    pub names: Vec<String>,
    pub roles: Vec<String>,
}

impl Principals {
    fn from_json(v: Option<&Value>) -> Principals {
        let list = |key: &str| -> Vec<String> {
            v.and_then(|o| o.get(key))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Principals {
            names: list("names"),
            roles: list("roles"),
        }
    }

    fn is_empty(&self) -> bool {
        self.names.is_empty() && self.roles.is_empty()
    }

    /// `couch_db:is_authorized/2`: a shared role (`_admin` always counts),
    /// or the user's name in `names`.
    fn admits(&self, ctx: &UserCtx) -> bool {
        let role_match = !ctx.roles.is_empty()
            && ctx
                .roles
                .iter()
                .any(|r| r == ADMIN_ROLE || self.roles.iter().any(|x| x == r));
        role_match
            || ctx
                .name
                .as_ref()
                .is_some_and(|n| self.names.iter().any(|x| x == n))
    }
}

/// A database's `_security` object, as far as access is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    pub admins: Principals,
    pub members: Principals,
}

impl Security {
    /// Reads `admins` and `members` (falling back to the old `readers`).
    pub fn from_json(sec: &Value) -> Security {
        Security {
            admins: Principals::from_json(sec.get("admins")),
            members: Principals::from_json(sec.get("members").or_else(|| sec.get("readers"))),
        }
    }

    /// `couch_db:is_admin/1`: a server admin or a database admin.
    pub fn is_admin(&self, ctx: &UserCtx) -> bool {
        self.admins.admits(ctx)
    }

    /// `couch_db:is_member/1`: an admin, anyone on a public database, or a
    /// listed member.
    pub fn is_member(&self, ctx: &UserCtx) -> bool {
        self.is_admin(ctx) || self.members.is_empty() || self.members.admits(ctx)
    }
}

/// What a request needs, decided from its route and method alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: `/`, `/_up`, `/_uuids`, `/_session`.
    Public,
    /// `/_all_dbs` and `/_dbs_info`: server admins while
    /// `[chttpd] admin_only_all_dbs` is true (the default), else anyone.
    ListDbs,
    /// Server admins only (`require_admin`): creating and deleting
    /// databases, unknown `/_…` paths, `_users`' `_all_docs` and `_changes`.
    ServerAdmin,
    /// Members of the database (`db_authorization_check`): reading and
    /// writing ordinary documents, `_all_docs`, `_changes`, `_bulk_*`, …
    DbMember,
    /// Members, then database admins (`couch_db:check_is_admin`):
    /// `PUT _revs_limit`, writing design documents.
    DbAdmin,
    /// `PUT _security`: members, then (when `locked`, the users database
    /// without `users_db_security_editable`) nobody, then database admins.
    SecurityWrite { locked: bool },
    /// `_compact` (`require_db_admin`): members, then database admins, with
    /// its own reason and always `401`.
    DbAdminPath,
}

/// The outcome of [`decide`], with CouchDB's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// `401 {"error":"unauthorized","reason":…}`
    Unauthorized(&'static str),
    /// `403 {"error":"forbidden","reason":…}`
    Forbidden(&'static str),
}

pub const NOT_SERVER_ADMIN: &str = "You are not a server admin.";
pub const NOT_DB_OR_SERVER_ADMIN: &str = "You are not a db or server admin.";
pub const NOT_SERVER_OR_DB_ADMIN: &str = "You are not a server or db admin.";
pub const NOT_AUTHORIZED_FOR_DB: &str = "You are not authorized to access this db.";
pub const NOT_ALLOWED_IN_DB: &str = "You are not allowed to access this db.";
pub const USERS_SECURITY_LOCKED: &str = "You can't edit the security object of the user database.";

/// `couch_db:throw_security_error`: 401 for the anonymous, 403 otherwise.
fn security_error(ctx: &UserCtx, reason: &'static str) -> Decision {
    if ctx.name.is_none() {
        Decision::Unauthorized(reason)
    } else {
        Decision::Forbidden(reason)
    }
}

fn member_error(ctx: &UserCtx) -> Decision {
    if ctx.name.is_none() {
        Decision::Unauthorized(NOT_AUTHORIZED_FOR_DB)
    } else {
        Decision::Forbidden(NOT_ALLOWED_IN_DB)
    }
}

/// Decides a request. `security` is the database's `_security` for the
/// database-level kinds (a missing one is treated as admin-only, so a
/// caller that forgets it refuses rather than allows); `ListDbs` must
/// already be resolved by the caller as `Public` or `ServerAdmin`, and is
/// treated as `ServerAdmin` here.
pub fn decide(ctx: &UserCtx, security: Option<&Security>, access: Access) -> Decision {
    let admin_only = Security {
        admins: Principals::default(),
        members: Principals {
            names: vec![],
            roles: vec![ADMIN_ROLE.to_string()],
        },
    };
    let sec = security.unwrap_or(&admin_only);
    match access {
        Access::Public => Decision::Allow,
        Access::ListDbs | Access::ServerAdmin => {
            if ctx.is_server_admin() {
                Decision::Allow
            } else {
                Decision::Unauthorized(NOT_SERVER_ADMIN)
            }
        }
        Access::DbMember => {
            if sec.is_member(ctx) {
                Decision::Allow
            } else {
                member_error(ctx)
            }
        }
        Access::DbAdmin => {
            if !sec.is_member(ctx) {
                member_error(ctx)
            } else if sec.is_admin(ctx) {
                Decision::Allow
            } else {
                security_error(ctx, NOT_DB_OR_SERVER_ADMIN)
            }
        }
        Access::SecurityWrite { locked } => {
            if !sec.is_member(ctx) {
                member_error(ctx)
            } else if locked {
                Decision::Forbidden(USERS_SECURITY_LOCKED)
            } else if sec.is_admin(ctx) {
                Decision::Allow
            } else {
                security_error(ctx, NOT_DB_OR_SERVER_ADMIN)
            }
        }
        Access::DbAdminPath => {
            if !sec.is_member(ctx) {
                member_error(ctx)
            } else if sec.is_admin(ctx) {
                Decision::Allow
            } else {
                Decision::Unauthorized(NOT_SERVER_OR_DB_ADMIN)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn users() -> Vec<(&'static str, UserCtx)> {
        vec![
            ("anonymous", UserCtx::anonymous()),
            ("stranger", UserCtx::named("mallory", vec!["staff".into()])),
            ("member by name", UserCtx::named("soledad", vec![])),
            (
                "member by role",
                UserCtx::named("bob", vec!["readers".into()]),
            ),
            ("db admin", UserCtx::named("dba", vec![])),
            (
                "db admin by role",
                UserCtx::named("carol", vec!["ops".into()]),
            ),
            (
                "server admin",
                UserCtx::named("admin", vec![ADMIN_ROLE.into()]),
            ),
            ("party admin", UserCtx::party_admin()),
        ]
    }

    fn private_db() -> Security {
        Security::from_json(&json!({
            "members": {"names": ["soledad"], "roles": ["readers"]},
            "admins": {"names": ["dba"], "roles": ["ops"]},
        }))
    }

    const A: Decision = Decision::Allow;
    const U_DB: Decision = Decision::Unauthorized(NOT_AUTHORIZED_FOR_DB);
    const F_DB: Decision = Decision::Forbidden(NOT_ALLOWED_IN_DB);
    const U_SRV: Decision = Decision::Unauthorized(NOT_SERVER_ADMIN);
    const F_ADM: Decision = Decision::Forbidden(NOT_DB_OR_SERVER_ADMIN);
    const U_PATH: Decision = Decision::Unauthorized(NOT_SERVER_OR_DB_ADMIN);

    /// The whole table: each kind of request against each kind of user on a
    /// database with named and role members and admins.
    #[test]
    fn decision_table_on_a_private_database() {
        let sec = private_db();
        #[rustfmt::skip]
        let table: [(Access, [Decision; 8]); 7] = [
            // anonymous, stranger, member/name, member/role, db admin, db admin/role, server admin, party admin
            (Access::Public,      [A, A, A, A, A, A, A, A]),
            (Access::ServerAdmin, [U_SRV, U_SRV, U_SRV, U_SRV, U_SRV, U_SRV, A, A]),
            (Access::ListDbs,     [U_SRV, U_SRV, U_SRV, U_SRV, U_SRV, U_SRV, A, A]),
            (Access::DbMember,    [U_DB, F_DB, A, A, A, A, A, A]),
            (Access::DbAdmin,     [U_DB, F_DB, F_ADM, F_ADM, A, A, A, A]),
            (Access::SecurityWrite { locked: false }, [U_DB, F_DB, F_ADM, F_ADM, A, A, A, A]),
            (Access::DbAdminPath, [U_DB, F_DB, U_PATH, U_PATH, A, A, A, A]),
        ];
        for (access, expected) in table {
            for ((who, ctx), want) in users().iter().zip(expected) {
                assert_eq!(decide(ctx, Some(&sec), access), want, "{access:?} as {who}");
            }
        }
    }

    #[test]
    fn default_admin_only_security_admits_only_server_admins() {
        let sec = Security::from_json(
            &json!({"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}}),
        );
        for (who, ctx) in users() {
            let want = if ctx.is_server_admin() {
                A
            } else {
                decide(&ctx, Some(&Security::default()), Access::Public)
            };
            let got = decide(&ctx, Some(&sec), Access::DbMember);
            if ctx.is_server_admin() {
                assert_eq!(got, want, "{who}");
            } else {
                assert_ne!(got, A, "{who}");
            }
        }
        // a forgotten security object means admin-only, never public
        assert_eq!(decide(&UserCtx::anonymous(), None, Access::DbMember), U_DB);
    }

    #[test]
    fn empty_members_means_public_but_admin_kinds_stay_closed() {
        let sec = Security::from_json(&json!({}));
        let anon = UserCtx::anonymous();
        assert_eq!(decide(&anon, Some(&sec), Access::DbMember), A);
        assert_eq!(
            decide(&anon, Some(&sec), Access::DbAdmin),
            Decision::Unauthorized(NOT_DB_OR_SERVER_ADMIN)
        );
        let joe = UserCtx::named("joe", vec![]);
        assert_eq!(decide(&joe, Some(&sec), Access::DbAdmin), F_ADM);
        // admins listed but members empty: still public
        let sec = Security::from_json(
            &json!({"admins": {"names": ["x"]}, "members": {"names": [], "roles": []}}),
        );
        assert_eq!(decide(&joe, Some(&sec), Access::DbMember), A);
    }

    #[test]
    fn readers_is_the_old_name_of_members() {
        let sec = Security::from_json(&json!({"readers": {"names": ["old"]}}));
        assert_eq!(
            decide(&UserCtx::named("old", vec![]), Some(&sec), Access::DbMember),
            A
        );
        assert_eq!(
            decide(&UserCtx::named("new", vec![]), Some(&sec), Access::DbMember),
            F_DB
        );
    }

    #[test]
    fn locked_users_security_refuses_even_server_admins() {
        let sec = Security::from_json(
            &json!({"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}}),
        );
        let admin = UserCtx::named("admin", vec![ADMIN_ROLE.into()]);
        assert_eq!(
            decide(&admin, Some(&sec), Access::SecurityWrite { locked: true }),
            Decision::Forbidden(USERS_SECURITY_LOCKED)
        );
        // strangers still learn only that they are not members
        assert_eq!(
            decide(
                &UserCtx::anonymous(),
                Some(&sec),
                Access::SecurityWrite { locked: true }
            ),
            U_DB
        );
    }

    #[test]
    fn a_user_without_roles_is_never_matched_by_role_and_null_never_by_name() {
        let sec = Security::from_json(&json!({"members": {"names": ["null"], "roles": []}}));
        assert_eq!(
            decide(&UserCtx::anonymous(), Some(&sec), Access::DbMember),
            U_DB
        );
        let malformed =
            Security::from_json(&json!({"members": {"names": [1, null], "roles": [{}]}}));
        assert_eq!(
            decide(
                &UserCtx::named("1", vec![]),
                Some(&malformed),
                Access::DbMember
            ),
            A
        );
    }
}
