//! PN — Person Name (PS3.5 §6.2, table 6.2-1, and §6.2.1).

use super::{RuleViolation, is_forbidden_text_char, string_newtype};

/// A DICOM person name: up to three `=`-separated component groups
/// (alphabetic, ideographic, phonetic), each of at most 64 characters and at
/// most five `^`-separated components (family, given, middle, prefix,
/// suffix), with no control character or backslash. Never empty.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

/// PS3.5 table 6.2-1: 64 characters maximum per component group.
const MAX_GROUP_CHARS: usize = 64;
/// PS3.5 §6.2.1: five components per group.
const MAX_COMPONENTS: usize = 5;
/// PS3.5 §6.2.1: alphabetic, ideographic and phonetic groups.
const MAX_GROUPS: usize = 3;

impl PersonName {
    /// Accepts exactly the values PS3.5 §6.2.1 allows (and refuses empty).
    pub fn parse(raw: &str) -> Result<Self, RuleViolation> {
        if raw.is_empty() {
            return Err(RuleViolation::new(
                "a person name must not be empty; omit an optional name instead",
            ));
        }
        if raw.chars().any(is_forbidden_text_char) {
            return Err(RuleViolation::new(
                "a person name must not contain control characters or a backslash (PS3.5 §6.2)",
            ));
        }
        let groups: Vec<&str> = raw.split('=').collect();
        if groups.len() > MAX_GROUPS {
            return Err(RuleViolation::new(
                "a person name has at most 3 '='-separated component groups (PS3.5 §6.2.1)",
            ));
        }
        for group in groups {
            if group.chars().count() > MAX_GROUP_CHARS {
                return Err(RuleViolation::new(
                    "each person name component group has at most 64 characters (PS3.5 table 6.2-1)",
                ));
            }
            if group.split('^').count() > MAX_COMPONENTS {
                return Err(RuleViolation::new(
                    "a person name group has at most 5 '^'-separated components (PS3.5 §6.2.1)",
                ));
            }
        }
        Ok(Self(raw.to_owned()))
    }
}

string_newtype!(PersonName);

/// One component: any character but the delimiters `=`, `^`, the backslash
/// and control characters.
macro_rules! pn_component {
    () => {
        r"[^\\\u0000-\u001F\u007F-\u009F=^]*"
    };
}
/// A group of one to five components, preceded by a lookahead bounding the
/// group to 64 characters.
macro_rules! pn_group {
    () => {
        concat!(
            r"(?=[^=]{0,64}(=|$))",
            pn_component!(),
            r"(\^",
            pn_component!(),
            r"){0,4}"
        )
    };
}

super::string_schema!(
    PersonName,
    "DICOM person name (PN)",
    "PS3.5 §6.2.1: up to 3 '='-separated groups of up to 5 '^'-separated components, each group at most 64 characters; no control characters or backslash.",
    concat!("^", pn_group!(), "(=", pn_group!(), "){0,2}$"),
    1,
    194
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_groups_and_lengths() {
        assert!(PersonName::parse("Doe^John").is_ok());
        assert!(PersonName::parse("Doe^John^Q^Dr^Jr").is_ok());
        assert!(PersonName::parse("Doe^John^Q^Dr^Jr^X").is_err());
        assert!(PersonName::parse("Yamada^Tarou=山田^太郎=やまだ^たろう").is_ok());
        assert!(PersonName::parse("a=b=c=d").is_err());
        assert!(PersonName::parse(&"é".repeat(64)).is_ok());
        assert!(PersonName::parse(&"é".repeat(65)).is_err());
        assert!(PersonName::parse("Doe\\John").is_err());
        assert!(PersonName::parse("Doe\nJohn").is_err());
        assert!(PersonName::parse("").is_err());
    }
}
