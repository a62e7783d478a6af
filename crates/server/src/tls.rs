//! The listeners' TLS: the server configuration of
//! `server.tls_cert_file` / `server.tls_key_file` (and the console's).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::crypto::CryptoProvider;
use rustls::CipherSuite;

use crate::config::Settings;

/// The TLS configuration of `server.tls_cert_file` / `server.tls_key_file`.
pub fn config(settings: &Settings) -> anyhow::Result<Option<rustls::ServerConfig>> {
    let (Some(cert), Some(key)) = (
        &settings.server.tls_cert_file,
        &settings.server.tls_key_file,
    ) else {
        return Ok(None);
    };
    server_config(cert, key, "server").map(Some)
}

/// A TLS configuration from `<section>.tls_cert_file` and
/// `<section>.tls_key_file`. (The bench times its handshakes in memory.)
pub fn server_config(
    cert: &Path,
    key: &Path,
    section: &str,
) -> anyhow::Result<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{section}.tls_cert_file: {}: {e}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!(
            "{section}.tls_cert_file: {}: no certificate",
            cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("{section}.tls_key_file: {}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!(
                "{section}.tls_cert_file / {section}.tls_key_file: the key does not fit the \
                 certificate"
            )
        })?;
    // The server's order of cipher suites, not the client's: see
    // [`provider`].
    config.ignore_client_order = true;
    // Resumption: a mobile app opens a new connection per call after a
    // pause, and a full handshake costs the server a private-key operation.
    // Stateless tickets (TLS 1.3 and 1.2; the ticket keys rotate every six
    // hours) need no per-client memory; the session cache serves clients
    // that resume by id.
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().context("TLS session tickets")?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    Ok(config)
}

/// aws-lc's default provider with the cipher suites built on SHA-256 ahead
/// of those built on SHA-384, in its order otherwise.
///
/// A handshake runs some thirty HMACs of the suite's hash (the TLS 1.3
/// key schedule, the transcript, the tickets). Current x86-64 and ARM
/// servers compute SHA-256 in hardware and SHA-384 in software, and the
/// SHA-384 suites cost the server about a third of an ECDSA or resumed
/// handshake (`cognate-bench --tls-probe`, "the handshake in memory").
/// Many clients (OpenSSL's defaults, rustls's) list AES-256-GCM-SHA384
/// first, so the server chooses; AES-128-GCM is what browsers, iOS and
/// Android choose on their own.
fn provider() -> CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|suite| sha384(suite.suite()));
    provider
}

/// The suites of aws-lc's defaults built on SHA-384.
fn sha384(suite: CipherSuite) -> bool {
    matches!(
        suite,
        CipherSuite::TLS13_AES_256_GCM_SHA384
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_puts_the_sha384_suites_last_and_keeps_every_default_suite() {
        let default = rustls::crypto::aws_lc_rs::default_provider().cipher_suites;
        let ours = provider().cipher_suites;
        assert_eq!(ours.len(), default.len());
        for suite in &default {
            assert!(ours.contains(suite), "{:?} is kept", suite.suite());
        }
        let first = ours.iter().position(|s| sha384(s.suite())).unwrap();
        assert_eq!(first, ours.len() - 3, "the three SHA-384 suites, last");
        assert!(ours[first..].iter().all(|s| sha384(s.suite())));
        assert_eq!(ours[0].suite(), CipherSuite::TLS13_AES_128_GCM_SHA256);
        // The rest keep aws-lc's order.
        let others = |suites: &[rustls::SupportedCipherSuite]| {
            suites
                .iter()
                .map(|s| s.suite())
                .filter(|s| !sha384(*s))
                .collect::<Vec<_>>()
        };
        assert_eq!(others(&ours), others(&default));
    }
}
