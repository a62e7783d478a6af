//! Identifiers: what they look like and how new ones are made.
//!
//! Pool and identity ids are `<region>:<uuid>`; the pool ARN is
//! `arn:aws:cognito-identity:<region>:<account>:identitypool/<pool id>`.
//! The request validator has already checked the model's patterns, so the
//! parsers here only check what the model cannot express.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The AWS account an access key belongs to; every pool belongs to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(String);

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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region(String);

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

    /// A fresh `<region>:<uuid v4>` id, the form of pool and identity ids.
    pub fn new_id(&self) -> String {
        format!("{}:{}", self.0, uuid::Uuid::new_v4())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ARN of an identity pool.
pub fn pool_arn(region: &Region, account: &AccountId, pool_id: &str) -> String {
    format!("arn:aws:cognito-identity:{region}:{account}:identitypool/{pool_id}")
}

/// The parts of an identity-pool ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolArn {
    /// Region field of the ARN.
    pub region: String,
    /// Account field of the ARN.
    pub account: String,
    /// The pool id after `identitypool/`.
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
        let id = region.new_id();
        let (r, u) = id.split_once(':').unwrap();
        assert_eq!(r, "eu-west-1");
        assert!(uuid::Uuid::parse_str(u).is_ok());
    }

    #[test]
    fn a_pool_arn_round_trips_through_the_parser() {
        let region = Region::parse("us-east-1").unwrap();
        let account = AccountId::parse("123456789012").unwrap();
        let arn = pool_arn(&region, &account, "us-east-1:abc");
        let parsed = PoolArn::parse(&arn).unwrap();
        assert_eq!(parsed.account, "123456789012");
        assert_eq!(parsed.pool_id, "us-east-1:abc");
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
