//! Timestamp parsing for CSV cells.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use wasmtrade_model::Timestamp;

/// Why a timestamp cell could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeError {
    /// Not in any accepted format.
    Unparsable,
    /// A naive local time inside a DST gap.
    Nonexistent,
}

const NAIVE_FORMATS: [&str; 4] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
];

/// Parses one timestamp cell. Naive times are read in `tz`; an ambiguous
/// local time (the repeated hour when clocks go back) resolves to the earlier
/// instant.
pub(crate) fn parse_timestamp(text: &str, tz: Tz) -> Result<Timestamp, TimeError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(TimeError::Unparsable);
    }
    let digits = t.strip_prefix('-').unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = t.parse().map_err(|_| TimeError::Unparsable)?;
        return secs
            .checked_mul(Timestamp::NANOS_PER_SEC)
            .map(Timestamp::from_nanos)
            .ok_or(TimeError::Unparsable);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return to_timestamp(dt.timestamp(), dt.timestamp_subsec_nanos());
    }
    for fmt in NAIVE_FORMATS {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, fmt) {
            return localize(naive, tz);
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let naive = date.and_hms_opt(0, 0, 0).ok_or(TimeError::Unparsable)?;
        return localize(naive, tz);
    }
    Err(TimeError::Unparsable)
}

fn localize(naive: NaiveDateTime, tz: Tz) -> Result<Timestamp, TimeError> {
    let dt = match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) => dt,
        LocalResult::Ambiguous(earlier, _) => earlier,
        LocalResult::None => return Err(TimeError::Nonexistent),
    };
    to_timestamp(dt.timestamp(), dt.timestamp_subsec_nanos())
}

fn to_timestamp(secs: i64, nanos: u32) -> Result<Timestamp, TimeError> {
    secs.checked_mul(Timestamp::NANOS_PER_SEC)
        .and_then(|n| n.checked_add(i64::from(nanos)))
        .map(Timestamp::from_nanos)
        .ok_or(TimeError::Unparsable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn ny() -> Tz {
        chrono_tz::America::New_York
    }

    #[rstest]
    #[case("2024-01-02T14:30:00Z", Tz::UTC, 1_704_205_800)]
    #[case("2024-01-02T09:30:00-05:00", Tz::UTC, 1_704_205_800)]
    #[case("2024-01-02 14:30:00", Tz::UTC, 1_704_205_800)]
    #[case("2024-01-02 14:30", Tz::UTC, 1_704_205_800)]
    #[case("2024-01-02T14:30:00", Tz::UTC, 1_704_205_800)]
    #[case("2024-01-02 09:30:00", chrono_tz::America::New_York, 1_704_205_800)]
    #[case("2024-01-02", Tz::UTC, 1_704_153_600)]
    #[case("1704205800", Tz::UTC, 1_704_205_800)]
    fn parses_every_accepted_format(#[case] text: &str, #[case] tz: Tz, #[case] secs: i64) {
        assert_eq!(parse_timestamp(text, tz), Ok(Timestamp::from_secs(secs)));
    }

    #[test]
    fn keeps_fractional_seconds() {
        let ts = parse_timestamp("2024-01-02 14:30:00.25", Tz::UTC).unwrap();
        assert_eq!(ts, Timestamp::from_nanos(1_704_205_800_250_000_000));
    }

    #[test]
    fn naive_times_follow_daylight_saving_in_new_york() {
        // 2024-03-10: clocks jump from 02:00 EST to 03:00 EDT.
        let before = parse_timestamp("2024-03-09 09:30", ny()).unwrap();
        let after = parse_timestamp("2024-03-11 09:30", ny()).unwrap();
        assert_eq!(before, Timestamp::from_secs(1_709_994_600)); // 14:30Z
        assert_eq!(after, Timestamp::from_secs(1_710_163_800)); // 13:30Z
        assert_eq!(
            after.since(before),
            (2 * 86_400 - 3600) * Timestamp::NANOS_PER_SEC
        );
    }

    #[test]
    fn refuses_local_times_inside_a_dst_gap() {
        assert_eq!(
            parse_timestamp("2024-03-10 02:30", ny()),
            Err(TimeError::Nonexistent)
        );
    }

    #[test]
    fn resolves_ambiguous_local_times_to_the_earlier_instant() {
        // 2024-11-03 01:30 happens twice in New York; the first is EDT (05:30Z).
        assert_eq!(
            parse_timestamp("2024-11-03 01:30", ny()),
            Ok(Timestamp::from_secs(1_730_611_800))
        );
    }

    #[rstest]
    #[case("")]
    #[case("yesterday")]
    #[case("2024-13-01")]
    #[case("2024/01/02")]
    #[case("1.5")]
    fn refuses_garbage(#[case] text: &str) {
        assert_eq!(parse_timestamp(text, Tz::UTC), Err(TimeError::Unparsable));
    }
}
