//! The SDK README's "Write a guest" steps, run verbatim in an empty directory
//! outside this repository, as a strategy author with their own repository
//! would: `cargo new`, the README's `Cargo.toml`, `src/lib.rs` and
//! `tests/breakout.rs`, then its build commands (native test, wasm build,
//! `wasmtrade guest inspect`, `wasmtrade backtest`).
//!
//! The README puts the wasmtrade clone beside the project
//! (`path = "../wasmtrade/sdk"`); the test does the same with a symlink to
//! this checkout, so not one character of the documented files changes.

use wasmtrade_e2e::{Block, markdown_blocks, output_of, run_sh_block, workspace_root};

#[test]
fn the_sdk_readme_guest_builds_tests_and_backtests_outside_the_repository() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("sdk/README.md")).unwrap();
    let blocks = markdown_blocks(&readme, "## Write a guest");
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
    run_sh_block(&shells[0].text, outside.path());
    let project = outside.path().join("breakout");
    for (name, text) in &files {
        let path = project.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let log = run_sh_block(&shells[1].text, &project);

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
