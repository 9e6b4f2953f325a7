//! HTTPS: a rustls server configuration from `[ssl] cert_file` and
//! `key_file` (PEM: the certificate chain, and a PKCS#8, PKCS#1 or SEC1
//! private key).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what} {}: {e}", path.display()))
}

/// Builds the TLS configuration; any problem with the files is an error
/// at startup, never a silent plain-HTTP fallback.
pub fn server_config(cert_file: &Path, key_file: &Path) -> std::io::Result<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| io_err("reading certificate", cert_file, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| io_err("parsing certificate", cert_file, e))?;
    if certs.is_empty() {
        return Err(io_err(
            "reading certificate",
            cert_file,
            "no certificate found",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| io_err("reading private key", key_file, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io_err("configuring TLS for", cert_file, e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| io_err("using certificate", cert_file, e))
}
