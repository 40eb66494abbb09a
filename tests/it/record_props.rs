//! Property tests for the UI, PN and DA rules: values built within the rules
//! always parse, values built to break one rule are always refused, and the
//! exported schema's definition (validated by `jsonschema`, and by the
//! `regex` crate where the pattern needs no lookahead) agrees with the
//! parser on every one of them.

// Test helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::LazyLock;

use phivault::domain::{DicomDate, DicomUid, PersonName};
use proptest::prelude::*;
use serde_json::Value;

/// The `$defs` of the exported record schema.
static DEFS: LazyLock<Value> = LazyLock::new(|| {
    let schema = phivault::schema::all()
        .into_iter()
        .find(|n| n.name == "record")
        .unwrap()
        .schema;
    serde_json::to_value(&schema).unwrap()["$defs"].clone()
});

/// A validator for one `$defs` entry of the exported schema (pattern,
/// lengths and type together).
fn def_validator(name: &str) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_pattern_options(jsonschema::PatternOptions::fancy_regex())
        .build(&DEFS[name])
        .unwrap()
}

/// The `regex` crate's reading of a `$defs` entry: its pattern, compiled,
/// and its length bounds (only for patterns without lookaround, which
/// `regex` does not support).
struct RegexDef {
    re: regex::Regex,
    min: u64,
    max: u64,
}

impl RegexDef {
    fn new(name: &str) -> Self {
        let def = &DEFS[name];
        Self {
            re: regex::Regex::new(def["pattern"].as_str().unwrap()).unwrap(),
            min: def["minLength"].as_u64().unwrap(),
            max: def["maxLength"].as_u64().unwrap(),
        }
    }

    fn accepts(&self, s: &str) -> bool {
        let n = s.chars().count() as u64;
        self.re.is_match(s) && n >= self.min && n <= self.max
    }
}

static UID_REGEX: LazyLock<RegexDef> = LazyLock::new(|| RegexDef::new("DicomUid"));
static DA_REGEX: LazyLock<RegexDef> = LazyLock::new(|| RegexDef::new("DicomDate"));

static UID_SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| def_validator("DicomUid"));
static PN_SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| def_validator("PersonName"));
static DA_SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| def_validator("DicomDate"));

/// Asserts that the parser and both schema readings say `expected`.
fn check_uid(s: &str, expected: bool) -> Result<(), TestCaseError> {
    prop_assert_eq!(DicomUid::parse(s).is_ok(), expected, "parser on {:?}", s);
    prop_assert_eq!(
        UID_SCHEMA.is_valid(&Value::from(s)),
        expected,
        "schema on {:?}",
        s
    );
    prop_assert_eq!(UID_REGEX.accepts(s), expected, "regex on {:?}", s);
    Ok(())
}

fn check_pn(s: &str, expected: bool) -> Result<(), TestCaseError> {
    prop_assert_eq!(PersonName::parse(s).is_ok(), expected, "parser on {:?}", s);
    prop_assert_eq!(
        PN_SCHEMA.is_valid(&Value::from(s)),
        expected,
        "schema on {:?}",
        s
    );
    Ok(())
}

fn check_da(s: &str, expected: bool) -> Result<(), TestCaseError> {
    prop_assert_eq!(DicomDate::parse(s).is_ok(), expected, "parser on {:?}", s);
    prop_assert_eq!(
        DA_SCHEMA.is_valid(&Value::from(s)),
        expected,
        "schema on {:?}",
        s
    );
    prop_assert_eq!(DA_REGEX.accepts(s), expected, "regex on {:?}", s);
    Ok(())
}

// ---- UI (PS3.5 §9.1) ----

/// One UID component: `0`, or digits without a leading zero.
fn uid_component() -> impl Strategy<Value = String> {
    prop_oneof![Just("0".to_owned()), "[1-9][0-9]{0,7}"]
}

/// A UID within every rule: 1–64 characters of valid components.
fn valid_uid() -> impl Strategy<Value = String> {
    prop::collection::vec(uid_component(), 1..16)
        .prop_map(|c| c.join("."))
        .prop_filter("at most 64 characters", |s| s.len() <= 64)
}

/// Components as a vector, for rule-breaking edits (joined length ≤ 60 so
/// that an inserted piece keeps the whole within 64).
fn short_uid_components() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(uid_component(), 1..8).prop_filter("short", |c| {
        c.iter().map(|s| s.len() + 1).sum::<usize>() <= 50
    })
}

// ---- PN (PS3.5 §6.2.1) ----

/// One PN component: letters from several scripts, spaces and punctuation,
/// none of them a delimiter, backslash or control character.
fn pn_component(max: usize) -> impl Strategy<Value = String> {
    prop::string::string_regex(&format!(
        "[A-Za-z0-9 '.,\\-äöüßéÀ-ÿ山田太郎花子やまだたろう홍길동Иван]{{0,{max}}}"
    ))
    .unwrap()
}

/// A group of `components` components, each at most `max` characters.
fn pn_group(
    components: std::ops::RangeInclusive<usize>,
    max: usize,
) -> impl Strategy<Value = String> {
    prop::collection::vec(pn_component(max), components).prop_map(|c| c.join("^"))
}

/// A PN within every rule: 1–3 groups of 1–5 components, each group at
/// most 64 characters, not empty.
fn valid_pn() -> impl Strategy<Value = String> {
    prop::collection::vec(
        pn_group(1..=5, 16).prop_filter("group ≤ 64 chars", |g| g.chars().count() <= 64),
        1..=3,
    )
    .prop_map(|g| g.join("="))
    .prop_filter("not empty", |s| !s.is_empty())
}

/// A character PS3.5 §6.2 forbids in a PN: backslash or a control character.
fn forbidden_char() -> impl Strategy<Value = char> {
    prop_oneof![
        Just('\\'),
        (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
        (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).unwrap()),
    ]
}

// ---- DA (PS3.5 table 6.2-1) ----

fn is_leap(year: i32) -> bool {
    time::util::is_leap_year(year)
}

/// A real calendar day in years 0000–9999, from its ordinal day.
fn valid_da() -> impl Strategy<Value = String> {
    (0i32..=9999)
        .prop_flat_map(|y| (Just(y), 1u16..=if is_leap(y) { 366 } else { 365 }))
        .prop_map(|(y, ordinal)| {
            let d = time::Date::from_ordinal_date(y, ordinal).unwrap();
            format!("{y:04}{:02}{:02}", u8::from(d.month()), d.day())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn uid_within_the_rules_parses(s in valid_uid()) {
        check_uid(&s, true)?;
        let uid = DicomUid::parse(&s).unwrap();
        prop_assert_eq!(uid.as_str(), s.as_str());
    }

    #[test]
    fn uid_with_a_leading_zero_component_is_refused(
        c in short_uid_components(),
        at in any::<prop::sample::Index>(),
        tail in "[0-9]{1,3}",
    ) {
        let mut c = c;
        let i = at.index(c.len() + 1);
        c.insert(i, format!("0{tail}"));
        check_uid(&c.join("."), false)?;
    }

    #[test]
    fn uid_over_64_chars_is_refused(
        c in prop::collection::vec(uid_component(), 8..40)
            .prop_filter("over 64", |c| c.join(".").len() > 64)
    ) {
        check_uid(&c.join("."), false)?;
    }

    #[test]
    fn uid_with_an_empty_component_is_refused(
        c in short_uid_components(),
        at in any::<prop::sample::Index>(),
    ) {
        let mut c = c;
        let i = at.index(c.len() + 1);
        c.insert(i, String::new());
        check_uid(&c.join("."), false)?;
    }

    #[test]
    fn uid_with_a_non_digit_is_refused(
        s in valid_uid().prop_filter("room for one more", |s| s.len() < 64),
        at in any::<prop::sample::Index>(),
        bad in any::<char>().prop_filter("not a digit or dot", |c| !c.is_ascii_digit() && *c != '.'),
    ) {
        let chars: Vec<char> = s.chars().collect();
        let i = at.index(chars.len() + 1);
        let broken: String = chars[..i].iter().chain([bad].iter()).chain(chars[i..].iter()).collect();
        check_uid(&broken, false)?;
    }

    #[test]
    fn pn_within_the_rules_parses(s in valid_pn()) {
        check_pn(&s, true)?;
    }

    #[test]
    fn pn_with_six_components_is_refused(
        g in pn_group(6..=9, 6),
        before in prop::collection::vec(pn_group(1..=2, 8), 0..=1),
    ) {
        let mut groups = before;
        groups.push(g);
        check_pn(&groups.join("="), false)?;
    }

    #[test]
    fn pn_with_four_or_more_groups_is_refused(
        g in prop::collection::vec(pn_group(1..=3, 6), 4..=6)
    ) {
        check_pn(&g.join("="), false)?;
    }

    #[test]
    fn pn_with_a_group_over_64_chars_is_refused(
        long in pn_group(1..=5, 40).prop_filter("over 64", |g| g.chars().count() > 64),
        before in prop::collection::vec(pn_group(1..=2, 8), 0..=2),
    ) {
        let mut groups = before;
        groups.push(long);
        check_pn(&groups.join("="), false)?;
    }

    #[test]
    fn pn_with_a_backslash_or_control_char_is_refused(
        s in valid_pn(),
        at in any::<prop::sample::Index>(),
        bad in forbidden_char(),
    ) {
        let chars: Vec<char> = s.chars().collect();
        let i = at.index(chars.len() + 1);
        let broken: String = chars[..i].iter().chain([bad].iter()).chain(chars[i..].iter()).collect();
        check_pn(&broken, false)?;
    }

    #[test]
    fn da_naming_a_real_day_parses(s in valid_da()) {
        check_da(&s, true)?;
        let d = DicomDate::parse(&s).unwrap();
        prop_assert_eq!(DicomDate::from_date(d.to_date()).unwrap(), d);
    }

    #[test]
    fn da_with_a_non_existent_day_is_refused(
        y in 0i32..=9999,
        m in 1u8..=12,
        extra in 1u8..=60,
        zero in any::<bool>(),
    ) {
        let month = time::Month::try_from(m).unwrap();
        let day = if zero { 0 } else { time::util::days_in_month(month, y) + extra };
        if day <= 99 {
            check_da(&format!("{y:04}{m:02}{day:02}"), false)?;
        }
    }

    #[test]
    fn da_with_month_13_or_more_or_zero_is_refused(
        y in 0i32..=9999,
        m in prop_oneof![Just(0u8), 13u8..=99],
        d in 1u8..=31,
    ) {
        check_da(&format!("{y:04}{m:02}{d:02}"), false)?;
    }

    #[test]
    fn da_of_the_wrong_length_is_refused(
        s in prop_oneof!["[0-9]{0,7}", "[0-9]{9,14}"]
    ) {
        check_da(&s, false)?;
    }
}
