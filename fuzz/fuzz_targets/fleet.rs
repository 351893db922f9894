//! Arbitrary services (answers, latencies, throttling, failures) and budgets through the
//! fleet machine: the budget, the poll gaps and the pace hold, and every task ends once.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    d1_export_core::harness::fuzz_fleet(data);
});
