//! Arbitrary ids, options and bookmarks: a clear error or a request whose body round-trips.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| d1_export_core::harness::fuzz_request(data));
