//! libFuzzer target over the shared `csv_bars` entry point (`entry/csv_bars.rs`).
#![no_main]

#[path = "../entry/csv_bars.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::run(data));
