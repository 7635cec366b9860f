//! What the guests logged during a run, in a few numbers: lines per level
//! and the first distinct warnings, so a report can say "the strategy
//! complained" without `-vv`.
//!
//! Bounded: a count per level and at most [`MAX_WARNINGS`] messages,
//! however long the run and however chatty the guest.

use serde::Serialize;
use wasmtrade_model::{LogLevel, LogLine};

/// Distinct warning messages a summary keeps (further ones are only counted).
pub const MAX_WARNINGS: usize = 5;

/// Lines the guests logged, per level, and the first distinct warnings
/// (level warn or error).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GuestLogSummary {
    /// Lines at trace level.
    pub trace: u64,
    /// Lines at debug level.
    pub debug: u64,
    /// Lines at info level.
    pub info: u64,
    /// Lines at warn level.
    pub warn: u64,
    /// Lines at error level.
    pub error: u64,
    /// Lines the guests' log buffers dropped (a guest logging faster than
    /// the host drains).
    pub dropped: u64,
    /// The first [`MAX_WARNINGS`] distinct messages at warn level or above,
    /// in the order first seen.
    pub first_warnings: Vec<GuestWarning>,
}

/// One distinct warning message and how often it was logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GuestWarning {
    /// The strategy id or indicator name that logged it.
    pub source: String,
    /// `warn` or `error`.
    pub level: &'static str,
    /// Run time of the first occurrence (RFC 3339).
    pub first_at: String,
    /// The message.
    pub message: String,
    /// How many times this source logged this message at this level.
    pub count: u64,
}

impl GuestLogSummary {
    /// Counts one line `source` logged.
    pub fn record(&mut self, source: &str, line: &LogLine) {
        let counter = match line.level {
            LogLevel::Trace => &mut self.trace,
            LogLevel::Debug => &mut self.debug,
            LogLevel::Info => &mut self.info,
            LogLevel::Warn => &mut self.warn,
            LogLevel::Error => &mut self.error,
        };
        *counter += 1;
        if line.level < LogLevel::Warn {
            return;
        }
        let level = line.level.as_str();
        if let Some(w) = self
            .first_warnings
            .iter_mut()
            .find(|w| w.level == level && w.source == source && w.message == line.message)
        {
            w.count += 1;
        } else if self.first_warnings.len() < MAX_WARNINGS {
            self.first_warnings.push(GuestWarning {
                source: source.to_string(),
                level,
                first_at: line.ts.to_string(),
                message: line.message.clone(),
                count: 1,
            });
        }
    }

    /// Lines at warn level or above.
    pub fn warnings(&self) -> u64 {
        self.warn + self.error
    }

    /// The summary as `(label, value)` table rows: none when nothing was
    /// logged at warn level or above and nothing was dropped.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        if self.warnings() == 0 && self.dropped == 0 {
            return Vec::new();
        }
        let mut head = format!("{} warn, {} error", self.warn, self.error);
        if self.dropped > 0 {
            head.push_str(&format!(", {} dropped", self.dropped));
        }
        let mut rows = vec![("Guest warnings", head)];
        for w in &self.first_warnings {
            let times = if w.count > 1 {
                format!(" (x{})", w.count)
            } else {
                String::new()
            };
            rows.push(("", format!("[{}] {}: {}{times}", w.level, w.source, w.message)));
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use wasmtrade_model::Timestamp;

    use super::*;

    fn line(level: LogLevel, message: &str) -> LogLine {
        LogLine {
            ts: Timestamp::from_secs(60),
            level,
            message: message.to_string(),
        }
    }

    #[test]
    fn counts_every_level_and_keeps_distinct_warnings_in_order() {
        let mut s = GuestLogSummary::default();
        s.record("a", &line(LogLevel::Info, "hello"));
        s.record("a", &line(LogLevel::Warn, "careful"));
        s.record("a", &line(LogLevel::Warn, "careful"));
        s.record("b", &line(LogLevel::Warn, "careful"));
        s.record("a", &line(LogLevel::Error, "broken"));
        assert_eq!((s.info, s.warn, s.error), (1, 3, 1));
        let kept: Vec<_> = s
            .first_warnings
            .iter()
            .map(|w| (w.source.as_str(), w.level, w.message.as_str(), w.count))
            .collect();
        assert_eq!(
            kept,
            [
                ("a", "warn", "careful", 2),
                ("b", "warn", "careful", 1),
                ("a", "error", "broken", 1)
            ]
        );
        assert_eq!(s.first_warnings[0].first_at, "1970-01-01T00:01:00Z");
    }

    #[test]
    fn keeps_at_most_max_warnings_messages_but_counts_them_all() {
        let mut s = GuestLogSummary::default();
        for n in 0..100 {
            s.record("a", &line(LogLevel::Warn, &format!("warning {n}")));
        }
        assert_eq!(s.warn, 100);
        assert_eq!(s.first_warnings.len(), MAX_WARNINGS);
        assert_eq!(s.first_warnings[0].message, "warning 0");
    }

    #[test]
    fn table_rows_only_when_something_was_worth_a_look() {
        let mut s = GuestLogSummary::default();
        s.record("a", &line(LogLevel::Info, "fine"));
        assert!(s.rows().is_empty());
        s.record("a", &line(LogLevel::Warn, "no buy"));
        s.record("a", &line(LogLevel::Warn, "no buy"));
        let rows = s.rows();
        assert_eq!(rows[0], ("Guest warnings", "2 warn, 0 error".to_string()));
        assert_eq!(rows[1], ("", "[warn] a: no buy (x2)".to_string()));
    }
}
