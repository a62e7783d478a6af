//! The `POST /` handler: everything between the socket and an operation.
//!
//! Order of checks, as AWS's front end does them: the target names a known
//! operation (else `UnknownOperationException`), the body fits the limit,
//! the signature verifies (signed operations only), the body is JSON
//! (`SerializationException`), the input satisfies the model
//! (`ValidationException`), the account's request-rate quota has room
//! (`TooManyRequestsException`; an unsigned call counts against the owner
//! of the pool or identity it names, found by [`crate::owners`], which also
//! answers `ResourceNotFoundException` for ids that exist nowhere); then the
//! request is admitted in its class's budget (`TooManyRequestsException`,
//! see [`crate::admission`]) and the operation runs. An unsigned call whose
//! owner must be read from the database is admitted before that read. The
//! whole body must arrive within `body_timeout` (`RequestTimeoutException`,
//! HTTP 408) and fit in what is left of the shared body-byte budget and of
//! its client's part of it (`TooManyRequestsException`); after either, and
//! after a body over the size limit, the connection is closed, whatever the
//! request's framing.

use std::time::{Duration, Instant, SystemTime};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt as _;
use tracing::Instrument as _;

use std::net::IpAddr;

use cognate_domain::audit::AuditRecord;
use cognate_domain::ids::{AccountId, IdentityId, IdentityPoolId};
use cognate_domain::share::{self, Share};
use serde_json::Value;

use crate::admission::{Admitted, BodyShare, Class};
use crate::audit::{self, Call, CallRecorder, Who};
use crate::clients::ClientKey;
use crate::error::ApiError;
use crate::metrics::Rejection;
use crate::ops::{self, Answer, Caller};
use crate::owners::{Named, Owner};
use crate::quota::Admission;
use crate::sigv4::SignedRequest;
use crate::validation::Model;
use crate::AppState;

/// The JSON 1.1 content type, on every response.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TARGET_PREFIX: &str = "AWSCognitoIdentityService.";

/// The head of every answer: status, content type, request id, error type.
fn answer(
    status: StatusCode,
    request_id: &str,
    error: Option<&str>,
) -> actix_web::HttpResponseBuilder {
    let mut res = HttpResponse::build(status);
    res.insert_header(("Content-Type", CONTENT_TYPE))
        .insert_header(("x-amzn-RequestId", request_id));
    if let Some(code) = error {
        res.insert_header(("x-amzn-ErrorType", code));
    }
    res
}

fn respond(
    status: StatusCode,
    request_id: &str,
    body: &serde_json::Value,
    error: Option<&str>,
) -> HttpResponse {
    answer(status, request_id, error).body(body.to_string())
}

fn error_response(err: &ApiError, request_id: &str) -> HttpResponse {
    respond(err.status, request_id, &err.body(), Some(err.code))
}

/// Anything but the known routes: AWS's front end answers unknown paths
/// with `UnknownOperationException` in the JSON protocol's form.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut err = ApiError::unknown_operation();
    err.status = StatusCode::NOT_FOUND;
    err.message = format!(
        "{} {} is not an operation of this service: send POST / with the header \
         X-Amz-Target: AWSCognitoIdentityService.<Operation>.",
        req.method(),
        req.path().chars().take(256).collect::<String>()
    );
    error_response(&err, &request_id)
}

/// Reads the whole body, refusing it when it exceeds `limit` bytes, when the bytes all
/// bodies together (or this client's bodies) hold would exceed the [`BodyBudget`], or when it
/// has not fully arrived within `timeout`. actix-web bounds the time to receive a request's
/// head (`client_request_timeout`) but not its body, so without this deadline a client sending
/// one byte every few seconds would hold its connection and its buffer for as long as it
/// likes. The returned share must be kept as long as the body is.
///
/// The payload is borrowed, not taken: on a refusal the caller keeps it until the answer has
/// been written (see [`Unread`]), which is what makes actix close the connection.
async fn read_body(
    payload: &mut web::Payload,
    declared: Option<usize>,
    limit: usize,
    timeout: Duration,
    mut share: BodyShare,
) -> Result<(Vec<u8>, BodyShare), ApiError> {
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    match tokio::time::timeout(
        timeout,
        read_body_unbounded(payload, declared, limit, &mut share),
    )
    .await
    {
        Ok(body) => body.map(|body| (body, share)),
        Err(_) => Err(ApiError {
            code: "RequestTimeoutException",
            message: format!(
                "The request body was not received within {} seconds.",
                timeout.as_secs_f64()
            ),
            status: StatusCode::REQUEST_TIMEOUT,
            internal: None,
            close_connection: true,
            database_unavailable: false,
        }),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError {
        code: "SerializationException",
        message: format!("Request body is larger than the limit of {limit} bytes."),
        status: StatusCode::PAYLOAD_TOO_LARGE,
        internal: None,
        close_connection: true,
        database_unavailable: false,
    }
}

/// Reads the body into a buffer whose capacity (what it really holds) is
/// covered by `share` at every step. The buffer grows as bytes arrive
/// (doubling, never beyond the declared length or `limit`), so a client
/// cannot make the server set memory aside by announcing a large body it
/// never sends.
async fn read_body_unbounded(
    payload: &mut web::Payload,
    declared: Option<usize>,
    limit: usize,
    share: &mut BodyShare,
) -> Result<Vec<u8>, ApiError> {
    /// The first allocation of a body that is arriving.
    const FIRST_BYTES: usize = 8 * 1024;
    let ceiling = declared.unwrap_or(limit).min(limit);
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::serialization(format!("Could not read the request body: {e}"))
        })?;
        let needed = body.len() + chunk.len();
        if needed > limit {
            return Err(too_large(limit));
        }
        if needed > body.capacity() {
            let doubled = body.capacity().saturating_mul(2).max(FIRST_BYTES);
            let grown = needed.max(doubled.min(ceiling));
            if !share.cover(grown) {
                return Err(ApiError::client(
                    "TooManyRequestsException",
                    "Too many request bodies are being received; retry with back-off.",
                )
                .closing());
            }
            body.reserve_exact(grown - body.len());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error answer that keeps the unread rest of the request's body alive
/// until the answer has been written. actix-web decides whether to close
/// the connection when the answer's body ends: a payload still held then
/// means "unread", and the connection is closed; a payload already dropped
/// means "drain the rest and keep the connection" for chunked requests,
/// which a client that has stopped sending keeps open for ever.
struct Unread {
    answer: web::Bytes,
    _payload: web::Payload,
}

impl actix_web::body::MessageBody for Unread {
    type Error = std::convert::Infallible;

    fn size(&self) -> actix_web::body::BodySize {
        actix_web::body::BodySize::Sized(self.answer.len() as u64)
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<web::Bytes, Self::Error>>> {
        let this = self.get_mut();
        std::task::Poll::Ready(
            (!this.answer.is_empty()).then(|| Ok(std::mem::take(&mut this.answer))),
        )
    }
}

/// The request's headers as the `http` 1.x type the verifier takes. An
/// HTTP/2 request has no `Host` header (its `:authority` stands in, and
/// clients sign it as `host`), so it is put back from the authority.
fn http1_headers(req: &HttpRequest) -> http::HeaderMap {
    let mut map = http::HeaderMap::with_capacity(req.headers().len() + 1);
    for (name, value) in req.headers() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(n, v);
        }
    }
    if !map.contains_key(http::header::HOST) {
        if let Some(authority) = req.uri().authority() {
            if let Ok(v) = http::HeaderValue::from_str(authority.as_str()) {
                map.insert(http::header::HOST, v);
            }
        }
    }
    map
}

/// The client of a request: its peer, or the address a trusted proxy
/// vouches for (see [`crate::clients`]).
pub fn client_of(req: &HttpRequest, trusted: &crate::clients::TrustedProxies) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    trusted.client_of(peer, forwarded.collect::<Vec<_>>().into_iter())
}

/// The operations that make a pool or an identity, and the output member naming it.
fn created_member(operation: &str) -> Option<&'static str> {
    match operation {
        "CreateIdentityPool" => Some("IdentityPoolId"),
        "GetId" | "GetOpenIdTokenForDeveloperIdentity" => Some("IdentityId"),
        _ => None,
    }
}

/// The services answered on `POST /`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// Amazon Cognito Identity: the 23 operations.
    Cognito,
    /// CloudTrail's LookupEvents, over the audit trail.
    CloudTrail,
}

impl Service {
    fn model(self) -> &'static Model {
        match self {
            Service::Cognito => Model::embedded(),
            Service::CloudTrail => Model::cloudtrail(),
        }
    }

    fn event_source(self) -> &'static str {
        match self {
            Service::Cognito => audit::COGNITO_SOURCE,
            Service::CloudTrail => audit::CLOUDTRAIL_SOURCE,
        }
    }
}

/// The service and operation `X-Amz-Target` names, if Cognate answers it.
fn target(req: &HttpRequest) -> Option<(Service, String)> {
    let target = req.headers().get("x-amz-target")?.to_str().ok()?;
    if let Some(op) = target.strip_prefix(TARGET_PREFIX) {
        return Model::embedded()
            .has_operation(op)
            .then(|| (Service::Cognito, op.to_owned()));
    }
    let op = target.strip_prefix(crate::cloudtrail::TARGET_PREFIX)?;
    (op == "LookupEvents").then(|| (Service::CloudTrail, op.to_owned()))
}

/// A request whose body, signature and input have been checked: what is
/// left is whose quota it counts against, admission, and the operation.
struct Checked {
    /// When the request arrived: a call waits for a lost database until
    /// `failover_wait` after it.
    arrived: Instant,
    service: Service,
    operation: String,
    caller: Caller,
    class: Class,
    client: ClientKey,
    input: serde_json::Value,
}

/// What [`run`] did: the answer, and the record the domain wrote with the
/// change it made, if it made one.
type Ran = Result<(Answer, Option<AuditRecord>), ApiError>;

/// Quota, admission and the operation, in that order (see the module
/// docs); for an unsigned call, the owner of what it names first. The
/// call's record-to-be goes in and comes back with its recipient account.
/// A caller's W3C `traceparent` (and `tracestate`) as the parent of the
/// request's span: from a trusted proxy, or from anyone when
/// `telemetry.accept_traceparent` is on (a client on the internet must not
/// choose trace ids or force sampling otherwise).
fn follow_traceparent(req: &HttpRequest, state: &AppState, span: &tracing::Span) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if !req.headers().contains_key("traceparent") {
        return;
    }
    let trusted = state.accept_traceparent
        || req
            .peer_addr()
            .is_some_and(|peer| state.trusted_proxies.contains(peer.ip()));
    if !trusted {
        return;
    }
    // The headers as the `http` type, as SigV4 takes them too.
    let headers = http1_headers(req);
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(&headers))
    });
    let _ = span.set_parent(parent);
}

/// A slot of `class`'s budget for `client`, a refusal counted by why.
async fn admit(state: &AppState, class: Class, client: ClientKey) -> Result<Admitted, ApiError> {
    state
        .admission
        .admit(class, client)
        .await
        .map_err(|refused| {
            state.metrics.rejected(class, refused.reason);
            refused.into()
        })
}

async fn run(state: web::Data<AppState>, request: Checked, mut call: Call) -> (Call, Ran) {
    let ran = run_recorded(&state, request, &mut call).await;
    (call, ran)
}

async fn run_recorded(state: &AppState, request: Checked, call: &mut Call) -> Ran {
    // What is asked, by whom, since when.
    let Checked {
        service,
        operation,
        input,
        caller,
        class,
        client,
        arrived,
    } = request;
    let mut admitted = None;
    let account = match &caller {
        Caller::Account(account) => Some(account.clone()),
        Caller::Public => match Named::of(&operation, &input) {
            None => None,
            Some(named) => {
                let owner = match state.owners.cached(&named) {
                    Some(owner) => owner,
                    None => {
                        // A look-up is database work: only for clients that do
                        // not keep naming what does not exist, and within the
                        // public budget.
                        state.owners.may_look_up(client).inspect_err(|_| {
                            state.metrics.rejected(class, Rejection::UnknownIds);
                        })?;
                        admitted = Some(admit(state, class, client).await?);
                        state.owners.look_up(&named, client).await
                    }
                };
                match owner {
                    Owner::Account(account) => Some(account),
                    Owner::Missing(not_found) => return Err(not_found),
                    Owner::Unknown => None,
                }
            }
        },
    };
    call.recipient = account.clone();
    if let Some(account) = &account {
        tracing::Span::current().record("account", account.as_str());
        if state.quotas.admit(account, &operation).await == Admission::Refused {
            state.metrics.throttled(account.as_str(), &operation);
            return Err(ApiError::too_many_requests());
        }
    }
    // Over-quota calls are refused before they take an admission slot.
    let _admitted = match admitted {
        Some(admitted) => admitted,
        None => admit(state, class, client).await?,
    };
    // A call that failed for want of the database changed nothing: it
    // waits for the database to be back and runs again, within the wait.
    let deadline = arrived + state.failover_wait;
    if service == Service::CloudTrail {
        let account = caller.account()?;
        let lookup: crate::cloudtrail::LookupInput = ops::parse(&input)?;
        let answer = loop {
            match crate::cloudtrail::lookup_events(state, account, &lookup).await {
                Err(err) if err.database_unavailable && waited(state, deadline).await => {}
                other => break other,
            }
        }?;
        return Ok((answer, None));
    }
    let recorder = CallRecorder::new(call, service.model());
    let answer = dispatch_waiting(state, &operation, &caller, &input, &recorder, deadline).await?;
    let written = recorder.written();
    if let Some(member) = created_member(&operation) {
        if let Some(id) = answer.output.get(member).and_then(Value::as_str) {
            let pool = input.get("IdentityPoolId").and_then(Value::as_str);
            let made = IdentityId::try_from(id)
                .ok()
                .zip(pool.and_then(|p| IdentityPoolId::try_from(p).ok()));
            match (made, &account) {
                (Some((identity, pool)), Some(account)) => {
                    state.owners.identity_made(&identity, &pool, account)
                }
                _ => state.owners.created(id),
            }
        }
    }
    Ok((answer, written))
}

/// Run `operation` ([`ops::dispatch`]); a run that failed for want of the
/// database changed nothing, so it waits for the database to be back and
/// runs again, until `deadline`.
pub(crate) async fn dispatch_waiting(
    state: &AppState,
    operation: &str,
    caller: &Caller,
    input: &serde_json::Value,
    recorder: &CallRecorder<'_>,
    deadline: Instant,
) -> Result<Answer, ApiError> {
    loop {
        match ops::dispatch(operation, state, caller, input, recorder).await {
            Err(err) if err.database_unavailable && waited(state, deadline).await => {}
            other => return other,
        }
    }
}

/// Wait (at most until `deadline`) for a lost database; whether it is back.
pub(crate) async fn waited(state: &AppState, deadline: Instant) -> bool {
    let back = Instant::now() < deadline && state.store.wait_until_available(deadline).await;
    state.metrics.failover_wait(back);
    back
}

/// Whether a call of `operation` by `caller` is recorded at all.
fn recorded(state: &AppState, operation: &str, who: &Who) -> bool {
    state.audit.public_calls()
        || *who != Who::Public
        || !matches!(
            operation,
            "GetId" | "GetOpenIdToken" | "GetCredentialsForIdentity"
        )
}

/// The audit record of a finished call (see [`crate::audit`]).
pub(crate) fn record_call(
    state: &AppState,
    call: &Call,
    service: Service,
    ran: Result<(&Answer, Option<&AuditRecord>), &ApiError>,
) {
    if !recorded(state, &call.event_name, &call.who) {
        return;
    }
    match ran {
        Ok((_, Some(written))) => state.audit.stored(written.clone()),
        Ok((answer, None)) => state.audit.push(call.answered(
            service.model(),
            &answer.output,
            answer.additional.as_ref(),
        )),
        // High-volume refusals: counted, one record a minute.
        Err(err)
            if err.code == "TooManyRequestsException"
                || (call.who == Who::Public && err.code == "ResourceNotFoundException") =>
        {
            state.audit.count_refusal(call, err.code, &err.message);
        }
        Err(err) => state.audit.push(call.record(audit::Outcome::Refused {
            code: err.code,
            message: &err.message,
        })),
    }
}

/// `POST /`: one AWS JSON 1.1 request.
pub async fn handle(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let target = target(&req);
    let op_label = target
        .as_ref()
        .map_or_else(|| "unknown".to_owned(), |(_, op)| op.clone());
    let client_ip = client_of(&req, &state.trusted_proxies);
    let client = ClientKey::of(client_ip);
    let mut call = target.as_ref().map(|(service, op)| {
        Call::new(
            &request_id,
            service.event_source(),
            op,
            &state.verifier.region,
            Some(client_ip),
            req.headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        )
    });
    let span = tracing::info_span!(
        "request",
        otel.name = %op_label,
        otel.kind = "server",
        request_id = %request_id,
        operation = %op_label,
        client = %client,
        x_amz_target = tracing::field::Empty,
        access_key_id = tracing::field::Empty,
        account = tracing::field::Empty,
        outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    follow_traceparent(&req, &state, &span);
    if target.is_none() {
        // What the client asked for, to tell a typo from a missing header
        // (the log escapes it).
        let raw = req.headers().get("x-amz-target").map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(128)
                .collect::<String>()
        });
        span.record("x_amz_target", tracing::field::debug(&raw));
    }
    let result: Result<Answer, ApiError> = async {
        let (service, operation) = target.clone().ok_or_else(ApiError::unknown_operation)?;
        let model = service.model();
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let class = if service == Service::Cognito && model.is_unsigned(&operation) {
            Class::Public
        } else {
            Class::Signed
        };
        let share = state.body_budget.share(client).ok_or_else(|| {
            state.metrics.rejected(class, Rejection::ClientShare);
            ApiError::client(
                "TooManyRequestsException",
                "Too many requests from this client are being received; retry with back-off.",
            )
            .closing()
        })?;
        let (body, _body_share) = read_body(
            &mut payload,
            declared,
            state.max_body_bytes,
            state.body_timeout,
            share,
        )
        .await
        .inspect_err(|err| {
            if err.code == "TooManyRequestsException" {
                state.metrics.rejected(class, Rejection::BodyBudget);
            }
        })?;
        let caller = if class == Class::Public {
            Caller::Public
        } else {
            let headers = http1_headers(&req);
            let signed = SignedRequest {
                method: req.method().as_str(),
                path: req.uri().path(),
                query: req.uri().query().unwrap_or(""),
                headers: &headers,
                body: &body,
            };
            let verifier = match service {
                Service::Cognito => &state.verifier,
                Service::CloudTrail => &state.cloudtrail_verifier,
            };
            let who = match verifier.verify(&signed, SystemTime::now(), state.credentials.as_ref())
            {
                Ok(who) => who,
                Err(refused) => {
                    let key = crate::sigv4::claimed_access_key(&headers);
                    if let Some(key) = &key {
                        // An access key id is no secret (CloudTrail records
                        // it): it tells which client is misconfigured.
                        tracing::Span::current().record(
                            "access_key_id",
                            key.chars().take(128).collect::<String>().as_str(),
                        );
                    }
                    if let Some(call) = call.as_mut() {
                        let account = key
                            .as_deref()
                            .and_then(|k| state.credentials.lookup(k))
                            .and_then(|c| AccountId::parse(&c.account_id).ok());
                        call.recipient = account.clone();
                        call.who = Who::Unverified {
                            access_key_id: key,
                            account,
                        };
                    }
                    return Err(refused.into());
                }
            };
            let account = AccountId::parse(&who.account_id).map_err(ApiError::internal)?;
            if let Some(call) = call.as_mut() {
                call.recipient = Some(account.clone());
                call.who = Who::Signed {
                    account: account.clone(),
                    access_key_id: who.access_key_id.clone(),
                };
            }
            Caller::Account(account)
        };
        let input: serde_json::Value = if body.is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                ApiError::serialization(format!("Request body is not valid JSON: {e}"))
            })?
        };
        drop(body);
        tracing::info_span!("validate").in_scope(|| model.validate(&operation, &input))?;
        let mut this_call = call.take().unwrap_or_else(|| {
            Call::new(
                &request_id,
                service.event_source(),
                &operation,
                "",
                None,
                None,
            )
        });
        this_call.with_input(model, &input);
        let checked = Checked {
            arrived: started,
            service,
            operation,
            caller,
            class,
            client,
            input,
        };
        // A public call may hold only the public share of the database
        // connections: the rest stays for signed calls and /readyz.
        let share = match class {
            Class::Public => Share::Public,
            Class::Signed => Share::Whole,
        };
        let work = share::within(share, run(state.clone(), checked, this_call))
            .instrument(tracing::Span::current());
        let (this_call, ran) = match state.on_database_runtime(work).await {
            Ok(done) => done,
            Err(err) => return Err(err),
        };
        record_call(
            &state,
            &this_call,
            service,
            ran.as_ref()
                .map(|(answer, written)| (answer, written.as_ref())),
        );
        ran.map(|(answer, _)| answer)
    }
    .instrument(span.clone())
    .await;
    // A call refused before it ran (body, signature, input) is recorded here.
    if let (Some(call), Err(err), Some((service, _))) = (&call, &result, &target) {
        record_call(&state, call, *service, Err(err));
    }
    let _enter = span.enter();
    let elapsed = started.elapsed();
    match &result {
        Ok(_) => span.record("outcome", "OK"),
        Err(err) => {
            if err.status.is_server_error() {
                span.record("otel.status_code", "ERROR");
            }
            span.record("outcome", err.code)
        }
    };
    match result {
        Ok(answer) => {
            state
                .metrics
                .observe(&op_label, "OK", elapsed.as_secs_f64());
            tracing::info!(duration_ms = elapsed.as_millis() as u64, "request ok");
            respond(StatusCode::OK, &request_id, &answer.output, None)
        }
        Err(err) => {
            state
                .metrics
                .observe(&op_label, err.code, elapsed.as_secs_f64());
            match &err.internal {
                Some(cause) => tracing::error!(
                    error.code = err.code,
                    error.cause = %cause,
                    duration_ms = elapsed.as_millis() as u64,
                    "request failed"
                ),
                // The message says why, in AWS's words; it never holds a
                // token or a Logins value (sensitive values are left out
                // of validation messages, and no refusal quotes a token).
                None => tracing::info!(
                    error.code = err.code,
                    error.message = ?err.message,
                    duration_ms = elapsed.as_millis() as u64,
                    "request refused"
                ),
            }
            if err.close_connection {
                // The rest of the body may still be on its way: do not wait
                // for it, and keep it unread until the answer is out, so the
                // connection is closed whatever its framing.
                return answer(err.status, &request_id, Some(err.code))
                    .force_close()
                    .body(Unread {
                        answer: err.body().to_string().into(),
                        _payload: payload,
                    });
            }
            error_response(&err, &request_id)
        }
    }
}
