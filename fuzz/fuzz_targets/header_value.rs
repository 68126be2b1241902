//! Fuzz target `header_value`: see `warden_fuzz::header_value` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::header_value(data));
