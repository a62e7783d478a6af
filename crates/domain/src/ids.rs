//! Identifiers: what they look like and how new ones are made.
//!
//! Pool and identity ids are `<region>:<uuid>`; the pool ARN is
//! `arn:aws:cognito-identity:<region>:<account>:identitypool/<pool id>`.
//!
//! Ids are parsed once, at the edge ([`TryFrom<String>`], which serde uses
//! too), into [`IdentityPoolId`], [`IdentityId`], [`ProviderName`] and
//! [`DeveloperUserIdentifier`]; past the edge nothing re-checks them and
//! nothing can mix a pool id up with an identity id. The rules are the
//! service model's (`IdentityPoolId`: 1–55 characters matching
//! `[\w-]+:[0-9a-f-]+`, ...), so the request validator, which runs first and
//! answers in AWS's words, and these parsers agree on every input.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The AWS account an access key belongs to; every pool belongs to one.
/// Serde reads it through [`AccountId::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl TryFrom<String> for AccountId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        AccountId::parse(&value)
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> String {
        id.0
    }
}

impl AccountId {
    /// An account id is 1 to 15 decimal digits (AWS uses 12).
    pub fn parse(value: &str) -> Result<Self, String> {
        if (1..=15).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(value.to_owned()))
        } else {
            Err(format!("account id '{value}' must be 1 to 15 digits"))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The region this deployment answers for (used in ids, ARNs and SigV4 scope).
/// Serde reads it through [`Region::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Region(String);

impl TryFrom<String> for Region {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Region::parse(&value)
    }
}

impl Region {
    /// A region is a lower-case name like `us-east-1`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let ok = !value.is_empty()
            && value.len() <= 32
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Region(value.to_owned()))
        } else {
            Err(format!("region '{value}' must look like us-east-1"))
        }
    }

    /// The region as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh `<region>:<uuid v4>`, the form of pool and identity ids.
    fn new_id(&self) -> String {
        format!("{}:{}", self.0, uuid::Uuid::new_v4())
    }

    /// A fresh pool id in this region.
    pub fn new_pool_id(&self) -> IdentityPoolId {
        IdentityPoolId(self.new_id())
    }

    /// A fresh identity id in this region.
    pub fn new_identity_id(&self) -> IdentityId {
        IdentityId(self.new_id())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A text that is not a valid id of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId {
    /// What it should have been (`identity pool id`, ...).
    pub kind: &'static str,
    /// Its length (the text itself may be long or secret-ish: not kept).
    pub len: usize,
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a valid {} ({} characters)", self.kind, self.len)
    }
}

impl std::error::Error for InvalidId {}

/// `[\w-]+:[0-9a-f-]+` (ASCII `\w`, as the validator compiles it), 1–55 long.
fn is_region_uuid(text: &str) -> bool {
    let Some((region, id)) = text.split_once(':') else {
        return false;
    };
    (1..=55).contains(&text.len())
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-')
}

/// 1–`max` characters (the model counts characters, not bytes).
fn is_text_of_length(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.chars().count())
}

/// A string newtype parsed by `$check`: serde reads it through `TryFrom`
/// and writes it as the plain string.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                let check: fn(&str) -> bool = $check;
                if check(&value) {
                    Ok($name(value))
                } else {
                    Err(InvalidId { kind: $kind, len: value.len() })
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidId;
            fn try_from(value: &str) -> Result<Self, InvalidId> {
                $name::try_from(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

text_id!(
    /// An identity pool id, `<region>:<uuid>` (model shape `IdentityPoolId`).
    IdentityPoolId,
    "identity pool id",
    is_region_uuid
);

text_id!(
    /// An identity id, `<region>:<uuid>` (model shape `IdentityId`).
    IdentityId,
    "identity id",
    is_region_uuid
);

text_id!(
    /// A provider name: a key of a Logins map or a pool's developer
    /// provider (model shapes `IdentityProviderName`, 1–128 characters, and
    /// `DeveloperProviderName`, which the validator narrows further).
    ProviderName,
    "provider name",
    |text| is_text_of_length(text, 128)
);

text_id!(
    /// A developer user identifier (model shape `DeveloperUserIdentifier`,
    /// 1–1024 characters): stored as given, as LookupDeveloperIdentity
    /// returns it.
    DeveloperUserIdentifier,
    "developer user identifier",
    |text| is_text_of_length(text, 1024)
);

/// The ARN of an identity pool.
pub fn pool_arn(region: &Region, account: &AccountId, pool_id: &IdentityPoolId) -> String {
    format!("arn:aws:cognito-identity:{region}:{account}:identitypool/{pool_id}")
}

/// The parts of an identity-pool ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolArn {
    /// Region field of the ARN.
    pub region: String,
    /// Account field of the ARN.
    pub account: String,
    /// The text after `identitypool/` (not necessarily a valid pool id).
    pub pool_id: String,
}

impl PoolArn {
    /// Parse `arn:<partition>:cognito-identity:<region>:<account>:identitypool/<id>`.
    pub fn parse(arn: &str) -> Option<PoolArn> {
        let mut parts = arn.splitn(6, ':');
        let (arn_kw, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if arn_kw != "arn" || partition.is_empty() || service != "cognito-identity" {
            return None;
        }
        let pool_id = resource.strip_prefix("identitypool/")?;
        if pool_id.is_empty() {
            return None;
        }
        Some(PoolArn {
            region: region.to_owned(),
            account: account.to_owned(),
            pool_id: pool_id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_id_is_the_region_a_colon_and_a_uuid() {
        let region = Region::parse("eu-west-1").unwrap();
        let id = region.new_identity_id();
        let (r, u) = id.as_str().split_once(':').unwrap();
        assert_eq!(r, "eu-west-1");
        assert!(uuid::Uuid::parse_str(u).is_ok());
        let pool = region.new_pool_id();
        assert!(IdentityPoolId::try_from(pool.as_str()).is_ok());
    }

    #[test]
    fn pool_and_identity_ids_follow_the_models_pattern_and_length() {
        for ok in [
            "us-east-1:0f-a9",
            "a:0",
            "x_Y-9:abcdef",
            &format!("r:{}", "a".repeat(53)),
        ] {
            assert!(IdentityId::try_from(ok).is_ok(), "{ok}");
            assert!(IdentityPoolId::try_from(ok).is_ok(), "{ok}");
        }
        let too_long = format!("r:{}", "a".repeat(54));
        for bad in [
            "",
            "us-east-1",
            ":abc",
            "us-east-1:",
            "us-east-1:ABC",
            "us-east-1:xyz",
            "us east:abc",
            "a:b:c",
            "é:abc",
            too_long.as_str(),
        ] {
            assert!(IdentityId::try_from(bad).is_err(), "{bad}");
            assert!(IdentityPoolId::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn provider_names_and_user_identifiers_are_bounded_by_characters_not_bytes() {
        assert!(ProviderName::try_from("accounts.google.com").is_ok());
        assert!(ProviderName::try_from("é".repeat(128)).is_ok());
        assert!(ProviderName::try_from("a".repeat(129)).is_err());
        assert!(ProviderName::try_from("").is_err());
        assert!(DeveloperUserIdentifier::try_from("ü".repeat(1024)).is_ok());
        assert!(DeveloperUserIdentifier::try_from("a".repeat(1025)).is_err());
        assert!(DeveloperUserIdentifier::try_from("").is_err());
    }

    #[test]
    fn ids_read_through_serde_are_checked_and_written_as_plain_strings() {
        let id: IdentityId = serde_json::from_str("\"us-east-1:abc\"").unwrap();
        assert_eq!(id, "us-east-1:abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"us-east-1:abc\"");
        let err = serde_json::from_str::<IdentityPoolId>("\"nope\"").unwrap_err();
        assert!(
            err.to_string().contains("not a valid identity pool id"),
            "{err}"
        );
    }

    #[test]
    fn a_pool_arn_round_trips_through_the_parser() {
        let region = Region::parse("us-east-1").unwrap();
        let account = AccountId::parse("123456789012").unwrap();
        let pool_id = IdentityPoolId::try_from("us-east-1:abc").unwrap();
        let arn = pool_arn(&region, &account, &pool_id);
        let parsed = PoolArn::parse(&arn).unwrap();
        assert_eq!(parsed.account, "123456789012");
        assert_eq!(parsed.pool_id, pool_id.as_str());
        assert_eq!(parsed.region, "us-east-1");
    }

    #[test]
    fn arns_of_other_services_or_resources_are_not_pool_arns() {
        assert!(PoolArn::parse("arn:aws:iam::123456789012:role/x").is_none());
        assert!(PoolArn::parse("arn:aws:cognito-identity:us-east-1:1:userpool/x").is_none());
        assert!(PoolArn::parse("arn:aws:cognito-identity:us-east-1:1:identitypool/").is_none());
        assert!(PoolArn::parse("not an arn").is_none());
    }

    #[test]
    fn account_ids_are_digits_only() {
        assert!(AccountId::parse("000000000000").is_ok());
        assert!(AccountId::parse("12a").is_err());
        assert!(AccountId::parse("").is_err());
    }
}
