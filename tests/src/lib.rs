//! Shared harnesses of the end-to-end tests: real services started by the
//! tests themselves, on loopback, stopped when the test process ends.
//!
//! # Layout
//! - [`pg`] — one PostgreSQL cluster per test process; a database per test.
//! - [`oidc`] — a real upstream OpenID provider (npm `oidc-provider`).
//! - [`ceph`] — a real validating STS and S3: Ceph radosgw on loopback.
pub mod ceph;
pub mod oidc;
pub mod pg;
