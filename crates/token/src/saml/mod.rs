//! SAML 2.0 responses presented in `Logins` under a SAML provider ARN
//! (`arn:aws:iam::<account>:saml-provider/<Name>`), verified against the
//! provider's metadata as AWS's `AssumeRoleWithSAML` does.
//!
//! XML signatures are checked by libxmlsec1 through the `samael` crate;
//! nothing here canonicalises or hashes XML by hand. What a response must
//! be, in the order checked (each failure is a [`SamlRejection`], shown to
//! clients as `NotAuthorizedException` "Invalid login token. <reason>";
//! parser and xmlsec messages only reach the log):
//!
//! 1. At most [`MAX_SAML_RESPONSE_CHARS`] characters of base64 (ASCII
//!    whitespace ignored), decoding to UTF-8 XML.
//! 2. No `<!DOCTYPE` or `<!ENTITY` anywhere (refused before any parser sees
//!    the text), so no entity expansion ("billion laughs") and no external
//!    entity is ever processed.
//! 3. The root is a `samlp:Response`, holding exactly one `saml:Assertion`
//!    in the whole document (no `EncryptedAssertion`), with no comment or
//!    processing instruction inside it (exclusive canonicalisation drops
//!    comments, so `user@evil.com<!---->.example.com` would verify while a
//!    lax reader took `user@evil.com`).
//! 4. A signature made with a certificate of the metadata's
//!    `IDPSSODescriptor` (signing keys, or keys without `use`), with an
//!    allowed algorithm ([`ALLOWED_ALGORITHMS`]: RSA/ECDSA with SHA-256,
//!    -384, -512; SHA-1 only when [`SamlPolicy::allow_sha1`]), covers the
//!    Response or that Assertion. Every signature in the document must
//!    verify. After verification only the signed subtree is read (samael's
//!    `ValidateAndMarkNoAncestors` reduction: the signed element becomes
//!    the root of a new document and all unsigned content is dropped), and
//!    the Assertion read from it must carry the ID of the document's only
//!    Assertion: an unsigned Assertion placed before or after the signed
//!    one, or the signed one moved under `Extensions`/`Object`, is refused.
//! 5. The Response's `Issuer` (when present) and the Assertion's `Issuer`
//!    equal the metadata's `entityID`; the Response status, when present,
//!    is Success.
//! 6. `Destination`, when present, is the expected recipient.
//! 7. `Conditions` has an `AudienceRestriction` naming the expected audience
//!    ([`DEFAULT_AUDIENCE`] unless configured); its `NotBefore` /
//!    `NotOnOrAfter` hold with the leeway (5 minutes, as for OIDC tokens).
//! 8. A bearer `SubjectConfirmation` whose `SubjectConfirmationData` has the
//!    expected `Recipient` ([`DEFAULT_RECIPIENT`] unless configured) and an
//!    unexpired `NotOnOrAfter` (with the leeway) and a `NotBefore`, if any,
//!    that holds.
//! 9. A non-empty `NameID`: the login's subject.
//!
//! Like an OIDC id token, a response stays usable until it expires (the
//! SDKs send the same `Logins` to GetId and then GetCredentialsForIdentity);
//! no replay cache.

#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec,
};
use samael::metadata::EntityDescriptor;
use samael::schema::{Assertion, Response};
use samael::service_provider::ServiceProvider;

/// AWS's audience for SAML assertions: what IdPs set up for AWS send.
pub const DEFAULT_AUDIENCE: &str = "urn:amazon:webservices";
/// AWS's SAML endpoint: the `Recipient` (and `Destination`) IdPs set up for
/// AWS send.
pub const DEFAULT_RECIPIENT: &str = "https://signin.aws.amazon.com/saml";
/// The attribute listing the roles a user may take, as `role-arn,provider-arn`
/// pairs (either order).
pub const ROLE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
/// The attribute naming the role session.
pub const ROLE_SESSION_NAME_ATTRIBUTE: &str =
    "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
/// Longest accepted base64 response, in characters (256 KiB).
pub const MAX_SAML_RESPONSE_CHARS: usize = 256 * 1024;
/// Longest accepted metadata document, in bytes (1 MiB).
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// Signature algorithms accepted unless SHA-1 is allowed too.
pub const ALLOWED_ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

const NS_PROTOCOL: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
const NS_ASSERTION: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const DSIG_SHA1: &[&str] = &[
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#sha1",
];

/// Why a SAML response was refused. The `Display` text is what the client
/// sees (after "Invalid login token. "); it never holds parser output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SamlRejection {
    /// Longer than [`MAX_SAML_RESPONSE_CHARS`].
    #[error("SAML response is longer than {MAX_SAML_RESPONSE_CHARS} characters.")]
    TooLarge,
    /// Not base64, not UTF-8, not well-formed XML, or not a SAML Response.
    #[error("Not a valid SAML response.")]
    Malformed,
    /// A DTD or entity declaration.
    #[error("SAML response must not contain a DTD.")]
    Dtd,
    /// Zero or several assertions, or an encrypted one.
    #[error("SAML response must contain exactly one unencrypted assertion.")]
    AssertionCount,
    /// A comment or processing instruction inside the assertion.
    #[error("SAML assertion must not contain comments or processing instructions.")]
    Comment,
    /// No valid signature from a metadata certificate with an allowed
    /// algorithm, or one that does not cover the Response or the Assertion.
    #[error("Couldn't verify the signature of the SAML response.")]
    Signature,
    /// Signed or digested with SHA-1 while the provider does not allow it.
    /// The client is told no more than for any other bad signature.
    #[error("Couldn't verify the signature of the SAML response.")]
    Sha1,
    /// Issuer is not the metadata's entity id.
    #[error("SAML issuer doesn't match the provider's entity id.")]
    Issuer,
    /// Status is not Success.
    #[error("SAML response status is not Success.")]
    Status,
    /// Destination is not the expected recipient.
    #[error("SAML response destination doesn't match.")]
    Destination,
    /// Audience restriction missing or not naming the audience.
    #[error("SAML assertion audience doesn't match.")]
    Audience,
    /// No bearer confirmation with the expected recipient.
    #[error("SAML assertion recipient doesn't match.")]
    Recipient,
    /// Past `NotOnOrAfter` (Conditions or SubjectConfirmationData).
    #[error("SAML assertion expired.")]
    Expired,
    /// Before `NotBefore`.
    #[error("SAML assertion is not valid yet.")]
    NotYetValid,
    /// A required element (NameID, NotOnOrAfter, Conditions) is missing.
    #[error("SAML assertion is missing {0}.")]
    Missing(&'static str),
}

impl SamlRejection {
    /// Why, in an operator's words (for the log: it says more than the
    /// client is told, and never quotes the response).
    pub fn detail(&self) -> &'static str {
        match self {
            SamlRejection::TooLarge => "the response is larger than the limit",
            SamlRejection::Malformed => "the response is not base64 of a well-formed SAML Response",
            SamlRejection::Dtd => "the response contains a DTD or entity declaration",
            SamlRejection::AssertionCount => {
                "the response holds no assertion, several, or an encrypted one"
            }
            SamlRejection::Comment => "the assertion contains a comment or processing instruction",
            SamlRejection::Signature => {
                "no valid signature covering the Response or the Assertion by a certificate \
                 of the provider's metadata (unsigned, tampered with, signed by another key, \
                 or with an algorithm not allowed)"
            }
            SamlRejection::Sha1 => {
                "signature or digest algorithm SHA-1 is not allowed for this provider \
                 (set allow_sha1 in its [[saml_providers]] entry only if the IdP cannot \
                 sign with SHA-256)"
            }
            SamlRejection::Issuer => "the Issuer is not the entity id of the provider's metadata",
            SamlRejection::Status => "the response's status is not Success",
            SamlRejection::Destination => {
                "the response's Destination is not the configured recipient"
            }
            SamlRejection::Audience => "no AudienceRestriction names the configured audience",
            SamlRejection::Recipient => {
                "no bearer SubjectConfirmation names the configured recipient"
            }
            SamlRejection::Expired => "the assertion has expired (NotOnOrAfter is past)",
            SamlRejection::NotYetValid => {
                "the assertion is not valid yet (NotBefore is ahead; check clocks)"
            }
            SamlRejection::Missing(what) => what,
        }
    }
}

/// A SAML identity provider as its metadata describes it.
#[derive(Debug, Clone)]
pub struct SamlIdp {
    entity_id: String,
    certs: Vec<CertificateDer>,
}

impl SamlIdp {
    /// Read an `EntityDescriptor` (as IAM takes it): its `entityID` and the
    /// signing certificates of its `IDPSSODescriptor`. Refuses a DTD, a
    /// document over [`MAX_METADATA_BYTES`], and metadata without an entity
    /// id or signing certificate.
    pub fn from_metadata(xml: &str) -> Result<Self, String> {
        if xml.len() > MAX_METADATA_BYTES {
            return Err(format!(
                "metadata is larger than {MAX_METADATA_BYTES} bytes"
            ));
        }
        if has_dtd(xml.as_bytes()) {
            return Err("metadata must not contain a DTD".into());
        }
        let descriptor: EntityDescriptor = xml
            .parse()
            .map_err(|e| format!("not a SAML EntityDescriptor: {e}"))?;
        let entity_id = descriptor
            .entity_id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or("metadata has no entityID")?;
        let sp = ServiceProvider {
            idp_metadata: descriptor,
            ..ServiceProvider::default()
        };
        let certs = sp
            .idp_signing_certs()
            .map_err(|e| format!("metadata certificate: {e}"))?
            .filter(|c| !c.is_empty())
            .ok_or("metadata has no IDPSSODescriptor signing certificate")?;
        Ok(SamlIdp { entity_id, certs })
    }

    /// The metadata's `entityID`: the only accepted `Issuer`.
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }
}

/// What a response is checked against besides the IdP's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlPolicy {
    /// The accepted `Audience` ([`DEFAULT_AUDIENCE`]).
    pub audience: String,
    /// The accepted `Recipient` and `Destination` ([`DEFAULT_RECIPIENT`]).
    pub recipient: String,
    /// Accept RSA-SHA1 signatures and SHA-1 digests (off: only SHA-2).
    pub allow_sha1: bool,
    /// Tolerated clock skew on `NotBefore`/`NotOnOrAfter` (5 minutes).
    pub leeway: Duration,
}

impl Default for SamlPolicy {
    fn default() -> Self {
        SamlPolicy {
            audience: DEFAULT_AUDIENCE.into(),
            recipient: DEFAULT_RECIPIENT.into(),
            allow_sha1: false,
            leeway: crate::leeway::DEFAULT_LEEWAY,
        }
    }
}

/// What a verified assertion says, taken only from signed XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The `NameID`: the login's subject.
    pub name_id: String,
    /// The `NameID`'s `Format`, if given.
    pub name_id_format: Option<String>,
    /// Every attribute by `Name`, values in document order.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The earliest `NotOnOrAfter` of the conditions and the confirmation.
    pub not_on_or_after: DateTime<Utc>,
}

impl VerifiedAssertion {
    /// The `(role ARN, provider ARN)` pairs of the [`ROLE_ATTRIBUTE`]
    /// (either order in the value; malformed values are skipped).
    pub fn roles(&self) -> Vec<(String, String)> {
        role_pairs(
            self.attributes
                .get(ROLE_ATTRIBUTE)
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        )
    }

    /// The [`ROLE_SESSION_NAME_ATTRIBUTE`], if any.
    pub fn role_session_name(&self) -> Option<&str> {
        self.attributes
            .get(ROLE_SESSION_NAME_ATTRIBUTE)
            .and_then(|v| v.first())
            .map(String::as_str)
    }
}

/// `role-arn,provider-arn` pairs (either order) from Role attribute values.
pub fn role_pairs(values: &[String]) -> Vec<(String, String)> {
    values
        .iter()
        .filter_map(|v| {
            let (a, b) = v.split_once(',')?;
            let (a, b) = (a.trim(), b.trim());
            let is_role = |s: &str| s.starts_with("arn:") && s.contains(":role/");
            let is_provider = |s: &str| s.starts_with("arn:") && s.contains(":saml-provider/");
            if is_role(a) && is_provider(b) {
                Some((a.to_owned(), b.to_owned()))
            } else if is_provider(a) && is_role(b) {
                Some((b.to_owned(), a.to_owned()))
            } else {
                None
            }
        })
        .collect()
}

/// Whether the text declares a DTD or an entity (ASCII case-insensitive).
fn has_dtd(bytes: &[u8]) -> bool {
    bytes.windows(9).any(|w| {
        w[0] == b'<' && w[1] == b'!' && {
            let rest = &w[2..];
            rest.eq_ignore_ascii_case(b"DOCTYPE") || rest[..6].eq_ignore_ascii_case(b"ENTITY")
        }
    })
}

/// What the unverified document says about its shape (step 3).
struct Shape {
    assertion_id: String,
    destination: Option<String>,
    uses_sha1: bool,
}

fn scan_shape(xml: &str) -> Result<Shape, SamlRejection> {
    let mut reader = NsReader::from_str(xml);
    let mut depth = 0usize;
    let mut assertion_depth: Option<usize> = None;
    let mut assertions = 0usize;
    let mut assertion_id = None;
    let mut destination = None;
    let mut root_seen = false;
    let mut uses_sha1 = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            tracing::debug!(error = %e, "SAML response is not well-formed XML");
            SamlRejection::Malformed
        })?;
        let (empty, start) = match &event {
            Event::Start(s) => (false, Some(s.clone())),
            Event::Empty(s) => (true, Some(s.clone())),
            _ => (false, None),
        };
        if let Some(s) = start {
            let (ns, local) = reader.resolve_element(s.name());
            let in_ns = |want: &[u8]| matches!(ns, ResolveResult::Bound(n) if n.as_ref() == want);
            let local = local.as_ref().to_vec();
            if depth == 0 {
                if root_seen || !(in_ns(NS_PROTOCOL) && local == b"Response") {
                    return Err(SamlRejection::Malformed);
                }
                root_seen = true;
                destination = attr(&s, b"Destination")?;
            }
            if local == b"EncryptedAssertion" {
                return Err(SamlRejection::AssertionCount);
            }
            if in_ns(NS_ASSERTION) && local == b"Assertion" {
                assertions += 1;
                if assertions > 1 {
                    return Err(SamlRejection::AssertionCount);
                }
                assertion_id = attr(&s, b"ID")?;
                if !empty {
                    assertion_depth = Some(depth);
                }
            }
            if local == b"SignatureMethod" || local == b"DigestMethod" {
                if let Some(alg) = attr(&s, b"Algorithm")? {
                    uses_sha1 |= DSIG_SHA1.contains(&alg.as_str());
                }
            }
            if !empty {
                depth += 1;
            }
            continue;
        }
        match event {
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if assertion_depth == Some(depth) {
                    assertion_depth = None;
                }
            }
            Event::Comment(_) | Event::PI(_) if assertion_depth.is_some() => {
                return Err(SamlRejection::Comment);
            }
            Event::DocType(_) => return Err(SamlRejection::Dtd),
            Event::Eof => break,
            _ => {}
        }
    }
    if !root_seen {
        return Err(SamlRejection::Malformed);
    }
    Ok(Shape {
        assertion_id: assertion_id
            .filter(|id| !id.is_empty())
            .ok_or(SamlRejection::AssertionCount)?,
        destination,
        uses_sha1,
    })
}

fn attr(
    s: &quick_xml::events::BytesStart<'_>,
    name: &[u8],
) -> Result<Option<String>, SamlRejection> {
    for a in s.attributes() {
        let a = a.map_err(|_| SamlRejection::Malformed)?;
        if a.key.as_ref() == name {
            let v = a.unescape_value().map_err(|_| SamlRejection::Malformed)?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Verify a base64 SAML response (a `Logins` value) from `idp` at `now`.
/// CPU-bound (xmlsec): run it off the async workers.
pub fn verify_response(
    encoded: &str,
    idp: &SamlIdp,
    policy: &SamlPolicy,
    now: DateTime<Utc>,
) -> Result<VerifiedAssertion, SamlRejection> {
    // 1. Size, base64, UTF-8.
    if encoded.len() > MAX_SAML_RESPONSE_CHARS {
        return Err(SamlRejection::TooLarge);
    }
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| SamlRejection::Malformed)?;
    // 2. No DTD, before any parser runs.
    if has_dtd(&bytes) {
        return Err(SamlRejection::Dtd);
    }
    let xml = String::from_utf8(bytes).map_err(|_| SamlRejection::Malformed)?;
    // 3. Shape of the whole (unverified) document.
    let shape = scan_shape(&xml)?;
    if shape.uses_sha1 && !policy.allow_sha1 {
        return Err(SamlRejection::Sha1);
    }
    // 4. Signatures; keep only the signed subtree.
    let allowed = (!policy.allow_sha1).then_some(ALLOWED_ALGORITHMS);
    let signed = XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        &xml,
        &idp.certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        allowed,
    )
    .map_err(|e| {
        tracing::debug!(error = %e, "SAML signature refused");
        SamlRejection::Signature
    })?;
    let (response, assertion) = match signed_root(&signed)? {
        SignedRoot::Response => {
            let response: Response = signed.parse().map_err(|e| {
                tracing::debug!(error = %e, "signed SAML Response unreadable");
                SamlRejection::Malformed
            })?;
            let assertion = response
                .assertion
                .clone()
                .ok_or(SamlRejection::AssertionCount)?;
            (Some(response), assertion)
        }
        SignedRoot::Assertion => {
            let assertion: Assertion = signed.parse().map_err(|e| {
                tracing::debug!(error = %e, "signed SAML Assertion unreadable");
                SamlRejection::Malformed
            })?;
            (None, assertion)
        }
    };
    if assertion.id != shape.assertion_id {
        return Err(SamlRejection::Signature);
    }
    // 5. Issuer and status.
    if let Some(response) = &response {
        if let Some(issuer) = &response.issuer {
            if issuer.value.as_deref() != Some(idp.entity_id.as_str()) {
                return Err(SamlRejection::Issuer);
            }
        }
        if let Some(status) = &response.status {
            if status.status_code.value.as_deref() != Some(STATUS_SUCCESS) {
                return Err(SamlRejection::Status);
            }
        }
    }
    if assertion.issuer.value.as_deref() != Some(idp.entity_id.as_str()) {
        return Err(SamlRejection::Issuer);
    }
    // 6. Destination (signed when the Response is; checked either way).
    let destination = response
        .as_ref()
        .and_then(|r| r.destination.clone())
        .or(shape.destination);
    if destination.is_some_and(|d| d != policy.recipient) {
        return Err(SamlRejection::Destination);
    }
    let leeway = chrono::Duration::from_std(policy.leeway).unwrap_or_default();
    // 7. Conditions.
    let conditions = assertion
        .conditions
        .as_ref()
        .ok_or(SamlRejection::Missing("Conditions"))?;
    let audience_ok = conditions.audience_restrictions.as_ref().is_some_and(|rs| {
        !rs.is_empty()
            && rs
                .iter()
                .all(|r| r.audience.iter().any(|a| a.trim() == policy.audience))
    });
    if !audience_ok {
        return Err(SamlRejection::Audience);
    }
    if conditions.not_before.is_some_and(|nb| nb > now + leeway) {
        return Err(SamlRejection::NotYetValid);
    }
    if conditions
        .not_on_or_after
        .is_some_and(|na| now >= na + leeway)
    {
        return Err(SamlRejection::Expired);
    }
    // 8. Bearer confirmation.
    let subject = assertion
        .subject
        .as_ref()
        .ok_or(SamlRejection::Missing("Subject"))?;
    let bearers: Vec<_> = subject
        .subject_confirmations
        .iter()
        .flatten()
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .filter_map(|c| c.subject_confirmation_data.as_ref())
        .collect();
    if bearers.is_empty() {
        return Err(SamlRejection::Missing("a bearer SubjectConfirmation"));
    }
    let data = bearers
        .iter()
        .find(|d| d.recipient.as_deref() == Some(policy.recipient.as_str()))
        .ok_or(SamlRejection::Recipient)?;
    let confirmation_expiry = data.not_on_or_after.ok_or(SamlRejection::Missing(
        "SubjectConfirmationData NotOnOrAfter",
    ))?;
    if now >= confirmation_expiry + leeway {
        return Err(SamlRejection::Expired);
    }
    if data.not_before.is_some_and(|nb| nb > now + leeway) {
        return Err(SamlRejection::NotYetValid);
    }
    // 9. NameID and attributes.
    let name_id = subject
        .name_id
        .as_ref()
        .filter(|n| !n.value.trim().is_empty())
        .ok_or(SamlRejection::Missing("NameID"))?;
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in assertion.attribute_statements.iter().flatten() {
        for a in &statement.attributes {
            let Some(name) = a.name.clone() else { continue };
            attributes
                .entry(name)
                .or_default()
                .extend(a.values.iter().filter_map(|v| v.value.clone()));
        }
    }
    let not_on_or_after = conditions
        .not_on_or_after
        .map_or(confirmation_expiry, |c| c.min(confirmation_expiry));
    Ok(VerifiedAssertion {
        name_id: name_id.value.trim().to_owned(),
        name_id_format: name_id.format.clone(),
        attributes,
        not_on_or_after,
    })
}

enum SignedRoot {
    Response,
    Assertion,
}

/// Which element the verified signature covered: the reduced document's root.
fn signed_root(signed: &str) -> Result<SignedRoot, SamlRejection> {
    let mut reader = NsReader::from_str(signed);
    loop {
        match reader.read_event().map_err(|_| SamlRejection::Malformed)? {
            Event::Start(s) | Event::Empty(s) => {
                let (ns, local) = reader.resolve_element(s.name());
                let bound =
                    |want: &[u8]| matches!(ns, ResolveResult::Bound(n) if n.as_ref() == want);
                return match local.as_ref() {
                    b"Response" if bound(NS_PROTOCOL) => Ok(SignedRoot::Response),
                    b"Assertion" if bound(NS_ASSERTION) => Ok(SignedRoot::Assertion),
                    _ => Err(SamlRejection::Signature),
                };
            }
            Event::Eof => return Err(SamlRejection::Signature),
            _ => {}
        }
    }
}
