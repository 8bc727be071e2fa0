//! Crontab syntax (`man 5 crontab`) translated to the `cron` crate's syntax.
//! This is the one place that knows both: crontab has no seconds field and
//! numbers the week from Sunday = 0 (7 is Sunday too, Monday is 1), while the
//! crate wants seconds first and counts Sunday as 1.
//!
//! Every field is expanded to the explicit set of values it names and written
//! back as a plain list, so nothing depends on how the crate reads steps,
//! ranges or day names.

use super::ScheduleError;
use std::collections::BTreeSet;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const MONTHS_LONG: [&str; 12] = [
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const DAYS_LONG: [&str; 7] = [
    "SUNDAY",
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Second => "second",
            Kind::Minute => "minute",
            Kind::Hour => "hour",
            Kind::DayOfMonth => "day of month",
            Kind::Month => "month",
            Kind::DayOfWeek => "day of week",
        }
    }

    /// Inclusive bounds as crontab writes them (day of week allows 7 for Sunday).
    fn bounds(self) -> (u32, u32) {
        match self {
            Kind::Second | Kind::Minute => (0, 59),
            Kind::Hour => (0, 23),
            Kind::DayOfMonth => (1, 31),
            Kind::Month => (1, 12),
            Kind::DayOfWeek => (0, 7),
        }
    }

    fn allowed(self) -> &'static str {
        match self {
            Kind::Second => "seconds are 0-59",
            Kind::Minute => "minutes are 0-59",
            Kind::Hour => "hours are 0-23",
            Kind::DayOfMonth => "days of month are 1-31",
            Kind::Month => "months are 1-12 or JAN-DEC",
            Kind::DayOfWeek => "days of week are 0-7 (0 and 7 are Sunday, 1 is Monday) or SUN-SAT",
        }
    }

    fn value_of_name(self, name: &str) -> Option<u32> {
        let upper = name.to_ascii_uppercase();
        let find = |short: &[&str], long: &[&str], first: u32| {
            let at = short.iter().position(|n| *n == upper);
            let at = at.or_else(|| long.iter().position(|n| *n == upper));
            at.map(|i| i as u32 + first)
        };
        match self {
            Kind::Month => find(&MONTHS, &MONTHS_LONG, 1),
            Kind::DayOfWeek => find(&DAYS, &DAYS_LONG, 0),
            _ => None,
        }
    }
}

/// One parsed field: the values it names, and whether its text starts with
/// `*`, which is what crontab looks at for the day-of-month/day-of-week rule.
#[derive(Debug, Clone)]
struct Field {
    values: BTreeSet<u32>,
    star: bool,
}

/// Translates a crontab line (5 fields, 6 with leading seconds, or an
/// `@shortcut`) into one or two `cron` crate expressions. Two means "either":
/// crontab fires on a day that matches the day of month *or* the day of week
/// when both are restricted, while the crate requires both.
pub(super) fn translate(expr: &str) -> Result<Vec<String>, ScheduleError> {
    let expanded;
    let text = if let Some(name) = expr.strip_prefix('@') {
        expanded =
            shortcut(name).ok_or_else(|| ScheduleError::UnknownShortcut(expr.to_string()))?;
        expanded
    } else {
        expr
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let (second, rest) = match words.len() {
        0 => return Err(ScheduleError::Empty),
        5 => ("0", &words[..]),
        6 => (words[0], &words[1..]),
        found => {
            return Err(ScheduleError::FieldCount {
                expr: expr.to_string(),
                found,
            })
        }
    };
    let field = |kind, text| parse_field(expr, kind, text);
    let second = field(Kind::Second, second)?;
    let minute = field(Kind::Minute, rest[0])?;
    let hour = field(Kind::Hour, rest[1])?;
    let dom = field(Kind::DayOfMonth, rest[2])?;
    let month = field(Kind::Month, rest[3])?;
    let dow = field(Kind::DayOfWeek, rest[4])?;

    let time = format!(
        "{} {} {}",
        render(Kind::Second, &second),
        render(Kind::Minute, &minute),
        render(Kind::Hour, &hour)
    );
    let month = render(Kind::Month, &month);
    let (dom_text, dow_text) = (
        render(Kind::DayOfMonth, &dom),
        render(Kind::DayOfWeek, &dow),
    );
    if dom.star || dow.star {
        Ok(vec![format!("{time} {dom_text} {month} {dow_text}")])
    } else {
        Ok(vec![
            format!("{time} {dom_text} {month} *"),
            format!("{time} * {month} {dow_text}"),
        ])
    }
}

fn shortcut(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "hourly" => "0 * * * *",
        "daily" | "midnight" => "0 0 * * *",
        "weekly" => "0 0 * * 0",
        "monthly" => "0 0 1 * *",
        "yearly" | "annually" => "0 0 1 1 *",
        _ => return None,
    })
}

fn parse_field(expr: &str, kind: Kind, text: &str) -> Result<Field, ScheduleError> {
    let fail = |problem: String| ScheduleError::Field {
        expr: expr.to_string(),
        field: kind.label(),
        value: text.to_string(),
        problem,
    };
    let mut values = BTreeSet::new();
    for item in text.split(',') {
        let (lo, hi, step) = parse_item(kind, item).map_err(fail)?;
        values.extend((lo..=hi).step_by(step as usize));
    }
    if kind == Kind::DayOfWeek && values.remove(&7) {
        values.insert(0);
    }
    Ok(Field {
        values,
        star: text.starts_with('*'),
    })
}

/// One list item: `*`, `N`, `N-M`, any of those with `/STEP`, where N and M
/// may be names. Returns (first, last, step).
fn parse_item(kind: Kind, item: &str) -> Result<(u32, u32, u32), String> {
    let (min, max) = kind.bounds();
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => {
            let step: u32 = step
                .parse()
                .map_err(|_| format!("step `{step}` is not a whole number"))?;
            if step == 0 {
                return Err("a step must be at least 1".into());
            }
            (range, Some(step))
        }
        None => (item, None),
    };
    let (lo, hi) = if range == "*" {
        (min, max)
    } else if let Some((a, b)) = range.split_once('-') {
        let lo = value(kind, a)?;
        let mut hi = value(kind, b)?;
        // `FRI-SUN` reads naturally; SUN is 0 by name but ends the week here.
        if kind == Kind::DayOfWeek && hi == 0 && lo > 0 {
            hi = 7;
        }
        if lo > hi {
            return Err(format!(
                "the range starts after it ends; {}",
                kind.allowed()
            ));
        }
        (lo, hi)
    } else {
        let lo = value(kind, range)?;
        // crontab has no `N/STEP`; read it like cronie does, as `N-max/STEP`.
        (lo, if step.is_some() { max } else { lo })
    };
    Ok((lo, hi, step.unwrap_or(1)))
}

fn value(kind: Kind, text: &str) -> Result<u32, String> {
    let (min, max) = kind.bounds();
    if text.is_empty() {
        return Err(format!("a value is missing; {}", kind.allowed()));
    }
    let n = match text.parse::<u32>() {
        Ok(n) => n,
        Err(_) => {
            return kind.value_of_name(text).ok_or_else(|| {
                format!(
                    "`{text}` is not a number or a name here; {}",
                    kind.allowed()
                )
            })
        }
    };
    if n < min || n > max {
        return Err(format!("{n} is out of range; {}", kind.allowed()));
    }
    Ok(n)
}

/// Writes a field in the crate's syntax: `*` when every value is named,
/// else an explicit list (days of week as names, so numbering cannot slip).
fn render(kind: Kind, field: &Field) -> String {
    let (min, max) = match kind {
        Kind::DayOfWeek => (0, 6),
        other => other.bounds(),
    };
    if field.values.len() as u32 == max - min + 1 {
        return "*".into();
    }
    let items: Vec<String> = field
        .values
        .iter()
        .map(|&v| match kind {
            Kind::DayOfWeek => DAYS[v as usize].to_string(),
            _ => v.to_string(),
        })
        .collect();
    items.join(",")
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn five_fields_gain_seconds_and_weekday_names() {
        assert_eq!(translate("0 8 * * 1").unwrap(), ["0 0 8 * * MON"]);
        assert_eq!(translate("0 8 * * 0").unwrap(), ["0 0 8 * * SUN"]);
        assert_eq!(translate("0 8 * * 7").unwrap(), ["0 0 8 * * SUN"]);
        assert_eq!(
            translate("0 8 * * 1-5").unwrap(),
            ["0 0 8 * * MON,TUE,WED,THU,FRI"]
        );
        assert_eq!(translate("0 8 * * 0-7").unwrap(), ["0 0 8 * * *"]);
        assert_eq!(
            translate("0 8 * * fri-sun").unwrap(),
            ["0 0 8 * * SUN,FRI,SAT"]
        );
        assert_eq!(translate("*/15 * * * *").unwrap(), ["0 0,15,30,45 * * * *"]);
        assert_eq!(
            translate("0 1-5/2 * jan,Dec *").unwrap(),
            ["0 0 1,3,5 * 1,12 *"]
        );
    }

    #[test]
    fn both_day_fields_restricted_gives_two_expressions() {
        assert_eq!(
            translate("0 9 1 * MON").unwrap(),
            ["0 0 9 1 * *", "0 0 9 * * MON"]
        );
        // A day field that starts with `*` is unrestricted for this rule,
        // as in Vixie cron and cronie: this one means odd days that are Mondays.
        assert_eq!(translate("0 9 */2 * MON").unwrap().len(), 1);
    }

    #[test]
    fn six_fields_keep_their_seconds() {
        assert_eq!(translate("30 0 8 * * MON").unwrap(), ["30 0 8 * * MON"]);
    }
}
