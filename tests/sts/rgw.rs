//! Just enough of the AWS query (IAM, STS) and S3 REST protocols to drive
//! radosgw: raw requests signed with aws-sigv4, XML read by tag name.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;

pub const REGION: &str = "us-east-1";

/// An answer: status and body, as RGW sent them.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

impl Reply {
    /// The text of the first `<tag>` element, if any.
    pub fn field(&self, tag: &str) -> Option<String> {
        xml_field(&self.body, tag)
    }

    /// Panics with the whole reply unless the status is `expected`.
    pub fn expect_status(self, expected: u16, what: &str) -> Reply {
        assert_eq!(
            self.status, expected,
            "{what}: HTTP {} {}",
            self.status, self.body
        );
        self
    }
}

/// The text of the first `<tag>...</tag>` in `xml` (entities decoded).
pub fn xml_field(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// `application/x-www-form-urlencoded` percent-encoding (RFC 3986 unreserved kept).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A client of one radosgw.
#[derive(Debug, Clone)]
pub struct Rgw {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub http: reqwest::Client,
}

impl Rgw {
    pub fn new(endpoint: &str) -> Rgw {
        Rgw {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// An IAM query action (`Version=2010-05-08`), signed for service `iam`.
    pub async fn iam(&self, creds: &Credentials, action: &str, params: &[(&str, &str)]) -> Reply {
        let mut all = vec![("Action", action), ("Version", "2010-05-08")];
        all.extend_from_slice(params);
        let body = form_encode(&all);
        self.send(
            "POST",
            "/",
            &[("content-type", "application/x-www-form-urlencoded")],
            body.into_bytes(),
            Some((creds, "iam")),
        )
        .await
    }

    /// STS AssumeRoleWithWebIdentity: unsigned, as SDKs send it.
    pub async fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &str,
        duration_seconds: u32,
    ) -> Reply {
        let duration = duration_seconds.to_string();
        let body = form_encode(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", session_name),
            ("WebIdentityToken", token),
            ("DurationSeconds", &duration),
        ]);
        self.send(
            "POST",
            "/",
            &[("content-type", "application/x-www-form-urlencoded")],
            body.into_bytes(),
            None,
        )
        .await
    }

    /// An S3 request (path style) signed for service `s3` with
    /// `x-amz-content-sha256`; a session token is sent as `x-amz-security-token`.
    pub async fn s3(&self, creds: &Credentials, method: &str, path: &str, body: &[u8]) -> Reply {
        self.send(method, path, &[], body.to_vec(), Some((creds, "s3")))
            .await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        sign_as: Option<(&Credentials, &str)>,
    ) -> Reply {
        let url = format!("{}{path}", self.endpoint);
        let host = self.endpoint.trim_start_matches("http://").to_owned();
        let mut all: Vec<(String, String)> = vec![("host".into(), host)];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        if let Some((creds, service)) = sign_as {
            let identity = creds.clone().into();
            let mut settings = SigningSettings::default();
            if service == "s3" {
                settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
                settings.percent_encoding_mode = PercentEncodingMode::Single;
                settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            }
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(REGION)
                .name(service)
                .time(SystemTime::now())
                .settings(settings)
                .build()
                .expect("signing params")
                .into();
            let signable = SignableRequest::new(
                method,
                url.clone(),
                all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                SignableBody::Bytes(&body),
            )
            .expect("signable request");
            let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
            for (name, value) in instructions.headers() {
                all.push((name.to_owned(), value.to_owned()));
            }
        }
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, &url);
        for (k, v) in &all {
            if k != "host" {
                req = req.header(k, v);
            }
        }
        let res = req.body(body).send().await.expect("radosgw answers");
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = res.text().await.expect("radosgw body");
        Reply {
            status,
            content_type,
            body,
        }
    }
}

impl Rgw {
    /// CreateRole `name`, which web identities of the OIDC provider
    /// `issuer_host` (Cognate's issuer without its scheme) whose `aud` is
    /// `audience` may assume (with session tags); its ARN.
    pub async fn create_web_identity_role(
        &self,
        admin: &Credentials,
        name: &str,
        issuer_host: &str,
        audience: &str,
    ) -> String {
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": [format!("arn:aws:iam:::oidc-provider/{issuer_host}")]},
                "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
                "Condition": {"StringEquals": {format!("{issuer_host}:aud"): audience}}
            }]
        });
        let trust = trust.to_string();
        let params = [
            ("RoleName", name),
            ("Path", "/"),
            ("AssumeRolePolicyDocument", trust.as_str()),
        ];
        let reply = self.iam(admin, "CreateRole", &params).await;
        eprintln!("CreateRole -> {} {}", reply.status, reply.body);
        let created = reply.expect_status(200, "CreateRole");
        created.field("Arn").expect("role ARN")
    }

    /// PutRolePolicy `policy` on the role `role`: one `statement`.
    pub async fn put_role_statement(
        &self,
        admin: &Credentials,
        role: &str,
        policy: &str,
        statement: serde_json::Value,
    ) {
        let document = serde_json::json!({"Version": "2012-10-17", "Statement": [statement]});
        let document = document.to_string();
        let params = [
            ("RoleName", role),
            ("PolicyName", policy),
            ("PolicyDocument", document.as_str()),
        ];
        let reply = self.iam(admin, "PutRolePolicy", &params).await;
        reply.expect_status(200, "PutRolePolicy");
    }
}

/// A policy statement allowing s3:* on the buckets named `<bucket_prefix>*`
/// and their objects.
pub fn s3_on_buckets(bucket_prefix: &str) -> serde_json::Value {
    let buckets = format!("arn:aws:s3:::{bucket_prefix}*");
    let objects = format!("{buckets}/*");
    serde_json::json!({"Effect": "Allow", "Action": ["s3:*"], "Resource": [buckets, objects]})
}

/// The credentials of Ceph's admin user (the IAM calls are made as it).
pub fn admin_credentials(ceph: &cognate_tests::ceph::Ceph) -> Credentials {
    let (key, secret) = (&ceph.admin_access_key, &ceph.admin_secret_key);
    Credentials::new(key, secret, None, None, "ceph-admin")
}
