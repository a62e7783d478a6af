//! TLS for the migration connection (tokio-postgres), with the URL's
//! libpq `sslmode` meaning what it means for the sqlx pool:
//!
//! | `sslmode` | TLS | checks |
//! |---|---|---|
//! | `disable`, `allow` | no | - |
//! | `prefer` (default) | if the server offers it | none |
//! | `require` | yes | none (encryption only, as libpq and sqlx) |
//! | `verify-ca` | yes | the chain, against `sslrootcert` |
//! | `verify-full` | yes | the chain and the host name |
//!
//! `sslrootcert=<PEM file>` names the trusted CA certificates; without it
//! (or with `sslrootcert=system`) the Mozilla roots of `webpki-roots` are
//! trusted. tokio-postgres itself knows only disable/prefer/require and no
//! `sslrootcert`, so those parameters are taken out of the URL here and
//! the checks are done by the rustls configuration.
//!
//! The connector is `tokio-postgres-rustls`, which also gives SCRAM its
//! channel binding (`tls-server-end-point`): with `require`, a
//! man in the middle cannot relay a SCRAM login.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// What the URL asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The URL as tokio-postgres takes it, and the TLS wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub url: String,
    pub mode: Mode,
    pub root_cert: Option<PathBuf>,
}

/// Take `sslmode` and `sslrootcert` out of `url`. A string that is not a
/// URL (libpq's `key=value` form) is passed through with `prefer`.
pub(crate) fn parse(url: &str) -> anyhow::Result<Parsed> {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return Ok(Parsed {
            url: url.to_owned(),
            mode: Mode::Prefer,
            root_cert: None,
        });
    };
    let mut mode = Mode::Prefer;
    let mut root_cert = None;
    let mut rest = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match &*key {
            "sslmode" => {
                mode = match &*value {
                    "disable" | "allow" => Mode::Disable,
                    "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => bail!(
                        "sslmode={other}: not one of disable, allow, prefer, require, verify-ca, \
                         verify-full"
                    ),
                }
            }
            "sslrootcert" if value == "system" => root_cert = None,
            "sslrootcert" => root_cert = Some(PathBuf::from(&*value)),
            _ => rest.push((key.into_owned(), value.into_owned())),
        }
    }
    let tokio_mode = match mode {
        Mode::Disable => "disable",
        Mode::Prefer => "prefer",
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => "require",
    };
    rest.push(("sslmode".into(), tokio_mode.into()));
    parsed.query_pairs_mut().clear().extend_pairs(rest);
    Ok(Parsed {
        url: parsed.into(),
        mode,
        root_cert,
    })
}

/// The rustls configuration for `mode` (None: no TLS at all).
pub(crate) fn client_config(parsed: &Parsed) -> anyhow::Result<Option<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let config = match parsed.mode {
        Mode::Disable => return Ok(None),
        Mode::Prefer | Mode::Require => {
            let lenient = Lenient {
                provider,
                chain: None,
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(lenient))
                .with_no_client_auth()
        }
        Mode::VerifyCa | Mode::VerifyFull => {
            let roots = Arc::new(root_store(parsed)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .context("building the certificate verifier")?;
            if parsed.mode == Mode::VerifyFull {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Lenient {
                        provider,
                        chain: Some(webpki),
                    }))
                    .with_no_client_auth()
            }
        }
    };
    Ok(Some(config))
}

fn root_store(parsed: &Parsed) -> anyhow::Result<RootCertStore> {
    let Some(path) = &parsed.root_cert else {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("sslrootcert: {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("sslrootcert: {}: no certificate", path.display());
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| anyhow::anyhow!("sslrootcert: {}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// Connect to `url` (TLS as its `sslmode` says); the connection is driven
/// by a spawned task, returned so the caller can wait for it to end.
pub(crate) async fn connect(
    url: &str,
) -> anyhow::Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>)> {
    let parsed = parse(url)?;
    let config: tokio_postgres::Config = parsed.url.parse().context("database URL")?;
    fn drive<S, T>(connection: tokio_postgres::Connection<S, T>) -> tokio::task::JoinHandle<()>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(error = %err, "migration connection ended with an error");
            }
        })
    }
    match client_config(&parsed)? {
        None => {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            Ok((client, drive(connection)))
        }
        Some(tls) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
            let (client, connection) = config.connect(tls).await?;
            Ok((client, drive(connection)))
        }
    }
}

/// libpq's two lenient modes: `require`/`prefer` (no `chain`) encrypt
/// without checking who is at the other end; `verify-ca` checks the chain
/// but not the host name. Either way the handshake signatures are checked.
#[derive(Debug)]
struct Lenient {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_for_tokio_postgres() {
        let p = parse("postgres://u:p@db.example.com:5432/cognate?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x").unwrap();
        assert_eq!(p.mode, Mode::VerifyFull);
        assert_eq!(p.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            p.url,
            "postgres://u:p@db.example.com:5432/cognate?application_name=x&sslmode=require"
        );
        assert!(p.url.parse::<tokio_postgres::Config>().is_ok());

        let p = parse("postgres://u@h/db").unwrap();
        assert_eq!(p.mode, Mode::Prefer);
        assert_eq!(p.url, "postgres://u@h/db?sslmode=prefer");

        let p = parse("postgres://u@h/db?sslmode=allow").unwrap();
        assert_eq!(p.mode, Mode::Disable);
        assert!(client_config(&p).unwrap().is_none());

        // The embedded cluster's socket URL survives.
        let socket = "postgres://postgres:pw@%2Ftmp%2Fx%20y:5432/cognate";
        let p = parse(socket).unwrap();
        let config: tokio_postgres::Config = p.url.parse().unwrap();
        assert_eq!(
            config.get_hosts(),
            [tokio_postgres::config::Host::Unix("/tmp/x y".into())]
        );

        assert!(parse("postgres://h/db?sslmode=sometimes").is_err());
        let p = parse("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent").unwrap();
        let err = client_config(&p).unwrap_err();
        assert!(format!("{err:#}").contains("sslrootcert"), "{err:#}");
    }
}
