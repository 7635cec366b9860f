//! The fuzz targets' entry points on the stable toolchain, over every saved
//! input: the seeds, the saved regressions (`fuzz/regressions/<target>/`)
//! and a fixed, seeded set of mutations of each seed (bit flips,
//! truncations, splices, byte runs). This is what `make test` runs instead
//! of a nightly coverage-guided build; `make fuzz` still runs libFuzzer over
//! the same entry points (`fuzz/entry/*.rs`) for as long as you like.
//!
//! A panic inside an entry point fails the test with the input's name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

#[path = "../fuzz/entry/csv_bars.rs"]
mod csv_bars;
#[path = "../fuzz/entry/load_guest.rs"]
mod load_guest;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A tiny deterministic generator (SplitMix64): the same mutations on every run.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// One mutation of `seed`, in the spirit of libFuzzer's default mutators.
    fn mutate(&mut self, seed: &[u8], other: &[u8]) -> Vec<u8> {
        let mut out = seed.to_vec();
        match self.below(6) {
            0 => {
                // flip a few bits
                for _ in 0..=self.below(8) {
                    if !out.is_empty() {
                        let i = self.below(out.len());
                        out[i] ^= 1 << self.below(8);
                    }
                }
            }
            1 => out.truncate(self.below(out.len() + 1)),
            2 => {
                // splice a piece of another input in
                let at = self.below(out.len() + 1);
                let from = self.below(other.len() + 1);
                let len = self.below(other.len() - from + 1).min(4096);
                out.splice(at..at, other[from..from + len].iter().copied());
            }
            3 => {
                // a run of one "interesting" byte
                let at = self.below(out.len() + 1);
                let byte = [0u8, 0xff, b',', b'"', b'\n', b'-', b'9', 0x80][self.below(8)];
                out.splice(at..at, std::iter::repeat_n(byte, 1 + self.below(300)));
            }
            4 => {
                // delete a range
                let a = self.below(out.len() + 1);
                let b = (a + self.below(64)).min(out.len());
                out.drain(a..b);
            }
            _ => {
                // overwrite with a little-endian integer at a random place
                if out.len() >= 4 {
                    let i = self.below(out.len() - 3);
                    let v = [0u32, 1, u32::MAX, 0x7fff_ffff, 0x8000_0000][self.below(5)];
                    out[i..i + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        out
    }
}

/// Every regular file directly in `dir`, sorted (missing dir: none).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Runs `entry` on `input`, turning a panic into a failure that names the input.
fn replay(entry: fn(&[u8]), name: &str, input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| entry(input))).is_err() {
        let saved = std::env::temp_dir().join(format!("fuzz-finding-{}", name.replace(['/', ' '], "_")));
        let _ = std::fs::write(&saved, input);
        panic!(
            "fuzz entry point panicked on {name} ({} bytes, saved to {}); minimise it and add it to fuzz/regressions/",
            input.len(),
            saved.display()
        );
    }
}

#[test]
fn csv_bars_survives_every_seed_regression_and_mutation() {
    let dir = fuzz_dir();
    let seeds: Vec<(String, Vec<u8>)> = files_in(&dir.join("seeds/csv_bars"))
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    assert!(
        seeds.len() >= 5,
        "the csv_bars seeds are missing from {}",
        dir.display()
    );
    for p in files_in(&dir.join("regressions/csv_bars")) {
        replay(
            csv_bars::run,
            &p.display().to_string(),
            &std::fs::read(&p).unwrap(),
        );
    }
    let mut mutator = Mutator(0x5eed_c5f0);
    let mut runs = 0;
    for (i, (name, seed)) in seeds.iter().enumerate() {
        // Both time-zone modes (the first byte's parity picks one).
        for prefix in [0u8, 1u8] {
            let mut input = vec![prefix];
            input.extend_from_slice(seed);
            replay(csv_bars::run, name, &input);
            runs += 1;
        }
        let other = &seeds[(i + 1) % seeds.len()].1;
        for n in 0..1500 {
            let input = mutator.mutate(seed, other);
            replay(csv_bars::run, &format!("{name} mutation {n}"), &input);
            runs += 1;
        }
    }
    assert!(runs > 7000);
}

#[test]
fn load_guest_survives_every_seed_regression_and_mutation() {
    // Seeds: the host's fixture guests (always built by this test binary)
    // plus the bundled guests when `make guests` has built them.
    let mut seeds: Vec<(String, Vec<u8>)> = ["strategy", "indicator", "fs-reader"]
        .iter()
        .map(|n| (format!("fixture {n}"), common::fixture(n)))
        .collect();
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/guest");
    for g in ["sma_cross", "sma", "hostile_forbidden_import"] {
        if let Ok(bytes) = std::fs::read(built.join(format!("{g}.wasm"))) {
            seeds.push((g.to_string(), bytes));
        }
    }
    for (name, seed) in &seeds {
        replay(load_guest::run, name, seed);
    }
    for p in files_in(&fuzz_dir().join("regressions/load_guest")) {
        replay(
            load_guest::run,
            &p.display().to_string(),
            &std::fs::read(&p).unwrap(),
        );
    }
    // Each mutation that still parses costs a compilation: a few per seed.
    let mut mutator = Mutator(0x10ad_9e57);
    for (i, (name, seed)) in seeds.iter().enumerate() {
        let other = &seeds[(i + 1) % seeds.len()].1;
        for n in 0..12 {
            let input = mutator.mutate(seed, other);
            replay(load_guest::run, &format!("{name} mutation {n}"), &input);
        }
    }
}
