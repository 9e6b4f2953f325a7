//! The command line and environment of the `settee` binary (clap: flags
//! over `SETTEE_*` variables). Values that are also CouchDB settings are
//! optional here: when given they override the `--config` file and the
//! built-in defaults in the settings store (`crate::settings`).

use std::path::PathBuf;

use clap::Parser;

/// Command line and environment of the `settee` binary.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "settee",
    version,
    about = "A CouchDB-compatible document database server"
)]
pub struct Config {
    /// Address to listen on ([chttpd] bind_address; default 127.0.0.1).
    #[arg(long, env = "SETTEE_BIND")]
    pub bind: Option<String>,
    /// Port to listen on, 0 for a free one ([chttpd] port; default 5984).
    #[arg(long, env = "SETTEE_PORT")]
    pub port: Option<u16>,
    /// Directory holding the sled database ([couchdb] database_dir; default ./data).
    #[arg(long, env = "SETTEE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep nothing on disk: every database lives in memory and is gone at exit.
    #[arg(long)]
    pub in_memory: bool,
    /// Largest accepted document body in bytes ([couchdb] max_document_size;
    /// default 8000000).
    #[arg(long, env = "SETTEE_MAX_DOCUMENT_SIZE")]
    pub max_document_size: Option<u64>,
    /// Largest accepted request body in bytes ([chttpd] max_http_request_size;
    /// default 4294967296).
    #[arg(long, env = "SETTEE_MAX_HTTP_REQUEST_SIZE")]
    pub max_http_request_size: Option<u64>,
    /// This node's name, which `/_node/{name}/…` accepts besides `_local`
    /// ([settee] node_name; default CouchDB's nonode@nohost).
    #[arg(long, env = "SETTEE_NODE_NAME")]
    pub node_name: Option<String>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "SETTEE_WORKERS")]
    pub workers: Option<usize>,
    /// sled's page cache in MiB: more is faster on large databases
    /// (`_changes?include_docs`, index builds), less keeps memory small.
    #[arg(long, env = "SETTEE_CACHE_MB", default_value_t = 16)]
    pub cache_mb: u64,
    /// A CouchDB-style ini file (`[admins]`, `[chttpd_auth]`, `[cors]`, `[ssl]`, …);
    /// plain admin passwords in it are replaced by their hashes, and
    /// `_config` changes are written to it.
    #[arg(long = "config", env = "SETTEE_CONFIG", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// A server admin (repeatable); the password is hashed at startup.
    #[arg(long = "admin", env = "SETTEE_ADMIN", value_name = "NAME:PASSWORD")]
    pub admins: Vec<String>,
    /// Start without any server admin: every request is an admin (CouchDB's
    /// "admin party"). Without it, Settee refuses to start with no admin.
    #[arg(long)]
    pub admin_party: bool,
}

impl Config {
    /// Settings for tests and embedding: in memory, on a free loopback port.
    pub fn ephemeral() -> Self {
        Config {
            bind: Some("127.0.0.1".into()),
            port: Some(0),
            data_dir: None,
            in_memory: true,
            max_document_size: None,
            max_http_request_size: None,
            node_name: None,
            workers: Some(2),
            cache_mb: 16,
            config_file: None,
            admins: Vec::new(),
            // a test fixture: the binary's default stays strict
            admin_party: true,
        }
    }
}
