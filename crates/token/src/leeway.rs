//! The clock skew tolerated when the times of an upstream token (`exp`,
//! `nbf`, `iat`) or a SAML assertion (`NotBefore`, `NotOnOrAfter`) are
//! checked. A leaf: both checkers use it, neither through the other.

use std::time::Duration;

/// Default clock skew tolerated: five minutes, as AWS tolerates.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(300);
