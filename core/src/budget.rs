//! A rate budget shared by concurrent exports: the Cloudflare API allows 1200 requests per
//! 5 minutes per user, and blocks for 5 minutes after a 429. Sans-IO like the rest: time is an
//! argument, and the budget only answers "now" or "not before then".
//!
//! Polls of running exports come first: new exports (and lookups) may use the window only up
//! to `limit - reserve`, so a running export is never starved into auto-cancellation.

use crate::error::Transient;
use crate::event::Event;
use crate::io::{Input, InputError, Machine, Output};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What a request is for, which decides how much of the budget it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A poll of a running export (or its first request after a URL refresh): may use the
    /// whole window.
    Poll,
    /// The first request of a new export, a lookup or a list page: leaves the reserve free.
    Start,
}

/// A sliding-window request budget.
#[derive(Debug, Clone)]
pub struct RateBudget {
    limit: usize,
    reserve: usize,
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

    /// `limit` requests per `window` (at least 1), with a tenth of it (at least one request)
    /// reserved for polls; after a 429 without `Retry-After`, a block of one window.
    pub fn new(limit: u32, window: Duration) -> Self {
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        let reserve = if limit > 1 { (limit / 10).max(1) } else { 0 };
        Self {
            limit,
            reserve,
            window,
            block_after_429: window,
            sent: VecDeque::with_capacity(limit.min(4096)),
            blocked_until: None,
            throttled: 0,
        }
    }

    /// Sets how many requests of each window only polls may use.
    pub fn with_reserve(mut self, reserve: u32) -> Self {
        self.reserve = usize::try_from(reserve)
            .unwrap_or(usize::MAX)
            .min(self.limit - 1);
        self
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

    /// The earliest instant a request of `priority` may go out (`now` if it may go now).
    pub fn next_slot(&mut self, now: Instant, priority: Priority) -> Instant {
        self.prune(now);
        if let Some(until) = self.blocked_until {
            if until > now {
                return until;
            }
            self.blocked_until = None;
        }
        let allowed = match priority {
            Priority::Poll => self.limit,
            Priority::Start => self.limit - self.reserve,
        };
        if self.sent.len() < allowed {
            return now;
        }
        // Enough of the oldest must leave the window to bring the count under `allowed`.
        let index = self.sent.len() - allowed;
        self.sent
            .get(index)
            .map_or(now, |t| crate::clock::later(*t, self.window))
            .max(now)
    }

    /// Takes a slot now, or tells when to ask again.
    pub fn try_acquire(&mut self, now: Instant, priority: Priority) -> Result<(), Instant> {
        let at = self.next_slot(now, priority);
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

/// A [`RateBudget`] shared by many machines (clone it into each).
#[derive(Debug, Clone)]
pub struct SharedBudget(Arc<Mutex<RateBudget>>);

impl SharedBudget {
    /// Shares `budget`.
    pub fn new(budget: RateBudget) -> Self {
        Self(Arc::new(Mutex::new(budget)))
    }

    /// Runs `f` on the budget.
    pub fn with<R>(&self, f: impl FnOnce(&mut RateBudget) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}

/// A machine whose API requests may use a shared budget.
pub trait Prioritized {
    /// How much of the budget the next API request may use.
    fn priority(&self) -> Priority;
}

impl Prioritized for crate::Export {
    fn priority(&self) -> Priority {
        crate::Export::priority(self)
    }
}

impl<T> Prioritized for crate::lookup::Call<T> {
    fn priority(&self) -> Priority {
        Priority::Start
    }
}

/// Wraps a machine so its API requests go out only when a [`SharedBudget`] allows, and a 429
/// it meets blocks every machine sharing the budget. Downloads are not counted (they go to
/// the signed URL's host, not the API).
#[derive(Debug)]
pub struct Gated<M: Machine> {
    inner: M,
    budget: SharedBudget,
    now: Instant,
    held: Option<Output<M::Outcome>>,
}

impl<M: Machine + Prioritized> Gated<M> {
    /// Wraps `inner`, which starts at `now`.
    pub fn new(inner: M, budget: SharedBudget, now: Instant) -> Self {
        Self {
            inner,
            budget,
            now,
            held: None,
        }
    }

    /// The wrapped machine.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The wrapped machine, mutably.
    pub fn inner_mut(&mut self) -> &mut M {
        &mut self.inner
    }

    fn gate(&mut self, out: Output<M::Outcome>) -> Output<M::Outcome> {
        match out {
            Output::Send { .. } => {
                let priority = self.inner.priority();
                let now = self.now;
                match self.budget.with(|b| b.try_acquire(now, priority)) {
                    Ok(()) => out,
                    Err(at) => {
                        self.held = Some(out);
                        Output::WaitUntil(at)
                    }
                }
            }
            Output::Event(Event::RetryScheduled {
                reason: Transient::Throttled { retry_after },
                ..
            }) => {
                let now = self.now;
                self.budget.with(|b| b.throttled(now, retry_after));
                out
            }
            other => other,
        }
    }
}

impl<M: Machine + Prioritized> Machine for Gated<M> {
    type Outcome = M::Outcome;

    fn poll_output(&mut self) -> Output<M::Outcome> {
        if let Some(held) = self.held.take() {
            // The inner machine may have ended (deadline, cancel) or have news meanwhile.
            match self.inner.poll_output() {
                Output::WaitUntil(_) => return self.gate(held),
                news => {
                    if !matches!(news, Output::Done(_)) {
                        self.held = Some(held);
                    }
                    return news;
                }
            }
        }
        let out = self.inner.poll_output();
        self.gate(out)
    }

    fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), InputError> {
        self.now = self.now.max(now);
        self.inner.handle_input(now, input)
    }

    fn reply_limit(&self) -> usize {
        self.inner.reply_limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_limit_and_reserve() {
        let t0 = Instant::now();
        let mut b = RateBudget::new(10, Duration::from_secs(10));
        for _ in 0..9 {
            assert_eq!(b.try_acquire(t0, Priority::Start), Ok(()));
        }
        // The tenth slot is the polls' reserve.
        assert_eq!(
            b.try_acquire(t0, Priority::Start),
            Err(t0 + Duration::from_secs(10))
        );
        assert_eq!(b.try_acquire(t0, Priority::Poll), Ok(()));
        assert_eq!(
            b.try_acquire(t0, Priority::Poll),
            Err(t0 + Duration::from_secs(10))
        );
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.try_acquire(later, Priority::Start), Ok(()));
    }

    #[test]
    fn sliding_window_frees_the_oldest_first() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut b = RateBudget::new(3, Duration::from_secs(10)).with_reserve(0);
        for i in 0..3 {
            b.try_acquire(t0 + s * i, Priority::Start).unwrap();
        }
        assert_eq!(b.next_slot(t0 + s * 5, Priority::Start), t0 + s * 10);
        b.try_acquire(t0 + s * 10, Priority::Start).unwrap();
        assert_eq!(b.next_slot(t0 + s * 10, Priority::Start), t0 + s * 11);
    }

    #[test]
    fn a_429_blocks_everyone() {
        let t0 = Instant::now();
        let mut b = RateBudget::cloudflare();
        b.throttled(t0, Some(Duration::from_secs(30)));
        assert_eq!(
            b.next_slot(t0, Priority::Poll),
            t0 + Duration::from_secs(30)
        );
        b.throttled(t0, None);
        assert_eq!(
            b.next_slot(t0, Priority::Poll),
            t0 + Duration::from_secs(300)
        );
        assert_eq!(b.throttled_count(), 2);
        assert_eq!(
            b.try_acquire(t0 + Duration::from_secs(300), Priority::Poll),
            Ok(())
        );
    }

    #[test]
    fn a_budget_of_one_has_no_reserve() {
        let t0 = Instant::now();
        let mut b = RateBudget::new(0, Duration::from_secs(1));
        assert_eq!(b.limit(), 1);
        assert_eq!(b.try_acquire(t0, Priority::Start), Ok(()));
    }
}
