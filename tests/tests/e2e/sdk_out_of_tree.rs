//! The SDK README's "Write a guest" steps, run verbatim in an empty directory
//! outside this repository, as a strategy author with their own repository
//! would: `cargo new`, the README's `Cargo.toml`, `src/lib.rs` and
//! `tests/breakout.rs`, then its build commands (native test, wasm build,
//! `wasmtrade guest inspect`, `wasmtrade backtest`).
//!
//! The README puts the wasmtrade clone beside the project
//! (`path = "../wasmtrade/sdk"`); the test does the same with a symlink to
//! this checkout, so not one character of the documented files changes.

use std::path::Path;
use std::process::Command;

use wasmtrade_e2e::{wasmtrade_bin, workspace_root};

/// A fenced block of the README: its info string and its lines.
struct Block {
    lang: String,
    text: String,
}

/// The fenced code blocks of `markdown` between the heading `from` and the
/// next heading of the same level.
fn blocks(markdown: &str, from: &str) -> Vec<Block> {
    let start = markdown
        .find(from)
        .unwrap_or_else(|| panic!("no `{from}` in the README"));
    let rest = &markdown[start + from.len()..];
    let section = rest.find("\n## ").map_or(rest, |end| &rest[..end]);
    let mut out = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(lang) = line.strip_prefix("```") else {
            continue;
        };
        let mut text = String::new();
        for inner in lines.by_ref() {
            if inner.starts_with("```") {
                break;
            }
            text.push_str(inner);
            text.push('\n');
        }
        out.push(Block {
            lang: lang.trim().to_string(),
            text,
        });
    }
    out
}

/// Runs a `sh` block line by line in `dir` (each line a command, as a user
/// pastes them), with the release `wasmtrade` first on `PATH`; returns
/// each command with its output, failing the test on the first that fails.
fn run_sh(block: &str, dir: &Path) -> Vec<(String, String)> {
    let bin = wasmtrade_bin().unwrap();
    let bin_dir = bin.parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut all = Vec::new();
    for line in block
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let out = Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(dir)
            .env("PATH", &path)
            // The author's machine: none of this repository's settings.
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO")
            .env_remove("CARGO_MANIFEST_DIR")
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        let text = format!(
            "$ {line}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "`{line}` failed in {}:\n{text}",
            dir.display()
        );
        all.push((line.to_string(), text));
    }
    all
}

/// The output of the command starting with `prefix`.
fn output_of<'a>(log: &'a [(String, String)], prefix: &str) -> &'a str {
    log.iter()
        .find(|(line, _)| line.starts_with(prefix))
        .map(|(_, out)| out.as_str())
        .unwrap_or_else(|| panic!("the README no longer runs `{prefix}`"))
}

#[test]
fn the_sdk_readme_guest_builds_tests_and_backtests_outside_the_repository() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("sdk/README.md")).unwrap();
    let blocks = blocks(&readme, "## Write a guest");
    let shells: Vec<&Block> = blocks.iter().filter(|b| b.lang == "sh").collect();
    assert_eq!(shells.len(), 2, "expected the set-up and the build steps");
    let files: Vec<(&str, &str)> = blocks
        .iter()
        .filter(|b| b.lang != "sh")
        .map(|b| {
            let first = b.text.lines().next().unwrap_or_default();
            let name = first
                .strip_prefix("# ")
                .or_else(|| first.strip_prefix("// "))
                .unwrap_or_else(|| panic!("a file block names its file first: {first}"));
            (name, b.text.as_str())
        })
        .collect();
    let names: Vec<&str> = files.iter().map(|f| f.0).collect();
    assert_eq!(names, ["Cargo.toml", "src/lib.rs", "tests/breakout.rs"]);

    // Outside any Cargo workspace: not under this checkout (TMPDIR may be).
    let outside = tempfile::Builder::new()
        .prefix("wasmtrade-sdk-user")
        .tempdir_in("/tmp")
        .unwrap();
    std::os::unix::fs::symlink(&root, outside.path().join("wasmtrade")).unwrap();
    run_sh(&shells[0].text, outside.path());
    let project = outside.path().join("breakout");
    for (name, text) in &files {
        let path = project.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let log = run_sh(&shells[1].text, &project);

    let test = output_of(&log, "cargo test");
    assert!(
        test.contains("test buys_once_above_the_level ... ok"),
        "the native test did not run:\n{test}"
    );
    let wasm = project.join("target/wasm32-wasip2/release/breakout.wasm");
    let size = std::fs::metadata(&wasm).unwrap().len();
    assert!(size < 1024 * 1024, "the component is {size} bytes");
    let inspect = output_of(&log, "wasmtrade guest inspect");
    assert!(
        inspect.contains("breakout"),
        "inspect names the guest:\n{inspect}"
    );
    let report = output_of(&log, "wasmtrade backtest");
    assert!(
        report.contains("breakout 0.1.0") && report.contains("Final equity"),
        "the backtest printed no report of the guest:\n{report}"
    );
}
