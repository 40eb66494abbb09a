//! TM — Time (PS3.5 table 6.2-1).

use super::{RuleViolation, string_newtype};

/// A DICOM time: `HH`, `HHMM`, `HHMMSS` or `HHMMSS.F` to `HHMMSS.FFFFFF`,
/// with HH 00–23, MM 00–59 and SS 00–60 (PS3.5 table 6.2-1 allows a leap
/// second).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DicomTime(String);

const PATTERN: &str = r"^([01][0-9]|2[0-3])([0-5][0-9](([0-5][0-9]|60)(\.[0-9]{1,6})?)?)?$";

impl DicomTime {
    /// Accepts exactly the PS3.5 TM forms listed on the type.
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        let bad = || {
            RuleViolation::new(
                "a time (TM) is HH, HHMM, HHMMSS or HHMMSS.FFFFFF with a valid hour, minute and second (PS3.5 table 6.2-1)",
            )
        };
        let (whole, fraction) = match raw.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (raw, None),
        };
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !matches!(whole.len(), 2 | 4 | 6) {
            return Err(bad());
        }
        let field = |i: usize| whole[i..i + 2].parse::<u32>().ok();
        if field(0).is_none_or(|h| h > 23)
            || (whole.len() >= 4 && field(2).is_none_or(|m| m > 59))
            || (whole.len() == 6 && field(4).is_none_or(|s| s > 60))
        {
            return Err(bad());
        }
        if let Some(f) = fraction
            && (whole.len() != 6
                || f.is_empty()
                || f.len() > 6
                || !f.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(Self(raw.to_owned()))
    }
}

string_newtype!(DicomTime);
super::string_schema!(
    DicomTime,
    "DICOM time (TM)",
    "PS3.5 table 6.2-1: HH, HHMM, HHMMSS or HHMMSS.FFFFFF (1-6 fraction digits).",
    PATTERN,
    2,
    13
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        for ok in ["07", "0730", "073015", "073015.1", "235960.123456"] {
            assert!(DicomTime::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "7",
            "073",
            "240000",
            "076000",
            "073061",
            "0730.5",
            "073015.",
            "073015.1234567",
            "07:30",
        ] {
            assert!(DicomTime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pattern_agrees() {
        let re = regex::Regex::new(PATTERN).unwrap();
        for s in [
            "07",
            "0730",
            "073015.1",
            "240000",
            "0730.5",
            "235960.123456",
            "073015.1234567",
            "7",
        ] {
            assert_eq!(re.is_match(s), DicomTime::parse(s).is_ok(), "{s}");
        }
    }
}
