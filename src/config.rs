//! Typed server settings: defaults, then environment variables, then
//! command-line flags (clap resolves the precedence).

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
    /// Address to listen on.
    #[arg(long, env = "SETTEE_BIND", default_value = "127.0.0.1")]
    pub bind: String,
    /// Port to listen on; 0 picks a free port.
    #[arg(long, env = "SETTEE_PORT", default_value_t = 5984)]
    pub port: u16,
    /// Directory holding the sled database.
    #[arg(long, env = "SETTEE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Keep nothing on disk: every database lives in memory and is gone at exit.
    #[arg(long)]
    pub in_memory: bool,
    /// Largest accepted document body in bytes (CouchDB's couchdb/max_document_size).
    #[arg(long, env = "SETTEE_MAX_DOCUMENT_SIZE", default_value_t = 8_000_000)]
    pub max_document_size: usize,
    /// Largest accepted request body in bytes (CouchDB's chttpd/max_http_request_size).
    #[arg(
        long,
        env = "SETTEE_MAX_HTTP_REQUEST_SIZE",
        default_value_t = 4_294_967_296
    )]
    pub max_http_request_size: u64,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "SETTEE_WORKERS")]
    pub workers: Option<usize>,
    /// sled's page cache in MiB: more is faster on large databases
    /// (`_changes?include_docs`, index builds), less keeps memory small.
    #[arg(long, env = "SETTEE_CACHE_MB", default_value_t = 16)]
    pub cache_mb: u64,
    /// A CouchDB-style ini file (`[admins]`, `[chttpd_auth]`, `[cors]`, `[ssl]`, …);
    /// plain admin passwords in it are replaced by their hashes.
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
            bind: "127.0.0.1".into(),
            port: 0,
            data_dir: PathBuf::from("./data"),
            in_memory: true,
            max_document_size: 8_000_000,
            max_http_request_size: 4_294_967_296,
            workers: Some(2),
            cache_mb: 16,
            config_file: None,
            admins: Vec::new(),
            // a test fixture: the binary's default stays strict
            admin_party: true,
        }
    }
}
