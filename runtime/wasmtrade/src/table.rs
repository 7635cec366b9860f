//! Plain-text two-column tables for humans.

use std::fmt::Write;

/// Renders `(label, value)` rows with aligned values.
pub fn two_columns(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in rows {
        let _ = writeln!(out, "{label:<width$}  {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_values_after_the_longest_label() {
        let t = two_columns(&[("a", "1".into()), ("long label", "2".into())]);
        assert_eq!(t, "a           1\nlong label  2\n");
    }
}
