//! UI — Unique Identifier (PS3.5 §6.2 table 6.2-1, §9.1).

use super::{RuleViolation, string_newtype};

/// A DICOM UID: 1–64 characters, dot-separated numeric components, no
/// component with a leading zero unless it is exactly `0` (PS3.5 §9.1).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DicomUid(String);

/// PS3.5 §9.1: maximum UID length.
const MAX_LEN: usize = 64;

impl DicomUid {
    /// Accepts exactly the values PS3.5 §9.1 allows.
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        if raw.is_empty() || raw.len() > MAX_LEN {
            return Err(RuleViolation::new(
                "a UID has 1 to 64 characters (PS3.5 §9.1)",
            ));
        }
        for component in raw.split('.') {
            if component.is_empty() || !component.bytes().all(|b| b.is_ascii_digit()) {
                return Err(RuleViolation::new(
                    "a UID is dot-separated components of digits 0-9, none empty (PS3.5 §9.1)",
                ));
            }
            if component.len() > 1 && component.starts_with('0') {
                return Err(RuleViolation::new(
                    "a UID component other than 0 must not start with 0 (PS3.5 §9.1)",
                ));
            }
        }
        Ok(Self(raw.to_owned()))
    }
}

string_newtype!(DicomUid);
super::string_schema!(
    DicomUid,
    "DICOM UID (UI)",
    "PS3.5 §9.1: dot-separated numeric components, no leading zeros, at most 64 characters.",
    r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$",
    1,
    64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses_per_ps3_5() {
        assert!(DicomUid::parse("1.2.840.10008.1.2").is_ok());
        assert!(DicomUid::parse("0.1.0").is_ok());
        assert!(DicomUid::parse("1.02").is_err());
        assert!(DicomUid::parse("1..2").is_err());
        assert!(DicomUid::parse("1.2.").is_err());
        assert!(DicomUid::parse("").is_err());
        assert!(DicomUid::parse("1.a").is_err());
        assert!(DicomUid::parse(&"1".repeat(64)).is_ok());
        assert!(DicomUid::parse(&"1".repeat(65)).is_err());
    }
}
