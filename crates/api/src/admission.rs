//! Admission control: each class of request has its own budget of requests in flight, and
//! request bodies together have a budget of bytes.
//!
//! The four public operations (GetId, GetCredentialsForIdentity, GetOpenIdToken,
//! UnlinkIdentity) can be called by anyone who knows a pool id, so a flood of them must not
//! take every worker and database connection from the signed management plane or from the
//! health checks. Each class gets its own [`tokio::sync::Semaphore`]:
//!
//! - **public**: at most `max_in_flight` public requests run at once; a request that cannot
//!   be admitted within `wait` is answered `TooManyRequestsException` (HTTP 400, the error
//!   the service model lists for these operations, which the SDKs retry with back-off) instead
//!   of queueing without bound. Keep the budget below `database.max_connections`, so that
//!   public requests can never hold every connection.
//! - **signed**: its own budget and wait, so signed callers are never queued behind public
//!   ones (and an account's burst of signed calls cannot starve the public class either).
//! - **health checks** (`/healthz`, `/readyz`) and the well-known documents are not admitted
//!   at all: they bypass this module.
//!
//! A permit is taken after the body has been read (a slow body is bounded by the body timeout,
//! not by a permit it would hold) and after the signature has been verified (unauthenticated
//! requests cannot use the signed budget), and it is held until the operation has answered.
//! The semaphores are fair (FIFO), so a waiting request is not overtaken by later ones.
//!
//! Separately, [`BodyBudget`] bounds the memory all request bodies being received hold at
//! once, whatever their class.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// The class a request is admitted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The unsigned operations anyone may call.
    Public,
    /// The SigV4-signed operations of the configured accounts.
    Signed,
}

/// One class's budget.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Requests of the class that may run at once (at least 1).
    pub max_in_flight: usize,
    /// How long a request may wait for a slot before it is refused.
    pub wait: Duration,
}

/// The budgets of both classes.
#[derive(Debug, Clone)]
pub struct Admission {
    public: Arc<Semaphore>,
    public_wait: Duration,
    signed: Arc<Semaphore>,
    signed_wait: Duration,
}

/// A slot of a class's budget; dropping it frees the slot.
#[derive(Debug)]
pub struct Admitted(#[allow(dead_code)] OwnedSemaphorePermit);

impl Admission {
    /// Budgets for the public and the signed class.
    pub fn new(public: Budget, signed: Budget) -> Self {
        Admission {
            public: Arc::new(Semaphore::new(public.max_in_flight.max(1))),
            public_wait: public.wait,
            signed: Arc::new(Semaphore::new(signed.max_in_flight.max(1))),
            signed_wait: signed.wait,
        }
    }

    /// Waits (at most the class's `wait`) for a slot of `class`'s budget.
    pub async fn admit(&self, class: Class) -> Result<Admitted, ApiError> {
        let (semaphore, wait) = match class {
            Class::Public => (&self.public, self.public_wait),
            Class::Signed => (&self.signed, self.signed_wait),
        };
        match tokio::time::timeout(wait, Arc::clone(semaphore).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Admitted(permit)),
            // Timed out, or (never: the semaphores are not closed) closed.
            _ => Err(ApiError::client(
                "TooManyRequestsException",
                "Too many requests are in progress; retry with back-off.",
            )),
        }
    }

    /// Free slots of `class` now (for tests and metrics).
    pub fn available(&self, class: Class) -> usize {
        match class {
            Class::Public => self.public.available_permits(),
            Class::Signed => self.signed.available_permits(),
        }
    }
}

/// The request-body bytes all requests together may hold in memory at once.
///
/// The body timeout bounds how long a stalled body is held, and `max_connections` how many
/// connections there are, but their product can still be large (thousands of connections
/// each holding a body just under `max_body_bytes`). Every body being read takes a share of
/// this budget as its bytes arrive (counted in KiB) and gives it back when the request is done;
/// a body that would overdraw it is refused at once with `TooManyRequestsException`.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    kib: Arc<Semaphore>,
}

/// One request's share of the [`BodyBudget`]; dropping it gives the bytes back.
#[derive(Debug)]
pub struct BodyShare {
    budget: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
}

impl BodyBudget {
    /// A budget of `max_bytes` bytes (rounded up to whole KiB).
    pub fn new(max_bytes: usize) -> Self {
        BodyBudget {
            kib: Arc::new(Semaphore::new(
                kib_of(max_bytes).min(Semaphore::MAX_PERMITS),
            )),
        }
    }

    /// An empty share, to grow as a body arrives.
    pub fn share(&self) -> BodyShare {
        BodyShare {
            budget: Arc::clone(&self.kib),
            held: None,
        }
    }

    /// Bytes (in whole KiB) not held by any body now.
    pub fn available_bytes(&self) -> usize {
        self.kib.available_permits() * 1024
    }
}

impl BodyShare {
    /// Grows the share to cover a body of `bytes` bytes, without waiting; `false` when the
    /// budget has no room for it (the share is then unchanged).
    pub fn cover(&mut self, bytes: usize) -> bool {
        let needed = kib_of(bytes);
        let held = self
            .held
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits);
        if needed <= held {
            return true;
        }
        let Ok(more) = u32::try_from(needed - held) else {
            return false;
        };
        match Arc::clone(&self.budget).try_acquire_many_owned(more) {
            Ok(permit) => {
                match &mut self.held {
                    Some(held) => held.merge(permit),
                    None => self.held = Some(permit),
                }
                true
            }
            Err(_) => false,
        }
    }
}

fn kib_of(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(public: usize, signed: usize) -> Admission {
        Admission::new(
            Budget {
                max_in_flight: public,
                wait: Duration::from_millis(50),
            },
            Budget {
                max_in_flight: signed,
                wait: Duration::from_millis(50),
            },
        )
    }

    #[tokio::test]
    async fn a_public_request_beyond_the_budget_is_refused_with_too_many_requests() {
        let admission = admission(2, 2);
        let _a = admission.admit(Class::Public).await.expect("first");
        let _b = admission.admit(Class::Public).await.expect("second");
        let err = admission.admit(Class::Public).await.expect_err("third");
        assert_eq!(err.code, "TooManyRequestsException");
        assert_eq!(err.status, actix_web::http::StatusCode::BAD_REQUEST);
        assert_eq!(
            err.body()["__type"],
            serde_json::json!("TooManyRequestsException")
        );
    }

    #[tokio::test]
    async fn an_exhausted_public_budget_does_not_touch_the_signed_one() {
        let admission = admission(1, 1);
        let _public = admission.admit(Class::Public).await.expect("public");
        assert!(admission.admit(Class::Public).await.is_err());
        let signed = admission.admit(Class::Signed).await;
        assert!(signed.is_ok(), "a signed request must still be admitted");
    }

    #[tokio::test]
    async fn a_finished_request_frees_its_slot_for_a_waiting_one() {
        let admission = Admission::new(
            Budget {
                max_in_flight: 1,
                wait: Duration::from_secs(30),
            },
            Budget {
                max_in_flight: 1,
                wait: Duration::from_secs(30),
            },
        );
        let first = admission.admit(Class::Public).await.expect("first");
        let waiting = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit(Class::Public).await.is_ok() })
        };
        tokio::task::yield_now().await;
        drop(first);
        assert!(waiting.await.unwrap());
        assert_eq!(admission.available(Class::Public), 1);
    }

    #[test]
    fn bodies_share_one_byte_budget_and_give_it_back_when_done() {
        let budget = BodyBudget::new(64 * 1024);
        let mut stalled = budget.share();
        assert!(stalled.cover(60 * 1024));
        assert!(stalled.cover(60 * 1024 + 10), "growing within the budget");
        let mut other = budget.share();
        assert!(!other.cover(8 * 1024), "the budget is nearly used up");
        assert!(other.cover(1024), "what is left can still be used");
        drop(stalled);
        assert!(other.cover(60 * 1024));
        drop(other);
        assert_eq!(budget.available_bytes(), 64 * 1024);
    }
}
