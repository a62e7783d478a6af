//! The `cognate` server: configuration, CLI, telemetry, the private
//! PostgreSQL cluster, wiring, graceful shutdown.
//!
//! # Layout
//! - [`config`] — layered, typed settings.
//! - [`startup`] — [`startup::Application::build`] (also used by tests) and the database choice.
//! - [`embedded_pg`] — the private PostgreSQL cluster used when no URL is configured.
//! - [`telemetry`] — the tracing subscriber.
//! - [`audit_cli`] — `cognate audit export`, and the records of `cognate keys`.
//! - [`check`] — `cognate check`: every dependency of the configuration tried.
//! - [`runtime_builder`] — the service's multi-threaded runtime.

pub mod audit_cli;
pub mod check;
pub mod config;
pub mod embedded_pg;
pub mod startup;
pub mod telemetry;
pub mod tls;

/// The service's runtime: multi-threaded, a worker per core, where the
/// database work and token signing of every call run.
///
/// Built with `--cfg tokio_unstable` (`.cargo/config.toml`), it runs
/// without the LIFO slot. That slot runs the task a worker has just woken
/// before the tasks already queued. At saturation it let answers overtake
/// each other: at 32 connections on 2 cores, without it, the p99/p50 of
/// every operation the bench drives fell (the developer path's from
/// 2.54–2.58 to 2.11–2.36, GetOpenIdToken's from 2.13–2.23 to
/// 2.02–2.12), at rates within the machine's noise (bench/README.md,
/// "The runtime without its LIFO slot").
pub fn runtime_builder() -> tokio::runtime::Builder {
    #[allow(unused_mut)]
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    builder
}
