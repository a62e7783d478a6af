//! Model-driven request validation, the way AWS's (Coral) request validator
//! answers JSON 1.1 requests.
//!
//! The Cognito Identity service model (`model/cognito-identity-2014-06-30.service.json`,
//! a verbatim copy of the AWS model) is embedded in the binary, parsed once
//! ([`Model::embedded`]) and every `pattern` in it is compiled at load time.
//! [`Model::validate`] then checks a parsed JSON request body against the
//! operation's input shape in two classes:
//!
//! * **Type mismatches** ([`RequestError::Serialization`], answered as
//!   `SerializationException`). Coral deserialises the whole body before it
//!   validates anything, so one type mismatch anywhere wins over every
//!   constraint violation. The texts are Coral's (observed against real
//!   DynamoDB by the `dynalite` test-suite, `test/helpers.js` and
//!   `validations/index.js`):
//!   - string expected: `class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String`
//!     (number), `class java.lang.Boolean can not be converted to an String` (boolean);
//!   - integer / long expected: `class java.lang.String can not be converted to an Integer`
//!     (`an Long`), `class java.lang.Boolean can not be converted to an Integer`;
//!   - boolean expected: `class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an Boolean`,
//!     `'<text>' can not be converted to an Boolean`;
//!   - any scalar expected, array / object given: `Start of list found where not expected`,
//!     `Start of structure or map found where not expected.`;
//!   - list expected, scalar given: `Expected list or null`; map expected: `Expected map or null`;
//!     structure expected (this includes a body that is not a JSON object): `Expected null`.
//!
//!   Two deliberate departures from Coral, because the handlers deserialise the
//!   body strictly after validation: Coral truncates a fractional number given
//!   for an integer (`5.7` → `5`) and accepts the strings `true`/`false`/`yes`/
//!   `no`/`1`/`0` for a boolean; here both are type mismatches
//!   (`class java.lang.Double can not be converted to an Integer`,
//!   `'yes' can not be converted to an Boolean`). A number with an exponent
//!   but no fraction (`1e2`) counts as an integer.
//!
//! * **Constraint violations** ([`RequestError::Validation`], answered as
//!   `ValidationException`), collected in document order and reported in one
//!   message: `1 validation error detected: <v>` or
//!   `N validation errors detected: <v1>; <v2>; ...`. Like Coral, at most ten
//!   violations are listed and `N` is the number listed (dynalite's suite,
//!   checked against DynamoDB, expects `10 validation errors detected:` for a
//!   request with 27 violations). Each violation reads
//!   `Value '<value>' at '<path>' failed to satisfy constraint: <constraint>`
//!   (e.g. hashicorp/terraform#22474, getmoto/moto#4415:
//!   `Value 'pool#name' at 'identityPoolName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w\s+=,.@-]+`).
//!   A missing required member reads `Value null at '<path>' failed to satisfy constraint: Member must not be null`
//!   (amazon-archives/amazon-cognito-auth-js#65).
//!
//! Walk order: structure members in the model's member order; for each
//! member: `must not be null` when required and absent (a JSON `null` counts
//! as absent; unknown members are ignored), else its own constraints, then
//! its children. A list: its length, then each member. A map: its number of
//! entries, then the key constraints, then the value constraints (both
//! aggregated, see below), then entry by entry (`null` values, structure and
//! collection values) in the order serde_json yields the keys (sorted, since
//! the workspace does not enable `preserve_order`). A list element or map
//! value that is JSON `null` is reported as `Value null at '<path>' ... Member must not be null`
//! (our choice; Coral's behaviour there is not documented anywhere we found).
//!
//! Constraint texts, one value can break several (length before pattern):
//! `Member must have length less than or equal to N`,
//! `Member must have length greater than or equal to N` (strings count
//! Unicode code points; lists and maps count elements / entries),
//! `Member must satisfy regular expression pattern: <pattern as written in the model>`,
//! `Member must have value less than or equal to N`,
//! `Member must have value greater than or equal to N`,
//! `Member must satisfy enum value set: [A, B]`.
//!
//! Paths: the member name with its first letter lower-cased
//! (`identityPoolId`, `sAMLProviderARNs`), nested structure members joined
//! with `.`, list elements as `<list>.<1-based index>.member`, map values as
//! `<map>.<key>.member` (e.g. `roleMappings.graph.facebook.com.member.type`;
//! AWS CodePipeline answers `pipeline.stages.2.member.actions.1.member.configuration`,
//! hashicorp/terraform-provider-aws#41023).
//!
//! Scalar map keys and values are not reported one by one: when any key (or
//! any value) breaks its shape's constraints, one violation is reported on
//! the map itself, listing *every* constraint of the key (value) shape in
//! the order max length, min length, pattern, max value, min value, enum:
//! `Value '{admin=arn:...}' at 'roles' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: (un)?authenticated]`.
//! Evidence: AWS lists the whole set even when one constraint failed
//! (QuickSight, boto/boto3#2601: `Map keys must satisfy constraint: [Member must have length less than or equal to 64, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9a-zA-Z-]*]`
//! for a key that only broke the pattern; CodePipeline,
//! awslabs/aws-service-catalog-factory#279: `Map value must satisfy constraint: [Member must have length less than or equal to 1000, Member must have length greater than or equal to 1]`
//! for a too long value). Cognito itself answered
//! `Map keys must satisfy constraint: [Member must satisfy regular expression pattern: (un)?authenticated]`
//! in 2019 (hashicorp/terraform#20076), when `RoleType` had no length
//! constraints in the model; the current model gives it `min 1, max 128`.
//! A map reports each of the two aggregated violations at most once.
//!
//! Values are rendered Java-`toString`-like: strings as given, numbers as
//! digits, booleans as `true`/`false`, lists as `[a, b]`, maps as
//! `{k=v, k2=v2}`, structures as `{Member=value, ...}` (present model members
//! only). A rendering longer than 256 characters is cut there and ends with
//! `...`; map keys used in paths are cut the same way, so a huge input cannot
//! make a huge message.
//!
//! Sensitive shapes (`"sensitive": true`: `IdentityProviderToken`,
//! `OIDCToken`, `SecretKeyString`) are never echoed. A violation *on* a
//! sensitive value omits the value the way AWS does (`Value at '<path>' failed to satisfy constraint: ...`,
//! as answered for sensitive members by Cognito user pools, massif-press/compcon#1951,
//! OpenSearch, ministryofjustice/cloud-platform-infrastructure#4097, and Lambda,
//! trek10inc/serverless-secrets#39); a sensitive value *inside* a rendered list, map or
//! structure (the tokens of a `Logins` map) is rendered as `***`.
//!
//! Patterns are Java regular expressions. They are anchored as
//! `^(?:pattern)$` and `\w \W \d \D \s \S` are rewritten to their ASCII POSIX
//! equivalents, because Java's classes are ASCII-only while the Rust regex
//! crate's are Unicode: `[\w\s+=,.@-]+` rejects `café` on AWS and here.
//! `\p{L}` and the other Unicode property classes mean the same in both.
//!
//! # Layout
//! - `model` — the embedded model, loaded once: operations, shapes, and
//!   their patterns translated from Java regular expressions.
//! - `walk` — [`Model::validate`]: the type checks and the constraint
//!   checks, in Coral's order, with their paths and texts.
//! - `render` — values as violation messages show them, bounded in length;
//!   a leaf that `walk` uses (it imports only `model`).

use std::fmt;

mod model;
mod record;
mod render;
mod walk;

pub use model::Model;
pub use record::{Side, HIDDEN};

/// Why a request body was refused before reaching its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// A JSON type mismatch (string where an integer is expected, body not an object, ...): AWS answers SerializationException.
    Serialization(String),
    /// Constraint violations: AWS answers ValidationException with this exact message.
    Validation(String),
}

impl RequestError {
    /// The AWS error code this error is answered with.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::Serialization(_) => "SerializationException",
            RequestError::Validation(_) => "ValidationException",
        }
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        match self {
            RequestError::Serialization(message) | RequestError::Validation(message) => message,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for RequestError {}

#[cfg(test)]
mod tests;
