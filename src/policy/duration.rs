//! ISO 8601 durations (ISO 8601-1:2019 §5.5.2, the `PnYnMnWnDTnHnMnS`
//! form) with calendar-correct addition, for retention periods.
//!
//! Addition follows the rule of W3C XML Schema 1.1 Part 2, Appendix E
//! ("Adding durations to dateTimes") and of `java.time.Period`: the year and
//! month part is added first and the day of the month is clamped to the
//! length of the target month (2024-02-29 + P1Y = 2025-02-28, 2024-01-31 +
//! P1M = 2024-02-29); then weeks and days are added as whole days; then the
//! time part is added as an exact number of seconds. Clamping never extends
//! a retention past the month the period names.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// The largest value one component may take. It keeps every sum far inside
/// `i64` and makes a typo such as `P20000000Y` a loader error, not a panic.
const MAX_COMPONENT: u32 = 999_999;

/// A non-negative ISO 8601 duration with whole-number components.
///
/// Invariant: at least one component is non-zero (a zero retention would
/// purge a record at the instant it is stored), and each is at most 999999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IsoDuration {
    years: u32,
    months: u32,
    weeks: u32,
    days: u32,
    hours: u32,
    minutes: u32,
    seconds: u32,
}

/// Why a string is not an accepted ISO 8601 duration. Messages name the
/// rule; the caller adds where the string came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string does not start with `P`.
    #[error("an ISO 8601 duration starts with `P`, e.g. P6Y, P10Y, P30D")]
    MissingP,
    /// `P` (or `PT`) with no component after it.
    #[error("an ISO 8601 duration needs at least one component after `P` (or `T`)")]
    Empty,
    /// A designator with no digits before it, or a character that is neither.
    #[error("expected digits followed by one of Y, M, W, D (or H, M, S after `T`)")]
    Malformed,
    /// A designator out of order, repeated, or in the wrong part.
    #[error("components must appear once each, in the order Y M W D, then T H M S")]
    Order,
    /// A decimal fraction, which retention periods do not use.
    #[error("fractional components are not accepted; use a smaller unit")]
    Fraction,
    /// A component above 999999.
    #[error("a component is larger than 999999")]
    TooLarge,
    /// Every component is zero.
    #[error("a retention period must be longer than zero")]
    Zero,
}

impl IsoDuration {
    /// A duration of whole years.
    pub fn years(years: u32) -> Self {
        Self {
            years,
            ..Self::ZERO
        }
    }

    /// A duration of whole days.
    pub fn days(days: u32) -> Self {
        Self { days, ..Self::ZERO }
    }

    const ZERO: Self = Self {
        years: 0,
        months: 0,
        weeks: 0,
        days: 0,
        hours: 0,
        minutes: 0,
        seconds: 0,
    };

    /// Parses the ISO 8601-1 `PnYnMnWnDTnHnMnS` form: upper-case designators,
    /// whole numbers, each component at most once and in that order, at
    /// least one non-zero component. Weeks may be combined with the other
    /// components (ISO 8601-2 §4.4.4.2 allows it).
    pub fn parse(raw: &str) -> Result<Self, DurationError> {
        let rest = raw.strip_prefix('P').ok_or(DurationError::MissingP)?;
        let (date_part, time_part) = match rest.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (rest, None),
        };
        let mut d = Self::ZERO;
        let date_slots: [(u8, &mut u32); 4] = [
            (b'Y', &mut d.years),
            (b'M', &mut d.months),
            (b'W', &mut d.weeks),
            (b'D', &mut d.days),
        ];
        let date_count = parse_components(date_part, date_slots)?;
        let time_count = match time_part {
            Some(t) => {
                let time_slots: [(u8, &mut u32); 3] = [
                    (b'H', &mut d.hours),
                    (b'M', &mut d.minutes),
                    (b'S', &mut d.seconds),
                ];
                let n = parse_components(t, time_slots)?;
                if n == 0 {
                    return Err(DurationError::Empty);
                }
                n
            }
            None => 0,
        };
        if date_count + time_count == 0 {
            return Err(DurationError::Empty);
        }
        if d == Self::ZERO {
            return Err(DurationError::Zero);
        }
        Ok(d)
    }

    /// Adds the duration to `at` by the calendar rule in the module doc:
    /// months (years × 12 + months) with the day clamped to the target
    /// month's length, then whole days, then the exact time part. `None`
    /// only when the result leaves the range `time` can represent.
    pub fn checked_add_to(self, at: time::OffsetDateTime) -> Option<time::OffsetDateTime> {
        let date = self.checked_add_to_date(at.date())?;
        let shifted = at.replace_date(date);
        let exact =
            i64::from(self.hours) * 3600 + i64::from(self.minutes) * 60 + i64::from(self.seconds);
        shifted.checked_add(time::Duration::seconds(exact))
    }

    /// The date part of [`IsoDuration::checked_add_to`]: months with the day
    /// clamped to the month's end, then weeks and days. The time part is
    /// ignored.
    pub fn checked_add_to_date(self, date: time::Date) -> Option<time::Date> {
        let total_months = i64::from(self.years) * 12 + i64::from(self.months);
        let month_index = i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1;
        let target = month_index.checked_add(total_months)?;
        let year = i32::try_from(target.div_euclid(12)).ok()?;
        let month = time::Month::try_from(u8::try_from(target.rem_euclid(12) + 1).ok()?).ok()?;
        // Clamp: 29 February plus one year is 28 February (see module doc).
        let day = date.day().min(month.length(year));
        let moved = time::Date::from_calendar_date(year, month, day).ok()?;
        let days = i64::from(self.weeks) * 7 + i64::from(self.days);
        moved.checked_add(time::Duration::days(days))
    }
}

/// Parses `digits designator` pairs into the slots, in slot order, each at
/// most once. Returns how many components were present.
fn parse_components<const N: usize>(
    part: &str,
    slots: [(u8, &mut u32); N],
) -> Result<usize, DurationError> {
    let bytes = part.as_bytes();
    let mut next_slot = 0;
    let mut count = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let Some(&designator) = bytes.get(i) else {
            return Err(DurationError::Malformed);
        };
        if designator == b'.' || designator == b',' {
            return Err(DurationError::Fraction);
        }
        if start == i {
            return Err(DurationError::Malformed);
        }
        if i - start > 6 {
            return Err(DurationError::TooLarge);
        }
        let value: u32 = part[start..i]
            .parse()
            .map_err(|_| DurationError::Malformed)?;
        if value > MAX_COMPONENT {
            return Err(DurationError::TooLarge);
        }
        let Some(offset) = slots[next_slot..]
            .iter()
            .position(|(d, _)| *d == designator)
        else {
            let known = slots.iter().any(|(d, _)| *d == designator);
            return Err(if known {
                DurationError::Order
            } else {
                DurationError::Malformed
            });
        };
        let slot = next_slot + offset;
        *slots[slot].1 = value;
        next_slot = slot + 1;
        count += 1;
        i += 1;
    }
    Ok(count)
}

impl FromStr for IsoDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for IsoDuration {
    /// The canonical form: zero components omitted, `T` only with a time part.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P")?;
        for (v, d) in [
            (self.years, 'Y'),
            (self.months, 'M'),
            (self.weeks, 'W'),
            (self.days, 'D'),
        ] {
            if v != 0 {
                write!(f, "{v}{d}")?;
            }
        }
        if self.hours + self.minutes + self.seconds != 0 {
            f.write_str("T")?;
            for (v, d) in [(self.hours, 'H'), (self.minutes, 'M'), (self.seconds, 'S')] {
                if v != 0 {
                    write!(f, "{v}{d}")?;
                }
            }
        }
        Ok(())
    }
}

impl Serialize for IsoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    fn add(d: &str, to: time::Date) -> time::Date {
        IsoDuration::parse(d)
            .unwrap()
            .checked_add_to_date(to)
            .unwrap()
    }

    #[test]
    fn parses_and_prints_canonical_forms() {
        for (raw, canonical) in [
            ("P6Y", "P6Y"),
            ("P10Y", "P10Y"),
            ("P30D", "P30D"),
            ("P1Y6M", "P1Y6M"),
            ("P2W", "P2W"),
            ("P1Y0M3D", "P1Y3D"),
            ("PT12H", "PT12H"),
            ("P1DT1H30M5S", "P1DT1H30M5S"),
            ("P999999D", "P999999D"),
        ] {
            assert_eq!(IsoDuration::parse(raw).unwrap().to_string(), canonical);
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        use DurationError as E;
        for (raw, err) in [
            ("", E::MissingP),
            ("6Y", E::MissingP),
            ("p6y", E::MissingP),
            ("P", E::Empty),
            ("PT", E::Empty),
            ("P6YT", E::Empty),
            ("P0Y", E::Zero),
            ("PT0S", E::Zero),
            ("PY", E::Malformed),
            ("P6", E::Malformed),
            ("P6X", E::Malformed),
            ("P-6Y", E::Malformed),
            ("P6y", E::Malformed),
            ("P1.5Y", E::Fraction),
            ("P1,5Y", E::Fraction),
            ("P1D1Y", E::Order),
            ("P1Y1Y", E::Order),
            ("P1H", E::Malformed),
            ("PT1D", E::Malformed),
            ("P1000000D", E::TooLarge),
            ("P99999999999999999999Y", E::TooLarge),
        ] {
            assert_eq!(IsoDuration::parse(raw), Err(err), "{raw:?}");
        }
    }

    #[test]
    fn years_clamp_leap_day_to_month_end() {
        assert_eq!(add("P1Y", date!(2024 - 02 - 29)), date!(2025 - 02 - 28));
        assert_eq!(add("P4Y", date!(2024 - 02 - 29)), date!(2028 - 02 - 29));
        assert_eq!(add("P6Y", date!(2024 - 02 - 29)), date!(2030 - 02 - 28));
        assert_eq!(add("P10Y", date!(2024 - 02 - 29)), date!(2034 - 02 - 28));
        // 2100 is not a leap year (Gregorian century rule), 2000 was.
        assert_eq!(add("P4Y", date!(2096 - 02 - 29)), date!(2100 - 02 - 28));
        assert_eq!(add("P4Y", date!(1996 - 02 - 29)), date!(2000 - 02 - 29));
    }

    #[test]
    fn six_and_ten_years_on_ordinary_days() {
        assert_eq!(add("P6Y", date!(2020 - 03 - 01)), date!(2026 - 03 - 01));
        assert_eq!(add("P10Y", date!(2019 - 12 - 31)), date!(2029 - 12 - 31));
        assert_eq!(add("P10Y", date!(2023 - 02 - 28)), date!(2033 - 02 - 28));
    }

    #[test]
    fn months_clamp_to_the_target_month() {
        assert_eq!(add("P1M", date!(2024 - 01 - 31)), date!(2024 - 02 - 29));
        assert_eq!(add("P1M", date!(2023 - 01 - 31)), date!(2023 - 02 - 28));
        assert_eq!(add("P13M", date!(2023 - 12 - 31)), date!(2025 - 01 - 31));
        assert_eq!(add("P3M", date!(2024 - 11 - 30)), date!(2025 - 02 - 28));
    }

    #[test]
    fn days_cross_leap_february_exactly() {
        // 2024 is a leap year: 30 days from 2024-02-15 is 2024-03-16.
        assert_eq!(add("P30D", date!(2024 - 02 - 15)), date!(2024 - 03 - 16));
        // 2023 is not: the same 30 days land a day later in March.
        assert_eq!(add("P30D", date!(2023 - 02 - 15)), date!(2023 - 03 - 17));
        assert_eq!(add("P30D", date!(2024 - 12 - 15)), date!(2025 - 01 - 14));
        assert_eq!(add("P2W", date!(2024 - 02 - 20)), date!(2024 - 03 - 05));
        // Months first, then days: 2024-01-31 + 1 month = 2024-02-29, + 1 day.
        assert_eq!(add("P1M1D", date!(2024 - 01 - 31)), date!(2024 - 03 - 01));
    }

    #[test]
    fn time_part_is_exact_and_keeps_the_offset() {
        let d = IsoDuration::parse("P1DT12H").unwrap();
        assert_eq!(
            d.checked_add_to(datetime!(2024-02-28 18:00 UTC)),
            Some(datetime!(2024-03-01 06:00 UTC))
        );
        let y = IsoDuration::years(6);
        assert_eq!(
            y.checked_add_to(datetime!(2024-02-29 10:30 +02:00)),
            Some(datetime!(2030-02-28 10:30 +02:00))
        );
    }

    #[test]
    fn overflow_is_none_not_a_panic() {
        let d = IsoDuration::parse("P999999Y").unwrap();
        assert_eq!(d.checked_add_to_date(date!(2024 - 01 - 01)), None);
    }
}
