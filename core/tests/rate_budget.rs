//! The shared rate budget's window edges, reserve, and 429 blocks (found missing by
//! cargo-mutants, scripts/mutants.sh).

use d1_export_core::RateBudget;
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
fn a_slot_frees_exactly_one_window_after_it_was_taken() {
    let t0 = Instant::now();
    let w = Duration::from_secs(10);
    let mut b = RateBudget::new(2, w);
    b.try_acquire(t0).unwrap();
    b.try_acquire(t0 + S).unwrap();
    // Just before the window passes, the oldest slot is still taken.
    let almost = t0 + w - Duration::from_millis(1);
    assert_eq!(b.next_slot(almost), t0 + w);
    assert_eq!(b.try_acquire(almost), Err(t0 + w));
    // At the window's end exactly, it is free; the second one frees a second later.
    assert_eq!(b.next_slot(t0 + w), t0 + w);
    assert_eq!(b.try_acquire(t0 + w), Ok(()));
    assert_eq!(b.next_slot(t0 + w), t0 + w + S);
}

#[test]
fn the_wait_is_for_enough_of_the_oldest_slots_to_leave() {
    let t0 = Instant::now();
    let w = Duration::from_secs(100);
    // 10 per window, taken a second apart.
    let mut b = RateBudget::new(10, w);
    for i in 0..8 {
        b.try_acquire(t0 + S * i).unwrap();
    }
    for i in 8..10 {
        b.try_acquire(t0 + S * i).unwrap();
    }
    let now = t0 + S * 20;
    // One slot must leave (the first, at t0).
    assert_eq!(b.next_slot(now), t0 + w);
    b.try_acquire(t0 + w).unwrap();
    // Then the second, taken at t0 + 1 s.
    assert_eq!(b.next_slot(t0 + w), t0 + S + w);
}

#[test]
fn a_429_blocks_until_its_retry_after_or_the_default_block() {
    let t0 = Instant::now();
    let mut b =
        RateBudget::new(100, Duration::from_secs(300)).with_block_after_429(Duration::from_secs(7));
    b.throttled(t0, None);
    assert_eq!(b.throttled_count(), 1);
    assert_eq!(b.try_acquire(t0 + S), Err(t0 + Duration::from_secs(7)));
    // A shorter block later does not shorten the longer one.
    b.throttled(t0 + S, Some(S));
    assert_eq!(b.throttled_count(), 2);
    assert_eq!(b.next_slot(t0 + S * 2), t0 + Duration::from_secs(7));
    // A longer one extends it.
    b.throttled(t0 + S * 2, Some(Duration::from_secs(10)));
    assert_eq!(b.next_slot(t0 + S * 3), t0 + Duration::from_secs(12));
    // At its end exactly, requests go again, and the block is over for good.
    let end = t0 + Duration::from_secs(12);
    assert_eq!(b.try_acquire(end), Ok(()));
    assert_eq!(b.try_acquire(end), Ok(()));
}

#[test]
fn a_block_ends_even_when_asked_after_it() {
    let t0 = Instant::now();
    let mut b = RateBudget::new(3, Duration::from_secs(10));
    b.throttled(t0, Some(S));
    let later = t0 + S * 5;
    assert_eq!(b.next_slot(later), later);
    for _ in 0..3 {
        b.try_acquire(later).unwrap();
    }
    assert_eq!(b.try_acquire(later), Err(later + Duration::from_secs(10)));
}

#[test]
fn a_failed_acquire_takes_no_slot() {
    let t0 = Instant::now();
    let mut b = RateBudget::new(1, Duration::from_secs(10));
    assert_eq!(b.try_acquire(t0), Ok(()));
    for i in 1..5 {
        assert!(b.try_acquire(t0 + S * i).is_err());
    }
    // Had the refusals taken slots, this would still be refused.
    assert_eq!(b.try_acquire(t0 + Duration::from_secs(10)), Ok(()));
}

#[test]
fn the_end_of_a_block_still_respects_the_window() {
    let t0 = Instant::now();
    let w = Duration::from_secs(10);
    let mut b = RateBudget::new(1, w);
    b.try_acquire(t0).unwrap();
    b.throttled(t0, Some(Duration::from_secs(5)));
    // The block ends at t0 + 5 s, but the window's only slot is taken until t0 + 10 s.
    let end = t0 + Duration::from_secs(5);
    assert_eq!(b.next_slot(end), t0 + w);
    assert_eq!(b.try_acquire(end), Err(t0 + w));
}
