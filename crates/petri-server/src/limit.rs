//! Per-key rate limits: a token bucket per recovered signer id.
//!
//! Each server keeps its own buckets (replicas do not share them), so behind a load balancer a
//! key gets up to the limit from each replica. Keys are free to make, so this bounds what one
//! identity can take, not a flood from many fresh keys: that needs limits per address at the
//! proxy in front.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::{RpcFailure, RpcResult};

/// A sustained rate and a burst, per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second a key may send on average.
    pub per_second: NonZeroU32,
    /// Requests a key may send at once after being quiet.
    pub burst: NonZeroU32,
}

/// The buckets of one server.
pub(crate) struct Limiter {
    limit: RateLimit,
    buckets: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        Self {
            limit,
            buckets: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `signer`'s bucket, or refuses with 429.
    pub(crate) fn check(&self, signer: &str) -> RpcResult<()> {
        // A String key is what the map stores; looking up by &str would need the same allocation.
        match self.buckets.check_key(&signer.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now()).max(Duration::from_millis(1));
                tracing::debug!(signer, "rate limited");
                Err(RpcFailure::new(
                    429,
                    format!(
                        "too many requests from {signer}: the limit is {} per second per key (bursts of {}); \
                         retry in {} ms",
                        self.limit.per_second,
                        self.limit.burst,
                        wait.as_millis()
                    ),
                ))
            }
        }
    }

    /// Forgets the buckets that are full again, so keys seen once do not stay in memory.
    pub(crate) fn forget_idle(&self) {
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
    }
}
