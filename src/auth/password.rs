//! Password hashes as CouchDB stores them, and their verification.
//!
//! Server admins are kept as `-pbkdf2:sha256-KEY,SALT,ITERATIONS` (also read:
//! `-pbkdf2-…`, PBKDF2-SHA1, and the legacy `-hashed-SHA1,SALT`); users in
//! `_users` documents carry `password_scheme`, `pbkdf2_prf`, `salt`,
//! `iterations` and `derived_key` (or the legacy `password_sha`). Keys and
//! hashes are lowercase hex; the salt is a 32-hex-digit string used as is.
//!
//! PBKDF2 is slow on purpose. [`VerifiedCache`] remembers, for a name and
//! salt, a cheap PBKDF2 (5 iterations) of a password that passed the slow
//! check, as CouchDB's `couch_passwords_cache` does, so Basic auth on every
//! request does not re-run the slow hash.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha1::Sha1;
use sha2::{Sha224, Sha256, Sha384, Sha512};

/// The pseudo-random function of a PBKDF2 hash (`pbkdf2_prf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prf {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Prf {
    /// CouchDB's names: `sha`, `sha224`, `sha256`, `sha384`, `sha512`.
    pub fn parse(name: &str) -> Option<Prf> {
        Some(match name {
            "sha" => Prf::Sha1,
            "sha224" => Prf::Sha224,
            "sha256" => Prf::Sha256,
            "sha384" => Prf::Sha384,
            "sha512" => Prf::Sha512,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Prf::Sha1 => "sha",
            Prf::Sha224 => "sha224",
            Prf::Sha256 => "sha256",
            Prf::Sha384 => "sha384",
            Prf::Sha512 => "sha512",
        }
    }

    /// PBKDF2 with this PRF, a key as long as the hash, as lowercase hex.
    pub fn pbkdf2_hex(self, password: &[u8], salt: &[u8], iterations: u32) -> String {
        fn run<M>(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> String
        where
            M: hmac::digest::KeyInit
                + hmac::digest::Update
                + hmac::digest::FixedOutput
                + Clone
                + Sync,
        {
            let mut out = vec![0u8; len];
            if pbkdf2::pbkdf2::<M>(password, salt, iterations, &mut out).is_err() {
                out.clear();
            }
            hex::encode(out)
        }
        match self {
            Prf::Sha1 => run::<Hmac<Sha1>>(password, salt, iterations, 20),
            Prf::Sha224 => run::<Hmac<Sha224>>(password, salt, iterations, 28),
            Prf::Sha256 => run::<Hmac<Sha256>>(password, salt, iterations, 32),
            Prf::Sha384 => run::<Hmac<Sha384>>(password, salt, iterations, 48),
            Prf::Sha512 => run::<Hmac<Sha512>>(password, salt, iterations, 64),
        }
    }

    /// HMAC of `message` under `key`.
    pub fn hmac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            match <M as hmac::digest::KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(message);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            Prf::Sha1 => run::<Hmac<Sha1>>(key, message),
            Prf::Sha224 => run::<Hmac<Sha224>>(key, message),
            Prf::Sha256 => run::<Hmac<Sha256>>(key, message),
            Prf::Sha384 => run::<Hmac<Sha384>>(key, message),
            Prf::Sha512 => run::<Hmac<Sha512>>(key, message),
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Prf::Sha1 => 20,
            Prf::Sha224 => 28,
            Prf::Sha256 => 32,
            Prf::Sha384 => 48,
            Prf::Sha512 => 64,
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new salt: 32 lowercase hex digits, as `couch_uuids:random()`.
pub fn new_salt() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The legacy `simple` scheme: hex SHA-1 of password ++ salt.
pub fn simple_hash(password: &[u8], salt: &[u8]) -> String {
    use sha1::Digest;
    let mut h = Sha1::new();
    h.update(password);
    h.update(salt);
    hex::encode(h.finalize())
}

/// How a password is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `password_sha = sha1(password ++ salt)`.
    Simple { password_sha: Option<String> },
    /// `derived_key = pbkdf2(prf, password, salt, iterations)`; with
    /// `simple+pbkdf2`, over the simple hash instead of the password.
    Pbkdf2 {
        prf: Option<String>,
        iterations: Option<Value>,
        derived_key: Option<String>,
        over_simple: bool,
    },
    /// A `password_scheme` CouchDB does not know: nothing matches.
    Unknown,
}

/// What authenticates one user: a server admin's config entry or a
/// `_users` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub roles: Vec<String>,
    pub salt: String,
    pub scheme: Scheme,
}

/// Why a password check refused before comparing (CouchDB's `forbidden`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// 403 `PRF is invalid`, `Iteration count is too low for this server`, …
    Forbidden(&'static str),
}

impl Credentials {
    /// Parses a server admin's stored value; `None` when it is not a hash
    /// (then it is a plain password that must be hashed first).
    pub fn from_admin_hash(value: &str) -> Option<Credentials> {
        let admin = |scheme, salt: &str| Credentials {
            roles: vec!["_admin".into()],
            salt: salt.to_string(),
            scheme,
        };
        if let Some(rest) = value.strip_prefix("-hashed-") {
            let (hash, salt) = rest.split_once(',')?;
            return Some(admin(
                Scheme::Simple {
                    password_sha: Some(hash.to_string()),
                },
                salt,
            ));
        }
        let (prf, rest) = if let Some(rest) = value.strip_prefix("-pbkdf2-") {
            (Prf::Sha1, rest)
        } else {
            let rest = value.strip_prefix("-pbkdf2:")?;
            let (name, rest) = rest.split_once('-')?;
            (Prf::parse(name)?, rest)
        };
        let mut parts = rest.split(',').filter(|p| !p.is_empty());
        let (key, salt, iterations) = (parts.next()?, parts.next()?, parts.next()?);
        let iterations: u64 = iterations.trim().parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(admin(
            Scheme::Pbkdf2 {
                prf: Some(prf.name().to_string()),
                iterations: Some(Value::from(iterations)),
                derived_key: Some(key.to_string()),
                over_simple: false,
            },
            salt,
        ))
    }

    /// The credentials a `_users` document (its JSON body) carries.
    pub fn from_user_doc(doc: &Map<String, Value>) -> Credentials {
        let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        let roles = doc
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let pbkdf2 = |over_simple| Scheme::Pbkdf2 {
            prf: Some(text("pbkdf2_prf").unwrap_or_else(|| "sha".into())),
            iterations: Some(
                doc.get("iterations")
                    .cloned()
                    .unwrap_or(Value::from(10_000)),
            ),
            derived_key: text("derived_key"),
            over_simple,
        };
        let scheme = match doc.get("password_scheme") {
            None => Scheme::Simple {
                password_sha: text("password_sha"),
            },
            Some(Value::String(s)) if s == "simple" => Scheme::Simple {
                password_sha: text("password_sha"),
            },
            Some(Value::String(s)) if s == "pbkdf2" => pbkdf2(false),
            Some(Value::String(s)) if s == "simple+pbkdf2" => pbkdf2(true),
            Some(_) => Scheme::Unknown,
        };
        Credentials {
            roles,
            salt: text("salt").unwrap_or_default(),
            scheme,
        }
    }

    /// The slow check (`couch_httpd_auth:authenticate_int`): hashes the
    /// password as stored and compares in constant time.
    pub fn verify(
        &self,
        password: &[u8],
        min_iterations: u64,
        max_iterations: u64,
    ) -> Result<bool, HashError> {
        match &self.scheme {
            Scheme::Simple { password_sha } => {
                let Some(expected) = password_sha else {
                    return Ok(false);
                };
                let actual = simple_hash(password, self.salt.as_bytes());
                Ok(constant_time_eq(actual.as_bytes(), expected.as_bytes()))
            }
            Scheme::Pbkdf2 {
                prf,
                iterations,
                derived_key,
                over_simple,
            } => {
                let prf = prf
                    .as_deref()
                    .and_then(Prf::parse)
                    .ok_or(HashError::Forbidden("PRF is invalid"))?;
                let iterations = iterations
                    .as_ref()
                    .and_then(Value::as_u64)
                    .filter(|n| *n > 0);
                let Some(iterations) = iterations else {
                    return Ok(false);
                };
                if iterations < min_iterations {
                    return Err(HashError::Forbidden(
                        "Iteration count is too low for this server",
                    ));
                }
                if iterations > max_iterations {
                    return Err(HashError::Forbidden(
                        "Iteration count is too high for this server",
                    ));
                }
                let Some(expected) = derived_key else {
                    return Ok(false);
                };
                let iterations = u32::try_from(iterations).unwrap_or(u32::MAX);
                let actual = if *over_simple {
                    let simple = simple_hash(password, self.salt.as_bytes());
                    prf.pbkdf2_hex(simple.as_bytes(), self.salt.as_bytes(), iterations)
                } else {
                    prf.pbkdf2_hex(password, self.salt.as_bytes(), iterations)
                };
                Ok(constant_time_eq(actual.as_bytes(), expected.as_bytes()))
            }
            Scheme::Unknown => Ok(false),
        }
    }
}

/// A server admin's stored form: `-pbkdf2:PRF-KEY,SALT,ITERATIONS`.
pub fn hash_admin_password(password: &str, prf: Prf, iterations: u32) -> String {
    let salt = new_salt();
    let key = prf.pbkdf2_hex(password.as_bytes(), salt.as_bytes(), iterations);
    format!("-pbkdf2:{}-{key},{salt},{iterations}", prf.name())
}

/// Iterations of the in-memory hash: low, the cache must be cheap.
const FAST_ITERATIONS: u32 = 5;

/// Passwords that passed the slow check recently, by name and salt (a
/// changed password comes with a new salt, so it never matches an old entry).
/// (name, salt) → (cheap hash, last use).
type CacheMap = HashMap<(String, String), (Vec<u8>, Instant)>;

pub struct VerifiedCache {
    enabled: bool,
    max_entries: usize,
    max_idle: Duration,
    entries: Mutex<CacheMap>,
}

impl VerifiedCache {
    pub fn new(enabled: bool, max_entries: usize, max_idle: Duration) -> VerifiedCache {
        VerifiedCache {
            enabled,
            max_entries: max_entries.max(1),
            max_idle,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn fast(password: &[u8], salt: &str) -> Vec<u8> {
        let mut out = vec![0u8; 32];
        if pbkdf2::pbkdf2::<Hmac<Sha256>>(password, salt.as_bytes(), FAST_ITERATIONS, &mut out)
            .is_err()
        {
            out.clear();
        }
        out
    }

    /// `None` when nothing is cached for this name and salt; otherwise
    /// whether the password is the one that passed.
    pub fn check(&self, name: &str, salt: &str, password: &[u8]) -> Option<bool> {
        if !self.enabled {
            return None;
        }
        let key = (name.to_string(), salt.to_string());
        let expected = {
            let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let (hash, used) = map.get_mut(&key)?;
            if used.elapsed() > self.max_idle {
                map.remove(&key);
                return None;
            }
            *used = Instant::now();
            hash.clone()
        };
        Some(constant_time_eq(&Self::fast(password, salt), &expected))
    }

    pub fn insert(&self, name: &str, salt: &str, password: &[u8]) {
        if !self.enabled {
            return;
        }
        let hash = Self::fast(password, salt);
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max_entries {
            let idle = self.max_idle;
            map.retain(|_, (_, used)| used.elapsed() <= idle);
            if map.len() >= self.max_entries {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        map.insert((name.to_string(), salt.to_string()), (hash, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 6070 PBKDF2-HMAC-SHA1 vectors, and the SHA-256 one everyone uses.
    #[test]
    fn pbkdf2_known_answers() {
        assert_eq!(
            Prf::Sha1.pbkdf2_hex(b"password", b"salt", 1),
            "0c60c80f961f0e71f3a9b524af6012062fe037a6"
        );
        assert_eq!(
            Prf::Sha1.pbkdf2_hex(b"password", b"salt", 2),
            "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"
        );
        assert_eq!(
            Prf::Sha256.pbkdf2_hex(b"password", b"salt", 1),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
    }

    #[test]
    fn admin_hash_round_trip_and_formats() {
        let stored = hash_admin_password("s3cret", Prf::Sha256, 10);
        assert!(stored.starts_with("-pbkdf2:sha256-"), "{stored}");
        let creds = Credentials::from_admin_hash(&stored).expect("parses");
        assert_eq!(creds.roles, vec!["_admin".to_string()]);
        assert_eq!(creds.salt.len(), 32);
        assert_eq!(creds.verify(b"s3cret", 1, 1_000_000_000), Ok(true));
        assert_eq!(creds.verify(b"S3cret", 1, 1_000_000_000), Ok(false));
        // the pre-3.4 form is PBKDF2-SHA1
        let key = Prf::Sha1.pbkdf2_hex(b"pw", b"abc", 3);
        let old = Credentials::from_admin_hash(&format!("-pbkdf2-{key},abc,3")).expect("parses");
        assert_eq!(old.verify(b"pw", 1, 10), Ok(true));
        let hashed = Credentials::from_admin_hash(&format!(
            "-hashed-{},salty",
            simple_hash(b"pw", b"salty")
        ))
        .expect("parses");
        assert_eq!(hashed.verify(b"pw", 1, 10), Ok(true));
        assert_eq!(Credentials::from_admin_hash("plain password"), None);
        assert_eq!(Credentials::from_admin_hash("-pbkdf2:md5-aa,bb,1"), None);
        assert_eq!(Credentials::from_admin_hash("-pbkdf2:sha256-aa,bb"), None);
    }

    #[test]
    fn user_doc_schemes_and_limits() {
        let salt = "0123456789abcdef0123456789abcdef";
        let key = Prf::Sha256.pbkdf2_hex(b"apple", salt.as_bytes(), 7);
        let doc = json!({"name": "jan", "roles": ["a", 1], "password_scheme": "pbkdf2", "pbkdf2_prf": "sha256",
                         "iterations": 7, "salt": salt, "derived_key": key});
        let creds = Credentials::from_user_doc(doc.as_object().expect("object"));
        assert_eq!(creds.roles, vec!["a".to_string()]);
        assert_eq!(creds.verify(b"apple", 1, 100), Ok(true));
        assert_eq!(creds.verify(b"pear", 1, 100), Ok(false));
        assert_eq!(
            creds.verify(b"apple", 8, 100),
            Err(HashError::Forbidden(
                "Iteration count is too low for this server"
            ))
        );
        assert_eq!(
            creds.verify(b"apple", 1, 6),
            Err(HashError::Forbidden(
                "Iteration count is too high for this server"
            ))
        );
        let bad_prf = json!({"password_scheme": "pbkdf2", "pbkdf2_prf": "md5", "salt": "x", "derived_key": "y"});
        let creds = Credentials::from_user_doc(bad_prf.as_object().expect("object"));
        assert_eq!(
            creds.verify(b"x", 1, 100),
            Err(HashError::Forbidden("PRF is invalid"))
        );
        // pbkdf2 without a prf is SHA-1 with 10000 iterations by default
        let key = Prf::Sha1.pbkdf2_hex(b"pw", b"s", 10_000);
        let legacy = json!({"password_scheme": "pbkdf2", "salt": "s", "derived_key": key});
        assert_eq!(
            Credentials::from_user_doc(legacy.as_object().expect("object"))
                .verify(b"pw", 1, 100_000),
            Ok(true)
        );
        // simple, and simple+pbkdf2
        let simple = json!({"salt": "s", "password_sha": simple_hash(b"pw", b"s")});
        assert_eq!(
            Credentials::from_user_doc(simple.as_object().expect("object")).verify(b"pw", 1, 10),
            Ok(true)
        );
        let over = Prf::Sha256.pbkdf2_hex(simple_hash(b"pw", b"s").as_bytes(), b"s", 5);
        let both = json!({"password_scheme": "simple+pbkdf2", "pbkdf2_prf": "sha256", "iterations": 5, "salt": "s", "derived_key": over});
        assert_eq!(
            Credentials::from_user_doc(both.as_object().expect("object")).verify(b"pw", 1, 10),
            Ok(true)
        );
        // no password material never matches
        let bare = json!({"name": "x"});
        assert_eq!(
            Credentials::from_user_doc(bare.as_object().expect("object")).verify(b"", 1, 10),
            Ok(false)
        );
    }

    #[test]
    fn cache_matches_only_the_verified_password_and_salt() {
        let cache = VerifiedCache::new(true, 2, Duration::from_secs(600));
        assert_eq!(cache.check("jan", "s1", b"pw"), None);
        cache.insert("jan", "s1", b"pw");
        assert_eq!(cache.check("jan", "s1", b"pw"), Some(true));
        assert_eq!(cache.check("jan", "s1", b"other"), Some(false));
        assert_eq!(cache.check("jan", "s2", b"pw"), None);
        cache.insert("a", "s", b"1");
        cache.insert("b", "s", b"2");
        assert_eq!(cache.entries.lock().map(|m| m.len()).unwrap_or(0), 2);
        let off = VerifiedCache::new(false, 2, Duration::from_secs(1));
        off.insert("jan", "s1", b"pw");
        assert_eq!(off.check("jan", "s1", b"pw"), None);
    }
}
