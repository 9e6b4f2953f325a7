//! Authentication and authorization, as CouchDB 3 enforces them. No actix,
//! no sled: the HTTP layer (`http::auth`) hands in header values and user
//! documents and gets back a [`UserCtx`] or CouchDB's error.
//!
//! - [`settings`]: server admins (hashed only), handlers, timeouts, keys,
//!   CORS and TLS, from the ini file and the command line.
//! - [`password`]: PBKDF2 hashes and the cache of verified passwords.
//! - [`cookie`]: `AuthSession` cookies (HMAC, timeout, renewal).
//! - [`jwt`]: bearer tokens (HS*, RS*, ES256/384).
//! - [`lockout`]: throttling of repeated failed logins.
//! - [`access`]: the decision function over user, `_security` and kind of
//!   request.
//! - [`users`]: the rules of the users database.
//! - [`cors`]: cross-origin headers.
//!
//! [`Auth`] holds the settings and the in-memory state (verified-password
//! cache, failure counts) and offers each handler's check as a method.

pub mod access;
pub mod cookie;
pub mod cors;
pub mod jwt;
pub mod lockout;
pub mod password;
pub mod settings;
pub mod users;

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};

pub use access::{decide, Access, Decision, Security, UserCtx};
use password::{Credentials, HashError, VerifiedCache};
use settings::Settings;

use crate::error::{Error, Result};

/// `401`: unknown user or wrong password.
pub const BAD_CREDENTIALS: &str = "Name or password is incorrect.";

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What `Authorization: Basic …` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basic {
    /// `_:_`, the "log me out" credentials, or a value without a colon.
    Nobody,
    Credentials(String, String),
}

/// Parses a Basic `Authorization` header; `None` when it is not Basic.
/// Bad base64 is CouchDB's `400`.
pub fn parse_basic(header: &str) -> Result<Option<Basic>> {
    let Some(encoded) = header.strip_prefix("Basic ") else {
        return Ok(None);
    };
    let raw = STANDARD
        .decode(encoded.trim())
        .map_err(|_| Error::bad_request("Authorization header has invalid base64 value"))?;
    let text = String::from_utf8_lossy(&raw);
    Ok(Some(match text.split_once(':') {
        Some(("_", "_")) | None => Basic::Nobody,
        Some((user, pass)) => Basic::Credentials(user.to_string(), pass.to_string()),
    }))
}

/// A user document as the users database holds it.
#[derive(Debug, Clone)]
pub struct UserDoc {
    pub body: Map<String, Value>,
    /// Whether the document has conflicting revisions.
    pub conflicts: bool,
}

/// Authentication settings and state. The settings are fixed for one
/// `Auth`; a settings change makes a new one ([`Auth::rebuilt`]) that keeps
/// the state whose parameters did not change.
pub struct Auth {
    pub settings: Settings,
    verified: std::sync::Arc<VerifiedCache>,
    lockout: std::sync::Arc<lockout::Lockout>,
}

fn verified_cache(s: &Settings) -> VerifiedCache {
    VerifiedCache::new(
        s.passwords_cache,
        s.passwords_cache_max_objects,
        s.passwords_cache_max_idle,
    )
}

fn lockout_of(s: &Settings) -> lockout::Lockout {
    lockout::Lockout::new(
        s.lockout_mode,
        s.lockout_threshold,
        s.lockout_lifetime,
        s.lockout_max_objects,
    )
}

impl Auth {
    pub fn new(settings: Settings) -> Auth {
        Auth {
            verified: std::sync::Arc::new(verified_cache(&settings)),
            lockout: std::sync::Arc::new(lockout_of(&settings)),
            settings,
        }
    }

    /// An `Auth` with new settings that keeps this one's verified
    /// passwords and failed-login counts while their own settings
    /// (`[couch_passwords_cache]`, `[chttpd_auth_lockout]`) are unchanged.
    pub fn rebuilt(&self, settings: Settings) -> Auth {
        let old = &self.settings;
        let same_cache = (
            old.passwords_cache,
            old.passwords_cache_max_objects,
            old.passwords_cache_max_idle,
        ) == (
            settings.passwords_cache,
            settings.passwords_cache_max_objects,
            settings.passwords_cache_max_idle,
        );
        let same_lockout = (
            old.lockout_mode,
            old.lockout_threshold,
            old.lockout_lifetime,
            old.lockout_max_objects,
        ) == (
            settings.lockout_mode,
            settings.lockout_threshold,
            settings.lockout_lifetime,
            settings.lockout_max_objects,
        );
        Auth {
            verified: if same_cache {
                std::sync::Arc::clone(&self.verified)
            } else {
                std::sync::Arc::new(verified_cache(&settings))
            },
            lockout: if same_lockout {
                std::sync::Arc::clone(&self.lockout)
            } else {
                std::sync::Arc::new(lockout_of(&settings))
            },
            settings,
        }
    }

    /// Whether `name` is a configured server admin.
    pub fn is_admin_name(&self, name: &str) -> bool {
        self.settings.admins.contains_key(name)
    }

    /// `get_user_creds`: a server admin's credentials (with the roles of a
    /// user document of the same name added), else the user document's.
    /// A conflicted user document cannot authenticate.
    pub fn credentials(&self, name: &str, doc: Option<&UserDoc>) -> Result<Option<Credentials>> {
        if let Some(doc) = doc {
            if doc.conflicts && !self.settings.allow_conflicted_user_docs {
                return Err(Error::Unauthorized(
                    "User document conflicts must be resolved before the document is used for authentication purposes."
                        .into(),
                ));
            }
        }
        let doc_creds = doc.map(|d| Credentials::from_user_doc(&d.body));
        Ok(match self.settings.admins.get(name) {
            Some(admin) => {
                let mut creds = admin.clone();
                if let Some(user) = doc_creds {
                    creds.roles.extend(user.roles);
                }
                Some(creds)
            }
            None => doc_creds,
        })
    }

    /// Whether a user document has a `totp` member (two-factor logins are
    /// refused on Basic auth, as CouchDB does).
    pub fn has_totp(doc: Option<&UserDoc>) -> bool {
        doc.is_some_and(|d| d.body.contains_key("totp"))
    }

    /// The cheap part of a password check: the lockout (`403`), then the
    /// cache of verified passwords. `None` means the slow check is needed
    /// ([`Auth::check_slow`], on a blocking thread).
    pub fn check_fast(
        &self,
        peer: Option<IpAddr>,
        name: &str,
        creds: &Credentials,
        password: &str,
    ) -> Result<Option<bool>> {
        if self.lockout.is_locked_out(peer, name, &creds.salt) {
            tracing::warn!(user = %name, peer = ?peer, "authentication rejected for locked-out user");
            return Err(Error::Forbidden(lockout::LOCKED_OUT.into()));
        }
        match self.verified.check(name, &creds.salt, password.as_bytes()) {
            Some(false) => {
                self.failed(peer, name, &creds.salt);
                Ok(Some(false))
            }
            other => Ok(other),
        }
    }

    /// The slow check: PBKDF2 as stored; remembers a success, counts a failure.
    pub fn check_slow(
        &self,
        peer: Option<IpAddr>,
        name: &str,
        creds: &Credentials,
        password: &str,
    ) -> Result<bool> {
        let ok = creds
            .verify(
                password.as_bytes(),
                self.settings.min_iterations,
                self.settings.max_iterations,
            )
            .map_err(|HashError::Forbidden(reason)| Error::Forbidden(reason.into()))?;
        if ok {
            self.verified.insert(name, &creds.salt, password.as_bytes());
        } else {
            self.failed(peer, name, &creds.salt);
        }
        Ok(ok)
    }

    fn failed(&self, peer: Option<IpAddr>, name: &str, salt: &str) {
        tracing::warn!(user = %name, peer = ?peer, "authentication failed");
        self.lockout.record_failure(peer, name, salt);
    }

    /// A new `AuthSession` value for a user whose salt is `salt`.
    pub fn make_cookie(&self, name: &str, salt: &str, now: u64) -> String {
        let alg = self
            .settings
            .hash_algorithms
            .first()
            .copied()
            .unwrap_or(password::Prf::Sha256);
        cookie::make(name, now, &self.settings.secret, salt, alg)
    }

    /// Checks a parsed cookie against the user's credentials.
    pub fn check_cookie(
        &self,
        c: &cookie::SessionCookie,
        creds: &Credentials,
        now: u64,
    ) -> Option<cookie::Valid> {
        cookie::verify(
            c,
            now,
            self.settings.timeout,
            &self.settings.secret,
            &creds.salt,
            &self.settings.hash_algorithms,
        )
    }

    /// The `Set-Cookie` value for `value` (empty to clear it).
    pub fn set_cookie(&self, value: &str, secure: bool, now: u64) -> String {
        let attrs = cookie::Attributes {
            max_age: self
                .settings
                .allow_persistent_cookies
                .then_some(self.settings.timeout),
            secure,
            domain: self.settings.cookie_domain.clone(),
            same_site: self.settings.same_site,
        };
        cookie::set_cookie(value, &attrs, now)
    }

    /// Proxy authentication: the user named by the username header, with
    /// the roles header split on commas; with `proxy_use_secret` (and a
    /// configured secret), only if the token header is the hex HMAC of the
    /// name under the secret.
    pub fn proxy_user(
        &self,
        name: &str,
        roles: Option<&str>,
        token: Option<&str>,
    ) -> Option<UserCtx> {
        let roles: Vec<String> = roles
            .map(|r| {
                r.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if self.settings.proxy_use_secret && self.settings.secret_configured {
            let token = token?;
            let ok = self.settings.hash_algorithms.iter().any(|alg| {
                let mac = hex::encode(alg.hmac(&self.settings.secret, name.as_bytes()));
                password::constant_time_eq(mac.as_bytes(), token.as_bytes())
            });
            if !ok {
                return None;
            }
        }
        Some(UserCtx::named(name, roles))
    }

    /// JWT authentication of a bearer token.
    pub fn jwt_user(&self, token: &str, now: u64) -> Result<UserCtx> {
        jwt::authenticate(token, &self.settings.jwt, now).map_err(|e| match e {
            jwt::JwtError::BadRequest(r) => Error::bad_request(r),
            jwt::JwtError::Unauthorized(r) => Error::Unauthorized(r.into()),
        })
    }
}

/// Maps a decision to CouchDB's error.
pub fn enforce(decision: Decision) -> Result<()> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Unauthorized(reason) => Err(Error::Unauthorized(reason.into())),
        Decision::Forbidden(reason) => Err(Error::Forbidden(reason.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ini::Ini;
    use serde_json::json;

    fn auth(extra: &str) -> Auth {
        let ini = Ini::parse(&format!(
            "[chttpd_auth]\niterations = 2\nsecret = s3cr3t\n{extra}\n[admins]\nroot = pw\n"
        ));
        Auth::new(Settings::load(&ini, &[], false).expect("settings").settings)
    }

    #[test]
    fn basic_header_parsing() {
        let enc = |s: &str| format!("Basic {}", STANDARD.encode(s));
        assert_eq!(
            parse_basic(&enc("jan:a:b")).ok().flatten(),
            Some(Basic::Credentials("jan".into(), "a:b".into()))
        );
        assert_eq!(parse_basic(&enc("_:_")).ok().flatten(), Some(Basic::Nobody));
        assert_eq!(
            parse_basic(&enc("nocolon")).ok().flatten(),
            Some(Basic::Nobody)
        );
        assert_eq!(parse_basic("Bearer x").ok().flatten(), None);
        let err = parse_basic("Basic x").expect_err("bad base64");
        assert_eq!(
            err.to_string(),
            "Authorization header has invalid base64 value"
        );
    }

    #[test]
    fn admin_with_user_doc_gets_both_roles_and_conflicts_refuse() {
        let a = auth("");
        let doc = UserDoc {
            body: json!({"roles": ["ops"]})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            conflicts: false,
        };
        let creds = a
            .credentials("root", Some(&doc))
            .expect("ok")
            .expect("found");
        assert_eq!(creds.roles, vec!["_admin".to_string(), "ops".to_string()]);
        assert!(a.credentials("nobody", None).expect("ok").is_none());
        let conflicted = UserDoc {
            conflicts: true,
            ..doc
        };
        assert!(matches!(
            a.credentials("root", Some(&conflicted)),
            Err(Error::Unauthorized(_))
        ));
    }

    #[test]
    fn password_checks_cache_and_lockout() {
        let a = auth("");
        let peer = Some(IpAddr::from([127, 0, 0, 1]));
        let creds = a.credentials("root", None).expect("ok").expect("found");
        assert_eq!(
            a.check_fast(peer, "root", &creds, "pw").expect("ok"),
            None,
            "not cached yet"
        );
        assert!(a.check_slow(peer, "root", &creds, "pw").expect("ok"));
        assert_eq!(
            a.check_fast(peer, "root", &creds, "pw").expect("ok"),
            Some(true),
            "cached"
        );
        for _ in 0..5 {
            assert_eq!(
                a.check_fast(peer, "root", &creds, "wrong").expect("ok"),
                Some(false)
            );
        }
        let locked = a
            .check_fast(peer, "root", &creds, "pw")
            .expect_err("locked out");
        assert_eq!(locked.to_string(), lockout::LOCKED_OUT);
        assert_eq!(
            a.check_fast(Some(IpAddr::from([127, 0, 0, 2])), "root", &creds, "pw")
                .expect("ok"),
            Some(true)
        );
    }

    #[test]
    fn proxy_tokens() {
        let open = auth("");
        assert_eq!(
            open.proxy_user("jan", Some("a, b"), None),
            Some(UserCtx::named("jan", vec!["a".into(), "b".into()]))
        );
        let strict = auth("proxy_use_secret = true");
        assert_eq!(strict.proxy_user("jan", None, None), None);
        let token = hex::encode(password::Prf::Sha256.hmac(b"s3cr3t", b"jan"));
        assert_eq!(
            strict.proxy_user("jan", None, Some(&token)),
            Some(UserCtx::named("jan", vec![]))
        );
        let sha1 = hex::encode(password::Prf::Sha1.hmac(b"s3cr3t", b"jan"));
        assert!(strict.proxy_user("jan", None, Some(&sha1)).is_some());
        assert_eq!(strict.proxy_user("joe", None, Some(&token)), None);
    }
}
