//! Bad input to `wasmtrade serve` gets a precise gRPC status whose message
//! names the problem, and never disturbs the strategies that run: every test
//! that sends a bad upload first starts `good` (sma-cross) and checks at the
//! end that it still runs, still has only its one version and still counts
//! bars.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use crate::common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn bytes_that_are_not_wasm_are_invalid_argument() {
    let mut s = Server::with_good().await;
    let bytes = noise(100_000);
    assert_ne!(&bytes[..4], b"\0asm");
    let r = upload(
        &mut s.strategies,
        header(GOOD, GuestKind::Strategy, &bytes, ""),
        &bytes,
    )
    .await;
    assert_status("noise upload", r, Code::InvalidArgument, &["not a wasm file"]);
    let text = b"this is not wasm\n".repeat(10);
    let r = upload(
        &mut s.strategies,
        header(GOOD, GuestKind::Strategy, &text, ""),
        &text,
    )
    .await;
    assert_status("text upload", r, Code::InvalidArgument, &["not a wasm file"]);
    s.assert_good_unaffected().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_core_module_is_refused_as_not_a_component() {
    let mut s = Server::with_good().await;
    let core = b"\0asm\x01\0\0\0";
    let r = upload(
        &mut s.strategies,
        header(GOOD, GuestKind::Strategy, core, ""),
        core,
    )
    .await;
    assert_status(
        "core module upload",
        r,
        Code::InvalidArgument,
        &["core wasm module", "component"],
    );
    s.assert_good_unaffected().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_upload_is_refused() {
    let mut s = Server::with_good().await;
    let full = with_custom_section(&guest_bytes("sma_cross").unwrap(), "e2e", b"truncated");
    let h = header(GOOD, GuestKind::Strategy, &full, GOOD_CONFIG);
    let sent = &full[..full.len() - 1000];
    let r = upload(&mut s.strategies, h, sent).await;
    assert_status(
        "truncated upload",
        r,
        Code::InvalidArgument,
        &["truncated", &full.len().to_string(), &sent.len().to_string()],
    );
    s.assert_good_unaffected().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sha256_mismatch_is_refused() {
    let mut s = Server::with_good().await;
    let bytes = with_custom_section(&guest_bytes("sma_cross").unwrap(), "e2e", b"sha");
    let other = sha256_hex(b"other bytes");
    let mut h = header(GOOD, GuestKind::Strategy, &bytes, GOOD_CONFIG);
    h.sha256 = other.clone();
    let r = upload(&mut s.strategies, h, &bytes).await;
    assert_status(
        "upload with another sha256",
        r,
        Code::InvalidArgument,
        &["sha256 mismatch", &other, &sha256_hex(&bytes)],
    );
    let mut h = header(GOOD, GuestKind::Strategy, &bytes, GOOD_CONFIG);
    h.sha256 = "not-hex".into();
    let r = upload(&mut s.strategies, h, &bytes).await;
    assert_status(
        "upload with a malformed sha256",
        r,
        Code::InvalidArgument,
        &["sha256", "64 hex"],
    );
    s.assert_good_unaffected().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_indicator_uploaded_as_a_strategy_names_the_missing_exports() {
    let mut s = Server::with_good().await;
    let ema = guest_bytes("ema").unwrap();
    let r = upload(
        &mut s.strategies,
        header(GOOD, GuestKind::Strategy, &ema, r#"{"period":10}"#),
        &ema,
    )
    .await;
    assert_status(
        "ema declared as a strategy",
        r,
        Code::InvalidArgument,
        &["world strategy", "`on-bar`", "does not export"],
    );
    s.assert_good_unaffected().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_with_forbidden_imports_is_refused_naming_them() {
    let mut s = Server::with_good().await;
    let hostile = guest_bytes("hostile_forbidden_import").unwrap();
    let r = upload(
        &mut s.strategies,
        header(GOOD, GuestKind::Strategy, &hostile, ""),
        &hostile,
    )
    .await;
    assert_status(
        "forbidden-import upload",
        r,
        Code::InvalidArgument,
        &[
            "wasi:filesystem/types",
            "wasi:filesystem/preopens",
            "wasi:clocks/wall-clock",
        ],
    );
    s.assert_good_unaffected().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_must_start_with_one_header() {
    let mut s = Server::with_good().await;
    let bytes = guest_bytes("sma_cross").unwrap();
    let h = header(GOOD, GuestKind::Strategy, &bytes, GOOD_CONFIG);

    let data_first: Vec<UploadChunk> = data_messages(&bytes)
        .chain(std::iter::once(header_message(h.clone())))
        .collect();
    let r = send(&mut s.strategies, data_first).await;
    assert_status(
        "data before the header",
        r,
        Code::InvalidArgument,
        &["first upload message", "header"],
    );

    let r = send(&mut s.strategies, Vec::new()).await;
    assert_status("empty upload stream", r, Code::InvalidArgument, &["empty upload"]);

    let mut two_headers = vec![header_message(h.clone()), header_message(h.clone())];
    two_headers.extend(data_messages(&bytes));
    let r = send(&mut s.strategies, two_headers).await;
    assert_status("two headers", r, Code::InvalidArgument, &["second upload header"]);

    let mut no_kind = h.clone();
    no_kind.kind = GuestKind::Unspecified as i32;
    let r = upload(&mut s.strategies, no_kind, &bytes).await;
    assert_status("header without a kind", r, Code::InvalidArgument, &["kind"]);

    s.assert_good_unaffected().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_over_the_size_limit_is_resource_exhausted() {
    let mut s = Server::start(&[FAST_MARKET, ("WASMTRADE__GUESTS__MAX_UPLOAD_BYTES", "100000")]).await;
    let bytes = guest_bytes("sma_cross").unwrap();
    assert!(bytes.len() > 100_000, "sma_cross is {} bytes", bytes.len());

    // The header declares the size: refused before the bytes are read.
    let r = upload(
        &mut s.strategies,
        header(GOOD, GuestKind::Strategy, &bytes, GOOD_CONFIG),
        &bytes,
    )
    .await;
    assert_status(
        "oversized upload (declared)",
        r,
        Code::ResourceExhausted,
        &["limit", "100000", "max_upload_bytes"],
    );

    // No declared size: refused once the bytes pass the limit.
    let mut h = header(GOOD, GuestKind::Strategy, &bytes, GOOD_CONFIG);
    h.size = 0;
    let r = upload(&mut s.strategies, h, &bytes).await;
    assert_status(
        "oversized upload (undeclared)",
        r,
        Code::ResourceExhausted,
        &["limit", "100000", "max_upload_bytes"],
    );

    // Nothing was stored and the market runs on.
    let r = s.strategies.list(ListRequest { name: GOOD.into() }).await;
    assert_status("List(good) after refused uploads", r, Code::NotFound, &[GOOD]);
    let bars = s.account_bars().await;
    s.account_bars_grow_past(bars).await;
}

/// Issue 15: `.` and `..` were accepted as module names. Names are now
/// `^[a-z0-9][a-z0-9_-]{0,63}$`, refused at the API edge before any byte
/// is read, naming the field and the rule; nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn module_names_outside_the_rule_are_invalid_argument() {
    let mut s = Server::with_good().await;
    let bytes = guest_bytes("sma_cross").unwrap();
    let long = "a".repeat(200);
    for name in [".", "..", "a/b", "", long.as_str(), "smа-cross", "Sma", "../etc"] {
        let r = upload(
            &mut s.strategies,
            header(name, GuestKind::Strategy, &bytes, ""),
            &bytes,
        )
        .await;
        assert_status(
            &format!("upload as {name:?}"),
            r,
            Code::InvalidArgument,
            &["`header.name`", "module name", "1 to 64 characters from a-z, 0-9"],
        );
    }
    let r = s.activate("..", 1).await;
    assert_status(
        "activate ..",
        r,
        Code::InvalidArgument,
        &["`name`", "module name \"..\""],
    );
    // The CLI shows the same reason and exits non-zero.
    let path = wasmtrade_e2e::guest_path("sma_cross").unwrap();
    let out = s
        .serve
        .cli(["strategy", "upload", path.to_str().unwrap(), "--name", ".."])
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("module name \"..\" is invalid") && err.contains("a-z, 0-9, `-` and `_`"),
        "{err}"
    );
    let listed = s
        .strategies
        .list(ListRequest { name: String::new() })
        .await
        .unwrap()
        .into_inner()
        .modules;
    assert_eq!(listed.len(), 1, "only `good` is stored: {listed:?}");
    s.assert_good_unaffected().await;
}
