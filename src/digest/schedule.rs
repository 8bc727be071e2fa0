//! Digest schedules: a crontab line (`man 5 crontab`, or 6 fields with
//! leading seconds) evaluated in a list's time zone.
//!
//! Daylight-saving rules follow Vixie cron, because that is what operators
//! expect from a crontab line: a wall-clock time skipped by a spring-forward
//! gap fires once, at the first instant after the gap; a wall-clock time that
//! occurs twice on a fall-back day fires once, at its first occurrence. The
//! `cron` crate does neither (it silently skips times in the gap and yields
//! repeated times twice), so it is only asked for wall-clock candidates and
//! this module maps them to instants.

mod crontab;
#[cfg(test)]
mod tests;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

/// A valid schedule, as an example in every error message.
const EXAMPLE: &str = "\"0 8 * * MON\" (08:00 every Monday)";

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("the schedule is empty; write a crontab line such as {EXAMPLE}")]
    Empty,
    #[error(
        "`{expr}` has {found} fields, but a schedule has 5 (minute hour day-of-month month \
         day-of-week) or 6 with leading seconds; for example {EXAMPLE}"
    )]
    FieldCount { expr: String, found: usize },
    #[error("{field} `{value}` in `{expr}`: {problem}; for example {EXAMPLE}")]
    Field {
        expr: String,
        field: &'static str,
        value: String,
        problem: String,
    },
    #[error(
        "unknown shortcut `{0}`; use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or \
         @annually, or five fields such as {EXAMPLE}"
    )]
    UnknownShortcut(String),
    #[error(
        "`{0}` never fires (no month has that day); check the day of month and the month, \
         for example \"0 8 1 * *\" fires at 08:00 on the 1st of every month"
    )]
    NeverFires(String),
    #[error(
        "unknown time zone `{0}`; use an IANA name such as \"UTC\", \"Europe/Paris\" or \
         \"America/New_York\""
    )]
    UnknownTimezone(String),
    #[error(
        "cannot use `{expr}` ({detail}); this is a bug in gazette, please report it, and use a \
         simpler schedule such as {EXAMPLE} meanwhile"
    )]
    Translate { expr: String, detail: String },
}

#[derive(Debug, Clone)]
pub struct Schedule {
    source: String,
    /// One crate schedule, or two whose union is this schedule (crontab's
    /// day-of-month *or* day-of-week rule, see `crontab::translate`).
    parts: Vec<cron::Schedule>,
}

impl Schedule {
    pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
        let source = expr.trim().to_string();
        let parts = crontab::translate(&source)?
            .iter()
            .map(|e| {
                cron::Schedule::from_str(e).map_err(|err| ScheduleError::Translate {
                    expr: source.clone(),
                    detail: format!("`{e}`: {err}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let schedule = Schedule { source, parts };
        // `0 8 31 4 *` parses but would leave a list without a next digest.
        if schedule.next_after(Utc::now(), Tz::UTC).is_none() {
            return Err(ScheduleError::NeverFires(schedule.source));
        }
        Ok(schedule)
    }

    /// The schedule as the operator wrote it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first fire time strictly after `after`, computed in `tz` local
    /// time, returned in UTC. `None` only past the crate's last year (2100).
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.parts
            .iter()
            .filter_map(|part| next_in(part, after, tz))
            .min()
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

/// Walks the crate's wall-clock candidates (with `Utc` standing in for
/// "naive local time": it has no gaps or repeats) and returns the first whose
/// instant in `tz` is after `after`. Only candidates on a fall-back day can
/// map to an instant at or before `after`, so the walk stays short.
fn next_in(part: &cron::Schedule, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let local_after = after.with_timezone(&tz).naive_local();
    part.after(&Utc.from_utc_datetime(&local_after))
        .filter_map(|candidate| instant_of(candidate.naive_utc(), tz))
        .find(|at| *at > after)
}

/// The instant a wall-clock time fires at in `tz`.
fn instant_of(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        // Occurs twice: fire at the first; the second maps to the same slot
        // and is skipped by `next_in` as not after it.
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => end_of_gap(local, tz),
    }
}

/// The first instant after the spring-forward gap containing `local`.
/// Searched rather than computed from offsets, which are only known after the
/// fact; the longest real gap (Samoa skipping 30 December 2011) is one day.
fn end_of_gap(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    let exists = |t: NaiveDateTime| tz.from_local_datetime(&t).earliest().is_some();
    let minute = local.with_second(0)?;
    let mut first = (1..=48 * 60)
        .map(|m| minute + TimeDelta::minutes(m))
        .find(|t| exists(*t))?;
    // Historical zones had offsets with seconds, so gaps may end mid-minute.
    while first - TimeDelta::seconds(1) > local && exists(first - TimeDelta::seconds(1)) {
        first -= TimeDelta::seconds(1);
    }
    tz.from_local_datetime(&first)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
}

/// Parses an IANA time zone name such as "Europe/Paris"; case does not matter.
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    let name = name.trim();
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(tz);
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| ScheduleError::UnknownTimezone(name.to_string()))
}
