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

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// The AWS service model, embedded so the product builds on its own.
const MODEL_JSON: &str = include_str!("../model/cognito-identity-2014-06-30.service.json");

/// Coral lists at most this many violations.
const MAX_REPORTED: usize = 10;

/// A rendered value (or a map key in a path) is cut after this many characters.
const MAX_RENDERED_CHARS: usize = 256;

const STRUCTURE_NOT_EXPECTED: &str = "Start of structure or map found where not expected.";
const LIST_NOT_EXPECTED: &str = "Start of list found where not expected";
const NUMBER_CLASS: &str = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber";

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

/// The service model: operations and the shapes their inputs are made of.
#[derive(Debug)]
pub struct Model {
    operations: HashMap<String, Operation>,
    shapes: HashMap<String, Shape>,
}

#[derive(Debug)]
struct Operation {
    input: Option<String>,
    unsigned: bool,
}

#[derive(Debug)]
struct Shape {
    kind: Kind,
    min: Option<i64>,
    max: Option<i64>,
    pattern: Option<Pattern>,
    enum_values: Option<Vec<String>>,
    sensitive: bool,
}

#[derive(Debug)]
struct Pattern {
    /// As written in the model; this is what messages quote.
    source: String,
    regex: Regex,
}

#[derive(Debug)]
enum Kind {
    Structure(Vec<Member>),
    List { member: String },
    Map { key: String, value: String },
    String,
    Integer,
    Long,
    Float,
    Boolean,
    Timestamp,
    Blob,
}

#[derive(Debug)]
struct Member {
    /// The wire name (the JSON key).
    name: String,
    /// The name as it appears in violation paths: first letter lower-cased.
    path: String,
    shape: String,
    required: bool,
}

impl Kind {
    fn is_scalar(&self) -> bool {
        !matches!(
            self,
            Kind::Structure(_) | Kind::List { .. } | Kind::Map { .. }
        )
    }
}

impl Model {
    /// The embedded Cognito Identity model, parsed once.
    pub fn embedded() -> &'static Model {
        static MODEL: LazyLock<Model> = LazyLock::new(|| {
            Model::from_json(MODEL_JSON)
                .unwrap_or_else(|error| panic!("the embedded service model is invalid: {error}"))
        });
        &MODEL
    }

    /// The operation names (e.g. "CreateIdentityPool"), for dispatch.
    pub fn has_operation(&self, name: &str) -> bool {
        self.operations.contains_key(name)
    }

    /// Every operation name, in no particular order.
    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    /// True for operations whose model entry has "authtype": "none" (GetId, GetCredentialsForIdentity, GetOpenIdToken, UnlinkIdentity).
    pub fn is_unsigned(&self, name: &str) -> bool {
        self.operations
            .get(name)
            .is_some_and(|operation| operation.unsigned)
    }

    /// Validate a parsed JSON request body against the operation's input shape.
    ///
    /// A JSON `null` body counts as `{}`. An operation the model does not know
    /// is answered with a `Serialization` error; dispatch should have refused
    /// it before (`has_operation`).
    pub fn validate(&self, operation: &str, input: &Value) -> Result<(), RequestError> {
        let Some(operation) = self.operations.get(operation) else {
            return Err(RequestError::Serialization(format!(
                "Unknown operation {}",
                cut(operation)
            )));
        };
        let Some(input_shape) = operation.input.as_deref() else {
            return Ok(());
        };
        let empty = Value::Object(Map::new());
        let input = if input.is_null() { &empty } else { input };
        let mut walk = Walk {
            model: self,
            violations: Vec::new(),
        };
        walk.value(self.shape(input_shape), input, "")?;
        if walk.violations.is_empty() {
            return Ok(());
        }
        let count = walk.violations.len();
        let plural = if count == 1 { "" } else { "s" };
        Err(RequestError::Validation(format!(
            "{count} validation error{plural} detected: {}",
            walk.violations.join("; ")
        )))
    }

    fn shape(&self, name: &str) -> &Shape {
        // Every reference was resolved when the model was loaded.
        &self.shapes[name]
    }

    fn from_json(text: &str) -> Result<Model, String> {
        let raw: RawModel = serde_json::from_str(text).map_err(|error| error.to_string())?;
        let mut shapes = HashMap::new();
        for (name, raw_shape) in raw.shapes.0 {
            let shape = Shape::from_raw(&name, raw_shape)?;
            shapes.insert(name, shape);
        }
        let operations = raw
            .operations
            .0
            .into_iter()
            .map(|(name, raw_operation)| {
                let operation = Operation {
                    input: raw_operation.input.map(|input| input.shape),
                    unsigned: raw_operation.authtype.as_deref() == Some("none"),
                };
                (name, operation)
            })
            .collect::<HashMap<_, _>>();
        let model = Model { operations, shapes };
        model.check_references()?;
        Ok(model)
    }

    fn check_references(&self) -> Result<(), String> {
        let known = |from: &str, to: &str| {
            if self.shapes.contains_key(to) {
                Ok(())
            } else {
                Err(format!("{from} refers to the unknown shape {to}"))
            }
        };
        for (name, operation) in &self.operations {
            if let Some(input) = &operation.input {
                known(name, input)?;
            }
        }
        for (name, shape) in &self.shapes {
            match &shape.kind {
                Kind::Structure(members) => {
                    for member in members {
                        known(name, &member.shape)?;
                    }
                }
                Kind::List { member } => known(name, member)?,
                Kind::Map { key, value } => {
                    known(name, key)?;
                    known(name, value)?;
                    if !matches!(self.shapes[key].kind, Kind::String) {
                        return Err(format!("the map {name} has keys that are not strings"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Shape {
    fn from_raw(name: &str, raw: RawShape) -> Result<Shape, String> {
        let reference = |field: Option<RawRef>, what: &str| {
            field
                .map(|r| r.shape)
                .ok_or_else(|| format!("the shape {name} has no {what}"))
        };
        let kind = match raw.kind.as_str() {
            "structure" => {
                let required = raw.required.unwrap_or_default();
                let members = raw.members.map(|members| members.0).unwrap_or_default();
                if let Some(unknown) = required
                    .iter()
                    .find(|r| !members.iter().any(|(member, _)| member == *r))
                {
                    return Err(format!(
                        "the shape {name} requires the unknown member {unknown}"
                    ));
                }
                Kind::Structure(
                    members
                        .into_iter()
                        .map(|(member, target)| Member {
                            path: lower_first(&member),
                            required: required.contains(&member),
                            name: member,
                            shape: target.shape,
                        })
                        .collect(),
                )
            }
            "list" => Kind::List {
                member: reference(raw.member, "member")?,
            },
            "map" => Kind::Map {
                key: reference(raw.key, "key")?,
                value: reference(raw.value, "value")?,
            },
            "string" => Kind::String,
            "integer" | "short" | "byte" => Kind::Integer,
            "long" => Kind::Long,
            "float" | "double" | "bigdecimal" => Kind::Float,
            "boolean" => Kind::Boolean,
            "timestamp" => Kind::Timestamp,
            "blob" => Kind::Blob,
            other => return Err(format!("the shape {name} has the unknown type {other}")),
        };
        let pattern = match raw.pattern {
            Some(source) => {
                let regex = Regex::new(&format!("^(?:{})$", java_to_rust_regex(&source)))
                    .map_err(|error| format!("the pattern of {name} does not compile: {error}"))?;
                Some(Pattern { source, regex })
            }
            None => None,
        };
        Ok(Shape {
            kind,
            min: raw.min,
            max: raw.max,
            pattern,
            enum_values: raw.enum_values,
            sensitive: raw.sensitive,
        })
    }

    /// The constraints `value` (already type-checked) breaks, in Coral's order.
    fn violated(&self, value: &Value) -> Vec<String> {
        match (&self.kind, value) {
            (Kind::String, Value::String(text)) => self.string_violations(text),
            (Kind::Blob, Value::String(text)) => {
                let padding = text.bytes().rev().take_while(|b| *b == b'=').count();
                let decoded = (text.len() / 4 * 3).saturating_sub(padding);
                self.length_violations(decoded)
            }
            (Kind::Integer | Kind::Long | Kind::Float | Kind::Timestamp, Value::Number(number)) => {
                self.range_violations(number)
            }
            _ => Vec::new(),
        }
    }

    /// Length (in code points), then pattern, then enum.
    fn string_violations(&self, text: &str) -> Vec<String> {
        let mut broken = self.length_violations(text.chars().count());
        if let Some(pattern) = &self.pattern {
            if !pattern.regex.is_match(text) {
                broken.push(pattern_text(pattern));
            }
        }
        if let Some(values) = &self.enum_values {
            if !values.iter().any(|allowed| allowed == text) {
                broken.push(enum_text(values));
            }
        }
        broken
    }

    fn range_violations(&self, number: &Number) -> Vec<String> {
        // Exact for integers; fractional (and huge) numbers compare as f64.
        let exact = number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from));
        let float = number.as_f64().unwrap_or(f64::NAN);
        let above = |bound: i64| match exact {
            Some(n) => n > i128::from(bound),
            None => float > bound as f64,
        };
        let below = |bound: i64| match exact {
            Some(n) => n < i128::from(bound),
            None => float < bound as f64,
        };
        let mut broken = Vec::new();
        if let Some(max) = self.max.filter(|max| above(*max)) {
            broken.push(format!(
                "Member must have value less than or equal to {max}"
            ));
        }
        if let Some(min) = self.min.filter(|min| below(*min)) {
            broken.push(format!(
                "Member must have value greater than or equal to {min}"
            ));
        }
        broken
    }

    /// For strings, blobs, lists and maps: max, then min.
    fn length_violations(&self, length: usize) -> Vec<String> {
        let length = i64::try_from(length).unwrap_or(i64::MAX);
        let mut broken = Vec::new();
        if let Some(max) = self.max.filter(|max| length > *max) {
            broken.push(format!(
                "Member must have length less than or equal to {max}"
            ));
        }
        if let Some(min) = self.min.filter(|min| length < *min) {
            broken.push(format!(
                "Member must have length greater than or equal to {min}"
            ));
        }
        broken
    }

    /// Every constraint of a scalar shape, as listed in aggregated map violations.
    fn all_constraints(&self) -> Vec<String> {
        let mut all = Vec::new();
        let length = matches!(self.kind, Kind::String | Kind::Blob);
        if let Some(max) = self.max {
            all.push(if length {
                format!("Member must have length less than or equal to {max}")
            } else {
                format!("Member must have value less than or equal to {max}")
            });
        }
        if let Some(min) = self.min {
            all.push(if length {
                format!("Member must have length greater than or equal to {min}")
            } else {
                format!("Member must have value greater than or equal to {min}")
            });
        }
        if let Some(pattern) = &self.pattern {
            all.push(pattern_text(pattern));
        }
        if let Some(values) = &self.enum_values {
            all.push(enum_text(values));
        }
        all
    }
}

fn pattern_text(pattern: &Pattern) -> String {
    format!(
        "Member must satisfy regular expression pattern: {}",
        pattern.source
    )
}

fn enum_text(values: &[String]) -> String {
    format!(
        "Member must satisfy enum value set: [{}]",
        values.join(", ")
    )
}

/// One validation pass over a request body.
struct Walk<'m> {
    model: &'m Model,
    violations: Vec<String>,
}

impl Walk<'_> {
    /// Type-checks `value` against `shape` and collects its violations. Never
    /// called with JSON `null` (callers decide what an absent value means).
    fn value(&mut self, shape: &Shape, value: &Value, path: &str) -> Result<(), RequestError> {
        match &shape.kind {
            Kind::Structure(members) => {
                let object = match value {
                    Value::Object(object) => object,
                    Value::Array(_) => return Err(serialization(LIST_NOT_EXPECTED)),
                    _ => return Err(serialization("Expected null")),
                };
                for member in members {
                    let member_path = join(path, &member.path);
                    match object.get(&member.name).filter(|v| !v.is_null()) {
                        None if member.required => self.report_null(&member_path),
                        None => {}
                        Some(child) => {
                            self.value(self.model.shape(&member.shape), child, &member_path)?
                        }
                    }
                }
            }
            Kind::List { member } => {
                let elements = match value {
                    Value::Array(elements) => elements,
                    Value::Object(_) => return Err(serialization(STRUCTURE_NOT_EXPECTED)),
                    _ => return Err(serialization("Expected list or null")),
                };
                self.report_broken(shape, value, path, shape.length_violations(elements.len()));
                let member_shape = self.model.shape(member);
                for (index, element) in elements.iter().enumerate() {
                    let element_path = format!("{path}.{}.member", index + 1);
                    if element.is_null() {
                        self.report_null(&element_path);
                    } else {
                        self.value(member_shape, element, &element_path)?;
                    }
                }
            }
            Kind::Map {
                key,
                value: value_shape,
            } => {
                let entries = match value {
                    Value::Object(entries) => entries,
                    Value::Array(_) => return Err(serialization(LIST_NOT_EXPECTED)),
                    _ => return Err(serialization("Expected map or null")),
                };
                self.map(
                    shape,
                    self.model.shape(key),
                    self.model.shape(value_shape),
                    entries,
                    value,
                    path,
                )?;
            }
            _ => {
                check_scalar_type(shape, value)?;
                let broken = shape.violated(value);
                self.report_broken(shape, value, path, broken);
            }
        }
        Ok(())
    }

    fn map(
        &mut self,
        shape: &Shape,
        key_shape: &Shape,
        value_shape: &Shape,
        entries: &Map<String, Value>,
        value: &Value,
        path: &str,
    ) -> Result<(), RequestError> {
        self.report_broken(shape, value, path, shape.length_violations(entries.len()));

        let key_broken = entries
            .keys()
            .any(|key| !key_shape.string_violations(key).is_empty());
        if key_broken {
            let constraint = format!(
                "Map keys must satisfy constraint: [{}]",
                key_shape.all_constraints().join(", ")
            );
            self.report_broken(shape, value, path, vec![constraint]);
        }

        if value_shape.kind.is_scalar() {
            let mut value_broken = false;
            for entry in entries.values().filter(|v| !v.is_null()) {
                check_scalar_type(value_shape, entry)?;
                value_broken |= !value_shape.violated(entry).is_empty();
            }
            if value_broken {
                let constraint = format!(
                    "Map value must satisfy constraint: [{}]",
                    value_shape.all_constraints().join(", ")
                );
                self.report_broken(shape, value, path, vec![constraint]);
            }
        }

        for (key, entry) in entries {
            let key_text = if key_shape.sensitive {
                "***".to_owned()
            } else {
                cut(key)
            };
            let entry_path = format!("{path}.{key_text}.member");
            if entry.is_null() {
                self.report_null(&entry_path);
            } else if !value_shape.kind.is_scalar() {
                self.value(value_shape, entry, &entry_path)?;
            }
        }
        Ok(())
    }

    fn report_null(&mut self, path: &str) {
        if self.violations.len() < MAX_REPORTED {
            self.violations.push(format!(
                "Value null at '{path}' failed to satisfy constraint: Member must not be null"
            ));
        }
    }

    /// One violation per broken constraint; a sensitive value is not shown.
    fn report_broken(&mut self, shape: &Shape, value: &Value, path: &str, broken: Vec<String>) {
        if broken.is_empty() || self.violations.len() >= MAX_REPORTED {
            return;
        }
        let subject = if shape.sensitive {
            "Value".to_owned()
        } else {
            format!("Value '{}'", self.model.render(shape, value))
        };
        for constraint in broken {
            if self.violations.len() >= MAX_REPORTED {
                return;
            }
            self.violations.push(format!(
                "{subject} at '{path}' failed to satisfy constraint: {constraint}"
            ));
        }
    }
}

/// Coral's type check of a scalar (anything but structure, list and map).
fn check_scalar_type(shape: &Shape, value: &Value) -> Result<(), RequestError> {
    let target = match shape.kind {
        Kind::String => "an String",
        Kind::Integer => "an Integer",
        Kind::Long => "an Long",
        Kind::Float => "an Double",
        Kind::Boolean => "an Boolean",
        Kind::Timestamp => "a Date",
        Kind::Blob => "a Blob",
        Kind::Structure(_) | Kind::List { .. } | Kind::Map { .. } => return Ok(()),
    };
    let mismatch = |class: &str| {
        Err(serialization(&format!(
            "{class} can not be converted to {target}"
        )))
    };
    match (&shape.kind, value) {
        (_, Value::Array(_)) => Err(serialization(LIST_NOT_EXPECTED)),
        (_, Value::Object(_)) => Err(serialization(STRUCTURE_NOT_EXPECTED)),
        (_, Value::Null) => Ok(()),
        (Kind::String, Value::String(_))
        | (Kind::Boolean, Value::Bool(_))
        | (Kind::Float | Kind::Timestamp, Value::Number(_)) => Ok(()),
        (Kind::Integer | Kind::Long, Value::Number(number)) => {
            if is_integral(number) {
                Ok(())
            } else {
                mismatch("class java.lang.Double")
            }
        }
        (Kind::Blob, Value::String(text)) => check_base64(text),
        (Kind::Boolean, Value::String(text)) => {
            let shown = if shape.sensitive {
                "***".to_owned()
            } else {
                cut(text)
            };
            mismatch(&format!("'{shown}'"))
        }
        (_, Value::String(_)) => mismatch("class java.lang.String"),
        (_, Value::Bool(_)) => mismatch("class java.lang.Boolean"),
        (_, Value::Number(_)) => mismatch(NUMBER_CLASS),
    }
}

/// A number as digits: `1e2` reads `100`; only a fractional number keeps
/// its exponent form.
fn number_text(number: &Number) -> String {
    match number.as_f64() {
        Some(float)
            if !(number.is_i64() || number.is_u64())
                && float.is_finite()
                && float.fract() == 0.0 =>
        {
            format!("{float:.0}")
        }
        _ => number.to_string(),
    }
}

fn is_integral(number: &Number) -> bool {
    number.is_i64()
        || number.is_u64()
        || number
            .as_f64()
            .is_some_and(|float| float.is_finite() && float.fract() == 0.0)
}

fn check_base64(text: &str) -> Result<(), RequestError> {
    let length = text.len();
    if length & 3 != 0 {
        // Not a multiple of 4 (`is_multiple_of` is newer than the MSRV).
        return Err(serialization(&format!(
            "'{}' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: {length}",
            cut(text)
        )));
    }
    let body = text.trim_end_matches('=');
    if length - body.len() > 2 {
        return Err(serialization(&format!(
            "'{}' can not be converted to a Blob: Invalid Base64 character: '='",
            cut(text)
        )));
    }
    if let Some(bad) = body
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '+' || *c == '/'))
    {
        return Err(serialization(&format!(
            "'{}' can not be converted to a Blob: Invalid Base64 character: '{bad}'",
            cut(text)
        )));
    }
    Ok(())
}

fn serialization(message: &str) -> RequestError {
    RequestError::Serialization(message.to_owned())
}

/// Rendering of values in violation messages, bounded in length.
impl Model {
    fn render(&self, shape: &Shape, value: &Value) -> String {
        let mut out = Bounded::default();
        self.render_into(shape, value, &mut out);
        out.finish()
    }

    fn render_into(&self, shape: &Shape, value: &Value, out: &mut Bounded) {
        if out.full() {
            return;
        }
        if shape.sensitive {
            out.push("***");
            return;
        }
        match (&shape.kind, value) {
            (_, Value::Null) => out.push("null"),
            (_, Value::String(text)) if shape.kind.is_scalar() => out.push(text),
            (_, Value::Number(number)) if shape.kind.is_scalar() => out.push(&number_text(number)),
            (_, Value::Bool(flag)) if shape.kind.is_scalar() => {
                out.push(if *flag { "true" } else { "false" })
            }
            (Kind::List { member }, Value::Array(elements)) => {
                let member = self.shape(member);
                out.push("[");
                for (index, element) in elements.iter().enumerate() {
                    if out.full() {
                        return;
                    }
                    if index > 0 {
                        out.push(", ");
                    }
                    self.render_into(member, element, out);
                }
                out.push("]");
            }
            (Kind::Map { key, value }, Value::Object(entries)) => {
                let (key, value) = (self.shape(key), self.shape(value));
                out.push("{");
                for (index, (name, entry)) in entries.iter().enumerate() {
                    if out.full() {
                        return;
                    }
                    if index > 0 {
                        out.push(", ");
                    }
                    out.push(if key.sensitive { "***" } else { name });
                    out.push("=");
                    self.render_into(value, entry, out);
                }
                out.push("}");
            }
            (Kind::Structure(members), Value::Object(fields)) => {
                out.push("{");
                let present = members
                    .iter()
                    .filter_map(|m| fields.get(&m.name).filter(|v| !v.is_null()).map(|v| (m, v)));
                for (index, (member, field)) in present.enumerate() {
                    if out.full() {
                        return;
                    }
                    if index > 0 {
                        out.push(", ");
                    }
                    out.push(&member.name);
                    out.push("=");
                    self.render_into(self.shape(&member.shape), field, out);
                }
                out.push("}");
            }
            // A type mismatch: the walk answers SerializationException before
            // this rendering can reach a message, so show nothing of it.
            _ => out.push("***"),
        }
    }
}

/// A string that stops growing after [`MAX_RENDERED_CHARS`] characters.
#[derive(Default)]
struct Bounded {
    text: String,
    chars: usize,
    truncated: bool,
}

impl Bounded {
    fn full(&self) -> bool {
        self.truncated
    }

    fn push(&mut self, piece: &str) {
        if self.truncated {
            return;
        }
        for c in piece.chars() {
            if self.chars == MAX_RENDERED_CHARS {
                self.truncated = true;
                return;
            }
            self.text.push(c);
            self.chars += 1;
        }
    }

    fn finish(mut self) -> String {
        if self.truncated {
            self.text.push_str("...");
        }
        self.text
    }
}

/// `text`, cut like a rendered value.
fn cut(text: &str) -> String {
    let mut out = Bounded::default();
    out.push(text);
    out.finish()
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Rewrites Java's ASCII-only shorthand classes (`\w \W \d \D \s \S`) to the
/// ASCII POSIX classes of the Rust regex crate, inside and outside brackets.
/// Everything else (`\p{L}`, escapes, groups) means the same in both.
fn java_to_rust_regex(java: &str) -> String {
    let mut out = String::with_capacity(java.len() + 16);
    let mut depth = 0usize;
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(escaped) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let posix = match escaped {
                    'w' => Some("[:word:]"),
                    'W' => Some("[:^word:]"),
                    'd' => Some("[:digit:]"),
                    'D' => Some("[:^digit:]"),
                    's' => Some("[:space:]"),
                    'S' => Some("[:^space:]"),
                    _ => None,
                };
                match posix {
                    Some(class) if depth > 0 => out.push_str(class),
                    Some(class) => {
                        out.push('[');
                        out.push_str(class);
                        out.push(']');
                    }
                    None => {
                        out.push('\\');
                        out.push(escaped);
                    }
                }
            }
            '[' => {
                depth += 1;
                out.push('[');
                // A `]` right after `[` or `[^` is a literal in Java and Rust alike.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if depth > 0 => {
                depth -= 1;
                out.push(']');
            }
            other => out.push(other),
        }
    }
    out
}

// --- The raw model, as it is on disk -------------------------------------

#[derive(Deserialize)]
struct RawModel {
    operations: Ordered<RawOperation>,
    shapes: Ordered<RawShape>,
}

#[derive(Deserialize)]
struct RawOperation {
    input: Option<RawRef>,
    authtype: Option<String>,
}

#[derive(Deserialize)]
struct RawRef {
    shape: String,
}

#[derive(Deserialize)]
struct RawShape {
    #[serde(rename = "type")]
    kind: String,
    members: Option<Ordered<RawRef>>,
    required: Option<Vec<String>>,
    member: Option<RawRef>,
    key: Option<RawRef>,
    value: Option<RawRef>,
    min: Option<i64>,
    max: Option<i64>,
    pattern: Option<String>,
    #[serde(rename = "enum")]
    enum_values: Option<Vec<String>>,
    #[serde(default)]
    sensitive: bool,
}

/// A JSON object read with its keys in document order (serde_json's `Map`
/// sorts them unless `preserve_order` is on; structure members must keep the
/// model's order).
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = access.next_entry::<String, T>()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }

        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model() -> &'static Model {
        Model::embedded()
    }

    fn validation(operation: &str, input: Value) -> String {
        match model().validate(operation, &input) {
            Err(RequestError::Validation(message)) => message,
            other => panic!("expected a ValidationException for {input}, got {other:?}"),
        }
    }

    fn serialization_of(operation: &str, input: Value) -> String {
        match model().validate(operation, &input) {
            Err(RequestError::Serialization(message)) => message,
            other => panic!("expected a SerializationException for {input}, got {other:?}"),
        }
    }

    fn ok(operation: &str, input: Value) {
        assert_eq!(
            model().validate(operation, &input),
            Ok(()),
            "{operation} {input}"
        );
    }

    const POOL: &str = "us-east-1:0c9ddd5d-0d0c-4d8e-a7a4-5c6e0b3c2a11";
    const IDENTITY: &str = "us-east-1:5e3b4e1e-25a4-4c5f-a1b9-7f0f0f1a2b3c";
    const ROLE: &str = "arn:aws:iam::123456789012:role/Cognito_Auth";

    #[test]
    fn the_embedded_model_knows_all_twenty_three_operations() {
        let model = model();
        assert_eq!(model.operations.len(), 23);
        for name in [
            "CreateIdentityPool",
            "GetId",
            "UpdateIdentityPool",
            "UntagResource",
        ] {
            assert!(model.has_operation(name), "{name}");
        }
        assert!(!model.has_operation("AssumeRoleWithWebIdentity"));
        assert!(!model.has_operation("createIdentityPool"));
    }

    #[test]
    fn exactly_the_four_public_operations_are_unsigned() {
        let model = model();
        let mut unsigned: Vec<&str> = model
            .operations
            .keys()
            .map(String::as_str)
            .filter(|name| model.is_unsigned(name))
            .collect();
        unsigned.sort_unstable();
        assert_eq!(
            unsigned,
            [
                "GetCredentialsForIdentity",
                "GetId",
                "GetOpenIdToken",
                "UnlinkIdentity"
            ]
        );
        assert!(!model.is_unsigned("NoSuchOperation"));
    }

    #[test]
    fn every_pattern_in_the_model_compiles_anchored() {
        let patterns: Vec<&Pattern> = model()
            .shapes
            .values()
            .filter_map(|shape| shape.pattern.as_ref())
            .collect();
        assert_eq!(patterns.len(), 11);
        for pattern in patterns {
            assert!(
                pattern.regex.as_str().starts_with("^(?:"),
                "{}",
                pattern.source
            );
            assert!(pattern.regex.as_str().ends_with(")$"), "{}", pattern.source);
            // The raw Java text is valid Rust regex syntax too.
            assert!(Regex::new(&pattern.source).is_ok(), "{}", pattern.source);
        }
    }

    #[test]
    fn patterns_match_the_whole_value_only() {
        let pool_id = model().shape("IdentityPoolId").pattern.as_ref().unwrap();
        assert!(pool_id.regex.is_match(POOL));
        assert!(!pool_id.regex.is_match(&format!("x{POOL} ")));
        let role = model().shape("RoleType").pattern.as_ref().unwrap();
        assert!(role.regex.is_match("authenticated"));
        assert!(role.regex.is_match("unauthenticated"));
        assert!(!role.regex.is_match("preauthenticated"));
    }

    #[test]
    fn shorthand_classes_are_ascii_only_as_in_java() {
        let name = model().shape("IdentityPoolName").pattern.as_ref().unwrap();
        assert!(name.regex.is_match("My pool_1 +=,.@-"));
        assert!(!name.regex.is_match("café"));
        assert!(!name.regex.is_match("pool\u{a0}name"));
        let token = model().shape("PaginationKey").pattern.as_ref().unwrap();
        assert!(token.regex.is_match("é日本"));
        assert!(!token.regex.is_match("a b"));
        let claim = model().shape("ClaimName").pattern.as_ref().unwrap();
        assert!(claim.regex.is_match("cognito:groups日本"));
        assert_eq!(
            java_to_rust_regex(r"[\w-]+:\d+\S"),
            r"[[:word:]-]+:[[:digit:]]+[[:^space:]]"
        );
        assert_eq!(java_to_rust_regex(r"[\]\w]\.\p{L}"), r"[\][:word:]]\.\p{L}");
    }

    #[test]
    fn a_missing_required_member_is_reported_as_must_not_be_null() {
        assert_eq!(
            validation("DescribeIdentityPool", json!({})),
            "1 validation error detected: Value null at 'identityPoolId' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn a_json_null_member_is_treated_as_absent() {
        assert_eq!(
            validation("DescribeIdentityPool", json!({"IdentityPoolId": null})),
            "1 validation error detected: Value null at 'identityPoolId' failed to satisfy constraint: Member must not be null"
        );
        ok(
            "ListIdentityPools",
            json!({"MaxResults": 10, "NextToken": null}),
        );
    }

    #[test]
    fn a_null_body_counts_as_an_empty_object() {
        assert_eq!(
            model().validate("ListIdentityPools", &Value::Null),
            Err(RequestError::Validation(
                "1 validation error detected: Value null at 'maxResults' failed to satisfy constraint: Member must not be null".into()
            ))
        );
    }

    #[test]
    fn unknown_members_are_ignored() {
        ok(
            "DescribeIdentityPool",
            json!({"IdentityPoolId": POOL, "Bogus": {"deep": [1, "x"]}, "identityPoolId": 7}),
        );
    }

    #[test]
    fn a_string_longer_than_its_maximum_is_reported() {
        let long = format!("us-east-1:{}", "a".repeat(46));
        assert_eq!(
            validation("DescribeIdentityPool", json!({"IdentityPoolId": long})),
            format!("1 validation error detected: Value '{long}' at 'identityPoolId' failed to satisfy constraint: Member must have length less than or equal to 55")
        );
    }

    #[test]
    fn an_empty_string_breaks_the_minimum_length_and_then_the_pattern() {
        assert_eq!(
            validation("DescribeIdentityPool", json!({"IdentityPoolId": ""})),
            "2 validation errors detected: \
             Value '' at 'identityPoolId' failed to satisfy constraint: Member must have length greater than or equal to 1; \
             Value '' at 'identityPoolId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
        );
    }

    #[test]
    fn string_length_is_counted_in_code_points_not_bytes() {
        let name = "é".repeat(128);
        assert_eq!(name.len(), 256);
        ok(
            "GetPrincipalTagAttributeMap",
            json!({"IdentityPoolId": POOL, "IdentityProviderName": name}),
        );
        let name = "日".repeat(129);
        assert_eq!(
            validation(
                "GetPrincipalTagAttributeMap",
                json!({"IdentityPoolId": POOL, "IdentityProviderName": name}),
            ),
            format!("1 validation error detected: Value '{name}' at 'identityProviderName' failed to satisfy constraint: Member must have length less than or equal to 128")
        );
        // A 128-letter pool name of multi-byte letters passes the length check
        // (and only breaks the ASCII-only pattern).
        let message = validation(
            "CreateIdentityPool",
            json!({"IdentityPoolName": "ü".repeat(128), "AllowUnauthenticatedIdentities": true}),
        );
        assert!(
            message.starts_with("1 validation error detected: "),
            "{message}"
        );
        assert!(
            message.ends_with("Member must satisfy regular expression pattern: [\\w\\s+=,.@-]+"),
            "{message}"
        );
    }

    #[test]
    fn a_pattern_violation_quotes_the_pattern_as_written_in_the_model() {
        assert_eq!(
            validation("DescribeIdentityPool", json!({"IdentityPoolId": "x"})),
            "1 validation error detected: Value 'x' at 'identityPoolId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
        );
        assert_eq!(
            validation(
                "CreateIdentityPool",
                json!({"IdentityPoolName": "pool#name", "AllowUnauthenticatedIdentities": false}),
            ),
            "1 validation error detected: Value 'pool#name' at 'identityPoolName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w\\s+=,.@-]+"
        );
    }

    #[test]
    fn an_integer_outside_its_range_is_reported() {
        assert_eq!(
            validation("ListIdentityPools", json!({"MaxResults": 0})),
            "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert_eq!(
            validation("ListIdentityPools", json!({"MaxResults": 61})),
            "1 validation error detected: Value '61' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 60"
        );
        assert_eq!(
            validation("ListIdentityPools", json!({"MaxResults": 99_999_999_999_999_999_999u128 as f64})),
            "1 validation error detected: Value '100000000000000000000' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 60"
        );
        ok("ListIdentityPools", json!({"MaxResults": 1}));
        ok("ListIdentityPools", json!({"MaxResults": 60}));
    }

    #[test]
    fn a_long_outside_its_range_is_reported() {
        let request = |duration: Value| {
            json!({
                "IdentityPoolId": POOL,
                "Logins": {"login.example.com": "user-1"},
                "TokenDuration": duration,
            })
        };
        let operation = "GetOpenIdTokenForDeveloperIdentity";
        assert_eq!(
            validation(operation, request(json!(0))),
            "1 validation error detected: Value '0' at 'tokenDuration' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert_eq!(
            validation(operation, request(json!(86401))),
            "1 validation error detected: Value '86401' at 'tokenDuration' failed to satisfy constraint: Member must have value less than or equal to 86400"
        );
        assert_eq!(
            validation(operation, request(json!(u64::MAX))),
            "1 validation error detected: Value '18446744073709551615' at 'tokenDuration' failed to satisfy constraint: Member must have value less than or equal to 86400"
        );
        ok(operation, request(json!(86400)));
    }

    #[test]
    fn a_value_outside_an_enum_is_reported_with_the_whole_set() {
        let message = validation(
            "SetIdentityPoolRoles",
            json!({
                "IdentityPoolId": POOL,
                "Roles": {"authenticated": ROLE},
                "RoleMappings": {"graph.facebook.com": {"Type": "Bogus", "AmbiguousRoleResolution": "Allow"}},
            }),
        );
        assert_eq!(
            message,
            "2 validation errors detected: \
             Value 'Bogus' at 'roleMappings.graph.facebook.com.member.type' failed to satisfy constraint: Member must satisfy enum value set: [Token, Rules]; \
             Value 'Allow' at 'roleMappings.graph.facebook.com.member.ambiguousRoleResolution' failed to satisfy constraint: Member must satisfy enum value set: [AuthenticatedRole, Deny]"
        );
    }

    #[test]
    fn a_map_with_too_many_entries_is_reported_on_the_map() {
        let providers: Map<String, Value> = (0..11)
            .map(|i| (format!("p{i:02}.example.com"), json!(format!("app{i}"))))
            .collect();
        let message = validation(
            "CreateIdentityPool",
            json!({
                "IdentityPoolName": "pool",
                "AllowUnauthenticatedIdentities": true,
                "SupportedLoginProviders": providers,
            }),
        );
        assert_eq!(
            message,
            "1 validation error detected: Value '{p00.example.com=app0, p01.example.com=app1, p02.example.com=app2, \
             p03.example.com=app3, p04.example.com=app4, p05.example.com=app5, p06.example.com=app6, \
             p07.example.com=app7, p08.example.com=app8, p09.example.com=app9, p10.example.com=app10}' \
             at 'supportedLoginProviders' failed to satisfy constraint: Member must have length less than or equal to 10"
        );
    }

    #[test]
    fn a_map_key_breaking_its_constraints_is_reported_on_the_map_in_aggregated_form() {
        assert_eq!(
            validation(
                "SetIdentityPoolRoles",
                json!({"IdentityPoolId": POOL, "Roles": {"admin": ROLE, "authenticated": ROLE}}),
            ),
            format!(
                "1 validation error detected: Value '{{admin={ROLE}, authenticated={ROLE}}}' at 'roles' failed to satisfy constraint: \
                 Map keys must satisfy constraint: [Member must have length less than or equal to 128, \
                 Member must have length greater than or equal to 1, \
                 Member must satisfy regular expression pattern: (un)?authenticated]"
            )
        );
    }

    #[test]
    fn a_map_value_breaking_its_constraints_is_reported_once_on_the_map() {
        assert_eq!(
            validation(
                "SetIdentityPoolRoles",
                json!({"IdentityPoolId": POOL, "Roles": {"authenticated": "arn:short", "unauthenticated": "x"}}),
            ),
            "1 validation error detected: Value '{authenticated=arn:short, unauthenticated=x}' at 'roles' failed to satisfy constraint: \
             Map value must satisfy constraint: [Member must have length less than or equal to 2048, \
             Member must have length greater than or equal to 20]"
        );
    }

    #[test]
    fn a_null_map_value_or_list_element_must_not_be_null() {
        assert_eq!(
            validation(
                "UnlinkIdentity",
                json!({"IdentityId": IDENTITY, "Logins": {"a.example.com": null}, "LoginsToRemove": ["a.example.com", null]}),
            ),
            "2 validation errors detected: \
             Value null at 'logins.a.example.com.member' failed to satisfy constraint: Member must not be null; \
             Value null at 'loginsToRemove.2.member' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn a_list_above_its_maximum_is_reported_with_a_truncated_rendering() {
        let ids: Vec<String> = (0..61)
            .map(|i| format!("us-east-1:{i:08x}-0000-4000-8000-000000000000"))
            .collect();
        let message = validation("DeleteIdentities", json!({"IdentityIdsToDelete": ids}));
        let prefix = format!(
            "1 validation error detected: Value '[{}, {}, ",
            ids[0], ids[1]
        );
        assert!(message.starts_with(&prefix), "{message}");
        assert!(
            message.ends_with("...' at 'identityIdsToDelete' failed to satisfy constraint: Member must have length less than or equal to 60"),
            "{message}"
        );
        let rendered =
            &message["1 validation error detected: Value '".len()..message.find("' at '").unwrap()];
        assert_eq!(rendered.chars().count(), MAX_RENDERED_CHARS + 3);
    }

    #[test]
    fn an_empty_list_below_its_minimum_is_reported() {
        assert_eq!(
            validation("DeleteIdentities", json!({"IdentityIdsToDelete": []})),
            "1 validation error detected: Value '[]' at 'identityIdsToDelete' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
    }

    #[test]
    fn list_members_are_reported_with_one_based_member_paths() {
        assert_eq!(
            validation(
                "UnlinkIdentity",
                json!({"IdentityId": IDENTITY, "Logins": {}, "LoginsToRemove": ["graph.facebook.com", ""]}),
            ),
            "1 validation error detected: Value '' at 'loginsToRemove.2.member' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
        assert_eq!(
            validation(
                "DeleteIdentities",
                json!({"IdentityIdsToDelete": [IDENTITY, IDENTITY, "nope"]}),
            ),
            "1 validation error detected: Value 'nope' at 'identityIdsToDelete.3.member' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
        );
    }

    #[test]
    fn nested_structures_in_lists_in_maps_get_full_paths() {
        let message = validation(
            "SetIdentityPoolRoles",
            json!({
                "IdentityPoolId": POOL,
                "Roles": {},
                "RoleMappings": {
                    "cognito-idp.us-east-1.amazonaws.com/us-east-1_abc:client": {
                        "Type": "Rules",
                        "RulesConfiguration": {"Rules": [
                            {"Claim": "groups", "MatchType": "Equals", "Value": "admin", "RoleARN": ROLE},
                            {"Claim": "groups", "MatchType": "Like", "RoleARN": ROLE},
                        ]},
                    },
                },
            }),
        );
        let at = "roleMappings.cognito-idp.us-east-1.amazonaws.com/us-east-1_abc:client.member.rulesConfiguration.rules.2.member";
        assert_eq!(
            message,
            format!(
                "2 validation errors detected: \
                 Value 'Like' at '{at}.matchType' failed to satisfy constraint: Member must satisfy enum value set: [Equals, Contains, StartsWith, NotEqual]; \
                 Value null at '{at}.value' failed to satisfy constraint: Member must not be null"
            )
        );
        assert_eq!(
            validation(
                "SetIdentityPoolRoles",
                json!({"IdentityPoolId": POOL, "Roles": {}, "RoleMappings": {"x": {"Type": "Rules", "RulesConfiguration": {"Rules": []}}}}),
            ),
            "1 validation error detected: Value '[]' at 'roleMappings.x.member.rulesConfiguration.rules' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
    }

    #[test]
    fn structures_are_rendered_with_their_present_members() {
        let mappings: Map<String, Value> = (0..11)
            .map(|i| {
                (
                    format!("p{i}"),
                    json!({"Type": "Token", "AmbiguousRoleResolution": "Deny"}),
                )
            })
            .collect();
        let message = validation(
            "SetIdentityPoolRoles",
            json!({"IdentityPoolId": POOL, "Roles": {}, "RoleMappings": mappings}),
        );
        assert!(
            message.starts_with("1 validation error detected: Value '{p0={Type=Token, AmbiguousRoleResolution=Deny}, p1={Type=Token, "),
            "{message}"
        );
        assert!(message.ends_with("at 'roleMappings' failed to satisfy constraint: Member must have length less than or equal to 10"));
    }

    #[test]
    fn multiple_violations_are_counted_and_joined_in_member_order() {
        assert_eq!(
            validation("CreateIdentityPool", json!({})),
            "2 validation errors detected: \
             Value null at 'identityPoolName' failed to satisfy constraint: Member must not be null; \
             Value null at 'allowUnauthenticatedIdentities' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            validation(
                "MergeDeveloperIdentities",
                json!({"SourceUserIdentifier": "", "DeveloperProviderName": "bad name!", "IdentityPoolId": "x"}),
            ),
            "4 validation errors detected: \
             Value '' at 'sourceUserIdentifier' failed to satisfy constraint: Member must have length greater than or equal to 1; \
             Value null at 'destinationUserIdentifier' failed to satisfy constraint: Member must not be null; \
             Value 'bad name!' at 'developerProviderName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w._-]+; \
             Value 'x' at 'identityPoolId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
        );
    }

    #[test]
    fn at_most_ten_violations_are_listed() {
        let ids: Vec<&str> = vec!["nope"; 60];
        let message = validation("DeleteIdentities", json!({"IdentityIdsToDelete": ids}));
        assert!(
            message.starts_with(
                "10 validation errors detected: Value 'nope' at 'identityIdsToDelete.1.member'"
            ),
            "{message}"
        );
        assert_eq!(message.matches("failed to satisfy constraint").count(), 10);
        assert!(message.contains("'identityIdsToDelete.10.member'"));
        assert!(!message.contains("'identityIdsToDelete.11.member'"));
    }

    #[test]
    fn huge_values_and_keys_cannot_make_a_huge_message() {
        let key = "k".repeat(100_000);
        let message = validation(
            "SetIdentityPoolRoles",
            json!({
                "IdentityPoolId": "p".repeat(100_000),
                "Roles": {},
                "RoleMappings": {key: {"Type": "Bogus"}},
            }),
        );
        assert!(message.len() < 2_000, "{} bytes", message.len());
        assert!(message.contains(&format!(
            "'roleMappings.{}....member.type'",
            "k".repeat(MAX_RENDERED_CHARS)
        )));
    }

    #[test]
    fn type_mismatches_are_serialization_errors() {
        assert_eq!(
            serialization_of("ListIdentityPools", json!({"MaxResults": "10"})),
            "class java.lang.String can not be converted to an Integer"
        );
        assert_eq!(
            serialization_of("ListIdentityPools", json!({"MaxResults": true})),
            "class java.lang.Boolean can not be converted to an Integer"
        );
        assert_eq!(
            serialization_of("ListIdentityPools", json!({"MaxResults": 1.5})),
            "class java.lang.Double can not be converted to an Integer"
        );
        assert_eq!(
            serialization_of(
                "GetOpenIdTokenForDeveloperIdentity",
                json!({"IdentityPoolId": POOL, "Logins": {}, "TokenDuration": "60"}),
            ),
            "class java.lang.String can not be converted to an Long"
        );
        assert_eq!(
            serialization_of("CreateIdentityPool", json!({"IdentityPoolName": {}})),
            "Start of structure or map found where not expected."
        );
        assert_eq!(
            serialization_of("CreateIdentityPool", json!({"IdentityPoolName": ["a"]})),
            "Start of list found where not expected"
        );
        assert_eq!(
            serialization_of("CreateIdentityPool", json!({"IdentityPoolName": 5})),
            "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
        );
        assert_eq!(
            serialization_of(
                "CreateIdentityPool",
                json!({"IdentityPoolName": "p", "AllowUnauthenticatedIdentities": "yes"})
            ),
            "'yes' can not be converted to an Boolean"
        );
        assert_eq!(
            serialization_of("CreateIdentityPool", json!({"IdentityPoolName": "p", "AllowUnauthenticatedIdentities": 1})),
            "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an Boolean"
        );
        assert_eq!(
            serialization_of("DeleteIdentities", json!({"IdentityIdsToDelete": IDENTITY})),
            "Expected list or null"
        );
        assert_eq!(
            serialization_of("DeleteIdentities", json!({"IdentityIdsToDelete": {}})),
            "Start of structure or map found where not expected."
        );
        assert_eq!(
            serialization_of("GetId", json!({"IdentityPoolId": POOL, "Logins": "token"})),
            "Expected map or null"
        );
        assert_eq!(
            serialization_of(
                "GetId",
                json!({"IdentityPoolId": POOL, "Logins": ["token"]})
            ),
            "Start of list found where not expected"
        );
        assert_eq!(
            serialization_of("GetId", json!({"IdentityPoolId": POOL, "Logins": {"a": 1}})),
            "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
        );
        assert_eq!(
            serialization_of(
                "SetIdentityPoolRoles",
                json!({"IdentityPoolId": POOL, "Roles": {}, "RoleMappings": {"x": "Token"}})
            ),
            "Expected null"
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_serialization_error() {
        assert_eq!(
            serialization_of("ListIdentityPools", json!([])),
            "Start of list found where not expected"
        );
        assert_eq!(
            serialization_of("ListIdentityPools", json!("x")),
            "Expected null"
        );
        assert_eq!(
            serialization_of("ListIdentityPools", json!(1)),
            "Expected null"
        );
    }

    #[test]
    fn a_type_mismatch_wins_over_constraint_violations_anywhere() {
        assert_eq!(
            serialization_of(
                "LookupDeveloperIdentity",
                json!({"IdentityPoolId": "x", "IdentityId": "", "MaxResults": "5"}),
            ),
            "class java.lang.String can not be converted to an Integer"
        );
        let ids: Vec<Value> = (0..30).map(|_| json!("bad")).chain([json!(7)]).collect();
        assert!(matches!(
            model().validate("DeleteIdentities", &json!({"IdentityIdsToDelete": ids})),
            Err(RequestError::Serialization(_))
        ));
    }

    #[test]
    fn integral_numbers_with_an_exponent_count_as_integers() {
        let input: Value = serde_json::from_str(r#"{"MaxResults": 1e1}"#).unwrap();
        assert_eq!(model().validate("ListIdentityPools", &input), Ok(()));
    }

    #[test]
    fn sensitive_values_never_appear_in_any_message() {
        let secret = "eyJhbGciOiJSUzI1NiJ9.SECRET-TOKEN.signature";
        // A Logins value breaking its (sensitive) shape's length constraint.
        let long_secret = format!("{secret}{}", "x".repeat(50_000));
        let message = validation(
            "GetId",
            json!({"IdentityPoolId": POOL, "Logins": {"graph.facebook.com": long_secret}}),
        );
        assert_eq!(
            message,
            "1 validation error detected: Value '{graph.facebook.com=***}' at 'logins' failed to satisfy constraint: \
             Map value must satisfy constraint: [Member must have length less than or equal to 50000, \
             Member must have length greater than or equal to 1]"
        );
        // Too many logins: the map is rendered with its tokens redacted.
        let logins: Map<String, Value> = (0..11)
            .map(|i| {
                (
                    format!("idp{i}.example.com"),
                    json!(format!("{secret}-{i}")),
                )
            })
            .collect();
        for operation in [
            "GetId",
            "GetCredentialsForIdentity",
            "GetOpenIdToken",
            "UnlinkIdentity",
            "GetOpenIdTokenForDeveloperIdentity",
        ] {
            let input = json!({
                "IdentityPoolId": POOL,
                "IdentityId": IDENTITY,
                "Logins": logins,
                "LoginsToRemove": [],
            });
            let message = validation(operation, input);
            assert!(!message.contains("SECRET"), "{operation}: {message}");
            assert!(
                message.contains("idp0.example.com=***, idp1.example.com=***"),
                "{operation}: {message}"
            );
            assert!(message.contains("at 'logins' failed to satisfy constraint: Member must have length less than or equal to 10"));
        }
        // A type mismatch on a sensitive value does not echo it either.
        let message = serialization_of(
            "GetId",
            json!({"IdentityPoolId": POOL, "Logins": {"a": [secret]}}),
        );
        assert!(!message.contains("SECRET"), "{message}");
    }

    #[test]
    fn a_violation_on_a_sensitive_value_omits_the_value_as_aws_does() {
        let model = Model::from_json(
            r#"{
              "operations": {"Op": {"input": {"shape": "In"}}},
              "shapes": {
                "In": {"type": "structure", "members": {
                  "Password": {"shape": "Secret"},
                  "Secrets": {"shape": "SecretList"}
                }},
                "Secret": {"type": "string", "min": 8, "pattern": "[a-z]+", "sensitive": true},
                "SecretList": {"type": "list", "member": {"shape": "Secret"}, "max": 1}
              }
            }"#,
        )
        .unwrap();
        let result = model.validate(
            "Op",
            &json!({"Password": "hunter2!", "Secrets": ["abcdefghij", "hunter2"]}),
        );
        assert_eq!(
            result,
            Err(RequestError::Validation(
                "4 validation errors detected: \
                 Value at 'password' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z]+; \
                 Value '[***, ***]' at 'secrets' failed to satisfy constraint: Member must have length less than or equal to 1; \
                 Value at 'secrets.2.member' failed to satisfy constraint: Member must have length greater than or equal to 8; \
                 Value at 'secrets.2.member' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z]+"
                    .into()
            ))
        );
    }

    #[test]
    fn every_operation_validates_an_empty_body_without_panicking() {
        let model = model();
        for name in model.operations.keys() {
            match model.validate(name, &json!({})) {
                Ok(()) => {}
                Err(RequestError::Validation(message)) => {
                    assert!(
                        message.contains("Member must not be null"),
                        "{name}: {message}"
                    );
                }
                Err(other) => panic!("{name}: {other:?}"),
            }
        }
        ok("ListIdentityPools", json!({"MaxResults": 5}));
        assert!(model.validate("DescribeIdentityPool", &json!({})).is_err());
    }

    #[test]
    fn an_unknown_operation_is_refused() {
        assert!(matches!(
            model().validate("NoSuchOperation", &json!({})),
            Err(RequestError::Serialization(_))
        ));
    }

    #[test]
    fn a_complete_valid_request_passes() {
        ok(
            "UpdateIdentityPool",
            json!({
                "IdentityPoolId": POOL,
                "IdentityPoolName": "My pool",
                "AllowUnauthenticatedIdentities": false,
                "AllowClassicFlow": true,
                "SupportedLoginProviders": {"graph.facebook.com": "7346241598935555"},
                "DeveloperProviderName": "login.example.com",
                "OpenIdConnectProviderARNs": ["arn:aws:iam::123456789012:oidc-provider/example.com"],
                "CognitoIdentityProviders": [{
                    "ProviderName": "cognito-idp.us-east-1.amazonaws.com/us-east-1_Zr231apJu",
                    "ClientId": "6lhlkkfbfb4q5kpp90urffae",
                    "ServerSideTokenCheck": true,
                }],
                "SamlProviderARNs": [],
                "IdentityPoolTags": {"team": "", "env": "prod"},
            }),
        );
        ok(
            "GetCredentialsForIdentity",
            json!({"IdentityId": IDENTITY, "Logins": {"accounts.google.com": "eyJ.token"}, "CustomRoleArn": ROLE}),
        );
    }

    #[test]
    fn request_errors_expose_their_aws_code_and_message() {
        let error = RequestError::Validation("1 validation error detected: x".into());
        assert_eq!(error.code(), "ValidationException");
        assert_eq!(error.message(), "1 validation error detected: x");
        assert_eq!(
            RequestError::Serialization("m".into()).code(),
            "SerializationException"
        );
        assert_eq!(
            error.to_string(),
            "ValidationException: 1 validation error detected: x"
        );
    }
}
