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

pub mod audit_cli;
pub mod check;
pub mod config;
pub mod embedded_pg;
pub mod startup;
pub mod telemetry;
