//! The shared rate budget's window edges, reserve, and 429 blocks (found missing by
//! cargo-mutants, scripts/mutants.sh).

use d1_export_core::{Priority, RateBudget};
use std::time::{Duration, Instant};

const S: Duration = Duration::from_secs(1);

#[test]
fn accessors_report_the_configuration() {
    let b = RateBudget::new(7, Duration::from_secs(42));
    assert_eq!(b.limit(), 7);
    assert_eq!(b.window(), Duration::from_secs(42));
    assert_eq!(b.throttled_count(), 0);
    let cf = RateBudget::cloudflare();
    assert_eq!(cf.limit(), 1200);
    assert_eq!(cf.window(), Duration::from_secs(300));
}

#[test]
fn the_default_reserve_is_a_tenth_and_at_least_one() {
    let t0 = Instant::now();
    // 30 per window: 27 for starts, the last 3 for polls.
    let mut b = RateBudget::new(30, Duration::from_secs(60));
    for _ in 0..27 {
        b.try_acquire(t0, Priority::Start).unwrap();
    }
    assert!(b.try_acquire(t0, Priority::Start).is_err());
    for _ in 0..3 {
        b.try_acquire(t0, Priority::Poll).unwrap();
    }
    assert!(b.try_acquire(t0, Priority::Poll).is_err());
    // 5 per window: a tenth rounds to 0, so one is kept for polls.
    let mut b = RateBudget::new(5, Duration::from_secs(60));
    for _ in 0..4 {
        b.try_acquire(t0, Priority::Start).unwrap();
    }
    assert!(b.try_acquire(t0, Priority::Start).is_err());
    b.try_acquire(t0, Priority::Poll).unwrap();
}

#[test]
fn a_reserve_never_takes_the_whole_window() {
    let t0 = Instant::now();
    let mut b = RateBudget::new(10, Duration::from_secs(60)).with_reserve(100);
    // The reserve is capped at limit - 1: one start still fits.
    assert_eq!(b.try_acquire(t0, Priority::Start), Ok(()));
    assert_eq!(
        b.try_acquire(t0, Priority::Start),
        Err(t0 + Duration::from_secs(60))
    );
    let mut b = RateBudget::new(10, Duration::from_secs(60)).with_reserve(3);
    for _ in 0..7 {
        b.try_acquire(t0, Priority::Start).unwrap();
    }
    assert!(b.try_acquire(t0, Priority::Start).is_err());
    for _ in 0..3 {
        b.try_acquire(t0, Priority::Poll).unwrap();
    }
    assert!(b.try_acquire(t0, Priority::Poll).is_err());
}

#[test]
fn a_slot_frees_exactly_one_window_after_it_was_taken() {
    let t0 = Instant::now();
    let w = Duration::from_secs(10);
    let mut b = RateBudget::new(2, w).with_reserve(0);
    b.try_acquire(t0, Priority::Start).unwrap();
    b.try_acquire(t0 + S, Priority::Start).unwrap();
    // Just before the window passes, the oldest slot is still taken.
    let almost = t0 + w - Duration::from_millis(1);
    assert_eq!(b.next_slot(almost, Priority::Start), t0 + w);
    assert_eq!(b.try_acquire(almost, Priority::Start), Err(t0 + w));
    // At the window's end exactly, it is free; the second one frees a second later.
    assert_eq!(b.next_slot(t0 + w, Priority::Start), t0 + w);
    assert_eq!(b.try_acquire(t0 + w, Priority::Start), Ok(()));
    assert_eq!(b.next_slot(t0 + w, Priority::Start), t0 + w + S);
}

#[test]
fn the_wait_is_for_enough_of_the_oldest_slots_to_leave() {
    let t0 = Instant::now();
    let w = Duration::from_secs(100);
    // 10 per window, 2 reserved; 10 taken a second apart.
    let mut b = RateBudget::new(10, w).with_reserve(2);
    for i in 0..8 {
        b.try_acquire(t0 + S * i, Priority::Start).unwrap();
    }
    for i in 8..10 {
        b.try_acquire(t0 + S * i, Priority::Poll).unwrap();
    }
    let now = t0 + S * 20;
    // A poll needs one slot to leave (the first, at t0); a start needs three (t0 + 2 s).
    assert_eq!(b.next_slot(now, Priority::Poll), t0 + w);
    assert_eq!(b.next_slot(now, Priority::Start), t0 + S * 2 + w);
}

#[test]
fn a_429_blocks_until_its_retry_after_or_the_default_block() {
    let t0 = Instant::now();
    let mut b =
        RateBudget::new(100, Duration::from_secs(300)).with_block_after_429(Duration::from_secs(7));
    b.throttled(t0, None);
    assert_eq!(b.throttled_count(), 1);
    assert_eq!(
        b.try_acquire(t0 + S, Priority::Poll),
        Err(t0 + Duration::from_secs(7))
    );
    // A shorter block later does not shorten the longer one.
    b.throttled(t0 + S, Some(S));
    assert_eq!(b.throttled_count(), 2);
    assert_eq!(
        b.next_slot(t0 + S * 2, Priority::Start),
        t0 + Duration::from_secs(7)
    );
    // A longer one extends it.
    b.throttled(t0 + S * 2, Some(Duration::from_secs(10)));
    assert_eq!(
        b.next_slot(t0 + S * 3, Priority::Poll),
        t0 + Duration::from_secs(12)
    );
    // At its end exactly, requests go again, and the block is over for good.
    let end = t0 + Duration::from_secs(12);
    assert_eq!(b.try_acquire(end, Priority::Start), Ok(()));
    assert_eq!(b.try_acquire(end, Priority::Poll), Ok(()));
}

#[test]
fn a_block_ends_even_when_asked_after_it() {
    let t0 = Instant::now();
    let mut b = RateBudget::new(3, Duration::from_secs(10)).with_reserve(0);
    b.throttled(t0, Some(S));
    let later = t0 + S * 5;
    assert_eq!(b.next_slot(later, Priority::Start), later);
    for _ in 0..3 {
        b.try_acquire(later, Priority::Start).unwrap();
    }
    assert_eq!(
        b.try_acquire(later, Priority::Start),
        Err(later + Duration::from_secs(10))
    );
}

#[test]
fn a_failed_acquire_takes_no_slot() {
    let t0 = Instant::now();
    let mut b = RateBudget::new(1, Duration::from_secs(10));
    assert_eq!(b.try_acquire(t0, Priority::Poll), Ok(()));
    for i in 1..5 {
        assert!(b.try_acquire(t0 + S * i, Priority::Poll).is_err());
    }
    // Had the refusals taken slots, this would still be refused.
    assert_eq!(
        b.try_acquire(t0 + Duration::from_secs(10), Priority::Poll),
        Ok(())
    );
}

#[test]
fn the_end_of_a_block_still_respects_the_window() {
    let t0 = Instant::now();
    let w = Duration::from_secs(10);
    let mut b = RateBudget::new(1, w);
    b.try_acquire(t0, Priority::Poll).unwrap();
    b.throttled(t0, Some(Duration::from_secs(5)));
    // The block ends at t0 + 5 s, but the window's only slot is taken until t0 + 10 s.
    let end = t0 + Duration::from_secs(5);
    assert_eq!(b.next_slot(end, Priority::Poll), t0 + w);
    assert_eq!(b.try_acquire(end, Priority::Poll), Err(t0 + w));
}

mod gated {
    use d1_export_core::*;
    use std::time::{Duration, Instant};

    fn export(now: Instant) -> Export {
        let config = Config::new(ApiBase::default(), ApiToken::new("t").unwrap());
        let job = Job {
            account: AccountId::new("0123456789abcdef0123456789abcdef").unwrap(),
            database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd").unwrap(),
            options: DumpOptions::default(),
        };
        Export::new(config, job, now).unwrap()
    }

    /// An export that has news (a log line) right after each request it sends, as a
    /// machine with its own event sources may.
    struct Chatty {
        inner: Export,
        news: bool,
    }

    impl Machine for Chatty {
        type Outcome = Outcome;
        fn poll_output(&mut self) -> Output<Outcome> {
            if std::mem::take(&mut self.news) {
                return Output::Event(Event::Log("news".into()));
            }
            let out = self.inner.poll_output();
            self.news = matches!(out, Output::Send { .. });
            out
        }
        fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), InputError> {
            self.inner.handle_input(now, input)
        }
        fn reply_limit(&self) -> usize {
            self.inner.reply_limit()
        }
    }

    impl Prioritized for Chatty {
        fn priority(&self) -> Priority {
            self.inner.priority()
        }
    }

    #[test]
    fn the_gate_passes_the_reply_limit_through() {
        let now = Instant::now();
        let budget = SharedBudget::new(RateBudget::cloudflare());
        let gated = Gated::new(export(now), budget, now);
        assert_eq!(gated.reply_limit(), 1 << 20);
    }

    #[test]
    fn a_held_request_survives_news_and_goes_out_when_the_budget_allows() {
        let t0 = Instant::now();
        let w = Duration::from_secs(10);
        let budget = SharedBudget::new(RateBudget::new(1, w));
        // Someone else took the window's only slot.
        budget.with(|b| b.try_acquire(t0, Priority::Poll)).unwrap();
        let mut gated = Gated::new(
            Chatty {
                inner: export(t0),
                news: false,
            },
            budget,
            t0,
        );
        // The request is held until the slot frees.
        match gated.poll_output() {
            Output::WaitUntil(at) => assert_eq!(at, t0 + w),
            other => panic!("{other:?}"),
        }
        // The news is passed on, and the request is still held.
        assert!(matches!(
            gated.poll_output(),
            Output::Event(Event::Log(ref l)) if l == "news"
        ));
        match gated.poll_output() {
            Output::WaitUntil(at) => assert_eq!(at, t0 + w),
            other => panic!("{other:?}"),
        }
        gated.handle_input(t0 + w, Input::Tick).unwrap();
        match gated.poll_output() {
            Output::Send { id, .. } => assert_eq!(id.get(), 1),
            other => panic!("{other:?}"),
        }
    }
}
