//! One validation pass over a request body: Coral's type checks, then the
//! constraints of every value in the model's member order, each violation
//! with its path and text (see the module docs of `validation`).

use serde_json::{Map, Number, Value};

use super::model::{Kind, Model, Pattern, Shape};
use super::render::cut;
use super::RequestError;

/// Coral lists at most this many violations.
const MAX_REPORTED: usize = 10;

const STRUCTURE_NOT_EXPECTED: &str = "Start of structure or map found where not expected.";
const LIST_NOT_EXPECTED: &str = "Start of list found where not expected";
const NUMBER_CLASS: &str = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber";

impl Model {
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
}

impl Shape {
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

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}
