//! `wasmtrade new`: the projects it writes build, test and backtest with no
//! edits, outside this repository, by the commands their own README gives
//! (run verbatim); bad requests are refused before anything is written.

use std::path::Path;
use std::process::Command;

use wasmtrade_e2e::{markdown_blocks, output_of, run_sh_block, wasmtrade_bin, workspace_root};

/// `wasmtrade new ARGS` in `dir`.
fn new(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(wasmtrade_bin().unwrap())
        .arg("new")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A directory outside any Cargo workspace (not under this checkout).
fn outside() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("wasmtrade-new")
        .tempdir_in("/tmp")
        .unwrap()
}

/// Creates `kind NAME` in a fresh directory and runs its README's commands.
fn create_and_follow_the_readme(kind: &str, name: &str) -> Vec<(String, String)> {
    let dir = outside();
    let out = new(dir.path(), &[kind, name]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("created {kind} `{name}`")), "{stdout}");
    let project = dir.path().join(name);
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(!readme.contains("{{"), "a placeholder was left:\n{readme}");
    let blocks = markdown_blocks(&readme, &format!("# {name}"));
    let sh: Vec<_> = blocks.iter().filter(|b| b.lang == "sh").collect();
    assert_eq!(sh.len(), 1, "one block of commands in the README");
    let log = run_sh_block(&sh[0].text, &project);
    let test = output_of(&log, "cargo test");
    assert!(test.contains("3 passed"), "the template's tests:\n{test}");
    log
}

#[test]
fn a_new_rust_strategy_tests_builds_and_backtests_as_its_readme_says() {
    let log = create_and_follow_the_readme("strategy", "my-cross");
    let inspect = output_of(&log, "wasmtrade guest inspect");
    assert!(inspect.contains("strategy@0.1.0"), "{inspect}");
    let report = output_of(&log, "wasmtrade backtest");
    assert!(report.contains("my-cross 0.1.0"), "{report}");
    let trades: u64 = report
        .lines()
        .find_map(|l| l.strip_prefix("Trades"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no trade count:\n{report}"));
    assert!(trades > 0, "the example strategy should trade:\n{report}");
}

#[test]
fn a_new_rust_indicator_tests_and_builds_as_its_readme_says() {
    let log = create_and_follow_the_readme("indicator", "my_roc");
    let inspect = output_of(&log, "wasmtrade guest inspect");
    assert!(inspect.contains("indicator@0.1.0"), "{inspect}");
}

#[test]
fn bad_names_taken_directories_other_languages_and_wrong_sdks_are_refused_before_writing() {
    let dir = outside();
    for (args, says) in [
        (vec!["strategy", "My Strategy"], "not a usable guest name"),
        (vec!["strategy", "../escape"], "not a usable guest name"),
        (vec!["strategy", "test"], "reserved"),
        (
            vec!["strategy", "ok", "--lang", "python"],
            "possible values: rust",
        ),
        (vec!["widget", "ok"], "invalid value 'widget'"),
        (
            vec!["strategy", "ok", "--sdk", "/nonexistent"],
            "--sdk /nonexistent",
        ),
        (
            vec!["strategy", "ok", "--sdk", "/tmp"],
            "cannot read /tmp/Cargo.toml",
        ),
    ] {
        let out = new(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "something was written"
    );

    std::fs::create_dir(dir.path().join("taken")).unwrap();
    std::fs::write(dir.path().join("taken/notes.txt"), "mine").unwrap();
    let out = new(dir.path(), &["strategy", "taken"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists and is not empty"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("taken/notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn with_sdk_the_project_depends_on_that_directory_instead_of_a_copy() {
    let dir = outside();
    let sdk = workspace_root().join("sdk");
    let out = new(
        dir.path(),
        &[
            "indicator",
            "uses-clone",
            "--sdk",
            sdk.to_str().unwrap(),
            "--dir",
            "sub",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let project = dir.path().join("sub/uses-clone");
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let sdk = sdk.canonicalize().unwrap();
    assert!(
        manifest.contains(&format!("wasmtrade-sdk = {{ path = \"{}\" }}", sdk.display())),
        "{manifest}"
    );
    assert!(!project.join("wasmtrade-sdk").exists());
}
