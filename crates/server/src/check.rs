//! `cognate check`: a check-up of everything the configuration depends on,
//! for operators before go-live and in CI. Each dependency is tried and
//! reported in plain words; nothing is changed (no migration, no key made).
//!
//! - the database: reachable, and every migration of this build applied;
//! - the signing keys: one signs now, sealed as `tokens.key_encryption_key`
//!   says, not past the rotation policy;
//! - the STS (`[sts] endpoint`): it answers;
//! - each OpenID provider (`[[oidc_providers]]`, `[[upstream]]` issuers):
//!   discovery and JWKS;
//! - each token-info endpoint (`[[upstream]] token_info_url`): it answers;
//! - each SAML provider: its metadata reads (file or URL);
//! - the TLS certificate (`server.tls_cert_file`): valid now, and for how long.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cognate_domain::token::KeyStore as _;
use x509_cert::der::DecodePem as _;

use crate::config::Settings;
use crate::startup::Database;

/// A certificate that expires sooner than this is a problem.
const CERT_WARN_DAYS: i64 = 14;

/// How one dependency fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Works.
    Ok,
    /// Does not work, or will not soon: exit status 1.
    Problem,
    /// Not configured, so not checked.
    Skipped,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Whether it works.
    pub status: Status,
    /// What was checked ("database", "sts https://…").
    pub what: String,
    /// What was found, in plain words.
    pub detail: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tag = match self.status {
            Status::Ok => "ok",
            Status::Problem => "PROBLEM",
            Status::Skipped => "skipped",
        };
        write!(f, "{tag:<8} {}: {}", self.what, self.detail)
    }
}

fn finding(status: Status, what: impl Into<String>, detail: impl Into<String>) -> Finding {
    Finding {
        status,
        what: what.into(),
        detail: detail.into(),
    }
}

/// Check everything `settings` depends on.
pub async fn run(settings: &Settings) -> Vec<Finding> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cognate-check/", env!("CARGO_PKG_VERSION")))
        .build();
    let mut findings = database_and_keys(settings).await;
    match &http {
        Ok(http) => {
            findings.push(sts(settings, http).await);
            findings.extend(providers(settings, http).await);
            findings.extend(console(settings, http).await);
        }
        Err(err) => findings.push(finding(
            Status::Problem,
            "http client",
            format!("could not be built: {err}"),
        )),
    }
    findings.push(tls_certificate(settings));
    findings
}

async fn database_and_keys(settings: &Settings) -> Vec<Finding> {
    let which = if settings.database.url.is_some() {
        "database (database.url)".to_owned()
    } else {
        "database (private cluster)".to_owned()
    };
    let database = match Database::open_shared(settings).await {
        Ok(database) => database,
        Err(err) => {
            return vec![finding(
                Status::Problem,
                which,
                format!("cannot be reached: {err:#}"),
            )]
        }
    };
    let mut findings = Vec::new();
    match cognate_store::migrate::pending(&database.url).await {
        Ok(pending) if pending.is_empty() => {
            findings.push(finding(
                Status::Ok,
                &which,
                "reachable, every migration applied",
            ));
            findings.push(signing_keys(settings, &database.url).await);
        }
        Ok(pending) => findings.push(finding(
            Status::Problem,
            &which,
            format!(
                "reachable, but {} migration(s) not applied ({}): run `cognate migrate` (serve \
                 applies them too)",
                pending.len(),
                pending.join(", ")
            ),
        )),
        Err(err) => findings.push(finding(
            Status::Problem,
            &which,
            format!("cannot be reached: {err:#}"),
        )),
    }
    if let Err(err) = database.close().await {
        tracing::warn!(error = %format!("{err:#}"), "stopping the private cluster");
    }
    findings
}

async fn signing_keys(settings: &Settings, url: &str) -> Finding {
    let what = "signing keys";
    let store = match cognate_store::PgStore::connect_lazy(url, &Default::default()) {
        Ok(store) => store,
        Err(err) => return finding(Status::Problem, what, format!("database: {err}")),
    };
    let now = Utc::now();
    let keys = async {
        let mut tx = store.begin_keys().await?;
        tx.list_keys(now).await
    }
    .await;
    let keys = match keys {
        Ok(keys) => keys,
        Err(err) => return finding(Status::Problem, what, format!("cannot be read: {err}")),
    };
    let signer = keys
        .iter()
        .filter(|k| k.activate_at <= now && k.retired_at.is_none_or(|r| r > now))
        .max_by_key(|k| k.activate_at);
    let Some(signer) = signer else {
        return finding(
            Status::Problem,
            what,
            format!(
                "{} stored, none signs now: `cognate serve` makes one at start, or run \
                 `cognate keys rotate --now`",
                keys.len()
            ),
        );
    };
    let unsealed = keys.iter().filter(|k| !k.encrypted).count();
    let sealed = keys.len() - unsealed;
    let kek = settings.tokens.key_encryption_key.is_some();
    if kek && unsealed > 0 {
        return finding(
            Status::Problem,
            what,
            format!(
                "{unsealed} of {} stored keys are not sealed although \
                 tokens.key_encryption_key is set (serve refuses to start): run `cognate keys seal`",
                keys.len()
            ),
        );
    }
    if !kek && sealed > 0 {
        return finding(
            Status::Problem,
            what,
            format!(
                "{sealed} stored keys are sealed but tokens.key_encryption_key is not set: they \
                 cannot be used"
            ),
        );
    }
    let age = now - signer.activate_at;
    let rotation =
        chrono::Duration::days(i64::try_from(settings.tokens.rotation_days).unwrap_or(36_500));
    let upcoming = keys.iter().any(|k| k.activate_at > now);
    let sealing = if kek {
        "sealed with tokens.key_encryption_key"
    } else {
        "not sealed (no tokens.key_encryption_key)"
    };
    let detail = format!(
        "{} published, {} signs ({}, {} days old, rotation every {} days{}), {sealing}",
        keys.len(),
        signer.kid,
        signer.alg,
        age.num_days(),
        settings.tokens.rotation_days,
        if upcoming {
            "; a successor is published"
        } else {
            ""
        },
    );
    if age > rotation + chrono::Duration::days(1) && !upcoming {
        return finding(
            Status::Problem,
            what,
            format!(
                "{detail}: the signing key is past its rotation; a running serve rotates it, \
                 or run `cognate keys rotate`"
            ),
        );
    }
    finding(Status::Ok, what, detail)
}

async fn sts(settings: &Settings, http: &reqwest::Client) -> Finding {
    let Some(endpoint) = &settings.sts.endpoint else {
        return finding(
            Status::Skipped,
            "sts",
            "no [sts] endpoint: GetCredentialsForIdentity answers that no STS is configured",
        );
    };
    let what = format!("sts {}", endpoint.as_str());
    // An AssumeRoleWithWebIdentity without a role or token: a working STS
    // refuses it with an error document.
    let answer = http
        .post(endpoint.as_str())
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
        ])
        .send()
        .await;
    match answer {
        Err(err) => finding(
            Status::Problem,
            what,
            format!("does not answer: {}", describe(&err)),
        ),
        Ok(res) => {
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            let code = body
                .split("<Code>")
                .nth(1)
                .and_then(|rest| rest.split("</Code>").next())
                .map(str::to_owned);
            match code {
                Some(code) if !status.is_server_error() => finding(
                    Status::Ok,
                    what,
                    format!("answers (refused an empty request with {code}, as it should)"),
                ),
                _ => finding(
                    Status::Problem,
                    what,
                    format!("answered HTTP {status} without an STS error document"),
                ),
            }
        }
    }
}

fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "no answer within 10 s".into()
    } else if err.is_connect() {
        "the connection was refused or could not be made".into()
    } else {
        err.to_string()
    }
}

/// GET `url` as JSON.
async fn get_json(http: &reqwest::Client, url: &str) -> Result<serde_json::Value, String> {
    let res = http.get(url).send().await.map_err(|e| describe(&e))?;
    let status = res.status();
    if !status.is_success() {
        return Err(format!("{url} answered HTTP {status}"));
    }
    res.json()
        .await
        .map_err(|_| format!("{url} did not answer JSON"))
}

async fn oidc(http: &reqwest::Client, issuer: &str) -> Finding {
    let what = format!("openid provider {issuer}");
    let discovery_url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let discovery = match get_json(http, &discovery_url).await {
        Ok(d) => d,
        Err(err) => return finding(Status::Problem, what, format!("discovery: {err}")),
    };
    if discovery["issuer"]
        .as_str()
        .map(|i| i.trim_end_matches('/'))
        != Some(issuer.trim_end_matches('/'))
    {
        return finding(
            Status::Problem,
            what,
            format!(
                "discovery names issuer {} (tokens name that one, and must match the configured URL)",
                discovery["issuer"]
            ),
        );
    }
    let Some(jwks_uri) = discovery["jwks_uri"].as_str() else {
        return finding(Status::Problem, what, "discovery has no jwks_uri");
    };
    match get_json(http, jwks_uri).await {
        Ok(jwks) => match jwks["keys"].as_array() {
            Some(keys) if !keys.is_empty() => finding(
                Status::Ok,
                what,
                format!("discovery and JWKS read ({} keys)", keys.len()),
            ),
            _ => finding(Status::Problem, what, "the JWKS holds no keys"),
        },
        Err(err) => finding(Status::Problem, what, format!("JWKS: {err}")),
    }
}

/// The console's sign-in: its operators' OpenID provider answers
/// discovery and JWKS, and has the endpoints of the code flow.
async fn console(settings: &Settings, http: &reqwest::Client) -> Option<Finding> {
    settings.console.bind?;
    let issuer = settings.console.issuer.as_ref()?;
    let mut found = oidc(http, issuer).await;
    found.what = format!("console sign-in ({})", found.what);
    if found.status == Status::Ok {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        if let Ok(discovery) = get_json(http, &url).await {
            for endpoint in ["authorization_endpoint", "token_endpoint"] {
                if discovery[endpoint].as_str().is_none() {
                    found.status = Status::Problem;
                    found.detail = format!("discovery has no {endpoint}: no code flow");
                }
            }
        }
    }
    Some(found)
}

async fn providers(settings: &Settings, http: &reqwest::Client) -> Vec<Finding> {
    let mut findings = Vec::new();
    for provider in &settings.oidc_providers {
        findings.push(oidc(http, provider.url.as_str()).await);
    }
    for upstream in &settings.upstream {
        if let Some(issuer) = &upstream.issuer {
            findings.push(oidc(http, issuer.as_str()).await);
        }
        if let Some(url) = &upstream.token_info_url {
            let what = format!("token info of {} ({})", upstream.provider, url.as_str());
            findings.push(match http.get(url.as_str()).send().await {
                // Without a token it refuses; what matters is that it answers.
                Ok(res) if !res.status().is_server_error() => finding(
                    Status::Ok,
                    what,
                    format!("answers (HTTP {} without a token)", res.status().as_u16()),
                ),
                Ok(res) => finding(
                    Status::Problem,
                    what,
                    format!("answered HTTP {}", res.status()),
                ),
                Err(err) => finding(Status::Problem, what, describe(&err)),
            });
        }
    }
    for saml in &settings.saml_providers {
        let what = format!("saml provider {} (account {})", saml.name, saml.account);
        let metadata = match (&saml.metadata_file, &saml.metadata_url) {
            (Some(file), _) => std::fs::read_to_string(file)
                .map_err(|e| format!("metadata_file {}: {e}", file.display())),
            (None, Some(url)) => match http.get(url.as_str()).send().await {
                Ok(res) if res.status().is_success() => res
                    .text()
                    .await
                    .map_err(|e| format!("metadata_url: {}", describe(&e))),
                Ok(res) => Err(format!("metadata_url answered HTTP {}", res.status())),
                Err(err) => Err(format!("metadata_url: {}", describe(&err))),
            },
            (None, None) => Err("neither metadata_file nor metadata_url is set".into()),
        };
        findings.push(
            match metadata.and_then(|xml| cognate_token::saml::SamlIdp::from_metadata(&xml)) {
                Ok(idp) => finding(
                    Status::Ok,
                    what,
                    format!("metadata read (entity id {})", idp.entity_id()),
                ),
                Err(err) => finding(Status::Problem, what, err),
            },
        );
    }
    findings
}

fn tls_certificate(settings: &Settings) -> Finding {
    let Some(path) = &settings.server.tls_cert_file else {
        return finding(
            Status::Skipped,
            "tls certificate",
            "no server.tls_cert_file: the API is plain HTTP (behind a TLS balancer)",
        );
    };
    let what = format!("tls certificate {}", path.display());
    let pem = match std::fs::read_to_string(path) {
        Ok(pem) => pem,
        Err(err) => return finding(Status::Problem, what, format!("cannot be read: {err}")),
    };
    let first = pem
        .split("-----END CERTIFICATE-----")
        .next()
        .map(|head| format!("{head}-----END CERTIFICATE-----\n"))
        .unwrap_or_default();
    let cert = match x509_cert::Certificate::from_pem(first.as_bytes()) {
        Ok(cert) => cert,
        Err(err) => {
            return finding(
                Status::Problem,
                what,
                format!("is not a PEM certificate: {err}"),
            )
        }
    };
    let validity = &cert.tbs_certificate.validity;
    let to_time = |t: x509_cert::time::Time| {
        DateTime::<Utc>::from_timestamp(
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX),
            0,
        )
    };
    let (Some(not_before), Some(not_after)) =
        (to_time(validity.not_before), to_time(validity.not_after))
    else {
        return finding(Status::Problem, what, "has an unreadable validity");
    };
    let subject = cert.tbs_certificate.subject.to_string();
    let now = Utc::now();
    let left = (not_after - now).num_days();
    if now < not_before {
        finding(
            Status::Problem,
            what,
            format!("{subject} is not valid before {not_before}"),
        )
    } else if now >= not_after {
        finding(
            Status::Problem,
            what,
            format!("{subject} expired on {not_after}"),
        )
    } else if left < CERT_WARN_DAYS {
        finding(
            Status::Problem,
            what,
            format!("{subject} expires on {not_after}, in {left} days: renew it"),
        )
    } else {
        finding(
            Status::Ok,
            what,
            format!("{subject}, valid until {not_after} ({left} days)"),
        )
    }
}
