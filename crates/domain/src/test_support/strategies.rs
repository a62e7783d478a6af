//! Property-test strategies for what a client controls: arbitrary JSON,
//! biased towards the shapes Cognate reads (strings that look like ids,
//! tokens, ARNs and claims; nested maps and lists; extreme numbers).

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Text a client might send: ordinary, id-like, ARN-like, JWT-like, odd.
pub fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9-]{1,12}:[0-9a-f-]{0,40}",
        "arn:aws:iam::[0-9]{0,13}:(role|oidc-provider|saml-provider)/[ -~]{0,20}",
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}",
        Just(String::new()),
        "(authenticated|unauthenticated|Token|Rules|Equals|Deny|AuthenticatedRole)",
    ]
}

/// A JSON number, extremes included.
fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
}

/// Any JSON value, up to a few levels deep.
pub fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((arb_text(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON object whose keys are drawn from `names` (the members a shape
/// has) and sometimes others, with arbitrary values.
pub fn arb_object_with(names: Vec<String>) -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        4 => prop::sample::select(if names.is_empty() { vec![String::new()] } else { names }),
        1 => arb_text(),
    ];
    prop::collection::vec((key, arb_json()), 0..10)
        .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>()))
}
