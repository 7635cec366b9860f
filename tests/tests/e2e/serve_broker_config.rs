//! `wasmtrade serve` with a venue it cannot use refuses to start and says
//! what to fix: IB without a universe, live IB without the opt-in, an
//! unreachable IB Gateway or paper venue.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use wasmtrade_e2e::serve_refused;

/// The refusal's stderr, and whether a store was created (an invalid
/// configuration creates nothing; a connection is only tried once the
/// store's lock is held, so two processes never share an IB client id).
fn refused(env: &[(&str, &str)]) -> (String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let stderr = serve_refused(dir.path(), env).unwrap();
    (stderr, dir.path().join("store").exists())
}

#[test]
fn ibkr_without_symbols_is_refused_naming_the_key() {
    let (stderr, store) = refused(&[("WASMTRADE__BROKER__KIND", "ibkr")]);
    assert!(stderr.contains("broker.ibkr.symbols"), "{stderr}");
    assert!(!store, "an invalid configuration created a store");
}

#[test]
fn live_ibkr_without_the_explicit_opt_in_is_refused() {
    let (stderr, store) = refused(&[
        ("WASMTRADE__BROKER__KIND", "ibkr"),
        ("WASMTRADE__BROKER__IBKR__SYMBOLS", r#"["SPY"]"#),
        ("WASMTRADE__BROKER__IBKR__MODE", "live"),
    ]);
    assert!(stderr.contains("allow_live"), "{stderr}");
    assert!(!store, "an invalid configuration created a store");
}

#[test]
fn an_unreachable_ib_gateway_is_refused_pointing_to_the_runbook() {
    let (stderr, _) = refused(&[
        ("WASMTRADE__BROKER__KIND", "ibkr"),
        ("WASMTRADE__BROKER__IBKR__SYMBOLS", r#"["SPY"]"#),
        ("WASMTRADE__BROKER__IBKR__PORT", "1"),
        ("WASMTRADE__BROKER__IBKR__REQUEST_TIMEOUT_MS", "2000"),
    ]);
    assert!(
        stderr.contains("cannot connect to IB Gateway") && stderr.contains("docs/ibkr.md"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_paper_venue_is_refused_saying_how_to_start_it() {
    let (stderr, _) = refused(&[
        ("WASMTRADE__BROKER__KIND", "venue"),
        ("WASMTRADE__BROKER__VENUE_ADDRESS", "127.0.0.1:1"),
    ]);
    assert!(
        stderr.contains("wasmtrade paper-venue --listen 127.0.0.1:1"),
        "{stderr}"
    );
}
