//! Which share of the database connections a call may use.
//!
//! Anyone who knows a pool id can make the public (unsigned) calls, so a
//! flood of them must not hold every connection of the store: the signed
//! management plane and the health checks keep a reserved part. The API
//! runs each public call within [`Share::Public`] ([`within`]); a store
//! whose connections are pooled reads [`current`] where it takes a
//! connection and lets public work use only its public part. Work outside
//! any call (the audit writer, the key rotation, migrations) and signed
//! calls use the whole pool.
//!
//! A task-local rather than an argument: the share is a property of the
//! call, and threading it through every use case and port to the few
//! places that take a connection would widen every signature for a
//! concern none of them acts on.

use std::future::Future;

/// The part of the connections a call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// An unsigned call: the public part only.
    Public,
    /// Everything else: the whole pool, reserved part included.
    Whole,
}

tokio::task_local! {
    static SHARE: Share;
}

/// Run `work` as a call of `share`.
pub async fn within<F: Future>(share: Share, work: F) -> F::Output {
    SHARE.scope(share, work).await
}

/// The share of the call running now ([`Share::Whole`] outside any call).
pub fn current() -> Share {
    SHARE.try_with(|share| *share).unwrap_or(Share::Whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_sees_its_share_and_work_outside_any_call_sees_the_whole_pool() {
        assert_eq!(current(), Share::Whole);
        assert_eq!(
            within(Share::Public, async { current() }).await,
            Share::Public
        );
        assert_eq!(
            within(Share::Whole, async { current() }).await,
            Share::Whole
        );
        assert_eq!(current(), Share::Whole);
    }
}
