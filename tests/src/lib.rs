//! placeholder
pub mod pg;
