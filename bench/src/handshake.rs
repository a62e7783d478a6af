//! The TLS handshake's cost to the server, in memory: a rustls client and
//! the service's own server configuration
//! ([`cognate_server::tls::server_config`]) pass their messages
//! through buffers, with no socket, no runtime and no other load, and only
//! the server's side is timed. This is the handshake's CPU cost without the
//! network's and the scheduler's (which the `--tls-probe` rows include), for
//! each certificate key, key exchange and resumption.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

/// The key exchange the client offers first.
#[derive(Debug, Clone, Copy)]
pub enum Exchange {
    /// Hybrid post-quantum X25519MLKEM768, which current browsers, iOS and
    /// rustls's own default offer first.
    X25519MlKem768,
    /// Classic X25519 only, as older clients offer.
    X25519,
}

impl Exchange {
    pub fn name(self) -> &'static str {
        match self {
            Exchange::X25519MlKem768 => "X25519MLKEM768",
            Exchange::X25519 => "X25519",
        }
    }
}

/// A client of the certificate `root` offering `exchange`; `resume`: keep
/// and use session tickets.
pub fn client_config(
    root: CertificateDer<'static>,
    exchange: Exchange,
    resume: bool,
) -> anyhow::Result<Arc<ClientConfig>> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = match exchange {
        Exchange::X25519MlKem768 => vec![
            rustls::crypto::aws_lc_rs::kx_group::X25519MLKEM768,
            rustls::crypto::aws_lc_rs::kx_group::X25519,
        ],
        Exchange::X25519 => vec![rustls::crypto::aws_lc_rs::kx_group::X25519],
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root)?;
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(config))
}

/// Server CPU time per handshake over `rounds` handshakes (after a few
/// unmeasured ones, which also give a resuming client its first tickets).
pub fn server_time_per_handshake(
    server: &Arc<ServerConfig>,
    client: &Arc<ClientConfig>,
    rounds: u32,
) -> anyhow::Result<Duration> {
    for _ in 0..4 {
        handshake(server, client)?;
    }
    let mut spent = Duration::ZERO;
    for _ in 0..rounds {
        spent += handshake(server, client)?;
    }
    Ok(spent / rounds.max(1))
}

/// One handshake, until the client holds the server's session tickets;
/// the time spent on the server's side.
fn handshake(server: &Arc<ServerConfig>, client: &Arc<ClientConfig>) -> anyhow::Result<Duration> {
    let name = ServerName::try_from("127.0.0.1")?;
    let mut client = ClientConnection::new(client.clone(), name).context("client")?;
    let started = Instant::now();
    let mut server = ServerConnection::new(server.clone()).context("server")?;
    let mut spent = started.elapsed();
    let mut flight = Vec::new();
    for _ in 0..16 {
        flight.clear();
        while client.wants_write() {
            client.write_tls(&mut flight)?;
        }
        let started = Instant::now();
        deliver(&flight, &mut server)?;
        flight.clear();
        while server.wants_write() {
            server.write_tls(&mut flight)?;
        }
        spent += started.elapsed();
        deliver(&flight, &mut client)?;
        if !client.is_handshaking()
            && !server.is_handshaking()
            && !client.wants_write()
            && !server.wants_write()
        {
            return Ok(spent);
        }
    }
    anyhow::bail!("the handshake did not finish in 16 flights")
}

/// Feed `bytes` to one side, processing as it goes (`read_tls` takes at
/// most a buffer's worth at a time).
fn deliver<D: rustls::SideData>(
    mut bytes: &[u8],
    side: &mut rustls::ConnectionCommon<D>,
) -> anyhow::Result<()> {
    while !bytes.is_empty() {
        let before = bytes.len();
        side.read_tls(&mut bytes)?;
        side.process_new_packets().context("TLS")?;
        if bytes.len() == before {
            anyhow::bail!("the peer took none of {before} bytes");
        }
    }
    Ok(())
}
