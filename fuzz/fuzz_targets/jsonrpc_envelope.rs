//! Fuzz target `jsonrpc_envelope`: see `warden_fuzz::jsonrpc_envelope` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::jsonrpc_envelope(data));
