//! Size limits of CSV input, enforced on the bytes before the CSV parser
//! buffers them: a record (line) or a field over its limit stops the read
//! at that point, so a 1 GiB field costs at most the limit in memory and
//! is refused as soon as the limit is passed.
//!
//! The scanner follows the CSV quoting rules of the parser (RFC 4180: a
//! field that starts with `"` is quoted until a lone `"`, `""` escapes a
//! quote, a newline inside quotes belongs to the field), so a record is
//! what the parser will see as one row, however many lines it spans.

use std::io::{self, Read};

/// Largest CSV record (one row, its line ending included) read, in bytes:
/// 1 MiB. An OHLCV row is well under 200 bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Largest single CSV field read, in bytes: 64 KiB.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Which limit a record broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// The record starting at `line` is longer than [`MAX_LINE_BYTES`].
    Line {
        /// 1-based line the record starts on.
        line: u64,
    },
    /// Field `index` (0-based) of the record starting at `line` is longer
    /// than [`MAX_FIELD_BYTES`].
    Field {
        /// 1-based line the record starts on.
        line: u64,
        /// 0-based field index.
        index: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: an escape if another `"` follows.
    QuoteInQuoted,
}

/// Wraps the CSV input and fails the read that would pass a limit.
#[derive(Debug)]
pub(crate) struct Bounded<R> {
    inner: R,
    max_line: usize,
    max_field: usize,
    state: State,
    line_len: usize,
    field_len: usize,
    field: usize,
    line: u64,
    record_line: u64,
    exceeded: Option<Exceeded>,
}

impl<R> Bounded<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self::with_limits(inner, MAX_LINE_BYTES, MAX_FIELD_BYTES)
    }

    pub(crate) fn with_limits(inner: R, max_line: usize, max_field: usize) -> Self {
        Self {
            inner,
            max_line,
            max_field,
            state: State::FieldStart,
            line_len: 0,
            field_len: 0,
            field: 0,
            line: 1,
            record_line: 1,
            exceeded: None,
        }
    }

    /// The limit that stopped the input, if one did.
    pub(crate) fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded
    }

    /// The limits (record, field) in bytes.
    pub(crate) fn limits(&self) -> (usize, usize) {
        (self.max_line, self.max_field)
    }

    fn end_field(&mut self) {
        self.state = State::FieldStart;
        self.field += 1;
        self.field_len = 0;
    }

    fn end_record(&mut self) {
        self.state = State::FieldStart;
        self.field = 0;
        self.field_len = 0;
        self.line_len = 0;
        self.record_line = self.line;
    }

    /// Scans one byte; `Some` when it breaks a limit.
    fn scan(&mut self, b: u8) -> Option<Exceeded> {
        if b == b'\n' {
            self.line += 1;
        }
        let separator = match (self.state, b) {
            (State::Quoted, b'"') => {
                self.state = State::QuoteInQuoted;
                false
            }
            (State::Quoted, _) => false,
            (State::FieldStart, b'"') => {
                self.state = State::Quoted;
                false
            }
            (State::QuoteInQuoted, b'"') => {
                self.state = State::Quoted;
                false
            }
            (_, b',') => {
                self.end_field();
                true
            }
            (_, b'\n') => {
                self.end_record();
                return None;
            }
            _ => {
                self.state = State::Unquoted;
                false
            }
        };
        self.line_len += 1;
        if !separator {
            self.field_len += 1;
        }
        if self.line_len > self.max_line {
            return Some(Exceeded::Line {
                line: self.record_line,
            });
        }
        if self.field_len > self.max_field {
            return Some(Exceeded::Field {
                line: self.record_line,
                index: self.field,
            });
        }
        None
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exceeded.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a CSV record or field is over its size limit",
            ));
        }
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if let Some(hit) = self.scan(b) {
                self.exceeded = Some(hit);
                // Hand the parser what came before; the next read fails.
                return if i == 0 { self.read(buf) } else { Ok(i) };
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(input: &[u8], max_line: usize, max_field: usize) -> (Vec<u8>, Option<Exceeded>) {
        let mut r = Bounded::with_limits(input, max_line, max_field);
        let mut out = Vec::new();
        let _ = r.read_to_end(&mut out);
        (out, r.exceeded())
    }

    #[test]
    fn input_within_the_limits_passes_unchanged() {
        let text = b"a,b\n\"x,\ny\",2\n";
        assert_eq!(scan(text, 8, 6), (text.to_vec(), None));
    }

    #[test]
    fn a_long_record_is_stopped_at_its_starting_line() {
        let (_, hit) = scan(b"a,b\n1,2\n123,456789\n", 8, 100);
        assert_eq!(hit, Some(Exceeded::Line { line: 3 }));
    }

    #[test]
    fn a_long_field_is_named_by_index() {
        let (out, hit) = scan(b"a,b,c\n1,2345,6\n", 100, 3);
        assert_eq!(hit, Some(Exceeded::Field { line: 2, index: 1 }));
        assert_eq!(out, b"a,b,c\n1,234".to_vec());
    }

    #[test]
    fn a_record_spanning_lines_in_quotes_counts_as_one() {
        // One record of 10 bytes over three lines.
        let (_, hit) = scan(b"h\n\"ab\ncd\nef\"\n", 9, 100);
        assert_eq!(hit, Some(Exceeded::Line { line: 2 }));
        // Escaped quotes stay inside the field; a stray quote mid-field is text.
        let (_, hit) = scan(b"\"a\"\"b\",x\"y\nz\n", 10, 100);
        assert_eq!(hit, None);
    }

    #[test]
    fn an_endless_field_is_refused_after_the_limit() {
        let mut r = Bounded::new(io::repeat(b'x'));
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(out.len(), MAX_FIELD_BYTES);
        assert_eq!(r.exceeded(), Some(Exceeded::Field { line: 1, index: 0 }));
    }
}
