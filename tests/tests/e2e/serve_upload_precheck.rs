//! Uploads are checked before they are compiled, and compiled side by side
//! within a deadline (issue 15, item 4), on the real binary:
//!
//! - a 15 MB component of the wrong world with forbidden imports (the
//!   clstm-ppo policy, uploaded as a strategy) is refused in under a second
//!   naming its imports, and serve's RSS does not rise by the hundreds of
//!   MiB a compilation costs;
//! - while a slow legitimate compilation runs, a small upload is answered
//!   without waiting for it;
//! - a compilation over `guests.compile.timeout_ms` is refused with that
//!   reason, and the CLI shows it instead of its own deadline.
//!
//! The slow legitimate upload is sma-cross with an extra core module of
//! straight-line arithmetic appended: the same imports and exports (a valid
//! strategy), but megabytes of code to compile.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "the tests measure latencies on the wall clock on purpose"
)]

use crate::common;

use std::ffi::OsStr;
use std::time::Instant;

use common::*;

/// sma-cross's configuration.
const SMA_CONFIG: &str = r#"{"fast":5,"slow":20}"#;
/// Logs of the upload path, so the tests can see a compilation start.
const LIVE_INFO: (&str, &str) = ("WASMTRADE_LOG", "wasmtrade_live=info,warn");

fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(payload.len(), out);
    out.extend_from_slice(payload);
}

/// `component` with a core module appended that has `functions` functions
/// of `(i32) -> i32`, each `rounds` rounds of add, tee, multiply, xor: valid
/// code the compiler must work through, never instantiated.
fn with_heavy_code(component: &[u8], functions: usize, rounds: usize) -> Vec<u8> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 1, 0x7f, 1, 0x7f], &mut module);
    let mut funcs = Vec::new();
    leb(functions, &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, functions));
    section(3, &funcs, &mut module);
    let mut body = vec![1, 1, 0x7f, 0x20, 0]; // one i32 local; local.get 0
    for i in 0..rounds {
        let k = (i % 60) as u8 + 1;
        // i32.const k; i32.add; local.tee 1; local.get 1; i32.mul; i32.const 5; i32.xor
        body.extend_from_slice(&[0x41, k, 0x6a, 0x22, 1, 0x20, 1, 0x6c, 0x41, 5, 0x73]);
    }
    body.push(0x0b);
    let mut code = Vec::new();
    leb(functions, &mut code);
    for _ in 0..functions {
        leb(body.len(), &mut code);
        code.extend_from_slice(&body);
    }
    section(10, &code, &mut module);
    let mut out = component.to_vec();
    section(1, &module, &mut out);
    out
}

/// A strategy that compiles for many seconds.
fn slow_strategy() -> Vec<u8> {
    with_heavy_code(&guest_bytes("sma_cross").unwrap(), 400, 1000)
}

/// serve's resident set, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

/// Waits (up to 60 s) until serve logs that it compiles upload `name`.
async fn compiling_started(s: &Server, name: &str) {
    let needle = format!("module={name} ");
    let started = Instant::now();
    while !s
        .serve
        .stderr()
        .lines()
        .any(|l| l.contains("compiling an upload") && l.contains(&needle))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve never started compiling `{name}`; stderr:\n{}",
            s.serve.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_15_mb_wrong_world_upload_is_refused_in_under_a_second_without_compiling() {
    let mut s = Server::start(&[]).await;
    let mut policy = guest_bytes("clstm_ppo").unwrap();
    if policy.len() < 15_000_000 {
        policy = with_custom_section(&policy, "padding", &vec![7; 15_000_000 - policy.len()]);
    }
    let before = rss_mib(s.serve.pid());
    let started = Instant::now();
    let r = upload(
        &mut s.strategies,
        header("ppo", GuestKind::Strategy, &policy, ""),
        &policy,
    )
    .await;
    let took = started.elapsed();
    let after = rss_mib(s.serve.pid());
    eprintln!(
        "15 MB wrong-world upload ({} bytes) refused in {took:?}; serve RSS {before:.0} -> {after:.0} MiB",
        policy.len()
    );
    let message = assert_status(
        "clstm-ppo uploaded as a strategy",
        r,
        Code::InvalidArgument,
        &["wasi:clocks/", "wasi:filesystem/", "may not use"],
    );
    assert!(
        took < Duration::from_secs(1),
        "refusing took {took:?}: it was compiled first? {message}"
    );
    assert!(
        after - before < 100.0,
        "serve's RSS rose from {before:.0} to {after:.0} MiB for a refused upload"
    );
    // The wrong world alone (an indicator as a strategy, padded to 15 MB) is
    // as quick, and names the world it is.
    let ema = with_custom_section(&guest_bytes("ema").unwrap(), "padding", &vec![7; 15_000_000]);
    let started = Instant::now();
    let r = upload(
        &mut s.strategies,
        header("ema-as-strategy", GuestKind::Strategy, &ema, ""),
        &ema,
    )
    .await;
    let took = started.elapsed();
    assert_status(
        "a 15 MB indicator uploaded as a strategy",
        r,
        Code::InvalidArgument,
        &[
            "world strategy@0.1.0",
            "`on-bar`",
            "exports world indicator@0.1.0",
        ],
    );
    assert!(took < Duration::from_secs(1), "refusing took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_upload_is_answered_while_a_slow_one_compiles() {
    let mut s = Server::start(&[LIVE_INFO]).await;
    // The small upload alone, for its own compile time.
    let small = with_custom_section(&guest_bytes("sma_cross").unwrap(), "e2e", b"alone");
    let started = Instant::now();
    upload(
        &mut s.strategies,
        header("alone", GuestKind::Strategy, &small, SMA_CONFIG),
        &small,
    )
    .await
    .unwrap();
    let alone = started.elapsed();

    let slow = slow_strategy();
    let mut client = s.strategies.clone();
    let slow_started = Instant::now();
    let slow_task = tokio::spawn(async move {
        let r = upload(
            &mut client,
            header("slow", GuestKind::Strategy, &slow, SMA_CONFIG),
            &slow,
        )
        .await;
        (r, slow_started.elapsed())
    });
    compiling_started(&s, "slow").await;

    let small = with_custom_section(&guest_bytes("sma_cross").unwrap(), "e2e", b"beside");
    let started = Instant::now();
    let r = upload(
        &mut s.strategies,
        header("beside", GuestKind::Strategy, &small, SMA_CONFIG),
        &small,
    )
    .await;
    let beside = started.elapsed();
    let slow_still_compiling = !slow_task.is_finished();
    let (slow_result, slow_took) = slow_task.await.unwrap();
    eprintln!("small upload alone {alone:?}, beside the slow one {beside:?}; slow upload {slow_took:?}");
    r.unwrap_or_else(|e| panic!("the small upload failed: {e:?}"));
    slow_result.unwrap_or_else(|e| panic!("the slow (valid) upload failed: {e:?}"));
    assert!(
        slow_still_compiling,
        "the small upload ({beside:?}) was answered only after the slow one ({slow_took:?}): it queued behind it"
    );
    // Two compilations share the CPU: the small one may take about twice
    // its own time, never the slow one's.
    assert!(
        beside < alone * 4 + Duration::from_secs(2),
        "the small upload took {beside:?} beside the slow one, {alone:?} alone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compilation_over_the_deadline_is_refused_and_the_cli_shows_why() {
    let mut s = Server::start(&[LIVE_INFO, ("WASMTRADE__GUESTS__COMPILE__TIMEOUT_MS", "1000")]).await;
    let slow = slow_strategy();
    let started = Instant::now();
    let r = upload(
        &mut s.strategies,
        header("slow", GuestKind::Strategy, &slow, SMA_CONFIG),
        &slow,
    )
    .await;
    let took = started.elapsed();
    assert_status(
        "a compilation over the deadline",
        r,
        Code::ResourceExhausted,
        &["`slow`", "took longer than 1000 ms", "guests.compile.timeout_ms"],
    );
    assert!(took < Duration::from_secs(5), "the refusal took {took:?}");

    // The CLI's own deadline (--timeout 1) does not hide the server's reason.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.wasm");
    std::fs::write(&file, &slow).unwrap();
    let out = s
        .serve
        .cli([
            OsStr::new("strategy"),
            OsStr::new("upload"),
            file.as_os_str(),
            OsStr::new("--name"),
            OsStr::new("slow-cli"),
            OsStr::new("--config"),
            OsStr::new(SMA_CONFIG),
            OsStr::new("--timeout"),
            OsStr::new("1"),
        ])
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the CLI upload succeeded: {stderr}");
    assert!(
        stderr.contains("took longer than 1000 ms") && stderr.contains("guests.compile.timeout_ms"),
        "the CLI did not show the server's reason: {stderr}"
    );
    // Nothing refused was stored.
    let modules = s
        .strategies
        .list(ListRequest { name: String::new() })
        .await
        .unwrap()
        .into_inner()
        .modules;
    assert!(modules.is_empty(), "{modules:?}");
}
