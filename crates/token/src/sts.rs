//! The STS client: `AssumeRoleWithWebIdentity` over the STS Query API
//! (`POST` form, unsigned, as the operation allows), with bounded
//! timeouts. Credentials are never logged.
//!
//! Refusals are mapped for the domain: a refused role (AccessDenied, an
//! unknown or malformed role) → [`StsError::RoleRefused`]; a refused token
//! (InvalidIdentityToken, ExpiredToken, IDPRejectedClaim) →
//! [`StsError::TokenRefused`]; no answer, a 5xx, IDPCommunicationError or
//! an unreadable body → [`StsError::Unavailable`]. Ceph RGW answers
//! refusals with HTTP 403 and a bare `<Error><Code>AccessDenied</Code>`;
//! AWS with `<ErrorResponse><Error>...`: both are read.
//!
//! Calls go through an [`Outbound`] guard: at most `max_in_flight` at once,
//! and none for a while after repeated failures (no answer, a 5xx), so a
//! slow STS costs only the calls that need it. A refusal of the guard is
//! [`StsError::Unavailable`] (ExternalServiceException) like the STS
//! failing; a refusal *by* the STS is an answer and counts as success.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cognate_domain::credentials::{Credentials, CredentialsIssuer, StsError};
use serde::Deserialize;

use crate::outbound::{Outbound, OutboundLimits};
use crate::telemetry::{Destination, FailKind};

/// An STS reached over HTTP.
#[derive(Debug, Clone)]
pub struct HttpSts {
    endpoint: String,
    client: reqwest::Client,
    guard: Outbound,
}

impl HttpSts {
    /// A client for the STS at `endpoint`, each call bounded by `timeout`,
    /// calls bounded by `limits`.
    pub fn new(endpoint: &str, timeout: Duration, limits: OutboundLimits) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // The request carries Cognate's token for the identity: it goes
            // to the configured STS and nowhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpSts {
            endpoint: endpoint.trim_end_matches('/').to_owned() + "/",
            client,
            guard: Outbound::new(limits, Destination::Sts),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResponse {
    assume_role_with_web_identity_result: AssumeRoleResult,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResult {
    credentials: XmlCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

impl std::fmt::Debug for XmlCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XmlCredentials { <redacted> }")
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlError {
    code: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponse {
    error: XmlError,
}

/// The error code and message of an STS error body, in AWS's or Ceph's form.
fn error_of(body: &str) -> Option<XmlError> {
    quick_xml::de::from_str::<ErrorResponse>(body)
        .map(|r| r.error)
        .or_else(|_| quick_xml::de::from_str::<XmlError>(body))
        .ok()
}

fn classify(status: u16, body: &str) -> StsError {
    let Some(err) = error_of(body) else {
        return if status >= 500 {
            StsError::Unavailable(format!("HTTP {status}"))
        } else {
            StsError::RoleRefused(format!("HTTP {status} without an error code"))
        };
    };
    let detail = format!("{}: {}", err.code, err.message.unwrap_or_default());
    match err.code.as_str() {
        "InvalidIdentityToken" | "ExpiredToken" | "ExpiredTokenException" | "IDPRejectedClaim" => {
            StsError::TokenRefused(detail)
        }
        "IDPCommunicationError" | "ServiceUnavailable" | "InternalFailure" | "Throttling" => {
            StsError::Unavailable(detail)
        }
        _ if status >= 500 => StsError::Unavailable(detail),
        _ => StsError::RoleRefused(detail),
    }
}

fn parse_success(body: &str) -> Result<Credentials, StsError> {
    let parsed: AssumeRoleResponse = quick_xml::de::from_str(body)
        .map_err(|e| StsError::Unavailable(format!("unreadable STS answer: {e}")))?;
    let c = parsed.assume_role_with_web_identity_result.credentials;
    let expiration = DateTime::parse_from_rfc3339(&c.expiration)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StsError::Unavailable(format!("unreadable Expiration: {e}")))?;
    Ok(Credentials {
        access_key_id: c.access_key_id,
        secret_key: c.secret_access_key,
        session_token: c.session_token,
        expiration,
    })
}

#[async_trait]
impl CredentialsIssuer for HttpSts {
    #[tracing::instrument(
        name = "sts.AssumeRoleWithWebIdentity",
        skip_all,
        fields(otel.kind = "client", role_arn = %role_arn, duration_seconds)
    )]
    async fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &str,
        duration_seconds: u32,
    ) -> Result<Credentials, StsError> {
        let call = self
            .guard
            .start()
            .map_err(|refusal| StsError::Unavailable(format!("the STS {refusal}")))?;
        match self
            .call(role_arn, session_name, token, duration_seconds)
            .await
        {
            Ok(credentials) => {
                call.succeeded();
                Ok(credentials)
            }
            Err((Some(kind), err)) => {
                call.failed(kind);
                Err(err)
            }
            Err((None, err)) => {
                call.refused();
                Err(err)
            }
        }
    }
}

impl HttpSts {
    /// One request; a failure says its kind, a refusal (the STS answered
    /// no) has none.
    async fn call(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &str,
        duration_seconds: u32,
    ) -> Result<Credentials, (Option<FailKind>, StsError)> {
        let duration = duration_seconds.to_string();
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", session_name),
            ("WebIdentityToken", token),
            ("DurationSeconds", duration.as_str()),
        ];
        let res = self
            .client
            .post(&self.endpoint)
            .headers(crate::telemetry::trace_headers())
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                (
                    Some(FailKind::of(&e)),
                    StsError::Unavailable(e.without_url().to_string()),
                )
            })?;
        let status = res.status().as_u16();
        if res.status().is_redirection() {
            return Err((
                Some(FailKind::InvalidAnswer),
                StsError::Unavailable(format!(
                    "HTTP {status}: the STS redirected, and redirects are not followed"
                )),
            ));
        }
        let body = read_bounded(res).await?;
        let answer = if status == 200 {
            parse_success(&body)
        } else {
            Err(classify(status, &body))
        };
        answer.map_err(|err| {
            let kind = match &err {
                StsError::Unavailable(_) if status >= 500 => Some(FailKind::Http5xx),
                StsError::Unavailable(_) => Some(FailKind::InvalidAnswer),
                _ => None,
            };
            (kind, err)
        })
    }
}

/// The most an STS answer may weigh (real ones are about 2 KiB).
pub const MAX_STS_BODY_BYTES: usize = 64 * 1024;

/// The body as text, refusing (without reading on) one over
/// [`MAX_STS_BODY_BYTES`].
async fn read_bounded(mut res: reqwest::Response) -> Result<String, (Option<FailKind>, StsError)> {
    let unavailable = |e: reqwest::Error| {
        (
            Some(FailKind::of(&e)),
            StsError::Unavailable(e.without_url().to_string()),
        )
    };
    let too_large = || {
        (
            Some(FailKind::InvalidAnswer),
            StsError::Unavailable(format!(
                "the STS answer is larger than {MAX_STS_BODY_BYTES} bytes"
            )),
        )
    };
    if res
        .content_length()
        .is_some_and(|n| n > MAX_STS_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(unavailable)? {
        if body.len() + chunk.len() > MAX_STS_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| {
        (
            Some(FailKind::InvalidAnswer),
            StsError::Unavailable("the STS answer is not UTF-8".into()),
        )
    })
}

/// The issuer for deployments with no `[sts] endpoint`: every call says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSts;

#[async_trait]
impl CredentialsIssuer for NoSts {
    async fn assume_role_with_web_identity(
        &self,
        _role_arn: &str,
        _session_name: &str,
        _token: &str,
        _duration_seconds: u32,
    ) -> Result<Credentials, StsError> {
        Err(StsError::NotConfigured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS_OK: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>us-east-1:abc</SubjectFromWebIdentityToken>
    <Audience>us-east-1:pool</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/r/CognitoIdentityCredentials</Arn>
      <AssumedRoleId>AROA:CognitoIdentityCredentials</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>token-value</SessionToken>
      <SecretAccessKey>secret-value</SecretAccessKey>
      <Expiration>2026-11-25T15:00:00Z</Expiration>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
    </Credentials>
    <Provider>cognate</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#;

    #[test]
    fn a_successful_answer_yields_the_credentials() {
        let c = parse_success(AWS_OK).unwrap();
        assert_eq!(c.access_key_id, "ASIAEXAMPLE");
        assert_eq!(c.secret_key, "secret-value");
        assert_eq!(c.session_token, "token-value");
        assert_eq!(c.expiration.to_rfc3339(), "2026-11-25T15:00:00+00:00");
        assert!(
            !format!("{c:?}").contains("secret-value"),
            "secrets never print"
        );
    }

    #[test]
    fn refusals_in_aws_and_ceph_form_are_classified() {
        let aws = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error><RequestId>x</RequestId></ErrorResponse>"#;
        assert!(matches!(classify(403, aws), StsError::RoleRefused(_)));
        let ceph = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><RequestId>tx0</RequestId><HostId>h</HostId></Error>"#;
        assert!(matches!(classify(403, ceph), StsError::RoleRefused(_)));
        let token = r#"<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>bad</Message></Error></ErrorResponse>"#;
        assert!(matches!(classify(400, token), StsError::TokenRefused(_)));
        let expired =
            r#"<ErrorResponse><Error><Code>ExpiredTokenException</Code></Error></ErrorResponse>"#;
        assert!(matches!(classify(400, expired), StsError::TokenRefused(_)));
        assert!(matches!(
            classify(503, "gateway down"),
            StsError::Unavailable(_)
        ));
        assert!(matches!(classify(400, "not xml"), StsError::RoleRefused(_)));
    }

    /// A one-shot HTTP server on loopback answering every connection with
    /// `response`; counts the requests it got.
    async fn answering(
        response: Vec<u8>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0; 65536];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket.write_all(&response).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        (url, hits)
    }

    #[tokio::test]
    async fn the_sts_client_never_follows_a_redirect() {
        let (elsewhere, elsewhere_hits) = answering(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{AWS_OK}",
                AWS_OK.len()
            )
            .into_bytes(),
        )
        .await;
        let (sts_url, _) = answering(
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {elsewhere}/\r\ncontent-length: 0\r\n\r\n")
                .into_bytes(),
        )
        .await;
        let sts =
            HttpSts::new(&sts_url, Duration::from_secs(2), OutboundLimits::default()).unwrap();
        let err = sts
            .assume_role_with_web_identity("arn:aws:iam:::role/r", "s", "t", 3600)
            .await
            .unwrap_err();
        assert!(matches!(err, StsError::Unavailable(_)), "{err:?}");
        assert_eq!(elsewhere_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_oversized_sts_answer_is_refused_without_reading_it_all() {
        let huge = "x".repeat(4 * MAX_STS_BODY_BYTES);
        // Declared length over the bound, and chunked without a length.
        let declared = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{huge}",
            huge.len()
        );
        let chunked = format!(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{huge}\r\n0\r\n\r\n",
            huge.len()
        );
        for response in [declared, chunked] {
            let (url, _) = answering(response.into_bytes()).await;
            let sts =
                HttpSts::new(&url, Duration::from_secs(2), OutboundLimits::default()).unwrap();
            let err = sts
                .assume_role_with_web_identity("arn:aws:iam:::role/r", "s", "t", 3600)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, StsError::Unavailable(m) if m.contains("larger than")),
                "{err:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_unreachable_sts_is_unavailable_within_the_timeout() {
        // A port nothing listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let sts = HttpSts::new(
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(2),
            OutboundLimits::default(),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let err = sts
            .assume_role_with_web_identity("arn:aws:iam:::role/r", "s", "t", 3600)
            .await
            .unwrap_err();
        assert!(matches!(err, StsError::Unavailable(_)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_failing_sts_is_not_asked_again_during_its_pause() {
        let (url, hits) =
            answering(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n".to_vec())
                .await;
        let limits = OutboundLimits {
            max_in_flight: 4,
            failures: 2,
            pause: Duration::from_secs(60),
        };
        let sts = HttpSts::new(&url, Duration::from_secs(2), limits).unwrap();
        for _ in 0..5 {
            let err = sts
                .assume_role_with_web_identity("arn:aws:iam:::role/r", "s", "t", 3600)
                .await
                .unwrap_err();
            assert!(matches!(err, StsError::Unavailable(_)), "{err:?}");
        }
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
        let err = sts
            .assume_role_with_web_identity("arn:aws:iam:::role/r", "s", "t", 3600)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StsError::Unavailable(m) if m.contains("not asked again")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_refusal_by_the_sts_is_an_answer_not_a_failure() {
        let body = "<Error><Code>AccessDenied</Code></Error>";
        let (url, hits) = answering(
            format!(
                "HTTP/1.1 403 Forbidden\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
        .await;
        let limits = OutboundLimits {
            max_in_flight: 4,
            failures: 1,
            pause: Duration::from_secs(60),
        };
        let sts = HttpSts::new(&url, Duration::from_secs(2), limits).unwrap();
        for _ in 0..3 {
            let err = sts
                .assume_role_with_web_identity("arn:aws:iam:::role/r", "s", "t", 3600)
                .await
                .unwrap_err();
            assert!(matches!(err, StsError::RoleRefused(_)), "{err:?}");
        }
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
