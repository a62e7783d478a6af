//! Values as violation messages show them: Java-`toString`-like, sensitive
//! values masked, and never longer than [`MAX_RENDERED_CHARS`] characters.

use serde_json::{Number, Value};

use super::model::{Kind, Model, Shape};

/// A rendered value (or a map key in a path) is cut after this many characters.
pub(super) const MAX_RENDERED_CHARS: usize = 256;

/// Rendering of values in violation messages, bounded in length.
impl Model {
    pub(super) fn render(&self, shape: &Shape, value: &Value) -> String {
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
pub(super) fn cut(text: &str) -> String {
    let mut out = Bounded::default();
    out.push(text);
    out.finish()
}
