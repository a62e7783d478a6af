//! `--flood-probe`: signed management calls while a public flood runs. A
//! second account (`FLOOD_ACCOUNT`) has a GetId quota of
//! `FLOOD_QUOTA` per second; 32 unsigned callers (one client address, as
//! one abusive app) flood GetId on its pool, far over the quota, while
//! ListIdentityPools and DescribeIdentityPool, signed, are timed one at a
//! time: first quiet, then during the flood. Goal: p99 within 50 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::load::{self, Op, Target};
use crate::{sdk_client_as, REGION};

/// The flooded account, its key and its GetId quota (per second).
pub const FLOOD_ACCOUNT: &str = "222222222222";
pub const FLOOD_ACCESS_KEY: &str = "AKIACOGNATEFLOOD0001";
pub const FLOOD_SECRET_KEY: &str = "cognate-bench-flood-secret-key-00000001";
pub const FLOOD_QUOTA: u32 = 10;
/// Unsigned callers in the flood.
const FLOODERS: usize = 32;

/// Latencies (ms, sorted) of signed calls made one at a time until `until`.
async fn signed_calls(
    sdk: &aws_sdk_cognitoidentity::Client,
    pool: &str,
    until: Instant,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut list, mut describe) = (Vec::new(), Vec::new());
    while Instant::now() < until {
        let started = Instant::now();
        sdk.list_identity_pools().max_results(10).send().await?;
        list.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        sdk.describe_identity_pool()
            .identity_pool_id(pool)
            .send()
            .await?;
        describe.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    list.sort_by(f64::total_cmp);
    describe.sort_by(f64::total_cmp);
    Ok((list, describe))
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    load::nearest_rank(sorted, q).unwrap_or(f64::NAN)
}

/// Run the probe for `duration` quiet, then `duration` under the flood.
pub async fn probe(address: &str, duration: Duration) -> anyhow::Result<()> {
    let sdk = sdk_client_as(address, FLOOD_ACCESS_KEY, FLOOD_SECRET_KEY);
    let pool = sdk
        .create_identity_pool()
        .identity_pool_name("cognate-bench-flooded")
        .allow_unauthenticated_identities(true)
        .send()
        .await?
        .identity_pool_id;
    let quiet = signed_calls(&sdk, &pool, Instant::now() + duration).await?;
    let target = Arc::new(Target::new(
        address,
        REGION,
        FLOOD_ACCESS_KEY,
        FLOOD_SECRET_KEY,
        &pool,
    ));
    let flood = tokio::spawn({
        let target = Arc::clone(&target);
        async move { load::drive(&target, Op::GetId, FLOODERS, duration).await }
    });
    let flooded = signed_calls(&sdk, &pool, Instant::now() + duration).await?;
    let flood = flood.await?;
    println!();
    println!(
        "flood probe: {FLOODERS} unsigned callers (one client address) flood GetId on a pool of \
         account {FLOOD_ACCOUNT}, whose GetId quota is {FLOOD_QUOTA}/s, for {:.0} s:",
        duration.as_secs_f64()
    );
    println!(
        "  the flood: {} answered, {} refused ({:.0} refusals/s; first: {})",
        flood.ok,
        flood.errors,
        flood.errors as f64 / flood.elapsed.as_secs_f64().max(1e-9),
        flood.first_error.as_deref().unwrap_or("-")
    );
    println!(
        "  {:<44} {:>6} {:>8} {:>8} {:>8}",
        "signed call of the flooded account", "calls", "p50 ms", "p99 ms", "max ms"
    );
    for (name, (list, describe)) in [("quiet", &quiet), ("during the flood", &flooded)] {
        for (op, times) in [
            ("ListIdentityPools", list),
            ("DescribeIdentityPool", describe),
        ] {
            println!(
                "  {:<44} {:>6} {:>8.2} {:>8.2} {:>8.2}",
                format!("{op}, {name}"),
                times.len(),
                quantile(times, 0.5),
                quantile(times, 0.99),
                quantile(times, 1.0)
            );
        }
    }
    let worst = quantile(&flooded.0, 0.99).max(quantile(&flooded.1, 0.99));
    println!("  p99 of the signed calls during the flood: {worst:.1} ms  [<= 50 ms]");
    Ok(())
}
