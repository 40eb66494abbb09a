//! LO (Long String), SH (Short String) and the PatientID (an LO).

use super::{RuleViolation, is_forbidden_text_char, string_newtype};

/// Checks the shared LO/SH rule: 1..=max characters, none of them a control
/// character or backslash (PS3.5 §6.2, table 6.2-1).
fn check_text(raw: &str, max: usize, what: &str) -> Result<(), RuleViolation> {
    let count = raw.chars().count();
    if count == 0 || count > max {
        return Err(RuleViolation::new(format!(
            "{what} has 1 to {max} characters (PS3.5 table 6.2-1)"
        )));
    }
    if raw.chars().any(is_forbidden_text_char) {
        return Err(RuleViolation::new(format!(
            "{what} must not contain control characters or a backslash (PS3.5 §6.2)"
        )));
    }
    Ok(())
}

/// LO: 1–64 characters, no control character, no backslash.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LongString(String);

impl LongString {
    /// Accepts exactly the values the LO rule allows (non-empty).
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        check_text(raw, 64, "a long string (LO)")?;
        Ok(Self(raw.to_owned()))
    }
}
string_newtype!(LongString);
super::string_schema!(
    LongString,
    "DICOM long string (LO)",
    "PS3.5 table 6.2-1: at most 64 characters, no control characters or backslash.",
    concat!("^", r"[^\\\u0000-\u001F\u007F-\u009F]", "*$"),
    1,
    64
);

/// SH: 1–16 characters, no control character, no backslash.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ShortString(String);

impl ShortString {
    /// Accepts exactly the values the SH rule allows (non-empty).
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        check_text(raw, 16, "a short string (SH)")?;
        Ok(Self(raw.to_owned()))
    }
}
string_newtype!(ShortString);
super::string_schema!(
    ShortString,
    "DICOM short string (SH)",
    "PS3.5 table 6.2-1: at most 16 characters, no control characters or backslash.",
    concat!("^", r"[^\\\u0000-\u001F\u007F-\u009F]", "*$"),
    1,
    16
);

/// The PatientID (0010,0020), an LO: 1–64 characters, no control character,
/// no backslash. It names the data subject, so it is PHI everywhere.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PatientId(String);

impl PatientId {
    /// Accepts exactly the values the LO rule allows (non-empty).
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        check_text(raw, 64, "a patient ID (LO)")?;
        Ok(Self(raw.to_owned()))
    }
}
string_newtype!(PatientId);
super::string_schema!(
    PatientId,
    "DICOM patient ID (LO)",
    "PS3.5 table 6.2-1: 1 to 64 characters, no control characters or backslash.",
    concat!("^", r"[^\\\u0000-\u001F\u007F-\u009F]", "*$"),
    1,
    64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_in_characters() {
        assert!(LongString::parse(&"ü".repeat(64)).is_ok());
        assert!(LongString::parse(&"ü".repeat(65)).is_err());
        assert!(ShortString::parse(&"x".repeat(16)).is_ok());
        assert!(ShortString::parse(&"x".repeat(17)).is_err());
        assert!(PatientId::parse("").is_err());
        assert!(PatientId::parse("A\\B").is_err());
        assert!(PatientId::parse("A\u{7}B").is_err());
    }
}
