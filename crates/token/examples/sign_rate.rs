//! Raw RSA signing rate of this machine, one core, for the token sizes
//! Cognate signs: the path the service uses (aws-lc-rs, key parsed once)
//! and, for comparison, `jsonwebtoken::encode` with its aws-lc-rs backend
//! (which re-parses the private key on every signature).
//!
//! ```text
//! cargo run --release -p cognate-token --features bench --example sign_rate [-- SECONDS]
//! ```

use std::time::{Duration, Instant};

use cognate_token::bench::{sample_claims, throwaway_key};
use cognate_token::{measure_sign_rate, SigningAlgorithm};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f64 = std::env::args().nth(1).map_or(Ok(3.0), |s| s.parse())?;
    let duration = Duration::from_secs_f64(seconds);
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; use --release for meaningful numbers");
    }
    for alg in [SigningAlgorithm::Rs512, SigningAlgorithm::Rs256] {
        let rate = measure_sign_rate(alg, duration)?;
        println!("{alg} cognate (aws-lc-rs, parsed key): {rate:>8.0} signatures/s on one core");
        let rate = jsonwebtoken_rate(alg, duration)?;
        println!("{alg} jsonwebtoken::encode (aws-lc-rs):  {rate:>8.0} signatures/s on one core");
    }
    Ok(())
}

fn jsonwebtoken_rate(
    alg: SigningAlgorithm,
    duration: Duration,
) -> Result<f64, Box<dyn std::error::Error>> {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    let key = throwaway_key(alg)?;
    let pkcs1 = rsa::RsaPrivateKey::from_pkcs8_der(key.private_key_der())?.to_pkcs1_der()?;
    let encoding = jsonwebtoken::EncodingKey::from_rsa_der(pkcs1.as_bytes());
    let mut header = jsonwebtoken::Header::new(alg.jwt());
    header.kid = Some(key.kid().to_owned());
    header.typ = Some("JWS".into());
    let claims = sample_claims();
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < duration {
        std::hint::black_box(jsonwebtoken::encode(&header, &claims, &encoding)?);
        count += 1;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}
