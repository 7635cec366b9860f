//! Trading hours and calendar blackouts, in the exchange's time zone.
//!
//! A calendar is a daily session (`open`–`close` local time, on the listed
//! weekdays, not on holidays) plus blackout windows (e.g. five minutes
//! either side of a scheduled economic release). A session whose close is
//! not after its open runs overnight: it belongs to the day it opens.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use wasmtrade_model::Timestamp;

use crate::config::ConfigProblem;

/// A calendar as written in the configuration.
///
/// ```toml
/// [calendars.us-equities]
/// timezone = "America/New_York"
/// open = "09:30"
/// close = "16:00"
/// days = ["mon", "tue", "wed", "thu", "fri"]   # the default
/// holidays = ["2024-12-25"]
/// blackouts = [{ start = "2024-06-12T08:25", end = "2024-06-12T08:35", label = "CPI" }]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendar {
    /// IANA time zone of the times below, e.g. `America/New_York`.
    pub timezone: String,
    /// Session open, local `HH:MM` (or `HH:MM:SS`).
    pub open: String,
    /// Session close, local; orders at or after it are refused.
    pub close: String,
    /// Weekdays with a session (`mon` … `sun`). Default Monday–Friday.
    #[serde(default = "weekdays")]
    pub days: Vec<String>,
    /// Local dates without a session, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Windows without trading, in local time.
    #[serde(default)]
    pub blackouts: Vec<RawBlackout>,
}

fn weekdays() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec()
}

/// A blackout window as written: local `YYYY-MM-DDTHH:MM[:SS]` times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBlackout {
    /// First instant of the blackout.
    pub start: String,
    /// First instant after the blackout.
    pub end: String,
    /// What it is for (shown in rejections), e.g. `CPI release`.
    #[serde(default)]
    pub label: String,
}

/// Why a calendar refuses an order at some instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Closed<'c> {
    /// Outside the session, on a non-trading day or a holiday.
    OutsideHours {
        /// Local time, for the message.
        local: NaiveDateTime,
    },
    /// Inside a blackout.
    Blackout(&'c Blackout),
}

/// A validated blackout (UTC instants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Blackout {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) label: String,
}

/// A validated calendar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calendar {
    raw: RawCalendar,
    tz: Tz,
    open: NaiveTime,
    close: NaiveTime,
    /// Bit `n` set: weekday `n` (Monday = 0) has a session.
    days: u8,
    holidays: BTreeSet<NaiveDate>,
    blackouts: Vec<Blackout>,
}

impl Calendar {
    /// The calendar as written.
    pub fn raw(&self) -> &RawCalendar {
        &self.raw
    }

    /// The time zone.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Validates `raw`, adding every problem found to `problems` (field paths
    /// start with `path`).
    pub(crate) fn validate(path: &str, raw: &RawCalendar, problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        let mut bad = |field: &str, value: &str, expected: &'static str| {
            problems.push(ConfigProblem::InvalidValue {
                path: format!("{path}.{field}"),
                value: value.to_string(),
                expected,
            });
        };
        let tz = raw.timezone.parse::<Tz>().ok();
        if tz.is_none() {
            bad(
                "timezone",
                &raw.timezone,
                "an IANA time zone such as America/New_York",
            );
        }
        let open = parse_time(&raw.open);
        if open.is_none() {
            bad("open", &raw.open, "a local time HH:MM");
        }
        let close = parse_time(&raw.close);
        if close.is_none() {
            bad("close", &raw.close, "a local time HH:MM");
        }
        let mut days = 0u8;
        for d in &raw.days {
            match d.parse::<Weekday>() {
                Ok(w) => days |= 1 << w.num_days_from_monday(),
                Err(_) => bad("days", d, "a weekday: mon, tue, wed, thu, fri, sat or sun"),
            }
        }
        let mut holidays = BTreeSet::new();
        for h in &raw.holidays {
            match NaiveDate::parse_from_str(h, "%Y-%m-%d") {
                Ok(d) => {
                    holidays.insert(d);
                }
                Err(_) => bad("holidays", h, "a date YYYY-MM-DD"),
            }
        }
        let mut blackouts = Vec::new();
        for (i, b) in raw.blackouts.iter().enumerate() {
            let field = |f: &str| format!("blackouts[{i}].{f}");
            let start = tz.and_then(|tz| local_instant(&b.start, tz));
            let end = tz.and_then(|tz| local_instant(&b.end, tz));
            if tz.is_some() && start.is_none() {
                bad(
                    &field("start"),
                    &b.start,
                    "an existing local time YYYY-MM-DDTHH:MM",
                );
            }
            if tz.is_some() && end.is_none() {
                bad(&field("end"), &b.end, "an existing local time YYYY-MM-DDTHH:MM");
            }
            if let (Some(start), Some(end)) = (start, end) {
                if end <= start {
                    bad(&field("end"), &b.end, "a time after the blackout's start");
                }
                blackouts.push(Blackout {
                    start,
                    end,
                    label: b.label.clone(),
                });
            }
        }
        blackouts.sort_by_key(|b| b.start);
        Some(Self {
            raw: raw.clone(),
            tz: tz?,
            open: open?,
            close: close?,
            days,
            holidays,
            blackouts,
        })
    }

    /// `Ok` if trading is allowed at `now`, else why not. Allocation-free.
    pub(crate) fn check(&self, now: Timestamp) -> Result<(), Closed<'_>> {
        if let Some(b) = self.blackouts.iter().find(|b| b.start <= now && now < b.end) {
            return Err(Closed::Blackout(b));
        }
        let local = local_time(now, self.tz);
        let (date, time) = (local.date(), local.time());
        let in_session = if self.open < self.close {
            self.trades_on(date) && self.open <= time && time < self.close
        } else {
            // Overnight: the session opened today or is the tail of yesterday's.
            (time >= self.open && self.trades_on(date))
                || (time < self.close && date.pred_opt().is_some_and(|d| self.trades_on(d)))
        };
        if in_session {
            Ok(())
        } else {
            Err(Closed::OutsideHours { local })
        }
    }

    fn trades_on(&self, date: NaiveDate) -> bool {
        self.days & (1 << date.weekday().num_days_from_monday()) != 0 && !self.holidays.contains(&date)
    }
}

/// The local wall-clock time of `ts` in `tz`.
pub(crate) fn local_time(ts: Timestamp, tz: Tz) -> NaiveDateTime {
    let secs = ts.secs();
    let nanos = u32::try_from(ts.nanos().rem_euclid(Timestamp::NANOS_PER_SEC)).unwrap_or(0);
    let utc = DateTime::from_timestamp(secs, nanos).unwrap_or_default();
    utc.with_timezone(&tz).naive_local()
}

/// The first instant of the local day after the one containing `ts`.
pub(crate) fn next_local_midnight(ts: Timestamp, tz: Tz) -> Timestamp {
    let date = local_time(ts, tz).date();
    let mut next = date.succ_opt().unwrap_or(date);
    // A zone may skip midnight (DST at 00:00): take the first existing instant.
    for _ in 0..2 {
        let midnight = next.and_time(NaiveTime::MIN);
        match tz.from_local_datetime(&midnight) {
            LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => {
                return Timestamp::from_secs(dt.timestamp());
            }
            LocalResult::None => {
                if let Some(later) = midnight.checked_add_signed(chrono::TimeDelta::hours(1))
                    && let LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) =
                        tz.from_local_datetime(&later)
                {
                    return Timestamp::from_secs(dt.timestamp());
                }
                next = next.succ_opt().unwrap_or(next);
            }
        }
    }
    ts.add_nanos(86_400 * Timestamp::NANOS_PER_SEC)
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .ok()
}

fn local_instant(text: &str, tz: Tz) -> Option<Timestamp> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => {
            Some(Timestamp::from_nanos(dt.timestamp_nanos_opt()?))
        }
        LocalResult::None => None,
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn nyse() -> Calendar {
        let raw = RawCalendar {
            timezone: "America/New_York".into(),
            open: "09:30".into(),
            close: "16:00".into(),
            days: weekdays(),
            holidays: vec!["2024-07-04".into()],
            blackouts: vec![RawBlackout {
                start: "2024-06-12T08:25".into(),
                end: "2024-06-12T08:35".into(),
                label: "CPI".into(),
            }],
        };
        let mut problems = Vec::new();
        let c = Calendar::validate("calendars.nyse", &raw, &mut problems).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        c
    }

    fn at(text: &str) -> Timestamp {
        // UTC instants.
        let dt = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").unwrap();
        Timestamp::from_secs(dt.and_utc().timestamp())
    }

    #[rstest]
    // Summer (EDT, UTC-4): 09:30 local is 13:30 UTC.
    #[case::before_open("2024-06-11T13:29:59", false)]
    #[case::at_open("2024-06-11T13:30:00", true)]
    #[case::last_second("2024-06-11T19:59:59", true)]
    #[case::at_close("2024-06-11T20:00:00", false)]
    // Winter (EST, UTC-5): 09:30 local is 14:30 UTC.
    #[case::winter_before_open("2024-01-09T14:29:59", false)]
    #[case::winter_open("2024-01-09T14:30:00", true)]
    #[case::saturday("2024-06-15T15:00:00", false)]
    #[case::holiday("2024-07-04T15:00:00", false)]
    fn follows_the_new_york_session(#[case] utc: &str, #[case] open: bool) {
        assert_eq!(nyse().check(at(utc)).is_ok(), open, "{utc}");
    }

    #[test]
    fn blackouts_cover_start_but_not_end() {
        let c = nyse();
        // 08:25 EDT = 12:25 UTC.
        assert!(matches!(c.check(at("2024-06-12T12:25:00")), Err(Closed::Blackout(b)) if b.label == "CPI"));
        assert!(matches!(
            c.check(at("2024-06-12T12:35:00")),
            Err(Closed::OutsideHours { .. })
        ));
        assert!(matches!(
            c.check(at("2024-06-12T12:24:59")),
            Err(Closed::OutsideHours { .. })
        ));
    }

    #[test]
    fn overnight_sessions_belong_to_the_day_they_open() {
        let raw = RawCalendar {
            timezone: "UTC".into(),
            open: "18:00".into(),
            close: "17:00".into(),
            days: vec!["sun".into(), "mon".into()],
            holidays: vec![],
            blackouts: vec![],
        };
        let c = Calendar::validate("c", &raw, &mut Vec::new()).unwrap();
        assert!(c.check(at("2024-06-09T18:00:00")).is_ok()); // Sunday evening
        assert!(c.check(at("2024-06-10T16:59:59")).is_ok()); // Monday, tail of Sunday
        assert!(c.check(at("2024-06-10T17:30:00")).is_err()); // the daily break
        assert!(c.check(at("2024-06-11T18:30:00")).is_err()); // Tuesday has no session
    }

    #[test]
    fn collects_every_calendar_problem() {
        let raw = RawCalendar {
            timezone: "Mars/Olympus".into(),
            open: "9h30".into(),
            close: "16:00".into(),
            days: vec!["funday".into()],
            holidays: vec!["July 4".into()],
            blackouts: vec![],
        };
        let mut problems = Vec::new();
        assert!(Calendar::validate("calendars.x", &raw, &mut problems).is_none());
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].to_string().contains("calendars.x.timezone"));
    }

    #[test]
    fn finds_the_next_local_midnight() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 2024-06-11 15:00 UTC is 11:00 EDT; next midnight EDT is 04:00 UTC.
        assert_eq!(
            next_local_midnight(at("2024-06-11T15:00:00"), tz),
            at("2024-06-12T04:00:00")
        );
    }
}
