//! Calls Cognate makes to others (identity providers, the STS) are bounded
//! per destination, so one slow or failing destination costs only the
//! calls that name it.
//!
//! Each destination (an identity provider's host, the STS) has an
//! [`Outbound`] guard:
//!
//! - **a concurrency bound**: at most `max_in_flight` calls at once; one
//!   more is refused at once ([`Refusal::Busy`]) instead of waiting, so a
//!   flood of logins naming a slow provider holds at most that many request
//!   slots, and the calls of other tenants go on.
//! - **a circuit breaker**: after `failures` failures in a row (no answer in
//!   time, connection refused, a 5xx), calls are refused at once
//!   ([`Refusal::Paused`]) for `pause`; then one call is let through to probe
//!   it: its success closes the breaker, its failure pauses again. An
//!   answer that refuses a token is not a failure: the destination works.
//!
//! The refusal becomes the same error as the destination failing
//! (ExternalServiceException), with words saying why.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::telemetry::{Destination, FailKind, Outcome};

/// The bounds of one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundLimits {
    /// Calls in flight at once (at least 1).
    pub max_in_flight: usize,
    /// Failures in a row that pause the destination (0: never paused).
    pub failures: u32,
    /// How long a paused destination is not called.
    pub pause: Duration,
}

impl Default for OutboundLimits {
    fn default() -> Self {
        OutboundLimits {
            max_in_flight: 8,
            failures: 5,
            pause: Duration::from_secs(10),
        }
    }
}

/// Why a call was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_in_flight` calls are in flight already.
    Busy {
        /// The bound.
        in_flight: usize,
    },
    /// The destination failed repeatedly and is paused.
    Paused {
        /// Time left in the pause.
        left: Duration,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Busy { in_flight } => write!(
                f,
                "is busy: {in_flight} requests to it are in flight already; retry with back-off"
            ),
            Refusal::Paused { left } => write!(
                f,
                "failed repeatedly and is not asked again for {} s; retry with back-off",
                left.as_secs().max(1)
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breaker {
    /// Calls go through; this many failed in a row.
    Closed { failures: u32 },
    /// No call until then.
    Open { until: Instant },
    /// One probe is out; the others are refused until it ends.
    Probing,
}

/// The guard of one destination; cheap to clone (clones share it).
#[derive(Debug, Clone)]
pub struct Outbound {
    limits: OutboundLimits,
    permits: Arc<Semaphore>,
    breaker: Arc<Mutex<Breaker>>,
    destination: Arc<Destination>,
}

/// A call under way; say how it ended with [`Call::succeeded`] or
/// [`Call::failed`]. Dropped without either (the caller gave up), it counts
/// as neither, and a probe lets the next call probe.
#[derive(Debug)]
pub struct Call {
    breaker: Arc<Mutex<Breaker>>,
    destination: Arc<Destination>,
    started: Instant,
    limits: OutboundLimits,
    probe: bool,
    ended: bool,
    _permit: OwnedSemaphorePermit,
}

impl Outbound {
    /// A guard with these bounds for calls to `destination` (which names
    /// its metrics).
    pub fn new(limits: OutboundLimits, destination: Destination) -> Self {
        destination.announce();
        Outbound {
            limits,
            permits: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            breaker: Arc::new(Mutex::new(Breaker::Closed { failures: 0 })),
            destination: Arc::new(destination),
        }
    }

    /// Start a call, or say why not (without waiting); a refusal is
    /// counted as an error of its kind.
    pub fn start(&self) -> Result<Call, Refusal> {
        self.try_start().inspect_err(|refusal| {
            self.destination.failed(match refusal {
                Refusal::Busy { .. } => FailKind::Busy,
                Refusal::Paused { .. } => FailKind::Paused,
            });
        })
    }

    fn try_start(&self) -> Result<Call, Refusal> {
        let mut breaker = lock(&self.breaker);
        let probe = match *breaker {
            Breaker::Closed { .. } => false,
            Breaker::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(Refusal::Paused { left: until - now });
                }
                true
            }
            Breaker::Probing => {
                return Err(Refusal::Paused {
                    left: Duration::from_secs(1),
                })
            }
        };
        let permit = Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| Refusal::Busy {
                in_flight: self.limits.max_in_flight.max(1),
            })?;
        if probe {
            *breaker = Breaker::Probing;
        }
        Ok(Call {
            breaker: Arc::clone(&self.breaker),
            destination: Arc::clone(&self.destination),
            started: Instant::now(),
            limits: self.limits,
            probe,
            ended: false,
            _permit: permit,
        })
    }

    /// Whether calls are refused for repeated failures now.
    pub fn is_paused(&self) -> bool {
        match *lock(&self.breaker) {
            Breaker::Closed { .. } => false,
            Breaker::Open { until } => Instant::now() < until,
            Breaker::Probing => true,
        }
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.limits.max_in_flight.max(1) - self.permits.available_permits()
    }
}

impl Call {
    /// The destination answered usably.
    pub fn succeeded(self) {
        self.answered(Outcome::Ok);
    }

    /// The destination answered, refusing what was asked (the STS, a role
    /// it would not give): it works, so the breaker closes.
    pub fn refused(self) {
        self.answered(Outcome::Refused);
    }

    fn answered(mut self, outcome: Outcome) {
        self.ended = true;
        self.destination.ended(outcome, self.started.elapsed());
        let mut breaker = lock(&self.breaker);
        if !matches!(*breaker, Breaker::Closed { .. }) {
            self.destination.paused(false);
        }
        *breaker = Breaker::Closed { failures: 0 };
    }

    /// The destination did not answer usably: no answer in time, refused
    /// connection, a 5xx.
    pub fn failed(mut self, kind: FailKind) {
        self.ended = true;
        self.destination
            .ended(Outcome::Error, self.started.elapsed());
        self.destination.failed(kind);
        let mut breaker = lock(&self.breaker);
        let failures = match *breaker {
            Breaker::Closed { failures } => failures + 1,
            // A failed probe pauses again at once.
            _ => u32::MAX,
        };
        *breaker = if self.limits.failures > 0 && failures >= self.limits.failures {
            self.destination.paused(true);
            Breaker::Open {
                until: Instant::now() + self.limits.pause,
            }
        } else {
            Breaker::Closed { failures }
        };
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.probe && !self.ended {
            // The probe was abandoned: let the next call probe.
            let mut breaker = lock(&self.breaker);
            if *breaker == Breaker::Probing {
                *breaker = Breaker::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(max_in_flight: usize, failures: u32, pause_ms: u64) -> Outbound {
        Outbound::new(
            OutboundLimits {
                max_in_flight,
                failures,
                pause: Duration::from_millis(pause_ms),
            },
            Destination::Upstream("guard.test".into()),
        )
    }

    #[test]
    fn calls_beyond_the_bound_are_refused_at_once_and_admitted_when_one_ends() {
        let out = guard(2, 5, 1000);
        let a = out.start().expect("first");
        let _b = out.start().expect("second");
        assert_eq!(out.start().unwrap_err(), Refusal::Busy { in_flight: 2 });
        assert_eq!(out.in_flight(), 2);
        a.succeeded();
        assert!(out.start().is_ok());
    }

    #[test]
    fn failures_in_a_row_pause_the_destination_and_a_success_resets_the_count() {
        let out = guard(8, 3, 60_000);
        out.start().unwrap().failed(FailKind::Timeout);
        out.start().unwrap().failed(FailKind::Timeout);
        out.start().unwrap().succeeded();
        out.start().unwrap().failed(FailKind::Timeout);
        out.start().unwrap().failed(FailKind::Timeout);
        assert!(!out.is_paused(), "two in a row since the success");
        out.start().unwrap().failed(FailKind::Timeout);
        assert!(out.is_paused());
        assert!(matches!(out.start(), Err(Refusal::Paused { .. })));
        let text = out.start().unwrap_err().to_string();
        assert!(text.contains("not asked again"), "{text}");
    }

    #[test]
    fn after_the_pause_one_probe_goes_through_and_decides() {
        let out = guard(8, 1, 20);
        out.start().unwrap().failed(FailKind::Timeout);
        assert!(out.start().is_err());
        std::thread::sleep(Duration::from_millis(30));
        let probe = out.start().expect("the probe");
        assert!(out.start().is_err(), "only one probe at a time");
        probe.failed(FailKind::Timeout);
        assert!(out.start().is_err(), "a failed probe pauses again");
        std::thread::sleep(Duration::from_millis(30));
        out.start().expect("the next probe").succeeded();
        assert!(out.start().is_ok() && out.start().is_ok(), "closed again");
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_call_probe() {
        let out = guard(8, 1, 0);
        out.start().unwrap().failed(FailKind::Timeout);
        let probe = out.start().expect("the probe");
        drop(probe);
        assert!(out.start().is_ok());
    }
}
