//! Arbitrary scripts of replies, failures, heads and bodies through the export machine.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    d1_export_core::harness::run_script(&d1_export_core::harness::actions_from_bytes(data));
});
