use super::{parse_timezone, Schedule, ScheduleError};
use chrono::{DateTime, Datelike, Utc, Weekday};
use chrono_tz::Tz;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

/// The next `n` fire times after `after`, in RFC 3339 UTC.
fn fires(expr: &str, after: &str, tz: Tz, n: usize) -> Vec<String> {
    let schedule = Schedule::parse(expr).unwrap();
    let mut t = at(after);
    (0..n)
        .map(|_| {
            t = schedule.next_after(t, tz).unwrap();
            t.to_rfc3339()
        })
        .collect()
}

fn next(expr: &str, after: &str, tz: Tz) -> String {
    fires(expr, after, tz, 1).remove(0)
}

const BERLIN: Tz = chrono_tz::Europe::Berlin;
const NEW_YORK: Tz = chrono_tz::America::New_York;

#[test]
fn monday_by_name_and_by_number() {
    // 2026-06-03 is a Wednesday.
    for expr in ["0 8 * * MON", "0 8 * * mon", "0 8 * * 1", "0 8 * * Monday"] {
        let t = at(&next(expr, "2026-06-03T12:00:00Z", Tz::UTC));
        assert_eq!(t.weekday(), Weekday::Mon, "{expr}");
        assert_eq!(t.to_rfc3339(), "2026-06-08T08:00:00+00:00", "{expr}");
    }
}

#[test]
fn sunday_is_zero_and_seven() {
    for expr in ["0 8 * * 0", "0 8 * * 7", "0 8 * * SUN"] {
        assert_eq!(
            next(expr, "2026-06-03T12:00:00Z", Tz::UTC),
            "2026-06-07T08:00:00+00:00",
            "{expr}"
        );
    }
}

#[test]
fn weekdays_skip_the_weekend() {
    let got = fires("0 8 * * 1-5", "2026-06-04T12:00:00Z", Tz::UTC, 3);
    // Thursday noon → Friday, then Monday and Tuesday.
    assert_eq!(
        got,
        [
            "2026-06-05T08:00:00+00:00",
            "2026-06-08T08:00:00+00:00",
            "2026-06-09T08:00:00+00:00"
        ]
    );
}

#[test]
fn every_quarter_hour() {
    let got = fires("*/15 * * * *", "2026-06-04T12:07:30Z", Tz::UTC, 4);
    assert_eq!(
        got,
        [
            "2026-06-04T12:15:00+00:00",
            "2026-06-04T12:30:00+00:00",
            "2026-06-04T12:45:00+00:00",
            "2026-06-04T13:00:00+00:00"
        ]
    );
}

#[test]
fn strictly_after() {
    assert_eq!(
        next("0 8 * * *", "2026-06-04T08:00:00Z", Tz::UTC),
        "2026-06-05T08:00:00+00:00"
    );
    assert_eq!(
        next("0 8 * * *", "2026-06-04T07:59:59.9Z", Tz::UTC),
        "2026-06-04T08:00:00+00:00"
    );
}

#[test]
fn day_of_month_or_day_of_week() {
    // 2026-04-01 is a Wednesday: it fires for "the 1st", then for Monday the 6th.
    let got = fires("0 9 1 * MON", "2026-03-31T12:00:00Z", Tz::UTC, 3);
    assert_eq!(
        got,
        [
            "2026-04-01T09:00:00+00:00",
            "2026-04-06T09:00:00+00:00",
            "2026-04-13T09:00:00+00:00"
        ]
    );
    // A day field starting with `*` does not count as restricted (Vixie cron):
    // odd days that are also Mondays. 2026-06-01 and 2026-06-15 are Mondays.
    let got = fires("0 9 */2 * MON", "2026-05-31T12:00:00Z", Tz::UTC, 2);
    assert_eq!(
        got,
        ["2026-06-01T09:00:00+00:00", "2026-06-15T09:00:00+00:00"]
    );
}

#[test]
fn shortcuts() {
    // 2026-06-03 is a Wednesday; @weekly is Sunday midnight.
    assert_eq!(
        next("@weekly", "2026-06-03T12:00:00Z", Tz::UTC),
        "2026-06-07T00:00:00+00:00"
    );
    assert_eq!(
        next("@daily", "2026-06-03T12:00:00Z", Tz::UTC),
        "2026-06-04T00:00:00+00:00"
    );
    assert_eq!(
        next("@midnight", "2026-06-03T12:00:00Z", Tz::UTC),
        "2026-06-04T00:00:00+00:00"
    );
    assert_eq!(
        next("@hourly", "2026-06-03T12:00:00Z", Tz::UTC),
        "2026-06-03T13:00:00+00:00"
    );
    assert_eq!(
        next("@monthly", "2026-06-03T12:00:00Z", Tz::UTC),
        "2026-07-01T00:00:00+00:00"
    );
    assert_eq!(
        next("@yearly", "2026-06-03T12:00:00Z", Tz::UTC),
        "2027-01-01T00:00:00+00:00"
    );
    assert_eq!(
        next("@annually", "2026-06-03T12:00:00Z", Tz::UTC),
        "2027-01-01T00:00:00+00:00"
    );
}

#[test]
fn six_fields_with_seconds() {
    assert_eq!(
        next("30 0 8 * * MON", "2026-06-03T12:00:00Z", Tz::UTC),
        "2026-06-08T08:00:30+00:00"
    );
    assert_eq!(
        next("0 0 8 * * 0", "2026-06-03T12:00:00Z", Tz::UTC),
        "2026-06-07T08:00:00+00:00"
    );
}

#[test]
fn local_time_in_new_york() {
    // Winter: EST is UTC-5. Summer: EDT is UTC-4.
    assert_eq!(
        next("0 8 * * MON", "2026-01-01T00:00:00Z", NEW_YORK),
        "2026-01-05T13:00:00+00:00"
    );
    assert_eq!(
        next("0 8 * * MON", "2026-07-01T00:00:00Z", NEW_YORK),
        "2026-07-06T12:00:00+00:00"
    );
    // Monday 08:00 in New York is still Monday though UTC has moved on a day
    // for an evening schedule: Sunday 22:00 EDT is Monday 02:00 UTC.
    assert_eq!(
        next("0 22 * * SUN", "2026-07-01T00:00:00Z", NEW_YORK),
        "2026-07-06T02:00:00+00:00"
    );
}

#[test]
fn spring_forward_berlin_fires_once_after_the_gap() {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 does not exist.
    let got = fires("30 2 * * *", "2026-03-28T12:00:00Z", BERLIN, 3);
    assert_eq!(
        got,
        [
            "2026-03-29T01:00:00+00:00",
            "2026-03-30T00:30:00+00:00",
            "2026-03-31T00:30:00+00:00"
        ]
    );
    // Several slots inside the gap collapse into one firing at 03:00 CEST.
    let got = fires("*/15 * * * *", "2026-03-29T00:50:00Z", BERLIN, 3);
    assert_eq!(
        got,
        [
            "2026-03-29T01:00:00+00:00",
            "2026-03-29T01:15:00+00:00",
            "2026-03-29T01:30:00+00:00"
        ]
    );
}

#[test]
fn spring_forward_new_york() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC).
    let got = fires("30 2 * * *", "2026-03-07T12:00:00Z", NEW_YORK, 2);
    assert_eq!(
        got,
        ["2026-03-08T07:00:00+00:00", "2026-03-09T06:30:00+00:00"]
    );
    // Times outside the gap are unaffected.
    assert_eq!(
        next("0 8 * * *", "2026-03-07T14:00:00Z", NEW_YORK),
        "2026-03-08T12:00:00+00:00"
    );
}

#[test]
fn fall_back_berlin_fires_the_first_occurrence_only() {
    // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 is 00:30 UTC, then 01:30 UTC.
    let got = fires("30 2 * * *", "2026-10-24T12:00:00Z", BERLIN, 2);
    assert_eq!(
        got,
        ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]
    );
    // Asked from inside the repeated hour, the slot has already fired.
    assert_eq!(
        next("30 2 * * *", "2026-10-25T01:10:00Z", BERLIN),
        "2026-10-26T01:30:00+00:00"
    );
}

#[test]
fn fall_back_new_york() {
    // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 is 05:30 UTC, then 06:30 UTC.
    let got = fires("30 1 * * *", "2026-10-31T12:00:00Z", NEW_YORK, 2);
    assert_eq!(
        got,
        ["2026-11-01T05:30:00+00:00", "2026-11-02T06:30:00+00:00"]
    );
    assert_eq!(
        next("0 8 * * *", "2026-10-31T14:00:00Z", NEW_YORK),
        "2026-11-01T13:00:00+00:00"
    );
}

#[test]
fn keeps_the_text_for_display() {
    let s = Schedule::parse("  0 8 * * MON ").unwrap();
    assert_eq!(s.as_str(), "0 8 * * MON");
    assert_eq!(s.to_string(), "0 8 * * MON");
}

#[test]
fn invalid_schedules_explain_themselves() {
    let cases = [
        ("61 * * * *", "minute `61`"),
        ("* * * *", "4 fields"),
        ("0 8 * * FUNDAY", "`FUNDAY` is not a number or a name"),
        ("0 24 * * *", "hour `24`"),
        ("0 8 * * 8", "day of week `8`"),
        ("0 8 0 * *", "day of month `0`"),
        ("0 8 * 13 *", "month `13`"),
        ("*/0 * * * *", "step must be at least 1"),
        ("0 8 * * 5-1", "starts after it ends"),
        ("0 8 * * 1,", "value is missing"),
        ("0 8 31 4 *", "never fires"),
        ("@reboot", "unknown shortcut"),
        ("", "empty"),
        ("0 0 8 * * MON 2026", "7 fields"),
        ("0 8 ? * MON", "`?` is not a number"),
    ];
    for (expr, expected) in cases {
        let err = Schedule::parse(expr).expect_err(expr).to_string();
        assert!(err.contains(expected), "{expr}: {err}");
        if !matches!(Schedule::parse(expr), Err(ScheduleError::NeverFires(_))) {
            assert!(err.contains("0 8 * * MON"), "{expr}: no example in {err}");
        }
    }
}

#[test]
fn time_zones() {
    assert_eq!(parse_timezone("UTC").unwrap(), Tz::UTC);
    assert_eq!(
        parse_timezone("Europe/Paris").unwrap(),
        chrono_tz::Europe::Paris
    );
    assert_eq!(parse_timezone(" america/new_york ").unwrap(), NEW_YORK);
    let err = parse_timezone("Europe/Pariss").unwrap_err().to_string();
    assert!(
        err.contains("Europe/Pariss") && err.contains("Europe/Paris"),
        "{err}"
    );
    assert!(parse_timezone("").is_err());
}
