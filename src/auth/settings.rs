//! Security settings, read from a CouchDB-style ini file (`--config`) and
//! the command line: `[admins]`, `[chttpd]` (authentication handlers,
//! `require_valid_user`, `admin_only_all_dbs`, `enable_cors`),
//! `[chttpd_auth]` (falling back to the old `[couch_httpd_auth]`),
//! `[couchdb]` (`default_security`, `users_db_security_editable`),
//! `[chttpd_auth_lockout]`, `[couch_passwords_cache]`, `[jwt_auth]`,
//! `[jwt_keys]`, `[cors]` and `[ssl]`, with CouchDB 3.4's defaults.
//!
//! They are read from any [`Lookup`]: the settings store
//! (`crate::settings`) rebuilds them from its values on every change.
//!
//! Admin passwords are kept hashed only. Plain ones (a value that does not
//! start with `-hashed-` or `-pbkdf2`, as `couch_passwords` tells them
//! apart) are hashed when loaded and reported in [`Loaded::rehashed`]; the
//! settings store hashes them before they get here.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::jwt::{parse_required, JwtSettings};
use super::lockout::Mode;
use super::password::{hash_admin_password, Credentials, Prf};
use crate::ini::Lookup;

/// One of `[chttpd] authentication_handlers`, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Jwt,
    Proxy,
    Cookie,
    Default,
}

impl Handler {
    /// The name `GET /_session` reports (`info.authentication_handlers`).
    pub fn name(self) -> &'static str {
        match self {
            Handler::Jwt => "jwt",
            Handler::Proxy => "proxy",
            Handler::Cookie => "cookie",
            Handler::Default => "default",
        }
    }
}

/// `[cors]` and `[chttpd] enable_cors`.
#[derive(Debug, Clone)]
pub struct CorsSettings {
    pub enabled: bool,
    pub credentials: bool,
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub exposed_headers: Vec<String>,
    pub max_age: String,
}

/// `[ssl]`: HTTPS on its own port, next to HTTP, as CouchDB does.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub port: u16,
}

/// Everything authentication and authorization need.
#[derive(Clone)]
pub struct Settings {
    /// Server admins by name.
    pub admins: HashMap<String, Credentials>,
    /// `--admin-party`: with no server admin, everyone is one.
    pub party: bool,
    pub handlers: Vec<Handler>,
    pub require_valid_user: bool,
    pub require_valid_user_except_for_up: bool,
    pub admin_only_all_dbs: bool,
    /// Cookie and proxy-token secret (`[chttpd_auth] secret`, else random).
    pub secret: Vec<u8>,
    pub secret_configured: bool,
    /// Session lifetime in seconds.
    pub timeout: u64,
    pub allow_persistent_cookies: bool,
    pub cookie_domain: Option<String>,
    pub same_site: Option<&'static str>,
    pub hash_algorithms: Vec<Prf>,
    pub iterations: u32,
    pub pbkdf2_prf: Prf,
    /// `password_regexp`: requirements a new password must meet (an
    /// Erlang list of regexes and `{Regex, Reason}` tuples, as written).
    pub password_regexp: Option<String>,
    pub min_iterations: u64,
    pub max_iterations: u64,
    pub authentication_db: String,
    /// Whether `[chttpd_auth] authentication_db` was set (then `GET /_session` reports it).
    pub authentication_db_configured: bool,
    pub users_db_security_editable: bool,
    /// `[couchdb] default_security = everyone`: new databases get `{}`.
    pub default_security_everyone: bool,
    pub allow_conflicted_user_docs: bool,
    pub proxy_use_secret: bool,
    pub x_auth_username: String,
    pub x_auth_roles: String,
    pub x_auth_token: String,
    pub jwt: JwtSettings,
    pub lockout_mode: Mode,
    pub lockout_threshold: u32,
    pub lockout_lifetime: Duration,
    pub lockout_max_objects: usize,
    pub passwords_cache: bool,
    pub passwords_cache_max_objects: usize,
    pub passwords_cache_max_idle: Duration,
    pub cors: CorsSettings,
    pub tls: Option<TlsSettings>,
}

/// Settings and the plain admin passwords of the file that were hashed.
pub struct Loaded {
    pub settings: Settings,
    /// `(name, hash)` of `[admins]` entries that were plain text.
    pub rehashed: Vec<(String, String)>,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn boolean(ini: &dyn Lookup, section: &str, key: &str, default: bool) -> Result<bool, String> {
    match ini.get(section, key) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(format!(
            "[{section}] {key}: expected true or false, got {other:?}"
        )),
    }
}

fn number<T: std::str::FromStr>(
    ini: &dyn Lookup,
    section: &str,
    key: &str,
    default: T,
) -> Result<T, String> {
    match ini.get(section, key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("[{section}] {key}: not a number: {v:?}")),
    }
}

const SUPPORTED_HEADERS: [&str; 19] = [
    "accept",
    "accept-language",
    "authorization",
    "content-length",
    "content-range",
    "content-type",
    "destination",
    "expires",
    "if-match",
    "last-modified",
    "origin",
    "pragma",
    "x-couch-full-commit",
    "x-couch-id",
    "x-couch-persist",
    "x-couchdb-www-authenticate",
    "x-http-method-override",
    "x-requested-with",
    "x-couchdb-vhost-path",
];
const SUPPORTED_METHODS: [&str; 9] = [
    "CONNECT", "COPY", "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "TRACE",
];
const COUCH_HEADERS: [&str; 6] = [
    "accept-ranges",
    "etag",
    "server",
    "x-couch-request-id",
    "x-couch-update-newrev",
    "x-couchdb-body-time",
];

/// What [`Settings::load_with`] needs besides the settings themselves.
#[derive(Default)]
pub struct Options<'a> {
    /// `--admin NAME:PASSWORD`s (the password plain or already hashed).
    pub cli_admins: &'a [String],
    /// `--admin-party`.
    pub admin_party: bool,
    /// The cookie secret when `[chttpd_auth] secret` is not set (else a
    /// random one is made).
    pub fallback_secret: Option<&'a [u8]>,
}

/// A `--admin NAME:PASSWORD` (the password may itself contain `:`).
pub fn parse_admin_spec(spec: &str) -> Result<(&str, &str), String> {
    let (name, password) = spec
        .split_once(':')
        .ok_or_else(|| format!("--admin {spec:?}: expected NAME:PASSWORD"))?;
    if name.is_empty() {
        return Err("--admin: the name is empty".into());
    }
    Ok((name, password))
}

/// How new password hashes are made: `[chttpd_auth] pbkdf2_prf` and
/// `iterations` (falling back to `[couch_httpd_auth]`).
pub fn hash_params(ini: &dyn Lookup) -> Result<(Prf, u32), String> {
    let section = |key: &str| {
        if ini.get("chttpd_auth", key).is_some() {
            "chttpd_auth"
        } else {
            "couch_httpd_auth"
        }
    };
    let prf = match ini.get(section("pbkdf2_prf"), "pbkdf2_prf") {
        None => Prf::Sha256,
        Some(name) => {
            Prf::parse(name).ok_or_else(|| format!("[chttpd_auth] pbkdf2_prf: unknown {name:?}"))?
        }
    };
    let iterations = u32::try_from(number(
        ini,
        section("iterations"),
        "iterations",
        600_000u64,
    )?)
    .map_err(|_| "[chttpd_auth] iterations: too large".to_string())?
    .max(1);
    Ok((prf, iterations))
}

/// Whether an `[admins]` value is a hash (`couch_passwords`' test).
pub fn is_hashed(value: &str) -> bool {
    value.starts_with("-hashed-") || value.starts_with("-pbkdf2")
}

impl Settings {
    /// Reads the settings from `ini`, adds `cli_admins` (`NAME:PASSWORD`,
    /// the password plain or already hashed) and refuses an empty admin
    /// list unless `admin_party` says so.
    pub fn load(
        ini: &dyn Lookup,
        cli_admins: &[String],
        admin_party: bool,
    ) -> Result<Loaded, String> {
        let loaded = Settings::load_with(
            ini,
            &Options {
                cli_admins,
                admin_party,
                fallback_secret: None,
            },
        )?;
        loaded.settings.require_admins()?;
        Ok(loaded)
    }

    /// Refuses a server without admins, unless it is an explicit admin party.
    pub fn require_admins(&self) -> Result<(), String> {
        if self.admins.is_empty() && !self.party {
            return Err("no server admin is configured: give --admin NAME:PASSWORD (or SETTEE_ADMIN, or an \
                        [admins] section in --config), or run an unprotected admin party with --admin-party"
                .into());
        }
        Ok(())
    }

    /// Reads the settings from `ini` (see [`Options`]); an empty admin
    /// list is no error here.
    pub fn load_with(ini: &dyn Lookup, opts: &Options) -> Result<Loaded, String> {
        let (cli_admins, admin_party) = (opts.cli_admins, opts.admin_party);
        // [chttpd_auth], falling back to [couch_httpd_auth] as CouchDB does
        let auth = |key: &str| {
            ini.get("chttpd_auth", key)
                .or_else(|| ini.get("couch_httpd_auth", key))
        };
        let auth_section = |key: &str| {
            if ini.get("chttpd_auth", key).is_some() {
                "chttpd_auth"
            } else {
                "couch_httpd_auth"
            }
        };
        let auth_bool = |key: &str, d: bool| boolean(ini, auth_section(key), key, d);
        let auth_num = |key: &str, d: u64| number(ini, auth_section(key), key, d);

        let (pbkdf2_prf, iterations) = hash_params(ini)?;

        let mut admins = HashMap::new();
        let mut rehashed = Vec::new();
        for (name, value) in ini.section("admins") {
            let creds = if is_hashed(value) {
                match Credentials::from_admin_hash(value) {
                    Some(c) => c,
                    None => {
                        tracing::warn!(admin = %name, "[admins]: a malformed password hash; this admin cannot log in");
                        continue;
                    }
                }
            } else {
                let hash = hash_admin_password(value, pbkdf2_prf, iterations);
                rehashed.push((name.to_string(), hash.clone()));
                Credentials::from_admin_hash(&hash).ok_or("hashing an admin password failed")?
            };
            admins.insert(name.to_string(), creds);
        }
        for spec in cli_admins {
            let (name, password) = parse_admin_spec(spec)?;
            let creds = match Credentials::from_admin_hash(password) {
                Some(c) => c,
                None => Credentials::from_admin_hash(&hash_admin_password(
                    password, pbkdf2_prf, iterations,
                ))
                .ok_or("hashing an admin password failed")?,
            };
            admins.insert(name.to_string(), creds);
        }
        let handlers = match ini.get("chttpd", "authentication_handlers") {
            None => vec![Handler::Cookie, Handler::Default],
            Some(spec) => parse_handlers(spec)?,
        };

        let (secret, secret_configured) = match (auth("secret"), opts.fallback_secret) {
            (Some(s), _) if !s.is_empty() => (s.as_bytes().to_vec(), true),
            (_, Some(fallback)) => (fallback.to_vec(), false),
            _ => (random_secret(), false),
        };
        let hash_algorithms = {
            let names = auth("hash_algorithms")
                .map(list)
                .unwrap_or_else(|| vec!["sha256".into(), "sha".into()]);
            let algs: Vec<Prf> = names.iter().filter_map(|n| Prf::parse(n)).collect();
            if algs.is_empty() {
                vec![Prf::Sha256]
            } else {
                algs
            }
        };
        let same_site = match auth("same_site").map(str::to_ascii_lowercase).as_deref() {
            None | Some("") => None,
            Some("none") => Some("None"),
            Some("lax") => Some("Lax"),
            Some("strict") => Some("Strict"),
            Some(other) => return Err(format!("[chttpd_auth] same_site: invalid {other:?}")),
        };

        let mut jwt = JwtSettings::default();
        if let Some(required) = ini.get("jwt_auth", "required_claims") {
            jwt.required =
                parse_required(required).map_err(|e| format!("[jwt_auth] required_claims: {e}"))?;
        }
        if let Some(name) = ini.get("jwt_auth", "roles_claim_name") {
            jwt.roles_path = vec![name.to_string()];
        }
        if let Some(path) = ini.get("jwt_auth", "roles_claim_path") {
            jwt.set_roles_claim_path(path);
        }
        for (name, value) in ini.section("jwt_keys") {
            jwt.add_key(name, value)?;
        }

        let lockout_mode = match ini.get("chttpd_auth_lockout", "mode") {
            None | Some("enforce") => Mode::Enforce,
            Some("warn") => Mode::Warn,
            Some(_) => Mode::Off,
        };

        let cors = CorsSettings {
            enabled: boolean(ini, "chttpd", "enable_cors", false)?,
            credentials: ini.get("cors", "credentials") == Some("true"),
            origins: ini.get("cors", "origins").map(list).unwrap_or_default(),
            methods: ini
                .get("cors", "methods")
                .map(list)
                .unwrap_or_else(|| SUPPORTED_METHODS.iter().map(|s| s.to_string()).collect()),
            headers: ini
                .get("cors", "headers")
                .map(|h| {
                    list(h)
                        .into_iter()
                        .map(|s| s.to_ascii_lowercase())
                        .collect()
                })
                .unwrap_or_else(|| SUPPORTED_HEADERS.iter().map(|s| s.to_string()).collect()),
            exposed_headers: ini
                .get("cors", "exposed_headers")
                .map(|h| {
                    list(h)
                        .into_iter()
                        .map(|s| s.to_ascii_lowercase())
                        .collect()
                })
                .unwrap_or_else(|| COUCH_HEADERS.iter().map(|s| s.to_string()).collect()),
            max_age: ini.get("cors", "max_age").unwrap_or("600").to_string(),
        };

        let tls = match (ini.get("ssl", "cert_file"), ini.get("ssl", "key_file")) {
            (Some(cert), Some(key)) if boolean(ini, "ssl", "enable", true)? => Some(TlsSettings {
                cert_file: PathBuf::from(cert),
                key_file: PathBuf::from(key),
                port: number(ini, "ssl", "port", 6984u16)?,
            }),
            _ => None,
        };

        let settings = Settings {
            admins,
            party: admin_party,
            handlers,
            require_valid_user: boolean(ini, "chttpd", "require_valid_user", false)?,
            require_valid_user_except_for_up: boolean(
                ini,
                "chttpd",
                "require_valid_user_except_for_up",
                false,
            )?,
            admin_only_all_dbs: boolean(ini, "chttpd", "admin_only_all_dbs", true)?,
            secret,
            secret_configured,
            timeout: auth_num("timeout", 600)?,
            allow_persistent_cookies: auth_bool("allow_persistent_cookies", true)?,
            cookie_domain: auth("cookie_domain")
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            same_site,
            hash_algorithms,
            iterations,
            password_regexp: auth("password_regexp").map(str::to_string),
            pbkdf2_prf,
            min_iterations: auth_num("min_iterations", 1)?,
            max_iterations: auth_num("max_iterations", 1_000_000_000)?,
            authentication_db: ini
                .get("chttpd_auth", "authentication_db")
                .unwrap_or("_users")
                .to_string(),
            authentication_db_configured: ini.get("chttpd_auth", "authentication_db").is_some(),
            users_db_security_editable: boolean(
                ini,
                "couchdb",
                "users_db_security_editable",
                false,
            )?,
            default_security_everyone: ini.get("couchdb", "default_security") == Some("everyone"),
            allow_conflicted_user_docs: boolean(
                ini,
                "chttpd_auth",
                "allow_conflicted_user_docs",
                false,
            )?,
            proxy_use_secret: auth_bool("proxy_use_secret", false)?,
            x_auth_username: auth("x_auth_username")
                .unwrap_or("X-Auth-CouchDB-UserName")
                .to_string(),
            x_auth_roles: auth("x_auth_roles")
                .unwrap_or("X-Auth-CouchDB-Roles")
                .to_string(),
            x_auth_token: auth("x_auth_token")
                .unwrap_or("X-Auth-CouchDB-Token")
                .to_string(),
            jwt,
            lockout_mode,
            lockout_threshold: number(ini, "chttpd_auth_lockout", "threshold", 5)?,
            lockout_lifetime: Duration::from_millis(number(
                ini,
                "chttpd_auth_lockout",
                "max_lifetime",
                300_000,
            )?),
            lockout_max_objects: number(ini, "chttpd_auth_lockout", "max_objects", 10_000)?,
            passwords_cache: boolean(ini, "couch_passwords_cache", "enable", true)?,
            passwords_cache_max_objects: number(
                ini,
                "couch_passwords_cache",
                "max_objects",
                10_000,
            )?,
            passwords_cache_max_idle: Duration::from_millis(number(
                ini,
                "couch_passwords_cache",
                "max_idle",
                600_000,
            )?),
            cors,
            tls,
        };
        Ok(Loaded { settings, rehashed })
    }

    /// Whether this is an admin party: started with `--admin-party` and
    /// no server admin now. Without `--admin-party`, a server whose last
    /// admin was deleted has no admin at all, as CouchDB 3.
    pub fn admin_party(&self) -> bool {
        self.party && self.admins.is_empty()
    }

    /// Names of the configured handlers, for `GET /_session`.
    pub fn handler_names(&self) -> Vec<&'static str> {
        self.handlers.iter().map(|h| h.name()).collect()
    }
}

/// A random cookie secret (32 hex digits), for servers without `[chttpd_auth] secret`.
pub fn random_secret() -> Vec<u8> {
    uuid::Uuid::new_v4().simple().to_string().into_bytes()
}

/// `{chttpd_auth, cookie_authentication_handler}, {chttpd_auth, default_authentication_handler}`
fn parse_handlers(spec: &str) -> Result<Vec<Handler>, String> {
    let mut out = Vec::new();
    for part in spec.split('}') {
        let Some((_, inner)) = part.split_once('{') else {
            continue;
        };
        let Some((_, fun)) = inner.split_once(',') else {
            continue;
        };
        let fun = fun.trim();
        let handler = match fun.split('_').next() {
            Some("cookie") => Handler::Cookie,
            Some("default") => Handler::Default,
            Some("proxy") => Handler::Proxy,
            Some("jwt") => Handler::Jwt,
            _ => {
                return Err(format!(
                    "[chttpd] authentication_handlers: unknown handler {fun:?}"
                ))
            }
        };
        out.push(handler);
    }
    if out.is_empty() {
        return Err(format!(
            "[chttpd] authentication_handlers: no handler in {spec:?}"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ini::Ini;

    #[test]
    fn defaults_and_refusal_without_admins() {
        let ini = Ini::parse("");
        assert!(Settings::load(&ini, &[], false).is_err());
        let party = Settings::load(&ini, &[], true)
            .expect("admin party")
            .settings;
        assert!(party.admin_party());
        assert_eq!(party.handler_names(), vec!["cookie", "default"]);
        assert_eq!(party.timeout, 600);
        assert_eq!(party.iterations, 600_000);
        assert_eq!(party.hash_algorithms, vec![Prf::Sha256, Prf::Sha1]);
        assert!(party.admin_only_all_dbs);
        assert_eq!(party.authentication_db, "_users");
        assert_eq!(party.secret.len(), 32);
    }

    #[test]
    fn admins_from_file_and_cli_are_hashed() {
        let ini = Ini::parse("[chttpd_auth]\niterations = 3\n[admins]\nroot = plain\n");
        let loaded = Settings::load(&ini, &["joe:pa:ss".into()], false).expect("loads");
        assert_eq!(loaded.rehashed.len(), 1);
        assert!(
            loaded.rehashed[0].1.starts_with("-pbkdf2:sha256-")
                && loaded.rehashed[0].1.ends_with(",3")
        );
        let joe = &loaded.settings.admins["joe"];
        assert_eq!(joe.verify(b"pa:ss", 1, 10), Ok(true));
        assert_eq!(
            loaded.settings.admins["root"].verify(b"plain", 1, 10),
            Ok(true)
        );
        assert!(Settings::load(&ini, &["nocolon".into()], false).is_err());
    }

    #[test]
    fn handlers_cors_ssl_and_couch_httpd_auth_fallback() {
        let ini = Ini::parse(
            "[chttpd]\nauthentication_handlers = {chttpd_auth, jwt_authentication_handler}, {chttpd_auth, proxy_authentication_handler}, {chttpd_auth, cookie_authentication_handler}, {chttpd_auth, default_authentication_handler}\nenable_cors = true\n\
             [couch_httpd_auth]\ntimeout = 30\n[cors]\norigins = http://a.example\ncredentials = true\n\
             [ssl]\ncert_file = /c.pem\nkey_file = /k.pem\n",
        );
        let s = Settings::load(&ini, &[], true).expect("loads").settings;
        assert_eq!(s.handler_names(), vec!["jwt", "proxy", "cookie", "default"]);
        assert_eq!(s.timeout, 30);
        assert!(s.cors.enabled && s.cors.credentials);
        assert_eq!(s.cors.origins, vec!["http://a.example".to_string()]);
        assert_eq!(s.tls.as_ref().map(|t| t.port), Some(6984));
    }
}
