//! CS — Code String (PS3.5 table 6.2-1) and the PatientSex code set.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{RuleViolation, string_newtype};

/// CS: 1–16 characters from upper-case letters, digits, space and `_`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CodeString(String);

impl CodeString {
    /// Accepts exactly the values the CS rule allows (non-empty).
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        if raw.is_empty() || raw.len() > 16 {
            return Err(RuleViolation::new(
                "a code string (CS) has 1 to 16 characters (PS3.5 table 6.2-1)",
            ));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'_')
        {
            return Err(RuleViolation::new(
                "a code string (CS) holds only A-Z, 0-9, space and underscore (PS3.5 table 6.2-1)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}
string_newtype!(CodeString);
super::string_schema!(
    CodeString,
    "DICOM code string (CS)",
    "PS3.5 table 6.2-1: upper-case letters, digits, space and underscore, at most 16 characters.",
    r"^[A-Z0-9 _]*$",
    1,
    16
);

/// PatientSex (0010,0040): PS3.3 C.7.1.1 defines M, F and O.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PatientSex {
    /// Male.
    M,
    /// Female.
    F,
    /// Other.
    O,
}

impl PatientSex {
    /// Accepts exactly `M`, `F` or `O` (PS3.3 C.7.1.1).
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        match raw {
            "M" => Ok(Self::M),
            "F" => Ok(Self::F),
            "O" => Ok(Self::O),
            _ => Err(RuleViolation::new(
                "PatientSex is one of M, F or O (PS3.3 C.7.1.1)",
            )),
        }
    }

    /// The code as stored in DICOM.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::M => "M",
            Self::F => "F",
            Self::O => "O",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_string_alphabet() {
        assert!(CodeString::parse("MR").is_ok());
        assert!(CodeString::parse("HEAD_NECK 2").is_ok());
        assert!(CodeString::parse("mr").is_err());
        assert!(CodeString::parse("").is_err());
        assert!(CodeString::parse("ABCDEFGHIJKLMNOPQ").is_err());
        assert!(PatientSex::parse("X").is_err());
    }
}
