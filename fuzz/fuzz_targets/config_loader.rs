//! Fuzz target `config_loader`: see `warden_fuzz::config_loader` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| warden_fuzz::config_loader(data));
