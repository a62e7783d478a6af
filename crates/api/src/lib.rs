//! The AWS JSON 1.1 protocol of Amazon Cognito Identity, on actix-web.
//!
//! A request is `POST /` with `X-Amz-Target: AWSCognitoIdentityService.<Op>`.
//! [`protocol`] reads it (bounded body, request id, SigV4 for the signed
//! operations, model-driven validation) and hands the parsed JSON to the
//! operation's module in [`ops`], which calls one domain service and
//! serialises the answer. Every response, errors included, is
//! `application/x-amz-json-1.1` with an `x-amzn-RequestId`.
//!
//! # Layout
//! - [`protocol`] — the `POST /` handler: target, body, auth, validation, dispatch, metrics.
//! - [`admission`] — per-class budgets of requests in flight (public, signed), and of body bytes.
//! - [`clients`] — who a client is (peer or trusted proxy's word) and its share of each budget.
//! - [`ops`] — one module per operation (parse → domain → serialise).
//! - [`sigv4`] — Signature Version 4 verification.
//! - [`validation`] — request validation interpreted from the embedded service model.
//! - [`error`] — the one mapping from failures to AWS error codes.
//! - [`metrics`] — Prometheus counters and latency histogram.
//! - [`quota`] — request-rate quotas per account and operation, shared across instances.
//! - [`owners`] — who owns what an unsigned call names; ids that exist nowhere.
//! - [`wellknown`] — `/healthz`, `/readyz`, `/metrics` and the token documents.
//! - [`audit`] — CloudTrail-shaped records of every call, and their buffered writer.
//! - [`cloudtrail`] — CloudTrail's LookupEvents over the audit trail.
//! - [`operator`] — the console's calls: the operations as an operator, recorded.
//!
//! [`configure`] mounts the public API; [`configure_management`] the
//! management listener's `/metrics`, `/healthz` and `/readyz`.

use std::sync::Arc;

use actix_web::web;
use cognate_domain::ports::Store;
use cognate_domain::service::{IdentityService, PoolService};
use cognate_token::KeyManager;

pub mod admission;
pub mod audit;
pub mod clients;
pub mod cloudtrail;
pub mod error;
pub mod metrics;
pub mod operator;
pub mod ops;
pub mod owners;
pub mod protocol;
pub mod quota;
pub mod runtime_metrics;
pub mod sigv4;
pub mod validation;
pub mod wellknown;

/// Everything the handlers need, shared by all workers.
pub struct AppState {
    /// Identity-pool management.
    pub pools: PoolService,
    /// Identities and Cognate's tokens.
    pub identities: IdentityService,
    /// Signing keys: the JWKS and discovery documents.
    pub keys: Arc<KeyManager>,
    /// Path of the issuer URL (`""` or `/prefix`), where the documents live too.
    pub issuer_path: String,
    /// For `/readyz`.
    pub store: Arc<dyn Store>,
    /// SigV4 settings (region, service, clock skew).
    pub verifier: sigv4::Verifier,
    /// SigV4 settings of CloudTrail's LookupEvents (service `cloudtrail`).
    pub cloudtrail_verifier: sigv4::Verifier,
    /// The audit trail's buffered writer.
    pub audit: audit::AuditLog,
    /// The audit trail's records (LookupEvents).
    pub audit_store: Arc<dyn cognate_domain::audit::AuditStore>,
    /// Access key → account and secret.
    pub credentials: Arc<dyn sigv4::CredentialLookup + Send + Sync>,
    /// Request counters and latency.
    pub metrics: metrics::Metrics,
    /// The API listener's open connections, per client.
    pub connections: clients::Connections,
    /// Request-rate quotas.
    pub quotas: quota::Quotas,
    /// Owners of what unsigned calls name, and ids that exist nowhere.
    pub owners: owners::Owners,
    /// Proxies whose `X-Forwarded-For` names the client (and whose
    /// `traceparent` is followed).
    pub trusted_proxies: clients::TrustedProxies,
    /// Follow a `traceparent` from any caller (`telemetry.accept_traceparent`).
    pub accept_traceparent: bool,
    /// How long a call waits for a lost database to come back
    /// (`database.failover_wait_seconds`), counted from its arrival.
    pub failover_wait: std::time::Duration,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a request's whole body may take to arrive, from the end of its head.
    pub body_timeout: std::time::Duration,
    /// Budgets of requests in flight per class.
    pub admission: admission::Admission,
    /// Request-body bytes held in memory at once, across all requests.
    pub body_budget: admission::BodyBudget,
    /// Where database work runs: the process's main (multi-thread) runtime,
    /// which outlives the HTTP workers. Each actix worker has a runtime of
    /// its own, and a pooled connection works only while the runtime that
    /// opened it runs; as workers stopped one by one in a graceful
    /// shutdown, a call still in flight on one worker failed ("Tokio
    /// context is being shutdown") on a connection another worker had
    /// opened (found by crates/server/tests/multi_instance.rs). `None`:
    /// run in place (a single-thread runtime, as in tests).
    pub database_runtime: Option<tokio::runtime::Handle>,
}

impl AppState {
    /// Run `work` (which touches the database) on
    /// [`database_runtime`](Self::database_runtime), or in place.
    pub async fn on_database_runtime<F>(&self, work: F) -> Result<F::Output, error::ApiError>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.database_runtime {
            Some(runtime) => runtime.spawn(work).await.map_err(error::ApiError::internal),
            None => Ok(work.await),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// Mount the routes of the management listener: `/metrics`, `/healthz`,
/// `/readyz`; anything else is 404.
pub fn configure_management(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .route("/metrics", web::get().to(wellknown::metrics))
            .route("/healthz", web::get().to(wellknown::healthz))
            .route("/readyz", web::get().to(wellknown::readyz));
    }
}

/// Mount every route of the public API listener (not `/metrics`: that is
/// on the management listener only, see [`configure_management`]).
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .route("/", web::post().to(protocol::handle))
            .route("/healthz", web::get().to(wellknown::healthz))
            .route("/readyz", web::get().to(wellknown::readyz))
            .route("/.well-known/jwks_uri", web::get().to(wellknown::jwks))
            .route("/.well-known/jwks.json", web::get().to(wellknown::jwks))
            .route(
                "/.well-known/openid-configuration",
                web::get().to(wellknown::openid_configuration),
            )
            .default_service(web::to(wellknown::under_issuer_path));
    }
}
