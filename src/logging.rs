//! The log filter, switchable at run time by `[log] level`.
//!
//! [`init`] (the binary's) installs the tracing subscriber behind a reload
//! layer; [`apply_level`] replaces its filter. Without `[log] level` the
//! filter is `RUST_LOG`, else `info`. Without [`init`] (tests, embedding)
//! `apply_level` does nothing.

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// The tracing level of a CouchDB `[log] level` (`couch_log_util:
/// level_to_atom/1`; an unknown one is CouchDB's default, `info`).
pub fn tracing_level(level: &str) -> &'static str {
    match level.trim().to_ascii_lowercase().as_str() {
        "debug" => "debug",
        "warning" | "warn" => "warn",
        "error" | "err" | "critical" | "crit" | "alert" | "emergency" | "emerg" => "error",
        "none" => "off",
        _ => "info",
    }
}

fn filter(level: Option<&str>) -> EnvFilter {
    match level {
        Some(level) => EnvFilter::new(tracing_level(level)),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    }
}

/// Installs the global subscriber: formatted lines on stderr.
pub fn init() {
    let (layer, handle) = reload::Layer::new(filter(None));
    tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
    let _ = FILTER.set(handle);
}

/// Switches the filter to `[log] level` (`None`: `RUST_LOG` or `info`).
pub fn apply_level(level: Option<&str>) {
    if let Some(handle) = FILTER.get() {
        if let Err(e) = handle.reload(filter(level)) {
            tracing::error!(error = %e, "could not change the log level");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn couchdb_levels() {
        assert_eq!(tracing_level("warning"), "warn");
        assert_eq!(tracing_level("notice"), "info");
        assert_eq!(tracing_level("critical"), "error");
        assert_eq!(tracing_level("none"), "off");
        assert_eq!(tracing_level("DEBUG"), "debug");
        assert_eq!(tracing_level("bogus"), "info");
    }
}
