//! Fuzz target `sse_parser`: see `warden_fuzz::sse_parser` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::sse_parser(data));
