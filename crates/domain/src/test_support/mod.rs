//! What the crates' tests share (feature `test-support`).
//!
//! # Layout
//! - [`strategies`] — proptest strategies for what clients control
//!   (arbitrary JSON), shared by the crates' property tests.
//! - [`memory`] — [`MemoryStore`], an in-memory implementation of the
//!   storage ports with the store's semantics (uniqueness, cascades,
//!   rollback on drop) and a journal of the locks each transaction took.
//! - [`fakes`] — the other ports: a manual clock, a token issuer whose
//!   tokens are readable JSON, an upstream verifier that trusts a token
//!   naming its subject, a visible subject hasher and a recording STS.

pub mod fakes;
pub mod memory;
pub mod strategies;

pub use memory::{Lock, MemoryStore, TxRecord};
pub use strategies::{arb_json, arb_object_with, arb_text};
