//! A cancellation flag shared between threads and tasks.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct State {
    cancelled: bool,
    next_key: u64,
    wakers: Vec<(u64, Waker)>,
    /// Tokens cancelled with this one (see [`CancelToken::forward_to`]).
    forwards: Vec<Weak<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    cond: Condvar,
}

/// A one-way cancellation flag: cheap to clone, usable from any thread or task. Once
/// cancelled it stays cancelled; every run that watches it ends with
/// [`Error::Cancelled`](crate::Error::Cancelled).
///
/// Clones are the same token. Give each call its own token to cancel that call alone (the
/// drivers' `*_with_cancel` methods); a client's shutdown token ends all of its calls.
///
/// ```
/// let token = d1_export_transport::CancelToken::new();
/// let other = token.clone();
/// std::thread::spawn(move || other.cancel()).join().unwrap();
/// assert!(token.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<Inner>);

impl CancelToken {
    /// A fresh, uncancelled token.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cancels: wakes every blocked wait and every pending [`cancelled`](Self::cancelled).
    pub fn cancel(&self) {
        let (wakers, forwards) = {
            let mut state = self.lock();
            state.cancelled = true;
            (
                std::mem::take(&mut state.wakers),
                std::mem::take(&mut state.forwards),
            )
        };
        self.0.cond.notify_all();
        for (_, w) in wakers {
            w.wake();
        }
        for inner in forwards.iter().filter_map(Weak::upgrade) {
            CancelToken(inner).cancel();
        }
    }

    /// Makes a cancel of this token also cancel `other` (at once if this one already is).
    /// Only a weak link is kept: forwarding never keeps `other` alive.
    pub fn forward_to(&self, other: &CancelToken) {
        if Arc::ptr_eq(&self.0, &other.0) {
            return;
        }
        let already = {
            let mut state = self.lock();
            if !state.cancelled {
                state.forwards.retain(|w| w.strong_count() > 0);
                state.forwards.push(Arc::downgrade(&other.0));
            }
            state.cancelled
        };
        if already {
            other.cancel();
        }
    }

    /// A new token cancelled when this one is, and also on its own (one call under a
    /// client-wide shutdown token).
    pub fn child(&self) -> CancelToken {
        let child = CancelToken::new();
        self.forward_to(&child);
        child
    }

    /// The token of one call under this (client-wide) token: cancelled when this one or
    /// `call` is, so either a shutdown or the call's own cancel ends it, and a cancel of the
    /// call never reaches this token or other calls.
    pub fn joined(&self, call: &CancelToken) -> CancelToken {
        let joined = self.child();
        call.forward_to(&joined);
        joined
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.lock().cancelled
    }

    /// Blocks until `deadline` or a cancel, whichever comes first; true if cancelled.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let mut state = self.lock();
        loop {
            if state.cancelled {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .0
                .cond
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Blocks for `timeout` or until a cancel; true if cancelled.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_until(deadline),
            None => {
                let mut state = self.lock();
                while !state.cancelled {
                    state = self.0.cond.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                true
            }
        }
    }

    /// A future that completes once the token is cancelled (for `select!` in async code).
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled {
            token: self,
            key: None,
        }
    }
}

/// The future of [`CancelToken::cancelled`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Cancelled<'a> {
    token: &'a CancelToken,
    key: Option<u64>,
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let token = self.token;
        let mut state = token.lock();
        if state.cancelled {
            return Poll::Ready(());
        }
        match self.key {
            Some(key) => {
                if let Some((_, w)) = state.wakers.iter_mut().find(|(k, _)| *k == key) {
                    w.clone_from(cx.waker());
                } else {
                    state.wakers.push((key, cx.waker().clone()));
                }
            }
            None => {
                let key = state.next_key;
                state.next_key += 1;
                state.wakers.push((key, cx.waker().clone()));
                drop(state);
                self.key = Some(key);
            }
        }
        Poll::Pending
    }
}

impl Drop for Cancelled<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.token.lock().wakers.retain(|(k, _)| *k != key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Wake;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn waits_end_early_on_cancel() {
        let token = CancelToken::new();
        assert!(!token.wait_timeout(Duration::from_millis(10)));
        let other = token.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            other.cancel();
        });
        let start = Instant::now();
        assert!(token.wait_timeout(Duration::from_secs(30)));
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }

    #[test]
    fn a_child_is_cancelled_by_its_parent_but_not_the_other_way() {
        let parent = CancelToken::new();
        let (a, b) = (parent.child(), parent.child());
        a.cancel();
        assert!(a.is_cancelled());
        assert!(!parent.is_cancelled() && !b.is_cancelled());
        parent.cancel();
        assert!(b.is_cancelled());
        let late = parent.child();
        assert!(
            late.is_cancelled(),
            "a child of a cancelled token starts cancelled"
        );
        let other = CancelToken::new();
        let target = CancelToken::new();
        other.forward_to(&target);
        drop(target);
        other.cancel();
        assert!(other.lock().forwards.is_empty());
    }

    #[test]
    fn future_is_woken_and_deregisters() {
        let token = CancelToken::new();
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        {
            let mut dropped = Box::pin(token.cancelled());
            assert!(dropped.as_mut().poll(&mut cx).is_pending());
        }
        assert!(token.lock().wakers.is_empty());
        let mut fut = Box::pin(token.cancelled());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(token.lock().wakers.len(), 1);
        token.cancel();
        assert!(flag.0.load(Ordering::SeqCst));
        assert!(fut.as_mut().poll(&mut cx).is_ready());
    }
}
