//! The `POST /` handler: everything between the socket and an operation.
//!
//! Order of checks, as AWS's front end does them: the target names a known
//! operation (else `UnknownOperationException`), the body fits the limit,
//! the signature verifies (signed operations only), the body is JSON
//! (`SerializationException`), the input satisfies the model
//! (`ValidationException`), the account's request-rate quota has room
//! (`TooManyRequestsException`; an unsigned call counts against the owner
//! of the pool or identity it names); then the request is admitted in its
//! class's budget (`TooManyRequestsException`, see [`crate::admission`])
//! and the operation runs. The whole body must arrive within `body_timeout`
//! (`RequestTimeoutException`, HTTP 408, and the connection is closed) and
//! fit in what is left of the shared body-byte budget
//! (`TooManyRequestsException`, connection closed).

use std::time::{Duration, Instant, SystemTime};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt as _;
use tracing::Instrument as _;

use crate::admission::{BodyBudget, BodyShare, Class};
use crate::error::ApiError;
use crate::ops::{self, Caller};
use crate::quota::Admission;
use crate::sigv4::SignedRequest;
use crate::validation::Model;
use crate::AppState;

/// The JSON 1.1 content type, on every response.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TARGET_PREFIX: &str = "AWSCognitoIdentityService.";

fn respond(
    status: StatusCode,
    request_id: &str,
    body: &serde_json::Value,
    error: Option<&str>,
) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header(("Content-Type", CONTENT_TYPE))
        .insert_header(("x-amzn-RequestId", request_id));
    if let Some(code) = error {
        res.insert_header(("x-amzn-ErrorType", code));
    }
    res.body(body.to_string())
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
/// bodies together hold would exceed the [`BodyBudget`], or when it has not fully arrived
/// within `timeout`. actix-web bounds the time to receive a request's head
/// (`client_request_timeout`) but not its body, so without this deadline a client sending
/// one byte every few seconds would hold its connection and its buffer for as long as it
/// likes. The returned share must be kept as long as the body is.
async fn read_body(
    payload: web::Payload,
    limit: usize,
    timeout: Duration,
    budget: &BodyBudget,
) -> Result<(web::BytesMut, BodyShare), ApiError> {
    let mut share = budget.share();
    match tokio::time::timeout(timeout, read_body_unbounded(payload, limit, &mut share)).await {
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
        }),
    }
}

async fn read_body_unbounded(
    mut payload: web::Payload,
    limit: usize,
    share: &mut BodyShare,
) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::serialization(format!("Could not read the request body: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError {
                code: "SerializationException",
                message: format!("Request body is larger than the limit of {limit} bytes."),
                status: StatusCode::PAYLOAD_TOO_LARGE,
                internal: None,
                close_connection: false,
            });
        }
        if !share.cover(body.len() + chunk.len()) {
            return Err(ApiError::client(
                "TooManyRequestsException",
                "Too many request bodies are being received; retry with back-off.",
            )
            .closing());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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

/// `POST /`: one AWS JSON 1.1 request.
pub async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let model = Model::embedded();
    let operation = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .filter(|op| model.has_operation(op))
        .map(str::to_owned);
    let op_label = operation.clone().unwrap_or_else(|| "unknown".to_owned());
    let span = tracing::info_span!("request", request_id = %request_id, operation = %op_label);
    let result = async {
        let operation = operation.ok_or_else(ApiError::unknown_operation)?;
        let (body, _body_share) = read_body(
            payload,
            state.max_body_bytes,
            state.body_timeout,
            &state.body_budget,
        )
        .await?;
        let (caller, class) = if model.is_unsigned(&operation) {
            (Caller::Public, Class::Public)
        } else {
            let headers = http1_headers(&req);
            let signed = SignedRequest {
                method: req.method().as_str(),
                path: req.uri().path(),
                query: req.uri().query().unwrap_or(""),
                headers: &headers,
                body: &body,
            };
            let who =
                state
                    .verifier
                    .verify(&signed, SystemTime::now(), state.credentials.as_ref())?;
            let account = cognate_domain::ids::AccountId::parse(&who.account_id)
                .map_err(ApiError::internal)?;
            (Caller::Account(account), Class::Signed)
        };
        let input: serde_json::Value = if body.is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                ApiError::serialization(format!("Request body is not valid JSON: {e}"))
            })?
        };
        model.validate(&operation, &input)?;
        let work = {
            let state = state.clone();
            async move {
                let account = match &caller {
                    Caller::Account(account) => Some(account.clone()),
                    Caller::Public => state.quotas.owner_of(&operation, &input).await,
                };
                if let Some(account) = account {
                    if state.quotas.admit(&account, &operation).await == Admission::Refused {
                        state.metrics.throttled(account.as_str(), &operation);
                        return Err(ApiError::too_many_requests());
                    }
                }
                // Over-quota calls are refused before they take an admission slot.
                let _admitted = state.admission.admit(class).await?;
                ops::dispatch(&operation, &state, &caller, input).await
            }
            .instrument(tracing::Span::current())
        };
        state.on_database_runtime(work).await?
    }
    .instrument(span.clone())
    .await;
    let _enter = span.enter();
    let elapsed = started.elapsed();
    match result {
        Ok(output) => {
            state
                .metrics
                .observe(&op_label, "OK", elapsed.as_secs_f64());
            tracing::info!(duration_ms = elapsed.as_millis() as u64, "request ok");
            respond(StatusCode::OK, &request_id, &output, None)
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
                    error.message = %err.message,
                    duration_ms = elapsed.as_millis() as u64,
                    "request refused"
                ),
            }
            let mut res = error_response(&err, &request_id);
            if err.close_connection {
                // The rest of the body may still be on its way: do not wait for it.
                res.head_mut()
                    .set_connection_type(actix_web::http::ConnectionType::Close);
            }
            res
        }
    }
}
