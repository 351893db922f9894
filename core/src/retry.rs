//! Back-off with full jitter from a seeded generator (deterministic under test).

use crate::config::RetryPolicy;
use std::time::Duration;

/// A small seeded generator (SplitMix64): enough for jitter, reproducible in tests.
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next number of the sequence (also a seed mixer: distinct seeds, unrelated outputs).
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform duration in `[0, ceiling]`.
    pub(crate) fn up_to(&mut self, ceiling: Duration) -> Duration {
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next_u64() % (nanos.saturating_add(1)).max(1))
    }
}

/// The back-off ceiling before retry number `retry` (1 for the first retry).
pub(crate) fn ceiling(policy: &RetryPolicy, retry: u32) -> Duration {
    let factor = 1u32
        .checked_shl(retry.saturating_sub(1))
        .unwrap_or(u32::MAX);
    policy
        .initial_backoff
        .checked_mul(factor)
        .unwrap_or(policy.max_backoff)
        .min(policy.max_backoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_then_cap() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        let got: Vec<_> = (1..=6).map(|r| ceiling(&p, r).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(ceiling(&p, 200), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_is_seeded_and_bounded() {
        let mut a = Jitter::new(7);
        let mut b = Jitter::new(7);
        let c = Duration::from_millis(250);
        for _ in 0..1000 {
            let x = a.up_to(c);
            assert_eq!(x, b.up_to(c));
            assert!(x <= c);
        }
        assert_eq!(a.up_to(Duration::ZERO), Duration::ZERO);
        let spread: std::collections::HashSet<_> = (0..50).map(|_| a.up_to(c)).collect();
        assert!(spread.len() > 40, "jitter does not spread");
    }
}
