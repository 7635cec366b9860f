//! libFuzzer target over the shared `load_guest` entry point (`entry/load_guest.rs`).
#![no_main]

#[path = "../entry/load_guest.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::run(data));
