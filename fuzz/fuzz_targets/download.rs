//! Arbitrary download heads and byte counts: a short or inconsistent file is never whole.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| d1_export_core::harness::fuzz_download(data));
