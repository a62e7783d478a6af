//! Every acceptance rule and every known attack, on responses signed here
//! (samael's signing over libxmlsec1) with the fixed keys in `testdata/`.

use super::*;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeZone;

const IDP_KEY: &[u8] = include_bytes!("testdata/idp.key.der");
const IDP_CERT: &str = include_str!("testdata/idp.cert.pem");
const ATTACKER_KEY: &[u8] = include_bytes!("testdata/attacker.key.der");
const ATTACKER_CERT: &str = include_str!("testdata/attacker.cert.pem");
const ENTITY_ID: &str = "https://idp.example.com/metadata";
const PROVIDER: &str = "arn:aws:iam::000000000000:saml-provider/corp";
const ROLE_A: &str = "arn:aws:iam::000000000000:role/a";
const ROLE_B: &str = "arn:aws:iam::000000000000:role/b";

fn cert_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

pub(crate) fn metadata_xml(cert_pem: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{ENTITY_ID}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#,
        cert_body(cert_pem)
    )
}

fn idp() -> SamlIdp {
    SamlIdp::from_metadata(&metadata_xml(IDP_CERT)).expect("metadata")
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[derive(Clone, Copy, PartialEq)]
enum Signed {
    Assertion,
    Response,
    Nothing,
}

#[derive(Clone)]
struct Fixture {
    issuer: String,
    audience: String,
    recipient: String,
    destination: Option<String>,
    name_id: String,
    not_before: DateTime<Utc>,
    not_on_or_after: DateTime<Utc>,
    confirmation_not_on_or_after: DateTime<Utc>,
    roles: Vec<String>,
    signed: Signed,
    key: &'static [u8],
    cert: &'static str,
    sha1: bool,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture {
            issuer: ENTITY_ID.into(),
            audience: DEFAULT_AUDIENCE.into(),
            recipient: DEFAULT_RECIPIENT.into(),
            destination: Some(DEFAULT_RECIPIENT.into()),
            name_id: "alice@example.com".into(),
            not_before: now() - chrono::Duration::minutes(1),
            not_on_or_after: now() + chrono::Duration::minutes(5),
            confirmation_not_on_or_after: now() + chrono::Duration::minutes(5),
            roles: vec![format!("{ROLE_A},{PROVIDER}")],
            signed: Signed::Assertion,
            key: IDP_KEY,
            cert: IDP_CERT,
            sha1: false,
        }
    }
}

fn signature_template(id: &str, cert: &str, sha1: bool) -> String {
    let (sig, dig) = if sha1 {
        (
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        )
    } else {
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        )
    };
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{sig}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{dig}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##,
        cert_body(cert)
    )
}

impl Fixture {
    fn assertion(&self, id: &str, with_template: bool) -> String {
        let template = if with_template {
            signature_template(id, self.cert, self.sha1)
        } else {
            String::new()
        };
        let roles: String = self
            .roles
            .iter()
            .map(|r| format!("<saml:AttributeValue>{r}</saml:AttributeValue>"))
            .collect();
        format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" IssueInstant="{issued}" Version="2.0"><saml:Issuer>{issuer}</saml:Issuer>{template}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{sc_noa}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{issued}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="{ROLE_ATTRIBUTE}">{roles}</saml:Attribute><saml:Attribute Name="{ROLE_SESSION_NAME_ATTRIBUTE}"><saml:AttributeValue>alice</saml:AttributeValue></saml:Attribute><saml:Attribute Name="department"><saml:AttributeValue>eng</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"#,
            issued = ts(now() - chrono::Duration::minutes(1)),
            issuer = self.issuer,
            name_id = self.name_id,
            sc_noa = ts(self.confirmation_not_on_or_after),
            recipient = self.recipient,
            nb = ts(self.not_before),
            noa = ts(self.not_on_or_after),
            audience = self.audience,
        )
    }

    fn response_with(&self, body: &str, with_template: bool) -> String {
        let destination = self
            .destination
            .as_ref()
            .map(|d| format!(r#" Destination="{d}""#))
            .unwrap_or_default();
        let template = if with_template {
            signature_template("_resp1", self.cert, self.sha1)
        } else {
            String::new()
        };
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_resp1" Version="2.0" IssueInstant="{issued}"{destination}><saml:Issuer>{issuer}</saml:Issuer>{template}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{body}</samlp:Response>"#,
            issued = ts(now() - chrono::Duration::minutes(1)),
            issuer = self.issuer,
        )
    }

    /// The response XML, signed as `self.signed` says.
    fn xml(&self) -> String {
        match self.signed {
            Signed::Nothing => self.response_with(&self.assertion("_a1", false), false),
            Signed::Assertion => {
                let assertion = sign(&self.assertion("_a1", true), self.key);
                self.response_with(&strip_decl(&assertion), false)
            }
            Signed::Response => sign(
                &self.response_with(&self.assertion("_a1", false), true),
                self.key,
            ),
        }
    }

    fn encoded(&self) -> String {
        STANDARD.encode(self.xml())
    }
}

fn sign(xml: &str, key: &[u8]) -> String {
    XmlSec::sign_xml(xml, key).expect("signing")
}

fn strip_decl(xml: &str) -> String {
    match xml.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map(|(_, r)| r.trim().to_owned())
            .unwrap(),
        None => xml.to_owned(),
    }
}

fn verify(encoded: &str) -> Result<VerifiedAssertion, SamlRejection> {
    verify_response(encoded, &idp(), &SamlPolicy::default(), now())
}

fn verify_xml(xml: &str) -> Result<VerifiedAssertion, SamlRejection> {
    verify(&STANDARD.encode(xml))
}

// ----- what is accepted -----

#[test]
fn a_response_with_a_signed_assertion_is_accepted_and_read() {
    let v = verify(&Fixture::default().encoded()).expect("accepted");
    assert_eq!(v.name_id, "alice@example.com");
    assert_eq!(v.roles(), vec![(ROLE_A.to_owned(), PROVIDER.to_owned())]);
    assert_eq!(v.role_session_name(), Some("alice"));
    assert_eq!(v.attributes["department"], vec!["eng".to_owned()]);
}

#[test]
fn a_signed_response_is_accepted() {
    let f = Fixture {
        signed: Signed::Response,
        ..Fixture::default()
    };
    assert_eq!(verify(&f.encoded()).unwrap().name_id, "alice@example.com");
}

#[test]
fn base64_with_line_breaks_is_accepted() {
    let encoded = Fixture::default().encoded();
    let wrapped: Vec<String> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    assert!(verify(&wrapped.join("\r\n")).is_ok());
}

#[test]
fn role_pairs_are_read_in_either_order() {
    let f = Fixture {
        roles: vec![
            format!("{ROLE_A},{PROVIDER}"),
            format!("{PROVIDER},{ROLE_B}"),
            "garbage".into(),
        ],
        ..Fixture::default()
    };
    let roles = verify(&f.encoded()).unwrap().roles();
    assert_eq!(
        roles,
        vec![
            (ROLE_A.to_owned(), PROVIDER.to_owned()),
            (ROLE_B.to_owned(), PROVIDER.to_owned())
        ]
    );
}

#[test]
fn a_response_without_destination_is_accepted() {
    let f = Fixture {
        destination: None,
        ..Fixture::default()
    };
    assert!(verify(&f.encoded()).is_ok());
}

#[test]
fn configured_audience_and_recipient_replace_aws_defaults() {
    let f = Fixture {
        audience: "urn:cognate:test".into(),
        recipient: "https://cognate.example.com/saml".into(),
        destination: Some("https://cognate.example.com/saml".into()),
        ..Fixture::default()
    };
    assert_eq!(verify(&f.encoded()), Err(SamlRejection::Destination));
    let policy = SamlPolicy {
        audience: "urn:cognate:test".into(),
        recipient: "https://cognate.example.com/saml".into(),
        ..SamlPolicy::default()
    };
    assert!(verify_response(&f.encoded(), &idp(), &policy, now()).is_ok());
}

#[test]
fn the_leeway_is_five_minutes_each_way() {
    let f = Fixture {
        not_on_or_after: now() - chrono::Duration::minutes(4),
        confirmation_not_on_or_after: now() - chrono::Duration::minutes(4),
        not_before: now() + chrono::Duration::minutes(4),
        ..Fixture::default()
    };
    assert!(verify(&f.encoded()).is_ok());
}

// ----- signatures -----

#[test]
fn an_unsigned_assertion_is_refused() {
    let f = Fixture {
        signed: Signed::Nothing,
        ..Fixture::default()
    };
    assert_eq!(verify(&f.encoded()), Err(SamlRejection::Signature));
}

#[test]
fn a_signature_by_a_key_not_in_the_metadata_is_refused() {
    for signed in [Signed::Assertion, Signed::Response] {
        let f = Fixture {
            key: ATTACKER_KEY,
            cert: ATTACKER_CERT,
            signed,
            ..Fixture::default()
        };
        assert_eq!(verify(&f.encoded()), Err(SamlRejection::Signature));
    }
}

#[test]
fn a_tampered_signed_assertion_is_refused() {
    let xml = Fixture::default()
        .xml()
        .replace("alice@example.com", "mallory@example.com");
    assert_eq!(verify_xml(&xml), Err(SamlRejection::Signature));
}

#[test]
fn sha1_is_refused_unless_allowed() {
    let f = Fixture {
        sha1: true,
        ..Fixture::default()
    };
    let refused = verify(&f.encoded()).unwrap_err();
    assert_eq!(refused, SamlRejection::Sha1);
    assert_eq!(
        refused.to_string(),
        SamlRejection::Signature.to_string(),
        "the client learns no more than for any bad signature"
    );
    assert!(refused.detail().contains("SHA-1"), "the operator does");
    let policy = SamlPolicy {
        allow_sha1: true,
        ..SamlPolicy::default()
    };
    assert!(verify_response(&f.encoded(), &idp(), &policy, now()).is_ok());
}

// ----- signature wrapping -----

fn evil_assertion() -> String {
    Fixture {
        name_id: "mallory@example.com".into(),
        roles: vec![format!("{ROLE_B},{PROVIDER}")],
        ..Fixture::default()
    }
    .assertion("_evil", false)
}

#[test]
fn an_unsigned_assertion_before_the_signed_one_is_refused() {
    let xml = Fixture::default().xml().replacen(
        "</samlp:Status>",
        &format!("</samlp:Status>{}", evil_assertion()),
        1,
    );
    assert_eq!(verify_xml(&xml), Err(SamlRejection::AssertionCount));
}

#[test]
fn an_unsigned_assertion_after_the_signed_one_is_refused() {
    let xml = Fixture::default().xml().replacen(
        "</samlp:Response>",
        &format!("{}</samlp:Response>", evil_assertion()),
        1,
    );
    assert_eq!(verify_xml(&xml), Err(SamlRejection::AssertionCount));
}

#[test]
fn the_signed_assertion_moved_under_extensions_is_refused() {
    // The signed assertion hidden in Extensions, an unsigned one in its place.
    let f = Fixture::default();
    let signed = strip_decl(&sign(&f.assertion("_a1", true), IDP_KEY));
    let body = format!(
        "<samlp:Extensions>{signed}</samlp:Extensions>{}",
        evil_assertion()
    );
    assert_eq!(
        verify_xml(&f.response_with(&body, false)),
        Err(SamlRejection::AssertionCount)
    );
}

#[test]
fn the_signed_response_moved_under_an_object_is_refused() {
    // A signed Response hidden in the Signature's Object of a forged response.
    let f = Fixture {
        signed: Signed::Response,
        ..Fixture::default()
    };
    let signed = strip_decl(&f.xml());
    let forged = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_forged" Version="2.0" IssueInstant="{}"><saml:Issuer>{ENTITY_ID}</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Object>{signed}</ds:Object></ds:Signature>{}</samlp:Response>"#,
        ts(now()),
        evil_assertion()
    );
    assert_eq!(verify_xml(&forged), Err(SamlRejection::AssertionCount));
}

#[test]
fn a_signature_that_covers_neither_response_nor_assertion_is_refused() {
    // The IdP's signature over some other element (Status) vouches for nothing.
    let f = Fixture {
        signed: Signed::Nothing,
        ..Fixture::default()
    };
    let xml = f.response_with(&f.assertion("_a1", false), false).replace(
        "<samlp:Status>",
        &format!(
            "<samlp:Status ID=\"_st\">{}",
            signature_template("_st", IDP_CERT, false)
        ),
    );
    let xml = sign(&xml, IDP_KEY);
    assert_eq!(verify_xml(&xml), Err(SamlRejection::Signature));
}

#[test]
fn a_comment_inside_name_id_is_refused() {
    // Exclusive c14n drops comments, so the signature still verifies.
    let xml = Fixture {
        name_id: "user@evil.com.example.com".into(),
        ..Fixture::default()
    }
    .xml()
    .replace(
        "user@evil.com.example.com",
        "user@evil.com<!---->.example.com",
    );
    assert_eq!(verify_xml(&xml), Err(SamlRejection::Comment));
}

// ----- issuer, audience, recipient, destination, time -----

#[test]
fn a_wrong_issuer_is_refused() {
    let f = Fixture {
        issuer: "https://other-idp.example.com".into(),
        ..Fixture::default()
    };
    assert_eq!(verify(&f.encoded()), Err(SamlRejection::Issuer));
}

#[test]
fn a_wrong_audience_is_refused() {
    let f = Fixture {
        audience: "urn:someone:else".into(),
        ..Fixture::default()
    };
    assert_eq!(verify(&f.encoded()), Err(SamlRejection::Audience));
}

#[test]
fn a_wrong_recipient_is_refused() {
    let f = Fixture {
        recipient: "https://sp.example.com/acs".into(),
        ..Fixture::default()
    };
    assert_eq!(verify(&f.encoded()), Err(SamlRejection::Recipient));
}

#[test]
fn a_wrong_destination_is_refused() {
    for signed in [Signed::Assertion, Signed::Response] {
        let f = Fixture {
            destination: Some("https://sp.example.com/acs".into()),
            signed,
            ..Fixture::default()
        };
        assert_eq!(verify(&f.encoded()), Err(SamlRejection::Destination));
    }
}

#[test]
fn an_expired_assertion_is_refused() {
    let f = Fixture {
        not_on_or_after: now() - chrono::Duration::minutes(6),
        ..Fixture::default()
    };
    assert_eq!(verify(&f.encoded()), Err(SamlRejection::Expired));
    let f = Fixture {
        confirmation_not_on_or_after: now() - chrono::Duration::minutes(6),
        ..Fixture::default()
    };
    assert_eq!(verify(&f.encoded()), Err(SamlRejection::Expired));
}

#[test]
fn a_not_yet_valid_assertion_is_refused() {
    let f = Fixture {
        not_before: now() + chrono::Duration::minutes(6),
        ..Fixture::default()
    };
    assert_eq!(verify(&f.encoded()), Err(SamlRejection::NotYetValid));
}

// ----- parser attacks and size -----

#[test]
fn billion_laughs_is_refused_before_parsing() {
    let xml = format!(
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>{}"#,
        strip_decl(&Fixture::default().xml()).replace("alice@example.com", "&lol3;")
    );
    assert_eq!(verify_xml(&xml), Err(SamlRejection::Dtd));
}

#[test]
fn an_external_entity_is_refused_before_parsing() {
    let xml = format!(
        r#"<?xml version="1.0"?><!doctype r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>{}"#,
        strip_decl(&Fixture::default().xml()).replace("alice@example.com", "&xxe;")
    );
    assert_eq!(verify_xml(&xml), Err(SamlRejection::Dtd));
}

#[test]
fn a_one_megabyte_response_is_refused() {
    let padding = format!("<!--{}-->", "x".repeat(1024 * 1024));
    let xml =
        Fixture::default()
            .xml()
            .replacen("<samlp:Status>", &format!("{padding}<samlp:Status>"), 1);
    assert_eq!(verify_xml(&xml), Err(SamlRejection::TooLarge));
}

#[test]
fn garbage_is_refused_without_parser_text() {
    for input in [
        "not base64!",
        &STANDARD.encode("<a><b></a>"),
        &STANDARD.encode("plain"),
    ] {
        let e = verify(input).unwrap_err();
        assert_eq!(e, SamlRejection::Malformed, "{input}");
        assert_eq!(e.to_string(), "Not a valid SAML response.");
    }
}

#[test]
fn an_encrypted_assertion_is_refused() {
    let f = Fixture::default();
    let xml = f.response_with(
        "<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/></saml:EncryptedAssertion>",
        false,
    );
    assert_eq!(verify_xml(&xml), Err(SamlRejection::AssertionCount));
}

// ----- metadata -----

#[test]
fn metadata_gives_the_entity_id_and_refuses_a_dtd_or_no_certificate() {
    assert_eq!(idp().entity_id(), ENTITY_ID);
    let with_dtd = format!(
        "<!DOCTYPE x>{}",
        metadata_xml(IDP_CERT).replace("<?xml version=\"1.0\"?>", "")
    );
    assert!(SamlIdp::from_metadata(&with_dtd).is_err());
    let no_cert = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{ENTITY_ID}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>"#
    );
    assert!(SamlIdp::from_metadata(&no_cert).is_err());
}
