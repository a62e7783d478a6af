//! `--tls-probe`: GetId and GetOpenIdToken with Cognate terminating TLS
//! (rustls), as mobile apps call it: keep-alive, a new connection per call
//! whose client does not resume, and a new connection per call that
//! resumes (TLS 1.3 session tickets); with an RSA-2048 certificate and
//! with an ECDSA P-256 one. Each is measured against a second instance of
//! the service on the same database, listening with TLS, next to the plain
//! HTTP rows of the main instance (keep-alive, and a new connection per
//! call), so that every ratio comes from one run.
//!
//! The handshake's cost per call is the server's CPU time per call over a
//! new connection less its CPU time per call over keep-alive. Its
//! cryptography alone is timed in memory too ([`crate::handshake`]), for
//! each key, key exchange, and with and without resumption.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cognate_server::config::Settings;
use cognate_server::startup::Application;

use crate::cpu;
use crate::handshake::{self, Exchange};
use crate::load::{self, Op, Run, Target};
use crate::wire::Transport;

/// The certificate's key.
#[derive(Debug, Clone, Copy)]
enum Key {
    Rsa2048,
    EcdsaP256,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::Rsa2048 => "RSA-2048",
            Key::EcdsaP256 => "ECDSA P-256",
        }
    }

    /// A self-signed certificate for 127.0.0.1: (certificate PEM, key PEM).
    fn certificate(
        self,
    ) -> anyhow::Result<(String, String, rustls::pki_types::CertificateDer<'static>)> {
        let key = match self {
            Key::Rsa2048 => {
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)?
            }
            Key::EcdsaP256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        };
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])?;
        let cert = params.self_signed(&key)?;
        Ok((cert.pem(), key.serialize_pem(), cert.der().clone()))
    }
}

/// One measured row.
struct Row {
    label: String,
    run: Run,
    server_cores: f64,
}

impl Row {
    /// Server CPU milliseconds per successful call.
    fn cpu_ms_per_call(&self) -> f64 {
        self.server_cores * self.run.elapsed.as_secs_f64() * 1000.0 / (self.run.ok.max(1) as f64)
    }

    /// Print the row under the probe's header.
    fn print(&self) {
        println!(
            "  {:<58} {:>8.0} {:>8.2} {:>8.2} {:>6.2} {:>6.3} ms{}",
            self.label,
            self.run.throughput(),
            self.run.quantile_ms(0.5),
            self.run.quantile_ms(0.99),
            self.server_cores,
            self.cpu_ms_per_call(),
            if self.run.errors > 0 {
                format!(
                    "  <-- {} ERRORS: {}",
                    self.run.errors,
                    self.run.first_error.as_deref().unwrap_or("?")
                )
            } else {
                String::new()
            }
        );
    }
}

/// How every row of the probe is measured, and the requests that failed
/// so far.
struct Measuring {
    concurrency: usize,
    duration: Duration,
    postmaster: Option<u32>,
    failed: u64,
}

impl Measuring {
    /// Measure one row of `op` against `target` (and print it), counting
    /// its failed requests.
    async fn row(&mut self, label: String, target: &Arc<Target>, op: Op) -> Row {
        // A short warm-up: connections, caches, a first ticket.
        let _ = load::drive(target, op, self.concurrency, Duration::from_millis(500)).await;
        let before = cpu::Snapshot::take(self.postmaster);
        let run = load::drive(target, op, self.concurrency, self.duration).await;
        let usage = cpu::Snapshot::take(self.postmaster).since(&before);
        self.failed += run.errors;
        let row = Row {
            label,
            run,
            server_cores: usage.server,
        };
        row.print();
        row
    }
}

/// Run the probe; `plain` is the main instance's target (plain HTTP).
#[allow(clippy::too_many_arguments)]
pub async fn probe(
    settings: &Settings,
    database_url: &str,
    runtime: &tokio::runtime::Handle,
    plain: &Target,
    plain_host: &str,
    concurrency: usize,
    duration: Duration,
    postmaster: Option<u32>,
) -> anyhow::Result<u64> {
    let dir = tempfile::tempdir()?;
    let mut measuring = Measuring {
        concurrency,
        duration,
        postmaster,
        failed: 0,
    };
    println!();
    println!(
        "TLS probe: {concurrency} calls in flight, {:.0} s a row; srv = server cores, cpu/call = \
         server CPU per call:",
        duration.as_secs_f64()
    );
    let header = format!(
        "  {:<58} {:>8} {:>8} {:>8} {:>6} {:>9}",
        "operation / transport", "req/s", "p50 ms", "p99 ms", "srv", "cpu/call"
    );
    println!("{header}");
    let mut summary = Vec::new();
    let mut handshakes = Vec::new();
    for op in [Op::GetId, Op::OpenIdToken] {
        let mut plain_rows = Vec::new();
        for (mode, new_per_request) in [("keep-alive", false), ("new connection per call", true)] {
            let transport = Transport {
                tls: None,
                new_per_request,
            };
            let target = Arc::new(plain.over(plain_host, transport));
            let row = measuring
                .row(format!("{} / plain, {mode}", op.name()), &target, op)
                .await;
            plain_rows.push(row);
        }
        let plain_row = &plain_rows[0];
        for key in [Key::Rsa2048, Key::EcdsaP256] {
            let (cert_pem, key_pem, der) = key.certificate()?;
            let cert_file = dir.path().join(format!("{key:?}.crt"));
            let key_file = dir.path().join(format!("{key:?}.key"));
            std::fs::write(&cert_file, cert_pem)?;
            std::fs::write(&key_file, key_pem)?;
            if op == Op::GetId {
                handshakes.push(in_memory(&cert_file, &key_file, key, &der)?);
            }
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let host = listener.local_addr()?.to_string();
            let mut tls_settings = settings.clone();
            tls_settings.server.tls_cert_file = Some(cert_file);
            tls_settings.server.tls_key_file = Some(key_file);
            tls_settings.server.management_bind = ([127, 0, 0, 1], 0).into();
            tls_settings.console.bind = None;
            let app = {
                let (s, url) = (tls_settings.clone(), database_url.to_owned());
                runtime
                    .spawn(
                        async move { Application::build_with_listener(&s, &url, listener).await },
                    )
                    .await
                    .context("building the TLS instance")??
            };
            let server = runtime.spawn(app.run_until_stopped());
            let mut rows = Vec::new();
            for (mode, resume, new_per_request) in [
                ("keep-alive", true, false),
                ("new connection per call, no resumption", false, true),
                ("new connection per call, resumed", true, true),
            ] {
                let transport = Transport {
                    tls: Some(handshake::client_config(
                        der.clone(),
                        Exchange::X25519MlKem768,
                        resume,
                    )?),
                    new_per_request,
                };
                let target = Arc::new(plain.over(&host, transport));
                let row = measuring
                    .row(
                        format!("{} / TLS {}, {mode}", op.name(), key.name()),
                        &target,
                        op,
                    )
                    .await;
                rows.push(row);
            }
            server.abort();
            let base = plain_row.run.throughput();
            summary.push(format!(
                "  {:<16} {:<12} new/keep-alive plain = {:.2} [>= 0.5]; resumed/keep-alive plain = {:.2} [>= 0.7]; \
                 handshake: {:.3} ms server CPU per call (full), {:.3} ms (resumed)",
                op.name(),
                key.name(),
                rows[1].run.throughput() / base,
                rows[2].run.throughput() / base,
                rows[1].cpu_ms_per_call() - rows[0].cpu_ms_per_call(),
                rows[2].cpu_ms_per_call() - rows[0].cpu_ms_per_call(),
            ));
        }
    }
    println!("  ratios (served rate / plain keep-alive rate of the same operation):");
    for line in summary {
        println!("{line}");
    }
    println!(
        "  the handshake in memory (rustls client, the service's TLS configuration, no \
         socket): server CPU per handshake"
    );
    for line in handshakes.concat() {
        println!("{line}");
    }
    Ok(measuring.failed)
}

/// The server's CPU per handshake with `key`, in memory, for each key
/// exchange, full and resumed: the lines to print.
fn in_memory(
    cert_file: &std::path::Path,
    key_file: &std::path::Path,
    key: Key,
    der: &rustls::pki_types::CertificateDer<'static>,
) -> anyhow::Result<Vec<String>> {
    let server = Arc::new(cognate_server::tls::server_config(
        cert_file, key_file, "server",
    )?);
    let mut lines = Vec::new();
    for exchange in [Exchange::X25519MlKem768, Exchange::X25519] {
        let mut cost = Vec::new();
        for resume in [false, true] {
            let client = handshake::client_config(der.clone(), exchange, resume)?;
            cost.push(handshake::server_time_per_handshake(&server, &client, 400)?);
        }
        lines.push(format!(
            "  {:<16} {:<16} full {:>7.3} ms   resumed {:>7.3} ms",
            key.name(),
            exchange.name(),
            cost[0].as_secs_f64() * 1000.0,
            cost[1].as_secs_f64() * 1000.0,
        ));
    }
    Ok(lines)
}
