//! `--console-pages`: the operator console's pages timed on the benchmark's
//! pool (its preloaded identities, and the audit trail the load left), over
//! HTTP on the console's listener, with a session made without signing in.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::{sdk_client, Args, ACCOUNT, USER_PREFIX};

/// Requests per page.
const TIMES: usize = 20;

/// The console's address and a session cookie.
pub struct Console {
    pub address: String,
    pub cookie: String,
}

/// Time each page; print p50, p99 and max.
pub async fn time_pages(console: &Console, args: &Args, api: &str) -> anyhow::Result<()> {
    let sdk = sdk_client(api);
    let pools = sdk.list_identity_pools().max_results(60).send().await?;
    let pool = pools
        .identity_pools()
        .last()
        .context("the benchmark's pool")?
        .identity_pool_id()
        .context("a pool id")?
        .to_owned();
    let identity = sdk
        .list_identities()
        .identity_pool_id(&pool)
        .max_results(1)
        .send()
        .await?
        .identities()
        .first()
        .and_then(|i| i.identity_id())
        .context("an identity")?
        .to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let a = format!("/accounts/{ACCOUNT}");
    let pages = [
        ("pools (counted up to 10,000 each)", format!("{a}/pools")),
        (
            "a pool (counted up to 100,000)",
            format!("{a}/pools/{pool}"),
        ),
        (
            "a pool's identities, first page",
            format!("{a}/pools/{pool}/identities"),
        ),
        (
            "find by identity id (303)",
            format!("{a}/identities?by=id&value={identity}"),
        ),
        (
            "find by developer user (303)",
            format!("{a}/identities?by=developer&pool={pool}&value={USER_PREFIX}0"),
        ),
        ("an identity", format!("{a}/identities/{identity}")),
        ("audit trail, newest page", format!("{a}/audit")),
        (
            "audit trail of an identity",
            format!("{a}/audit?identity={identity}"),
        ),
        (
            "audit trail, GetId errors",
            format!("{a}/audit?name=GetId&error=any"),
        ),
        ("usage (last hour and day)", format!("{a}/usage")),
        ("signing keys", "/keys".to_owned()),
    ];
    println!();
    println!(
        "console pages ({} identities in the pool; {TIMES} requests each, one at a time; \
         server-side time as the client sees it on loopback):",
        args.identities
    );
    println!(
        "  {:<40} {:>8} {:>8} {:>8}  status",
        "page", "p50 ms", "p99 ms", "max ms"
    );
    for (name, path) in pages {
        let mut times = Vec::with_capacity(TIMES);
        let mut status = 0;
        for _ in 0..TIMES {
            let started = Instant::now();
            let response = http
                .get(format!("{}{path}", console.address))
                .header("cookie", format!("cognate-console={}", console.cookie))
                .send()
                .await?;
            status = response.status().as_u16();
            let _ = response.bytes().await?;
            times.push(started.elapsed());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| crate::load::nearest_rank(&times, q).unwrap_or_default();
        println!(
            "  {:<40} {:>8.2} {:>8.2} {:>8.2}  {status}",
            name,
            ms(at(0.5)),
            ms(at(0.99)),
            ms(at(1.0)),
        );
    }
    Ok(())
}
