//! The settings values, in three layers, and their ini file.
//!
//! The values are what `GET /_node/{node}/_config` shows. They start as
//! the built-in defaults, overridden by the ini file (`--config`), then by
//! the command line (flags and `SETTEE_*` variables that were given,
//! `--admin`s already hashed). `set` and `delete` change the values and,
//! when asked to persist, write the change into the ini file the way
//! CouchDB's `config_writer` writes `local.ini`. As in CouchDB's `config`:
//! a deleted key that one of the layers still has comes back with that
//! layer's value, and `reload` drops every change that is not in the file.
//!
//! Admin passwords are hashed before they are stored: a plain password
//! from the file is replaced by its hash in the file too (as CouchDB's
//! password hasher does), one `PUT` in the `[admins]` section stores (and
//! persists) the hash only.

use std::path::{Path, PathBuf};

use crate::auth::password::hash_admin_password;
use crate::auth::settings::{hash_params, is_hashed, parse_admin_spec};
use crate::error::{Error, Result};
use crate::ini::{self, Ini, Sections};

/// Sections the HTTP API may not change (`?BLACKLIST_CONFIG_SECTIONS`).
const NOT_WRITABLE_OVER_HTTP: [&str; 9] = [
    "daemons",
    "external",
    "httpd_design_handlers",
    "httpd_db_handlers",
    "httpd_global_handlers",
    "native_query_servers",
    "os_daemons",
    "query_servers",
    "feature_flags",
];

/// `couch_util:check_config_blacklist/1`: 403 for a section the HTTP API
/// may not change.
pub fn check_writable_over_http(section: &str) -> Result<()> {
    if NOT_WRITABLE_OVER_HTTP.contains(&section) {
        return Err(Error::Forbidden(
            "Config section blacklisted for modification over HTTP API.".into(),
        ));
    }
    Ok(())
}

/// Whether `c` may appear in a setting (`[[:graph:]\t ]`): no control
/// characters but the tab.
fn printable(text: &str) -> bool {
    text.chars().all(|c| c == '\t' || !c.is_control())
}

/// `config:validate_config_update/3`: printable section, key and value;
/// no `[` or `]` in the section or key (they would open a section).
pub fn validate(section: &str, key: &str, value: &str) -> Result<()> {
    let brackets = |s: &str| s.contains(['[', ']']);
    if !printable(section) || brackets(section) {
        return Err(Error::bad_request("Invalid configuration section"));
    }
    if !printable(key) || brackets(key) {
        return Err(Error::bad_request("Invalid configuration key"));
    }
    if !printable(value) {
        return Err(Error::bad_request("Invalid configuration value"));
    }
    Ok(())
}

/// A failure to write the ini file, as CouchDB reports it: 400 with the
/// POSIX error name when there is one.
fn write_error(path: &Path, e: &std::io::Error) -> Error {
    tracing::error!(file = %path.display(), error = %e, "could not write the config file");
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => "enoent".to_string(),
        std::io::ErrorKind::PermissionDenied => "eacces".to_string(),
        _ => e.to_string(),
    };
    Error::BadRequest(reason)
}

fn insert(values: &mut Sections, section: &str, key: &str, value: &str) {
    values
        .entry(section.to_string())
        .or_default()
        .insert(key.to_string(), value.to_string());
}

fn lookup<'a>(values: &'a Sections, section: &str, key: &str) -> Option<&'a str> {
    values.get(section)?.get(key).map(String::as_str)
}

/// The layered values and the file they persist to.
pub struct ConfigStore {
    defaults: Sections,
    cli: Sections,
    file: Option<PathBuf>,
    values: Sections,
}

impl ConfigStore {
    /// Reads the file (if any), hashes the plain passwords of the
    /// command-line admins (`NAME:PASSWORD`, the password plain or a hash)
    /// and of the file, rewriting the file's.
    pub fn open(
        defaults: Sections,
        mut cli: Sections,
        cli_admins: &[String],
        file: Option<PathBuf>,
    ) -> std::result::Result<ConfigStore, String> {
        let file_values = match &file {
            Some(path) => read_file(path).map_err(|e| e.to_string())?,
            None => Sections::new(),
        };
        let mut merged = defaults.clone();
        overlay(&mut merged, &file_values);
        overlay(&mut merged, &cli);
        let (prf, iterations) = hash_params(&merged)?;
        for spec in cli_admins {
            let (name, password) = parse_admin_spec(spec)?;
            let hash = if is_hashed(password) {
                password.to_string()
            } else {
                hash_admin_password(password, prf, iterations)
            };
            insert(&mut cli, "admins", name, &hash);
        }
        let mut store = ConfigStore {
            defaults,
            cli,
            file,
            values: Sections::new(),
        };
        store.values = store.base(file_values);
        store.hash_file_admins().map_err(|e| e.to_string())?;
        Ok(store)
    }

    /// The current values.
    pub fn values(&self) -> &Sections {
        &self.values
    }

    /// The file changes are persisted to.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Sets a built-in default (facts known at start, such as the
    /// server's uuid): it shows unless the file or command line sets it.
    pub fn set_default(&mut self, section: &str, key: &str, value: &str) {
        insert(&mut self.defaults, section, key, value);
        let file_has = self
            .file_values()
            .ok()
            .is_some_and(|f| lookup(&f, section, key).is_some());
        if !file_has && lookup(&self.cli, section, key).is_none() {
            insert(&mut self.values, section, key, value);
        }
    }

    /// Sets a command-line value (the port actually bound, say).
    pub fn set_cli(&mut self, section: &str, key: &str, value: &str) {
        insert(&mut self.cli, section, key, value);
        insert(&mut self.values, section, key, value);
    }

    fn file_values(&self) -> Result<Sections> {
        match &self.file {
            Some(path) => read_file(path),
            None => Ok(Sections::new()),
        }
    }

    /// The defaults, then the file's values, then the command line's.
    fn base(&self, file_values: Sections) -> Sections {
        let mut out = self.defaults.clone();
        overlay(&mut out, &file_values);
        overlay(&mut out, &self.cli);
        out
    }

    /// Writes one change into the file, when there is one.
    fn persist(&self, section: &str, key: &str, value: Option<&str>) -> Result<()> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let text = std::fs::read_to_string(path).map_err(|e| write_error(path, &e))?;
        let text = ini::save_value(&text, section, key, value);
        write_atomically(path, &text).map_err(|e| write_error(path, &e))
    }

    /// Replaces plain admin passwords (from a hand-edited file) by their
    /// hashes, in the values and in the file.
    fn hash_file_admins(&mut self) -> Result<()> {
        let plain: Vec<(String, String)> = self
            .values
            .get("admins")
            .map(|admins| {
                admins
                    .iter()
                    .filter(|(_, v)| !is_hashed(v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if plain.is_empty() {
            return Ok(());
        }
        let (prf, iterations) = hash_params(&self.values).map_err(Error::BadRequest)?;
        for (name, password) in plain {
            let hash = hash_admin_password(&password, prf, iterations);
            insert(&mut self.values, "admins", &name, &hash);
            if let Err(e) = self.persist("admins", &name, Some(&hash)) {
                tracing::warn!(error = %e, "could not replace a plain admin password by its hash in the config file");
            } else if self.file.is_some() {
                tracing::info!(admin = %name, "replaced a plain admin password by its hash in the config file");
            }
        }
        Ok(())
    }

    /// Sets a value (hashing an admin password first) and returns the
    /// previous one (`""` when there was none, as CouchDB answers).
    pub fn set(&mut self, section: &str, key: &str, value: &str, persist: bool) -> Result<String> {
        validate(section, key, value)?;
        let value = if section == "admins" && !is_hashed(value) {
            let (prf, iterations) = hash_params(&self.values).map_err(Error::BadRequest)?;
            hash_admin_password(value, prf, iterations)
        } else {
            value.to_string()
        };
        if persist {
            self.persist(section, key, Some(&value))?;
        }
        let old = lookup(&self.values, section, key).unwrap_or("").to_string();
        insert(&mut self.values, section, key, &value);
        log_change(section, key, Some(&value), persist);
        Ok(old)
    }

    /// Deletes a value and returns it; `None` when there is none. A value
    /// that the defaults, the file or the command line still have comes back.
    pub fn delete(&mut self, section: &str, key: &str, persist: bool) -> Result<Option<String>> {
        let Some(old) = lookup(&self.values, section, key).map(str::to_string) else {
            return Ok(None);
        };
        if persist {
            self.persist(section, key, None)?;
        }
        if let Some(keys) = self.values.get_mut(section) {
            keys.remove(key);
            if keys.is_empty() {
                self.values.remove(section);
            }
        }
        log_change(section, key, None, persist);
        let base = self.base(self.file_values().unwrap_or_default());
        if let Some(value) = lookup(&base, section, key) {
            insert(&mut self.values, section, key, value);
            self.hash_file_admins()?;
        }
        Ok(Some(old))
    }

    /// Drops every change the file does not have: the values become the
    /// defaults, the file (read again) and the command line.
    pub fn reload(&mut self) -> Result<()> {
        let file_values = self.file_values()?;
        self.values = self.base(file_values);
        self.hash_file_admins()
    }
}

fn log_change(section: &str, key: &str, value: Option<&str>, persist: bool) {
    let shown = match value {
        Some(_) if section == "admins" => "'****'",
        Some(v) => v,
        None => "(deleted)",
    };
    tracing::info!(section, key, value = shown, persist, "config change");
}

fn overlay(base: &mut Sections, top: &Sections) {
    for (section, keys) in top {
        for (key, value) in keys {
            insert(base, section, key, value);
        }
    }
}

fn read_file(path: &Path) -> Result<Sections> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::BadRequest(format!("reading config {}: {e}", path.display())))?;
    Ok(Ini::parse(&text).to_sections())
}

/// Writes through a temporary file renamed into place, so a crash never
/// leaves half a file.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("settee-tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(pairs: &[(&str, &str, &str)]) -> Sections {
        let mut out = Sections::new();
        for (s, k, v) in pairs {
            insert(&mut out, s, k, v);
        }
        out
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("local.ini");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn layers_set_delete_and_reload() {
        let (_dir, path) = file("; mine\n[chttpd]\nport = 6000\n[x]\ny = file\n");
        let defaults = sections(&[("chttpd", "port", "5984"), ("x", "z", "default")]);
        let cli = sections(&[("couchdb", "max_document_size", "10")]);
        let mut store = ConfigStore::open(defaults, cli, &[], Some(path.clone())).expect("opens");
        assert_eq!(lookup(store.values(), "chttpd", "port"), Some("6000"));
        assert_eq!(lookup(store.values(), "x", "z"), Some("default"));
        assert_eq!(
            lookup(store.values(), "couchdb", "max_document_size"),
            Some("10")
        );

        assert_eq!(store.set("x", "y", "mem", false).expect("set"), "file");
        assert_eq!(store.set("new", "k", "v", true).expect("set"), "");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "; mine\n[chttpd]\nport = 6000\n[x]\ny = file\n\n[new]\nk = v\n"
        );

        // an unpersisted delete brings the file's value back
        assert_eq!(
            store.delete("x", "y", false).expect("delete"),
            Some("mem".into())
        );
        assert_eq!(lookup(store.values(), "x", "y"), Some("file"));
        // a persisted delete of a default brings the default back
        store.set("x", "z", "changed", true).expect("set");
        assert_eq!(
            store.delete("x", "z", true).expect("delete"),
            Some("changed".into())
        );
        assert_eq!(lookup(store.values(), "x", "z"), Some("default"));
        assert_eq!(store.delete("nope", "k", true).expect("delete"), None);

        store
            .set("x", "y", "gone after reload", false)
            .expect("set");
        store.reload().expect("reload");
        assert_eq!(lookup(store.values(), "x", "y"), Some("file"));
        assert_eq!(lookup(store.values(), "new", "k"), Some("v"));
    }

    #[test]
    fn admin_passwords_are_hashed_everywhere() {
        let (_dir, path) = file("[chttpd_auth]\niterations = 3\n[admins]\nroot = plain-pw\n");
        let mut store = ConfigStore::open(
            Sections::new(),
            Sections::new(),
            &["joe:secret".into(), "ann:-pbkdf2:sha256-aa,bb,10".into()],
            Some(path.clone()),
        )
        .expect("opens");
        let root = lookup(store.values(), "admins", "root")
            .expect("root")
            .to_string();
        assert!(
            root.starts_with("-pbkdf2:sha256-") && root.ends_with(",3"),
            "{root}"
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            format!("[chttpd_auth]\niterations = 3\n[admins]\nroot = {root}\n")
        );
        assert!(lookup(store.values(), "admins", "joe").is_some_and(is_hashed));
        assert_eq!(
            lookup(store.values(), "admins", "ann"),
            Some("-pbkdf2:sha256-aa,bb,10")
        );
        assert_eq!(store.set("admins", "bob", "pw", true).expect("set"), "");
        let bob = lookup(store.values(), "admins", "bob")
            .expect("bob")
            .to_string();
        assert!(is_hashed(&bob));
        assert!(!std::fs::read_to_string(&path)
            .expect("read")
            .contains("= pw"));
        // a command-line admin cannot be deleted for good
        assert!(store
            .delete("admins", "joe", true)
            .expect("delete")
            .is_some());
        assert!(lookup(store.values(), "admins", "joe").is_some());
    }

    #[test]
    fn validation_and_blacklist() {
        assert!(validate("section", "key", "value").is_ok());
        assert!(validate("delete", "empty_value", "").is_ok());
        assert!(validate("s", "k", "tab\there café").is_ok());
        for (s, k, v, reason) in [
            ("sect[ion", "key", "value", "Invalid configuration section"),
            ("section\n", "key", "value", "Invalid configuration section"),
            ("section", "key\r", "value", "Invalid configuration key"),
            ("section", "[key", "value", "Invalid configuration key"),
            ("section", "key", "value\n", "Invalid configuration value"),
            ("section", "key", "nul\u{0}", "Invalid configuration value"),
        ] {
            let err = validate(s, k, v).expect_err("invalid");
            assert_eq!(err.to_string(), reason, "{s:?} {k:?} {v:?}");
        }
        assert!(check_writable_over_http("query_servers").is_err());
        assert!(check_writable_over_http("couchdb").is_ok());
    }

    #[test]
    fn without_a_file_changes_stay_in_memory() {
        let mut store =
            ConfigStore::open(Sections::new(), Sections::new(), &[], None).expect("opens");
        assert_eq!(store.set("a", "b", "c", true).expect("set"), "");
        store.reload().expect("reload");
        assert_eq!(lookup(store.values(), "a", "b"), None);
    }
}
