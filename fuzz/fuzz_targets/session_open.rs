//! Fuzz target `session_open`: see `warden_fuzz::session_open` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::session_open(data));
