//! Arbitrary status, headers and body through the reply parsers: never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| d1_export_core::harness::fuzz_reply(data));
