//! AS — Age String (PS3.5 table 6.2-1).

use super::{RuleViolation, string_newtype};

/// A DICOM age: three digits and a unit, `D`ays, `W`eeks, `M`onths or
/// `Y`ears, e.g. `045Y` (PS3.5 table 6.2-1).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AgeString(String);

/// The unit of an [`AgeString`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeUnit {
    /// Days.
    Days,
    /// Weeks.
    Weeks,
    /// Months.
    Months,
    /// Years.
    Years,
}

impl AgeString {
    /// Accepts exactly `nnnD`, `nnnW`, `nnnM` or `nnnY`.
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        let b = raw.as_bytes();
        if b.len() != 4
            || !b[..3].iter().all(u8::is_ascii_digit)
            || !matches!(b[3], b'D' | b'W' | b'M' | b'Y')
        {
            return Err(RuleViolation::new(
                "an age (AS) is three digits and D, W, M or Y, e.g. 045Y (PS3.5 table 6.2-1)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The number of units, 0–999.
    pub fn count(&self) -> u32 {
        // Invariant: parse checked three ASCII digits.
        self.0[..3].parse().unwrap_or(0)
    }

    /// The unit.
    pub fn unit(&self) -> AgeUnit {
        match self.0.as_bytes().get(3) {
            Some(b'D') => AgeUnit::Days,
            Some(b'W') => AgeUnit::Weeks,
            Some(b'M') => AgeUnit::Months,
            _ => AgeUnit::Years,
        }
    }

    /// The age in whole years, rounded down (for the Safe Harbor age rule).
    pub fn whole_years(&self) -> u32 {
        let n = self.count();
        match self.unit() {
            AgeUnit::Days => n / 365,
            AgeUnit::Weeks => n / 52,
            AgeUnit::Months => n / 12,
            AgeUnit::Years => n,
        }
    }
}

string_newtype!(AgeString);
super::string_schema!(
    AgeString,
    "DICOM age string (AS)",
    "PS3.5 table 6.2-1: three digits followed by D, W, M or Y.",
    r"^[0-9]{3}[DWMY]$",
    4,
    4
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_years() {
        assert_eq!(AgeString::parse("045Y").unwrap().whole_years(), 45);
        assert_eq!(AgeString::parse("024M").unwrap().whole_years(), 2);
        assert!(AgeString::parse("45Y").is_err());
        assert!(AgeString::parse("045y").is_err());
        assert!(AgeString::parse("045YY").is_err());
    }
}
