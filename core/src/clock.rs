//! The part every machine shares, named for what it is: its clock (the time it was last told,
//! its deadline, never read from the system), the attempt counter and back-off of the request
//! in hand, request ids, and the outbox (queued events, then the final result). Its fields
//! are private: a machine reads and moves them through these methods only.

use crate::config::RetryPolicy;
use crate::error::{Error, Transient};
use crate::event::Event;
use crate::io::{Output, RequestId};
use crate::retry::{ceiling, Jitter};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// `at + d`, saturating at a far future instead of overflowing (`Duration::MAX` means
/// "never").
pub(crate) fn later(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .or_else(|| at.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(at)
}

#[derive(Debug)]
pub(crate) struct Clock<T> {
    /// The latest time fed in (never earlier than before).
    now: Instant,
    deadline: Instant,
    next_id: u64,
    jitter: Jitter,
    retry: RetryPolicy,
    /// Failed attempts of the current request.
    failures: u32,
    events: VecDeque<Event>,
    done: Option<Result<T, Error>>,
}

impl<T: Clone> Clock<T> {
    pub(crate) fn new(now: Instant, deadline: Duration, retry: RetryPolicy) -> Self {
        Self {
            now,
            deadline: later(now, deadline),
            next_id: 0,
            jitter: Jitter::new(retry.jitter_seed),
            retry,
            failures: 0,
            events: VecDeque::new(),
            done: None,
        }
    }

    /// Takes the time of an input; ends the run if the deadline has passed.
    pub(crate) fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if self.done.is_none() && self.now >= self.deadline {
            self.finish(Err(Error::DeadlineExceeded));
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.is_some()
    }

    /// The latest time fed in.
    pub(crate) fn now(&self) -> Instant {
        self.now
    }

    /// When the run must have ended.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The final result, once there.
    pub(crate) fn result(&self) -> Option<&Result<T, Error>> {
        self.done.as_ref()
    }

    /// Failed attempts of the request in hand.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// The request in hand got through (or a new one begins): back-off starts over.
    pub(crate) fn reset_failures(&mut self) {
        self.failures = 0;
    }

    pub(crate) fn new_id(&mut self) -> RequestId {
        self.next_id += 1;
        RequestId(self.next_id)
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.events.push_back(event);
    }

    pub(crate) fn finish(&mut self, result: Result<T, Error>) {
        if self.done.is_none() {
            self.done = Some(result);
        }
    }

    /// Queued events first, then the final result (again and again once there).
    pub(crate) fn poll_queued(&mut self) -> Option<Output<T>> {
        if let Some(e) = self.events.pop_front() {
            return Some(Output::Event(e));
        }
        self.done.clone().map(Output::Done)
    }

    /// Whether events wait to be polled.
    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// A wait that never passes the deadline.
    pub(crate) fn wait_until(&self, at: Instant) -> Output<T> {
        Output::WaitUntil(at.min(self.deadline))
    }

    /// Counts a failed attempt. Returns when to try again, or ends the run (and returns
    /// `None`) once the attempts are spent. `cap` bounds the delay (a running export's
    /// longest allowed gap between polls); a `Retry-After` is honoured up to its own cap.
    pub(crate) fn retry(&mut self, reason: Transient, cap: Option<Duration>) -> Option<Instant> {
        self.failures += 1;
        if self.failures >= self.retry.max_attempts {
            self.finish(Err(Error::GaveUp {
                attempts: self.failures,
                last: reason,
            }));
            return None;
        }
        let delay = match &reason {
            Transient::Throttled {
                retry_after: Some(after),
            } => (*after).min(self.retry.max_retry_after),
            _ => {
                let backoff = self.jitter.up_to(ceiling(&self.retry, self.failures));
                cap.map_or(backoff, |c| backoff.min(c))
            }
        };
        self.event(Event::RetryScheduled {
            attempt: self.failures + 1,
            delay,
            reason,
        });
        Some(later(self.now, delay))
    }
}
