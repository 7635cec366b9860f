//! Human output of the client: aligned tables, short enum names, durations
//! and timestamps, and the `strategy list` table.

use std::fmt::Write as _;
use std::io::Write as _;

use wasmtrade_proto::v1::{
    ActivateResponse, GuestKind, LogLevel, Module, RunState, ShadowStatus, Side, VersionStatus,
};

use crate::table::two_columns;

/// Renders a table: a header row, then one row per entry, columns aligned
/// with two spaces between them and no trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Writes `text` to stdout; `Ok(false)` when the reader has gone
/// (`wasmtrade events | head`), which is not an error: the command stops.
fn write_stdout(text: &str) -> anyhow::Result<bool> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

/// Prints `text` as is (tables, reports) on stdout.
pub fn print(text: &str) -> anyhow::Result<()> {
    write_stdout(text).map(drop)
}

/// Prints one line of a stream; `Ok(false)` when stdout is closed.
pub fn emit_line(line: &str) -> anyhow::Result<bool> {
    write_stdout(&format!("{line}\n"))
}

/// An activation, rollback, promotion or config update for people.
pub fn activation(r: &ActivateResponse) -> String {
    let was = if r.previous_version == 0 {
        "none".to_string()
    } else {
        format!("v{}", r.previous_version)
    };
    two_columns(&[
        ("module", r.name.clone()),
        ("active", format!("v{} (was {was})", r.version)),
        ("pause", duration_ns(r.pause_ns)),
        ("state", format!("{} bytes handed over", r.state_bytes)),
    ])
}

/// `GUEST_KIND_STRATEGY` with prefix `GUEST_KIND_` → `strategy`.
fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_lowercase()
}

/// Generates `fn(i32) -> String` giving an enum value's short lowercase name
/// (`unknown(N)` for a value this client does not know).
macro_rules! enum_names {
    ($($(#[$doc:meta])* $fn:ident: $ty:ty, $prefix:literal;)*) => {$(
        $(#[$doc])*
        pub fn $fn(value: i32) -> String {
            <$ty>::try_from(value)
                .map_or_else(|_| format!("unknown({value})"), |v| short(v.as_str_name(), $prefix))
        }
    )*};
}

enum_names! {
    /// A [`GuestKind`]: `strategy`, `indicator`.
    kind_name: GuestKind, "GUEST_KIND_";
    /// A [`RunState`]: `stopped`, `running`, `quarantined`.
    state_name: RunState, "RUN_STATE_";
    /// A [`VersionStatus`]: `staged`, `released`, `quarantined`, `removed`.
    version_status_name: VersionStatus, "VERSION_STATUS_";
    /// A [`LogLevel`]: `trace` ... `error`.
    level_name: LogLevel, "LOG_LEVEL_";
    /// A [`Side`]: `buy`, `sell`.
    side_name: Side, "SIDE_";
}

/// Nanoseconds as `850 ns`, `12.3 µs`, `1.25 ms` or `2.50 s`.
pub fn duration_ns(ns: u64) -> String {
    // Display only: the precision lost converting to f64 does not show.
    #[allow(clippy::cast_precision_loss)]
    let f = ns as f64;
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", f / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", f / 1e6),
        _ => format!("{:.2} s", f / 1e9),
    }
}

/// Nanoseconds since the Unix epoch as UTC RFC 3339 with milliseconds; `-` for 0.
pub fn timestamp_ns(ns: i64) -> String {
    if ns == 0 {
        return "-".into();
    }
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// `-` for an empty string.
pub fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// The versions of a module, the active one starred: `1,2*,3`.
pub fn versions_cell(module: &Module) -> String {
    let cells: Vec<String> = module
        .versions
        .iter()
        .map(|v| {
            let star = if v.version == module.active_version {
                "*"
            } else {
                ""
            };
            format!("{}{star}", v.version)
        })
        .collect();
    if cells.is_empty() {
        "-".into()
    } else {
        cells.join(",")
    }
}

/// A shadow run in one cell: `v3 118/120 match`, or its fault.
pub fn shadow_cell(shadow: Option<&ShadowStatus>) -> String {
    match shadow {
        None => "-".into(),
        Some(s) if !s.fault.is_empty() => format!("v{} faulted", s.version),
        Some(s) => format!("v{} {}/{} match", s.version, s.matching, s.events),
    }
}

/// The `strategy list` table, then one line per fault.
pub fn modules_table(modules: &[Module]) -> String {
    if modules.is_empty() {
        return "no modules (upload one with `wasmtrade strategy upload`)\n".into();
    }
    let rows: Vec<Vec<String>> = modules
        .iter()
        .map(|m| {
            let counters = m.counters.unwrap_or_default();
            vec![
                m.name.clone(),
                kind_name(m.kind),
                if m.active_version == 0 {
                    "-".into()
                } else {
                    format!("v{}", m.active_version)
                },
                state_name(m.state),
                versions_cell(m),
                counters.bars.to_string(),
                counters.intents.to_string(),
                shadow_cell(m.shadow.as_ref()),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "NAME", "KIND", "ACTIVE", "STATE", "VERSIONS", "BARS", "INTENTS", "SHADOW",
        ],
        &rows,
    );
    for m in modules {
        if m.active_version != 0 && !m.config_json.is_empty() {
            let _ = writeln!(out, "{}: v{} config {}", m.name, m.active_version, m.config_json);
        }
        if !m.fault.is_empty() {
            let _ = writeln!(out, "{}: {}: {}", m.name, state_name(m.state), m.fault);
        }
        if let Some(s) = m.shadow.as_ref().filter(|s| !s.fault.is_empty()) {
            let _ = writeln!(out, "{}: shadow v{} faulted: {}", m.name, s.version, s.fault);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use wasmtrade_proto::v1::{Counters, Version};

    use super::*;

    fn module(name: &str, active: u32, versions: &[u32]) -> Module {
        Module {
            name: name.into(),
            kind: GuestKind::Strategy as i32,
            active_version: active,
            state: if active == 0 {
                RunState::Stopped
            } else {
                RunState::Running
            } as i32,
            versions: versions
                .iter()
                .map(|&v| Version {
                    version: v,
                    ..Default::default()
                })
                .collect(),
            counters: Some(Counters {
                bars: 1200,
                intents: 7,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn renders_a_list_response_as_a_table() {
        let mut shadowed = module("rsi", 2, &[1, 2, 3]);
        shadowed.kind = GuestKind::Indicator as i32;
        shadowed.shadow = Some(ShadowStatus {
            version: 3,
            events: 120,
            matching: 118,
            ..Default::default()
        });
        let stopped = module("sma-cross", 0, &[1]);
        assert_eq!(
            modules_table(&[shadowed, stopped]),
            "\
NAME       KIND       ACTIVE  STATE    VERSIONS  BARS  INTENTS  SHADOW
rsi        indicator  v2      running  1,2*,3    1200  7        v3 118/120 match
sma-cross  strategy   -       stopped  1         1200  7        -
"
        );
    }

    #[test]
    fn lists_the_active_config_under_the_table() {
        let mut m = module("sma", 2, &[1, 2]);
        m.config_json = r#"{"fast":3}"#.into();
        let mut stopped = module("idle", 0, &[1]);
        stopped.config_json = r#"{"slow":9}"#.into();
        let out = modules_table(&[m, stopped]);
        assert!(out.ends_with("\nsma: v2 config {\"fast\":3}\n"), "{out}");
        assert!(!out.contains("idle: "), "{out}");
    }

    #[test]
    fn lists_faults_under_the_table() {
        let mut m = module("x", 1, &[1]);
        m.state = RunState::Quarantined as i32;
        m.fault = "trap in on_bar".into();
        m.shadow = Some(ShadowStatus {
            version: 2,
            fault: "fuel".into(),
            ..Default::default()
        });
        let out = modules_table(&[m]);
        assert!(out.contains("\nx: quarantined: trap in on_bar\n"), "{out}");
        assert!(out.ends_with("x: shadow v2 faulted: fuel\n"), "{out}");
        assert!(modules_table(&[]).starts_with("no modules"));
    }

    #[test]
    fn enum_names_are_short_and_survive_unknown_values() {
        assert_eq!(kind_name(GuestKind::Indicator as i32), "indicator");
        assert_eq!(side_name(Side::Sell as i32), "sell");
        assert_eq!(version_status_name(99), "unknown(99)");
    }

    #[test]
    fn durations_and_timestamps_are_readable() {
        assert_eq!(duration_ns(850), "850 ns");
        assert_eq!(duration_ns(12_345), "12.3 µs");
        assert_eq!(duration_ns(1_250_000), "1.25 ms");
        assert_eq!(duration_ns(2_500_000_000), "2.50 s");
        assert_eq!(timestamp_ns(0), "-");
        assert_eq!(
            timestamp_ns(1_700_000_000_123_000_000),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
