//! Arbitrary scripts of replies, upload answers and failures through the import machine.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    d1_export_core::harness::fuzz_import(data);
});
