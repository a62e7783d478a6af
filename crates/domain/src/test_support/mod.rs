//! What the crates' tests share (feature `test-support`).
//!
//! # Layout
//! - [`strategies`] — proptest strategies for what clients control
//!   (arbitrary JSON), shared by the crates' property tests.
//! - [`memory`] — [`MemoryStore`], an in-memory implementation of the
//!   storage ports with the store's semantics (uniqueness, cascades,
//!   rollback on drop) and a journal of the locks each transaction took.
//! - [`named_identity_id`], [`named_pool_id`] — valid ids from short names.
//! - [`fakes`] — the other ports: a manual clock, a token issuer whose
//!   tokens are readable JSON, an upstream verifier that trusts a token
//!   naming its subject, a visible subject hasher and a recording STS.

pub mod fakes;
pub mod memory;
pub mod strategies;

pub use memory::{Lock, MemoryStore, TxRecord};
pub use strategies::{arb_json, arb_object_with, arb_text};

use crate::ids::{IdentityId, IdentityPoolId};

/// The identity a test calls `name` (`a`, `old`, ...): `us-east-1:` and
/// the name in hex, so distinct names are distinct valid ids.
pub fn named_identity_id(name: &str) -> IdentityId {
    IdentityId::try_from(format!("us-east-1:{}", hex(name))).expect("a valid identity id")
}

/// The pool a test calls `name`, made like [`named_identity_id`].
pub fn named_pool_id(name: &str) -> IdentityPoolId {
    IdentityPoolId::try_from(format!("us-east-1:{}", hex(name))).expect("a valid pool id")
}

fn hex(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}
