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
//!   of queueing without bound. Whatever this budget, public requests can never hold every
//!   database connection: the store lets them hold only the public share of its pool
//!   (`cognate_domain::share`).
//! - **signed**: its own budget and wait, so signed callers are never queued behind public
//!   ones (and an account's burst of signed calls cannot starve the public class either).
//! - **health checks** (`/healthz`, `/readyz`) and the well-known documents are not admitted
//!   at all: they bypass this module.
//! - **per client**: within each class, one client (see [`crate::clients`]) may have at most
//!   `per_client` requests in flight; its others wait in a queue of its own (within the same
//!   `wait`), so a single address can neither hold the whole class nor queue ahead of the
//!   requests of everyone else.
//!
//! A permit is taken after the body has been read (a slow body is bounded by the body timeout,
//! not by a permit it would hold) and after the signature has been verified (unauthenticated
//! requests cannot use the signed budget), and it is held until the operation has answered.
//! The semaphores are fair (FIFO), so a waiting request is not overtaken by later ones.
//!
//! Separately, [`BodyBudget`] bounds the memory all request bodies being received hold at
//! once, whatever their class, and the part of it one client may hold.
//!
//! `/readyz` reports the service saturated ([`Admission::saturated`],
//! [`BodyBudget::saturated`]) while it refuses every request for lack of a budget, so a load
//! balancer can send the traffic elsewhere.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::clients::{ClientKey, ClientQueues, PerClient, Place, Slot};
use crate::error::ApiError;

/// The class a request is admitted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The unsigned operations anyone may call.
    Public,
    /// The SigV4-signed operations of the configured accounts.
    Signed,
}

/// Why a request was refused before it ran (the `reason` label of
/// `cognate_admission_rejected_total` in [`crate::metrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No slot of the class's budget was free in time.
    Budget,
    /// The request-body budget had no room.
    BodyBudget,
    /// The client holds its share already.
    ClientShare,
    /// The client keeps naming ids that exist nowhere.
    UnknownIds,
}

/// A request not admitted in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// What it waited for.
    pub reason: Rejection,
}

impl From<Refused> for ApiError {
    fn from(_: Refused) -> Self {
        ApiError::client(
            "TooManyRequestsException",
            "Too many requests are in progress; retry with back-off.",
        )
    }
}

/// One class's budget.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Requests of the class that may run at once (at least 1).
    pub max_in_flight: usize,
    /// How long a request may wait for a slot before it is refused.
    pub wait: Duration,
    /// Requests of the class one client may have in flight at once (at
    /// least 1; at most `max_in_flight`); its others wait in its own queue.
    pub per_client: usize,
}

/// How long a refusal for lack of a budget counts as "the service is
/// saturated" for `/readyz`.
const SATURATION_MEMORY: Duration = Duration::from_secs(2);

/// When a budget last refused a request: milliseconds since `epoch`, 0 = never.
#[derive(Debug)]
struct LastRefusal {
    epoch: Instant,
    millis: AtomicU64,
}

impl LastRefusal {
    fn new() -> Self {
        LastRefusal {
            epoch: Instant::now(),
            millis: AtomicU64::new(0),
        }
    }

    fn record(&self) {
        let now = self.epoch.elapsed().as_millis().max(1);
        self.millis
            .store(u64::try_from(now).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn recent(&self) -> bool {
        match self.millis.load(Ordering::Relaxed) {
            0 => false,
            at => {
                let since = self
                    .epoch
                    .elapsed()
                    .as_millis()
                    .saturating_sub(u128::from(at));
                since <= SATURATION_MEMORY.as_millis()
            }
        }
    }
}

/// One class: its global semaphore, its wait, its per-client shares.
#[derive(Debug)]
struct ClassBudget {
    semaphore: Arc<Semaphore>,
    wait: Duration,
    clients: ClientQueues,
    refused: LastRefusal,
}

impl ClassBudget {
    fn new(budget: Budget) -> Self {
        let max = budget.max_in_flight.max(1);
        ClassBudget {
            semaphore: Arc::new(Semaphore::new(max)),
            wait: budget.wait,
            clients: ClientQueues::new(budget.per_client.clamp(1, max)),
            refused: LastRefusal::new(),
        }
    }
}

/// The budgets of both classes.
#[derive(Debug, Clone)]
pub struct Admission {
    public: Arc<ClassBudget>,
    signed: Arc<ClassBudget>,
}

/// A slot of a class's budget (and of the client's share of it); dropping
/// it frees both.
#[derive(Debug)]
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
    _place: Place,
}

impl Admission {
    /// Budgets for the public and the signed class.
    pub fn new(public: Budget, signed: Budget) -> Self {
        Admission {
            public: Arc::new(ClassBudget::new(public)),
            signed: Arc::new(ClassBudget::new(signed)),
        }
    }

    fn class(&self, class: Class) -> &ClassBudget {
        match class {
            Class::Public => &self.public,
            Class::Signed => &self.signed,
        }
    }

    /// Waits (at most the class's `wait`) for a slot of `class`'s budget.
    /// A client that already has its share of the class in flight waits in
    /// its own queue first, so it cannot take more slots than its share,
    /// nor queue ahead of other clients.
    /// A refusal says whether the client was still waiting behind its own
    /// share (`ClientShare`) or for the class's budget (`Budget`).
    pub async fn admit(&self, class: Class, client: ClientKey) -> Result<Admitted, Refused> {
        let budget = self.class(class);
        let had_place = std::sync::atomic::AtomicBool::new(false);
        let admitted = tokio::time::timeout(budget.wait, async {
            let place = budget.clients.enter(client).await;
            had_place.store(true, std::sync::atomic::Ordering::Relaxed);
            let permit = Arc::clone(&budget.semaphore).acquire_owned().await;
            permit.ok().map(|permit| Admitted {
                _permit: permit,
                _place: place,
            })
        })
        .await;
        match admitted {
            Ok(Some(admitted)) => Ok(admitted),
            // Timed out, or (never: the semaphores are not closed) closed.
            _ => {
                budget.refused.record();
                Err(Refused {
                    reason: if had_place.load(std::sync::atomic::Ordering::Relaxed) {
                        Rejection::Budget
                    } else {
                        Rejection::ClientShare
                    },
                })
            }
        }
    }

    /// Free slots of `class` now (for tests and metrics).
    pub fn available(&self, class: Class) -> usize {
        self.class(class).semaphore.available_permits()
    }

    /// Whether every request would be refused now: both classes are full
    /// and both refused someone lately for lack of a slot.
    pub fn saturated(&self) -> bool {
        [Class::Public, Class::Signed].into_iter().all(|class| {
            let budget = self.class(class);
            budget.semaphore.available_permits() == 0 && budget.refused.recent()
        })
    }
}

/// The request-body bytes all requests together may hold in memory at once,
/// and the part of them one client may hold.
///
/// The body timeout bounds how long a stalled body is held, and `max_connections` how many
/// connections there are, but their product can still be large (thousands of connections
/// each holding a body just under `max_body_bytes`). Every body being read takes a share of
/// this budget as its buffer grows (counted in KiB of capacity, which is what it really
/// holds) and gives it back when the request is done; a body that would overdraw the budget,
/// or its client's part of it, is refused at once with `TooManyRequestsException`.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    kib: Arc<Semaphore>,
    total_kib: usize,
    clients: PerClient,
    /// Bodies being received per client: one per connection over HTTP/1.1,
    /// but an HTTP/2 connection carries many streams.
    receiving: PerClient,
    refused: Arc<LastRefusal>,
}

/// One request's share of the [`BodyBudget`]; dropping it gives the bytes back.
#[derive(Debug)]
pub struct BodyShare {
    budget: BodyBudget,
    client: ClientKey,
    held: Option<OwnedSemaphorePermit>,
    _receiving: Slot,
}

impl BodyBudget {
    /// A budget of `max_bytes` bytes (rounded up to whole KiB), of which one
    /// client may hold `per_client_bytes`, in at most `per_client_bodies`
    /// bodies at once.
    pub fn new(max_bytes: usize, per_client_bytes: usize, per_client_bodies: usize) -> Self {
        let total_kib = kib_of(max_bytes).min(Semaphore::MAX_PERMITS);
        BodyBudget {
            kib: Arc::new(Semaphore::new(total_kib)),
            total_kib,
            clients: PerClient::new(kib_of(per_client_bytes).min(total_kib)),
            receiving: PerClient::new(per_client_bodies),
            refused: Arc::new(LastRefusal::new()),
        }
    }

    /// An empty share for `client`, to grow as a body arrives; `None` when
    /// the client is receiving as many bodies as it may already.
    pub fn share(&self, client: ClientKey) -> Option<BodyShare> {
        Some(BodyShare {
            budget: self.clone(),
            client,
            held: None,
            _receiving: self.receiving.slot(client)?,
        })
    }

    /// Bytes (in whole KiB) not held by any body now.
    pub fn available_bytes(&self) -> usize {
        self.kib.available_permits() * 1024
    }

    /// Bytes (in whole KiB) `client` holds now.
    pub fn held_by(&self, client: ClientKey) -> usize {
        self.clients.held_by(client) * 1024
    }

    /// Whether bodies are being refused for lack of room: the budget has
    /// less than `needed` bytes free and refused one lately.
    pub fn saturated(&self, needed: usize) -> bool {
        self.available_bytes() < needed.min(self.total_kib * 1024) && self.refused.recent()
    }
}

impl BodyShare {
    /// Grows the share to cover a buffer of `bytes` bytes, without waiting; `false` when the
    /// budget, or the client's part of it, has no room for it (the share is then unchanged).
    pub fn cover(&mut self, bytes: usize) -> bool {
        let needed = kib_of(bytes);
        let held = self.held_kib();
        if needed <= held {
            return true;
        }
        let more = needed - held;
        let Ok(more_u32) = u32::try_from(more) else {
            return false;
        };
        if !self.budget.clients.try_take(self.client, more) {
            self.budget.refused.record();
            return false;
        }
        match Arc::clone(&self.budget.kib).try_acquire_many_owned(more_u32) {
            Ok(permit) => {
                match &mut self.held {
                    Some(held) => held.merge(permit),
                    None => self.held = Some(permit),
                }
                true
            }
            Err(_) => {
                self.budget.clients.give_back(self.client, more);
                self.budget.refused.record();
                false
            }
        }
    }

    fn held_kib(&self) -> usize {
        self.held
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits)
    }
}

impl Drop for BodyShare {
    fn drop(&mut self) {
        self.budget.clients.give_back(self.client, self.held_kib());
    }
}

fn kib_of(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> ClientKey {
        ClientKey::of(std::net::IpAddr::from([192, 0, 2, n]))
    }

    fn budget(max: usize, wait_ms: u64) -> Budget {
        Budget {
            max_in_flight: max,
            wait: Duration::from_millis(wait_ms),
            per_client: max,
        }
    }

    fn admission(public: usize, signed: usize) -> Admission {
        Admission::new(budget(public, 50), budget(signed, 50))
    }

    /// A public request of client `n`, which must be admitted (`what`
    /// names it if not).
    async fn admitted(admission: &Admission, n: u8, what: &str) -> Admitted {
        admission.admit(Class::Public, client(n)).await.expect(what)
    }

    /// A public request of client `n`, which must be refused.
    async fn refused(admission: &Admission, n: u8, what: &str) -> Refused {
        admission
            .admit(Class::Public, client(n))
            .await
            .expect_err(what)
    }

    #[tokio::test]
    async fn a_public_request_beyond_the_budget_is_refused_with_too_many_requests() {
        let admission = admission(2, 2);
        let _a = admitted(&admission, 1, "first").await;
        let _b = admitted(&admission, 1, "second").await;
        let err = refused(&admission, 2, "third").await;
        assert_eq!(err.reason, Rejection::Budget, "it waited for the budget");
        let err = ApiError::from(err);
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
        let _public = admitted(&admission, 1, "public").await;
        assert!(admission.admit(Class::Public, client(1)).await.is_err());
        let signed = admission.admit(Class::Signed, client(1)).await;
        assert!(signed.is_ok(), "a signed request must still be admitted");
    }

    #[tokio::test]
    async fn one_client_holding_its_share_leaves_the_rest_of_the_budget_to_others() {
        let admission = Admission::new(
            Budget {
                max_in_flight: 4,
                wait: Duration::from_millis(200),
                per_client: 2,
            },
            budget(1, 50),
        );
        let a1 = admitted(&admission, 1, "a1").await;
        let _a2 = admitted(&admission, 1, "a2").await;
        // Its third waits in its own queue, not for the two free slots.
        let a3 = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit(Class::Public, client(1)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _c = admitted(&admission, 2, "another client").await;
        let _d = admitted(&admission, 2, "its second").await;
        drop(a1);
        assert!(
            a3.await.unwrap().is_ok(),
            "served once one of its own ended"
        );
        assert!(
            !admission.saturated(),
            "nothing was refused for lack of a slot"
        );
        // And a client whose own queue does not move in time is refused.
        let err = refused(&admission, 2, "beyond its share, for longer than the wait").await;
        assert_eq!(
            err.reason,
            Rejection::ClientShare,
            "it waited behind its own share"
        );
    }

    #[tokio::test]
    async fn a_finished_request_frees_its_slot_for_a_waiting_one() {
        let admission = Admission::new(budget(1, 30_000), budget(1, 30_000));
        let first = admitted(&admission, 1, "first").await;
        let waiting = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit(Class::Public, client(2)).await.is_ok() })
        };
        tokio::task::yield_now().await;
        drop(first);
        assert!(waiting.await.unwrap());
        assert_eq!(admission.available(Class::Public), 1);
    }

    #[tokio::test]
    async fn the_service_is_saturated_only_while_both_classes_are_full_and_refusing() {
        let admission = admission(1, 1);
        let _public = admission.admit(Class::Public, client(1)).await.unwrap();
        let _signed = admission.admit(Class::Signed, client(1)).await.unwrap();
        assert!(!admission.saturated(), "full, but nobody refused yet");
        assert!(admission.admit(Class::Public, client(2)).await.is_err());
        assert!(!admission.saturated(), "signed calls are still served");
        assert!(admission.admit(Class::Signed, client(2)).await.is_err());
        assert!(admission.saturated());
        drop(_signed);
        assert!(!admission.saturated(), "a free slot ends it");
    }

    #[test]
    fn bodies_share_one_byte_budget_and_give_it_back_when_done() {
        let budget = BodyBudget::new(64 * 1024, 64 * 1024, 4);
        let mut stalled = budget.share(client(1)).unwrap();
        assert!(stalled.cover(60 * 1024));
        assert!(stalled.cover(60 * 1024 + 10), "growing within the budget");
        let mut other = budget.share(client(2)).unwrap();
        assert!(!other.cover(8 * 1024), "the budget is nearly used up");
        assert!(budget.saturated(8 * 1024));
        assert!(other.cover(1024), "what is left can still be used");
        drop(stalled);
        assert!(other.cover(60 * 1024));
        drop(other);
        assert_eq!(budget.available_bytes(), 64 * 1024);
        assert!(!budget.saturated(8 * 1024));
    }

    #[test]
    fn one_client_cannot_hold_more_than_its_part_of_the_body_budget() {
        let budget = BodyBudget::new(64 * 1024, 16 * 1024, 2);
        let mut first = budget.share(client(1)).unwrap();
        assert!(first.cover(12 * 1024));
        let mut second = budget.share(client(1)).unwrap();
        assert!(budget.share(client(1)).is_none(), "a third body at once");
        assert!(
            !second.cover(8 * 1024),
            "12 + 8 KiB is beyond the client's 16 KiB"
        );
        assert!(second.cover(4 * 1024));
        assert_eq!(budget.held_by(client(1)), 16 * 1024);
        let mut other = budget.share(client(2)).unwrap();
        assert!(other.cover(16 * 1024), "another client has its own part");
        drop((first, second, other));
        assert_eq!(budget.held_by(client(1)), 0);
        assert_eq!(budget.available_bytes(), 64 * 1024);
    }
}
