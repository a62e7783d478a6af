//! Shared harnesses of the end-to-end tests: real services started by the
//! tests themselves, on loopback, stopped when the test process ends.
//!
//! # Layout
//! - [`browser`] — a real headless Chromium, driven over WebDriver (chromedriver).
//! - [`pg`] — one PostgreSQL cluster per test process; a database per test.
//! - [`oidc`] — a real upstream OpenID provider (npm `oidc-provider`).
//! - [`ceph`] — a real validating STS and S3: Ceph radosgw on loopback.
//! - [`ha`] — a highly available PostgreSQL: Patroni, etcd and HAProxy on loopback.
//! - [`serve`] — the real `cognate` binary, started from a configuration file.
pub mod browser;
pub mod ceph;
pub mod ha;
pub mod oidc;
pub mod pg;
pub mod serve;

/// Whether every test tool must be present: `COGNATE_REQUIRE_ALL=1` (set by
/// `.ci/run`), or the older `COGNATE_CEPH_REQUIRED=1`.
pub fn all_tools_required() -> bool {
    ["COGNATE_REQUIRE_ALL", "COGNATE_CEPH_REQUIRED"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0"))
}

/// A test's tool (`what`) is missing on this machine: say `SKIPPED`, or,
/// when every tool is required (CI), fail the test instead, so a broken
/// install never turns tests off silently.
#[track_caller]
pub fn skip(what: &str) {
    skip_unless_required(all_tools_required(), what);
}

#[track_caller]
fn skip_unless_required(required: bool, what: &str) {
    if required {
        panic!("COGNATE_REQUIRE_ALL is set, and {what}");
    }
    eprintln!("SKIPPED: {what}");
}

/// An HTTP client for talking to a Cognate the test started.
///
/// It drops pooled connections after 2 s idle, below the server's
/// `request_head_timeout_seconds` and `keep_alive_seconds` (5 s). actix-web
/// answers `408 Request Timeout` on a connection that sent no request
/// within the head timeout, and hyper's pool can hold such a connection:
/// when a request finds its pooled connection busy it opens another, and
/// if the first frees up first the new one goes to the pool unused. A
/// request written on it just as the server's 408 arrives reads that 408
/// as its answer. A client whose idle timeout is below the server's never
/// reuses a connection the server is about to time out; load balancers in
/// front of Cognate need the same (README, "Exposing Cognate to the
/// internet").
pub fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(expected = "COGNATE_REQUIRE_ALL is set, and node is not installed")]
    fn a_missing_tool_fails_the_test_when_every_tool_is_required() {
        super::skip_unless_required(true, "node is not installed");
    }

    #[test]
    fn a_missing_tool_only_skips_on_a_developers_machine() {
        super::skip_unless_required(false, "node is not installed");
    }
}
