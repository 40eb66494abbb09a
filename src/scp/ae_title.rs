//! Application Entity titles (the VR AE, PS3.5 §6.2, Table 6.2-1).

use std::fmt;

/// Why a text is not an AE title. Carries no part of the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AeTitleError {
    /// Empty, or only spaces (PS3.5 §6.2: spaces are not significant, and a
    /// value of all spaces is not allowed).
    #[error("an AE title must not be empty")]
    Empty,
    /// Longer than 16 characters once leading and trailing spaces are removed.
    #[error("an AE title has at most 16 characters")]
    TooLong,
    /// Holds a backslash, a control character or a character outside the
    /// DICOM default repertoire (ISO-IR 6, printable ASCII).
    #[error("an AE title holds only printable ASCII characters other than backslash")]
    BadCharacter,
}

/// A validated AE title: 1–16 printable ASCII characters, no backslash, with
/// leading and trailing spaces removed (they are not significant).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AeTitle(String);

impl AeTitle {
    /// Parses an AE title, trimming the insignificant spaces.
    pub fn parse(text: &str) -> Result<Self, AeTitleError> {
        let trimmed = text.trim_matches(' ');
        if trimmed.is_empty() {
            return Err(AeTitleError::Empty);
        }
        if trimmed.chars().count() > 16 {
            return Err(AeTitleError::TooLong);
        }
        if !trimmed
            .chars()
            .all(|c| (' '..='~').contains(&c) && c != '\\')
        {
            return Err(AeTitleError::BadCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The title, without padding.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a title received on the wire names this one: trailing and
    /// leading spaces (and NUL padding some implementations send) are not
    /// significant; letters are compared exactly (AE titles are case
    /// sensitive, PS3.5 §6.2).
    pub fn matches(&self, received: &str) -> bool {
        received.trim_matches(|c| c == ' ' || c == '\0') == self.0
    }
}

impl fmt::Debug for AeTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // AE titles name devices, not people: safe to print.
        write!(f, "AeTitle({:?})", self.0)
    }
}

impl fmt::Display for AeTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AeTitle {
    type Err = AeTitleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_trims_a_title() {
        let t = AeTitle::parse("  PHIVAULT ").unwrap();
        assert_eq!(t.as_str(), "PHIVAULT");
        assert!(t.matches("PHIVAULT        "));
        assert!(t.matches("PHIVAULT\0"));
        assert!(!t.matches("phivault"));
        assert!(!t.matches("OTHER"));
    }

    #[test]
    fn refuses_bad_titles() {
        assert_eq!(AeTitle::parse("   "), Err(AeTitleError::Empty));
        assert_eq!(AeTitle::parse(""), Err(AeTitleError::Empty));
        assert_eq!(
            AeTitle::parse("ABCDEFGHIJKLMNOPQ"),
            Err(AeTitleError::TooLong)
        );
        assert!(AeTitle::parse("ABCDEFGHIJKLMNOP").is_ok());
        assert_eq!(AeTitle::parse("A\\B"), Err(AeTitleError::BadCharacter));
        assert_eq!(AeTitle::parse("A\tB"), Err(AeTitleError::BadCharacter));
        assert_eq!(AeTitle::parse("AÉ"), Err(AeTitleError::BadCharacter));
    }
}
