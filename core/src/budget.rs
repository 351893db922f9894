//! The API's request budget: the Cloudflare API allows 1200 requests per 5 minutes per user,
//! and blocks for 5 minutes after a 429. Sans-IO like the rest: time is an argument, and the
//! budget only answers "now" or "not before then". A [`Fleet`](crate::Fleet) owns one and
//! decides which request gets each slot.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A sliding-window request budget.
#[derive(Debug, Clone)]
pub struct RateBudget {
    limit: usize,
    window: Duration,
    block_after_429: Duration,
    sent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    throttled: u64,
}

impl RateBudget {
    /// The Cloudflare API's documented budget: 1200 requests per 5 minutes; 5 minutes' block
    /// after a 429.
    pub fn cloudflare() -> Self {
        Self::new(1200, Duration::from_secs(300))
    }

    /// `limit` requests per `window` (at least 1); after a 429 without `Retry-After`, a block
    /// of one window.
    pub fn new(limit: u32, window: Duration) -> Self {
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        Self {
            limit,
            window,
            block_after_429: window,
            sent: VecDeque::with_capacity(limit.min(4096)),
            blocked_until: None,
            throttled: 0,
        }
    }

    /// Sets the block after a 429 that gave no `Retry-After`.
    pub fn with_block_after_429(mut self, block: Duration) -> Self {
        self.block_after_429 = block;
        self
    }

    /// Requests allowed per window.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The pace at which requests never fill a window even when each leaves up to one pace
    /// late: one per `window / (limit - 1)` (rounded up; one per window for a limit of 1).
    /// Requests on this pace's slots, each sent less than one pace after its slot, never hold
    /// more than `limit` in any window.
    pub fn pace(&self) -> Duration {
        let nanos = self.window.as_nanos();
        let slots = (self.limit as u128).saturating_sub(1).max(1);
        let each = nanos.div_ceil(slots);
        Duration::from_nanos(u64::try_from(each).unwrap_or(u64::MAX))
    }

    /// Requests sent within the window ending at `now`.
    pub fn in_window(&mut self, now: Instant) -> usize {
        self.prune(now);
        self.sent.len()
    }

    /// 429s reported so far.
    pub fn throttled_count(&self) -> u64 {
        self.throttled
    }

    fn prune(&mut self, now: Instant) {
        while let Some(&t) = self.sent.front() {
            if now.saturating_duration_since(t) >= self.window {
                self.sent.pop_front();
            } else {
                break;
            }
        }
    }

    /// The earliest instant a request may go out (`now` if it may go now).
    pub fn next_slot(&mut self, now: Instant) -> Instant {
        self.prune(now);
        if let Some(until) = self.blocked_until {
            if until > now {
                return until;
            }
            self.blocked_until = None;
        }
        if self.sent.len() < self.limit {
            return now;
        }
        // Enough of the oldest must leave the window to bring the count under the limit.
        let index = self.sent.len() - self.limit;
        self.sent
            .get(index)
            .map_or(now, |t| crate::clock::later(*t, self.window))
            .max(now)
    }

    /// Takes a slot now, or tells when to ask again.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Instant> {
        let at = self.next_slot(now);
        if at > now {
            return Err(at);
        }
        self.sent.push_back(now);
        Ok(())
    }

    /// The API answered 429: nobody sends before `retry_after` (or the default block) passes.
    pub fn throttled(&mut self, now: Instant, retry_after: Option<Duration>) {
        self.throttled += 1;
        let until = crate::clock::later(now, retry_after.unwrap_or(self.block_after_429));
        self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_limit() {
        let t0 = Instant::now();
        let mut b = RateBudget::new(10, Duration::from_secs(10));
        for _ in 0..10 {
            assert_eq!(b.try_acquire(t0), Ok(()));
        }
        assert_eq!(b.try_acquire(t0), Err(t0 + Duration::from_secs(10)));
        assert_eq!(b.in_window(t0), 10);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.try_acquire(later), Ok(()));
        assert_eq!(b.in_window(later), 1);
    }

    #[test]
    fn sliding_window_frees_the_oldest_first() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut b = RateBudget::new(3, Duration::from_secs(10));
        for i in 0..3 {
            b.try_acquire(t0 + s * i).unwrap();
        }
        assert_eq!(b.next_slot(t0 + s * 5), t0 + s * 10);
        b.try_acquire(t0 + s * 10).unwrap();
        assert_eq!(b.next_slot(t0 + s * 10), t0 + s * 11);
    }

    #[test]
    fn a_429_blocks_everyone() {
        let t0 = Instant::now();
        let mut b = RateBudget::cloudflare();
        b.throttled(t0, Some(Duration::from_secs(30)));
        assert_eq!(b.next_slot(t0), t0 + Duration::from_secs(30));
        b.throttled(t0, None);
        assert_eq!(b.next_slot(t0), t0 + Duration::from_secs(300));
        assert_eq!(b.throttled_count(), 2);
        assert_eq!(b.try_acquire(t0 + Duration::from_secs(300)), Ok(()));
    }

    #[test]
    fn a_budget_of_zero_allows_one() {
        let t0 = Instant::now();
        let mut b = RateBudget::new(0, Duration::from_secs(1));
        assert_eq!(b.limit(), 1);
        assert_eq!(b.try_acquire(t0), Ok(()));
    }

    #[test]
    fn the_pace_never_fills_a_window_even_when_late() {
        assert_eq!(
            RateBudget::cloudflare().pace(),
            Duration::from_nanos(250_208_508)
        );
        assert_eq!(
            RateBudget::new(1, Duration::from_secs(7)).pace(),
            Duration::from_secs(7)
        );
        // 4 per second: a slot every 1/3 s; each request up to (not quite) one pace late.
        let t0 = Instant::now();
        let mut b = RateBudget::new(4, Duration::from_secs(1));
        let pace = b.pace();
        assert_eq!(pace, Duration::from_nanos(333_333_334));
        for i in 0..40u32 {
            let late = if i % 2 == 0 {
                pace - Duration::from_nanos(1)
            } else {
                Duration::ZERO
            };
            assert_eq!(b.try_acquire(t0 + pace * i + late), Ok(()), "request {i}");
        }
    }
}
