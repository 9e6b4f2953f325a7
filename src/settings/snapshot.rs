//! The typed view of the settings values that requests read: built once
//! per change, read without a lock.
//!
//! Values are read as CouchDB's `config:get_integer/3` and `get_boolean/3`
//! read them: a value that is not an integer (or not `true`/`false`) counts
//! as the default.

use std::sync::Arc;

use crate::auth::settings::{Options, Settings as AuthSettings};
use crate::auth::Auth;
use crate::couch::attachment::{CompressibleTypes, DEFAULT_COMPRESSIBLE_TYPES};
use crate::couch::uuids::Algorithm;
use crate::ini::{Lookup, Sections};
use crate::storage::DEFAULT_SECURITY;

/// CouchDB's node name when it runs without distribution.
pub const DEFAULT_NODE_NAME: &str = "nonode@nohost";

/// The settings every request may read.
pub struct Snapshot {
    /// Every value, as `_config` shows them.
    pub values: Sections,
    /// `[settee] node_name` (`--node-name`): what `/_node/_local` names.
    pub node_name: String,
    /// `[couchdb] max_document_size`.
    pub max_document_size: u64,
    /// `[chttpd] max_http_request_size`.
    pub max_http_request_size: u64,
    /// `[chttpd] decode_plus_to_space`: `+` in a path is a space.
    pub decode_plus_to_space: bool,
    /// `[uuids] algorithm` (and `utc_id_suffix`).
    pub uuid_algorithm: Algorithm,
    /// `[uuids] max_count`.
    pub uuid_max_count: i64,
    /// `[attachments] compression_level`: 1–9, or 0 for none.
    pub compression_level: u32,
    /// `[attachments] compressible_types`.
    pub compressible_types: CompressibleTypes,
    /// The `_security` of new databases (`[couchdb] default_security`), as JSON.
    pub default_security: &'static str,
    /// `[log] level`, when set.
    pub log_level: Option<String>,
    /// Authentication and authorization: `[admins]`, `[chttpd]`,
    /// `[chttpd_auth]`, `[cors]`, `[jwt_*]`, ….
    pub auth: Arc<Auth>,
}

/// `config:get_integer/3`.
pub fn integer(values: &Sections, section: &str, key: &str, default: i64) -> i64 {
    Lookup::get(values, section, key)
        .and_then(|v| {
            let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // list_to_integer has no limit: saturate instead
            Some(v.parse::<i64>().unwrap_or(if v.starts_with('-') {
                i64::MIN
            } else {
                i64::MAX
            }))
        })
        .unwrap_or(default)
}

/// `config:get_boolean/3`.
pub fn boolean(values: &Sections, section: &str, key: &str, default: bool) -> bool {
    match Lookup::get(values, section, key) {
        Some("true") => true,
        Some("false") => false,
        _ => default,
    }
}

/// `couch_db_updater:default_security_object/1` for a clustered database:
/// `everyone` and `admin_local` give `{}`, anything else admins only.
fn default_security(values: &Sections) -> &'static str {
    match Lookup::get(values, "couchdb", "default_security") {
        Some("everyone" | "admin_local") => "{}",
        _ => DEFAULT_SECURITY,
    }
}

/// What a snapshot is built with besides the values.
pub struct BuildContext {
    /// `--admin-party`.
    pub admin_party: bool,
    /// The cookie secret when none is configured: one per process, so a
    /// settings change does not end every session.
    pub fallback_secret: Vec<u8>,
}

impl Snapshot {
    /// The typed settings of `values`. Authentication settings that do not
    /// load are an error at start (`previous` is `None`); later the
    /// previous ones stay in force and the error is logged, since CouchDB
    /// accepts any value and only fails when it is used.
    pub fn build(
        values: Sections,
        ctx: &BuildContext,
        previous: Option<&Snapshot>,
    ) -> Result<Snapshot, String> {
        let loaded = AuthSettings::load_with(
            &values,
            &Options {
                cli_admins: &[],
                admin_party: ctx.admin_party,
                fallback_secret: Some(&ctx.fallback_secret),
            },
        );
        let auth = match (loaded, previous) {
            (Ok(loaded), Some(prev)) => Arc::new(prev.auth.rebuilt(loaded.settings)),
            (Ok(loaded), None) => Arc::new(Auth::new(loaded.settings)),
            (Err(e), Some(prev)) => {
                tracing::error!(error = %e, "authentication settings not applied; the previous ones stay in force");
                Arc::clone(&prev.auth)
            }
            (Err(e), None) => return Err(e),
        };
        let uuid_algorithm = {
            let name = Lookup::get(&values, "uuids", "algorithm").unwrap_or("sequential");
            let suffix = Lookup::get(&values, "uuids", "utc_id_suffix").unwrap_or("");
            Algorithm::parse(name, suffix).unwrap_or_else(|| {
                tracing::error!(
                    algorithm = name,
                    "[uuids] algorithm: unknown, sequential ids are made instead"
                );
                Algorithm::Sequential
            })
        };
        let level = integer(&values, "attachments", "compression_level", 8);
        Ok(Snapshot {
            node_name: Lookup::get(&values, "settee", "node_name")
                .unwrap_or(DEFAULT_NODE_NAME)
                .to_string(),
            max_document_size: integer(&values, "couchdb", "max_document_size", 8_000_000).max(0)
                as u64,
            max_http_request_size: integer(
                &values,
                "chttpd",
                "max_http_request_size",
                4_294_967_296,
            )
            .max(0) as u64,
            decode_plus_to_space: boolean(&values, "chttpd", "decode_plus_to_space", true),
            uuid_algorithm,
            uuid_max_count: integer(&values, "uuids", "max_count", 1000),
            compression_level: if (1..=9).contains(&level) {
                level as u32
            } else {
                0
            },
            compressible_types: CompressibleTypes::parse(
                Lookup::get(&values, "attachments", "compressible_types")
                    .unwrap_or(DEFAULT_COMPRESSIBLE_TYPES),
            ),
            default_security: default_security(&values),
            log_level: Lookup::get(&values, "log", "level").map(str::to_string),
            auth,
            values,
        })
    }

    /// The gzip level for a new attachment of this content type, `None`
    /// when it is stored as it comes.
    pub fn compression_for(&self, content_type: &str) -> Option<u32> {
        (self.compression_level > 0 && self.compressible_types.matches(content_type))
            .then_some(self.compression_level)
    }

    /// Whether `name` names this node (`_local` is its alias).
    pub fn is_this_node(&self, name: &str) -> bool {
        name == "_local" || name == self.node_name
    }

    /// The value of one setting.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        Lookup::get(&self.values, section, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Sections {
        crate::ini::Ini::parse(text).to_sections()
    }

    fn ctx() -> BuildContext {
        BuildContext {
            admin_party: true,
            fallback_secret: b"fallback".to_vec(),
        }
    }

    #[test]
    fn typed_reads_fall_back_as_couchdb() {
        let v = values("[a]\nn = +12\nm = 1e3\nb = true\nc = yes\nneg = -3\n");
        assert_eq!(integer(&v, "a", "n", 1), 12);
        assert_eq!(integer(&v, "a", "m", 1), 1);
        assert_eq!(integer(&v, "a", "neg", 1), -3);
        assert_eq!(integer(&v, "a", "none", 7), 7);
        assert!(boolean(&v, "a", "b", false));
        assert!(!boolean(&v, "a", "c", false));
    }

    #[test]
    fn defaults_and_overrides() {
        let s = Snapshot::build(Sections::new(), &ctx(), None).expect("builds");
        assert_eq!(s.node_name, DEFAULT_NODE_NAME);
        assert_eq!(s.max_document_size, 8_000_000);
        assert_eq!(s.max_http_request_size, 4_294_967_296);
        assert!(s.decode_plus_to_space);
        assert_eq!(s.uuid_algorithm, Algorithm::Sequential);
        assert_eq!(s.uuid_max_count, 1000);
        assert_eq!(s.compression_for("text/plain"), Some(8));
        assert_eq!(s.compression_for("image/png"), None);
        assert_eq!(s.default_security, DEFAULT_SECURITY);
        assert_eq!(s.auth.settings.secret, b"fallback".to_vec());
        assert!(s.is_this_node("_local") && s.is_this_node("nonode@nohost"));

        let v = values(
            "[settee]\nnode_name = node1@127.0.0.1\n[chttpd]\ndecode_plus_to_space = false\n\
             [uuids]\nalgorithm = utc_id\nutc_id_suffix = frog\n\
             [attachments]\ncompression_level = 0\n[couchdb]\ndefault_security = admin_local\n",
        );
        let s = Snapshot::build(v, &ctx(), None).expect("builds");
        assert!(s.is_this_node("node1@127.0.0.1") && !s.is_this_node("nonode@nohost"));
        assert!(!s.decode_plus_to_space);
        assert_eq!(s.uuid_algorithm, Algorithm::UtcId("frog".into()));
        assert_eq!(s.compression_for("text/plain"), None);
        assert_eq!(s.default_security, "{}");
    }

    #[test]
    fn bad_auth_settings_keep_the_previous_ones_after_start() {
        let good =
            Snapshot::build(values("[chttpd_auth]\ntimeout = 5\n"), &ctx(), None).expect("builds");
        let bad = values("[chttpd_auth]\ntimeout = 9\n[chttpd]\nrequire_valid_user = maybe\n");
        assert!(Snapshot::build(bad.clone(), &ctx(), None).is_err());
        let next = Snapshot::build(bad, &ctx(), Some(&good)).expect("builds");
        assert_eq!(next.auth.settings.timeout, 5);
    }
}
