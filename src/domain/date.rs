//! DA — Date (PS3.5 table 6.2-1): `YYYYMMDD`, a real Gregorian calendar date.

use super::{RuleViolation, string_newtype};

/// A DICOM date, `YYYYMMDD`, that names a day that exists in the proleptic
/// Gregorian calendar (so `20240229` parses and `20230229` does not).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DicomDate(String);

/// Gregorian leap-year rule.
fn is_leap_year(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Days in `month` (1–12) of `year`.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        _ => 28,
    }
}

/// Parses an all-ASCII-digit slice; the callers guarantee its length.
fn digits(s: &str) -> Option<u32> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

impl DicomDate {
    /// Accepts exactly `YYYYMMDD` strings naming a real calendar day
    /// (PS3.5 table 6.2-1, DA). Range-matching and the ACR-NEMA `YYYY.MM.DD`
    /// form are not accepted in a record.
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        let shape = || RuleViolation::new("a date (DA) is YYYYMMDD (PS3.5 table 6.2-1)");
        if raw.len() != 8 || !raw.is_ascii() {
            return Err(shape());
        }
        let year = digits(&raw[0..4]).ok_or_else(shape)?;
        let month = digits(&raw[4..6]).ok_or_else(shape)?;
        let day = digits(&raw[6..8]).ok_or_else(shape)?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(RuleViolation::new(
                "a date (DA) must name a real calendar day (PS3.5 table 6.2-1)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Builds the DICOM date of a calendar day.
    pub fn from_date(date: time::Date) -> Result<Self, RuleViolation> {
        let year = date.year();
        if !(0..=9999).contains(&year) {
            return Err(RuleViolation::new("a date (DA) has a four-digit year"));
        }
        Ok(Self(format!(
            "{year:04}{:02}{:02}",
            u8::from(date.month()),
            date.day()
        )))
    }

    /// The year, 0–9999.
    pub fn year(&self) -> i32 {
        // Invariant: parse checked four ASCII digits.
        digits(&self.0[0..4]).map_or(0, |y| y as i32)
    }

    /// The same day as a `time::Date`, for calendar arithmetic.
    pub fn to_date(&self) -> time::Date {
        let year = self.year();
        let month = digits(&self.0[4..6]).unwrap_or(1) as u8;
        let day = digits(&self.0[6..8]).unwrap_or(1) as u8;
        // Invariant: parse checked the month and day against the calendar,
        // and `time` covers years -9999..=9999, so this cannot fail.
        time::Month::try_from(month)
            .ok()
            .and_then(|m| time::Date::from_calendar_date(year, m, day).ok())
            .unwrap_or(time::Date::MIN)
    }
}

string_newtype!(DicomDate);

/// Month-day pairs valid in every year, then 29 February for leap years
/// (divisible by 4 but not 100, or by 400), so the schema refuses exactly
/// the non-days that `parse` refuses.
const DATE_PATTERN: &str = concat!(
    "^(",
    "[0-9]{4}((0[13578]|1[02])(0[1-9]|[12][0-9]|3[01])|(0[469]|11)(0[1-9]|[12][0-9]|30)|02(0[1-9]|1[0-9]|2[0-8]))",
    "|",
    "([0-9]{2}(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)0229",
    ")$"
);

super::string_schema!(
    DicomDate,
    "DICOM date (DA)",
    "PS3.5 table 6.2-1: YYYYMMDD naming a real Gregorian calendar day. A record also refuses dates after the day of submission, which a static schema cannot express.",
    DATE_PATTERN,
    8,
    8
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_rules() {
        assert!(DicomDate::parse("20240229").is_ok());
        assert!(DicomDate::parse("20000229").is_ok());
        assert!(DicomDate::parse("19000229").is_err());
        assert!(DicomDate::parse("20230229").is_err());
        assert!(DicomDate::parse("20230431").is_err());
        assert!(DicomDate::parse("20231301").is_err());
        assert!(DicomDate::parse("20230100").is_err());
        assert!(DicomDate::parse("2023-01-01").is_err());
        assert!(DicomDate::parse("+2023011").is_err());
        let d = DicomDate::parse("19840229").unwrap();
        assert_eq!(d.year(), 1984);
        assert_eq!(d.to_date(), time::macros::date!(1984 - 02 - 29));
        assert_eq!(DicomDate::from_date(d.to_date()).unwrap(), d);
    }

    #[test]
    fn schema_pattern_agrees_on_every_day_of_four_centuries() {
        let re = regex::Regex::new(DATE_PATTERN).unwrap();
        for year in [
            1600u32, 1700, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 0, 4,
        ] {
            for month in 0..=13u32 {
                for day in 0..=32u32 {
                    let s = format!("{year:04}{month:02}{day:02}");
                    assert_eq!(re.is_match(&s), DicomDate::parse(&s).is_ok(), "{s}");
                }
            }
        }
    }
}
