//! The HTTP side of upstream checking: one `reqwest` client with short
//! timeouts, bounded bodies, and failures described without URLs (those go
//! to the log only). Every request goes through the [`Outbound`] guard of
//! its destination (scheme, host and port): a slow or failing identity
//! provider costs only the logins that name it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{StatusCode, Url};

use crate::error::TokenError;
use crate::outbound::{Outbound, OutboundLimits};
use crate::telemetry::{Destination, FailKind};

/// The most an identity provider's answer (discovery, JWKS, token info) may
/// weigh. Real ones are a few KiB.
pub(super) const MAX_BODY_BYTES: usize = 512 * 1024;

/// Why a fetch gave nothing usable. The text is safe to show to a client:
/// it names no URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FetchFailure(pub(super) String);

/// An answer: its status and body.
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    pub(super) fn json(&self) -> Result<serde_json::Value, FetchFailure> {
        serde_json::from_slice(&self.body)
            .map_err(|_| FetchFailure(format!("answered HTTP {} with invalid JSON", self.status)))
    }
}

/// The client every upstream request goes through.
#[derive(Debug, Clone)]
pub(super) struct Http {
    client: reqwest::Client,
    timeout: Duration,
    limits: OutboundLimits,
    /// One guard per destination, made on first use: the destinations are
    /// the configured providers' hosts (and the JWKS hosts their discovery
    /// documents name), so the map stays small.
    guards: Arc<Mutex<HashMap<String, Outbound>>>,
}

impl Http {
    /// A client whose every request (connect, send, read the whole body)
    /// ends within `timeout`, with `limits` per destination.
    pub(super) fn new(timeout: Duration, limits: OutboundLimits) -> Result<Self, TokenError> {
        if timeout.is_zero() {
            return Err(TokenError::InvalidConfig(
                "upstream http_timeout must be more than zero".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect could carry a token (in the query) elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cognate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TokenError::InvalidConfig(format!("upstream HTTP client: {e}")))?;
        Ok(Http {
            client,
            timeout,
            limits,
            guards: Arc::default(),
        })
    }

    /// The guard of `url`'s destination.
    fn guard(&self, url: &Url) -> Outbound {
        let origin = url.origin().ascii_serialization();
        let mut guards = self
            .guards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guards
            .entry(origin)
            .or_insert_with(|| Outbound::new(self.limits, Destination::Upstream(host_of(url))))
            .clone()
    }

    /// GET `url` and read the whole answer (any status). Transport
    /// failures, time-outs and oversized bodies are failures.
    pub(super) async fn get(&self, url: &Url) -> Result<Answer, FetchFailure> {
        use tracing::Instrument as _;
        // The path, not the query (which may carry a token).
        let span = tracing::info_span!(
            "upstream.get",
            otel.kind = "client",
            server.address = %host_of(url),
            url.path = %url.path(),
        );
        self.get_guarded(url).instrument(span).await
    }

    async fn get_guarded(&self, url: &Url) -> Result<Answer, FetchFailure> {
        let shown = redacted(url);
        let call = self.guard(url).start().map_err(|refusal| {
            tracing::debug!(url = %shown, "upstream identity provider not asked: it {refusal}");
            FetchFailure(refusal.to_string())
        })?;
        match self.get_unguarded(url, &shown).await {
            Ok(answer) => {
                if answer.status.is_server_error() {
                    call.failed(FailKind::Http5xx);
                } else {
                    call.succeeded();
                }
                Ok(answer)
            }
            Err((kind, failure)) => {
                call.failed(kind);
                Err(failure)
            }
        }
    }

    async fn get_unguarded(
        &self,
        url: &Url,
        shown: &str,
    ) -> Result<Answer, (FailKind, FetchFailure)> {
        let describe = |e: reqwest::Error| {
            let what = if e.is_timeout() {
                format!("did not answer within {:?}", self.timeout)
            } else if e.is_connect() {
                "refused the connection or could not be connected to".to_owned()
            } else {
                "failed the request".to_owned()
            };
            let kind = FailKind::of(&e);
            let e = e.without_url();
            tracing::warn!(url = %shown, error = %e, "upstream identity provider request failed");
            (kind, FetchFailure(what))
        };
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .headers(crate::telemetry::trace_headers())
            .send()
            .await
            .map_err(describe)?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err((FailKind::InvalidAnswer, too_big(shown)));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err((FailKind::InvalidAnswer, too_big(shown)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, body })
    }

    /// GET `url`, expecting 200 and a JSON object.
    pub(super) async fn get_json_object(
        &self,
        url: &Url,
    ) -> Result<serde_json::Map<String, serde_json::Value>, FetchFailure> {
        let answer = self.get(url).await?;
        if !answer.status.is_success() {
            tracing::warn!(url = %redacted(url), status = %answer.status, "upstream identity provider refused a request");
            return Err(FetchFailure(format!(
                "answered HTTP {}",
                answer.status.as_u16()
            )));
        }
        match answer.json()? {
            serde_json::Value::Object(map) => Ok(map),
            _ => Err(FetchFailure("answered JSON that is not an object".into())),
        }
    }
}

/// The host (and port, when not the scheme's) of `url`: a provider's name
/// in the metrics.
fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or("unknown");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// `url` without its query, which may hold a token: for the log.
fn redacted(url: &Url) -> String {
    let mut url = url.clone();
    if url.query().is_some() {
        url.set_query(Some("..."));
    }
    url.to_string()
}

fn too_big(url: &str) -> FetchFailure {
    tracing::warn!(
        url,
        limit = MAX_BODY_BYTES,
        "upstream identity provider answer too large"
    );
    FetchFailure(format!("answered more than {MAX_BODY_BYTES} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_urls_never_show_the_query_that_carries_a_token() {
        let url = Url::parse("https://graph.facebook.com/debug_token?input_token=SECRET").unwrap();
        assert_eq!(redacted(&url), "https://graph.facebook.com/debug_token?...");
        let plain = Url::parse("https://idp.example.com/jwks").unwrap();
        assert_eq!(redacted(&plain), "https://idp.example.com/jwks");
    }
}
