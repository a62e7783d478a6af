//! The embedded service model, parsed and checked once at load time:
//! operations, shapes, members, and patterns compiled from the model's Java
//! regular expressions.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// The AWS service model, embedded so the product builds on its own.
const MODEL_JSON: &str = include_str!("../../model/cognito-identity-2014-06-30.service.json");

/// CloudTrail's service model (for LookupEvents, on the same endpoint).
const CLOUDTRAIL_JSON: &str = include_str!("../../model/cloudtrail-2013-11-01.service.json");

/// Shapes the model does not mark sensitive whose values CloudTrail still
/// hides in its records (the STS session token of GetCredentialsForIdentity).
const ALSO_SENSITIVE: &[&str] = &["SessionTokenString"];

/// The service model: operations and the shapes their inputs are made of.
#[derive(Debug)]
pub struct Model {
    pub(super) operations: HashMap<String, Operation>,
    pub(super) shapes: HashMap<String, Shape>,
}

#[derive(Debug)]
pub(super) struct Operation {
    pub(super) input: Option<String>,
    pub(super) output: Option<String>,
    pub(super) unsigned: bool,
}

#[derive(Debug)]
pub(super) struct Shape {
    pub(super) kind: Kind,
    pub(super) min: Option<i64>,
    pub(super) max: Option<i64>,
    pub(super) pattern: Option<Pattern>,
    pub(super) enum_values: Option<Vec<String>>,
    pub(super) sensitive: bool,
}

#[derive(Debug)]
pub(super) struct Pattern {
    /// As written in the model; this is what messages quote.
    pub(super) source: String,
    pub(super) regex: Regex,
}

#[derive(Debug)]
pub(super) enum Kind {
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
pub(super) struct Member {
    /// The wire name (the JSON key).
    pub(super) name: String,
    /// The name as it appears in violation paths: first letter lower-cased.
    pub(super) path: String,
    pub(super) shape: String,
    pub(super) required: bool,
}

impl Kind {
    pub(super) fn is_scalar(&self) -> bool {
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

    /// The embedded CloudTrail model (LookupEvents), parsed once.
    pub fn cloudtrail() -> &'static Model {
        static MODEL: LazyLock<Model> = LazyLock::new(|| {
            Model::from_json(CLOUDTRAIL_JSON)
                .unwrap_or_else(|error| panic!("the embedded CloudTrail model is invalid: {error}"))
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
    pub(super) fn shape(&self, name: &str) -> &Shape {
        // Every reference was resolved when the model was loaded.
        &self.shapes[name]
    }

    pub(super) fn from_json(text: &str) -> Result<Model, String> {
        let raw: RawModel = serde_json::from_str(text).map_err(|error| error.to_string())?;
        let mut shapes = HashMap::new();
        for (name, raw_shape) in raw.shapes.0 {
            let mut shape = Shape::from_raw(&name, raw_shape)?;
            shape.sensitive |= ALSO_SENSITIVE.contains(&name.as_str());
            shapes.insert(name, shape);
        }
        let operations = raw
            .operations
            .0
            .into_iter()
            .map(|(name, raw_operation)| {
                let operation = Operation {
                    input: raw_operation.input.map(|input| input.shape),
                    output: raw_operation.output.map(|output| output.shape),
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
            for shape in operation.input.iter().chain(&operation.output) {
                known(name, shape)?;
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
}

/// A member's name as violation paths show it: first letter lower-cased.
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
pub(super) fn java_to_rust_regex(java: &str) -> String {
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
                if escaped == 'u' {
                    // `\uHHHH`, or a UTF-16 surrogate pair `\uD800\uDC00`
                    // (Java's way to write a supplementary character), which
                    // Rust's regex spells as the code point.
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = u32::from_str_radix(&hex, 16).unwrap_or(0xFFFD);
                    let code = if (0xD800..0xDC00).contains(&unit) {
                        let mut rest = chars.clone();
                        let low = (rest.next() == Some('\\') && rest.next() == Some('u'))
                            .then(|| rest.by_ref().take(4).collect::<String>())
                            .and_then(|h| u32::from_str_radix(&h, 16).ok())
                            .filter(|low| (0xDC00..0xE000).contains(low));
                        match low {
                            Some(low) => {
                                chars = rest;
                                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                            }
                            None => 0xFFFD,
                        }
                    } else if (0xDC00..0xE000).contains(&unit) {
                        0xFFFD
                    } else {
                        unit
                    };
                    out.push_str(&format!("\\x{{{code:X}}}"));
                    continue;
                }
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
    output: Option<RawRef>,
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
