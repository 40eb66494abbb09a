//! One test per loader refusal: each writes a broken policy to a temporary
//! directory, loads it as the server would, and checks that the message
//! names the file, the line (and column) and the field or key.

use std::path::PathBuf;

use super::super::{PolicyError, PolicySet};

const GDPR: &str = include_str!("../../../compliance/gdpr.toml");
const HIPAA: &str = include_str!("../../../compliance/hipaa.toml");

/// A policy file written to a fresh temporary directory.
struct Case {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    file: PathBuf,
    text: String,
}

fn write(name: &str, text: String) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, &text).unwrap();
    Case {
        dir: dir.path().to_owned(),
        _dir: dir,
        file,
        text,
    }
}

/// `base` with `from` replaced (exactly once) by `to`.
fn edit(base: &str, from: &str, to: &str) -> String {
    assert_eq!(base.matches(from).count(), 1, "ambiguous edit: {from:?}");
    base.replacen(from, to, 1)
}

/// The 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in text"));
    text[..at].matches('\n').count() + 1
}

/// Loads the case's directory, expecting a refusal; returns the error and
/// its message.
fn refuse(case: &Case) -> (PolicyError, String) {
    let err = PolicySet::load_dir(&case.dir).expect_err("the loader must refuse");
    let msg = err.to_string();
    (err, msg)
}

/// Asserts that `msg` names the file and `line:` right after it, and every
/// one of `words`.
fn assert_names(case: &Case, msg: &str, line: usize, words: &[&str]) {
    let prefix = format!("{}:{line}:", case.file.display());
    assert!(
        msg.starts_with(&prefix),
        "{msg:?} should start with {prefix:?}"
    );
    for w in words {
        assert!(msg.contains(w), "{msg:?} should name {w:?}");
    }
}

#[test]
fn syntax_error_names_file_line_and_enclosing_field() {
    let text = edit(
        GDPR,
        "[fields.Modality]\naction = \"keep\"",
        "[fields.Modality]\naction = keep",
    );
    let c = write("gdpr.toml", text);
    let (err, msg) = refuse(&c);
    assert!(matches!(err, PolicyError::Syntax { .. }), "{err:?}");
    let line = line_of(&c.text, "action = keep");
    assert_names(&c, &msg, line, &["[fields.Modality]", "TOML syntax"]);
}

#[test]
fn a_second_action_for_one_field_is_refused() {
    let text = edit(
        GDPR,
        "[fields.PatientName]\naction = \"encrypt\"",
        "[fields.PatientName]\naction = \"encrypt\"\naction = \"keep\"",
    );
    let c = write("gdpr.toml", text);
    let (err, msg) = refuse(&c);
    assert!(matches!(err, PolicyError::Syntax { .. }), "{err:?}");
    let line = line_of(
        &c.text,
        "action = \"keep\"\nsource = \"PS3.15 E.1-1 (0010,0010)",
    );
    assert_names(&c, &msg, line, &["[fields.PatientName]"]);
}

#[test]
fn a_field_without_a_rule_is_refused() {
    let block = "[fields.Modality]\naction = \"keep\"\nsource = \"not in PS3.15 E.1-1 (kept) | not personal data on its own\"\n";
    let c = write("gdpr.toml", edit(GDPR, block, ""));
    let (err, msg) = refuse(&c);
    assert!(
        matches!(err, PolicyError::MissingField { field, .. } if field == crate::domain::RecordField::Modality),
        "{err:?}"
    );
    let line = line_of(&c.text, "[fields.");
    assert_names(&c, &msg, line, &["field Modality", "no rule"]);
}

#[test]
fn an_unknown_field_is_refused() {
    let c = write(
        "gdpr.toml",
        format!("{GDPR}\n[fields.PatientWeight]\naction = \"keep\"\nsource = \"x\"\n"),
    );
    let (err, msg) = refuse(&c);
    assert!(matches!(err, PolicyError::UnknownField { .. }), "{err:?}");
    assert_names(
        &c,
        &msg,
        line_of(&c.text, "[fields.PatientWeight]"),
        &["field PatientWeight", "unknown field"],
    );
}

#[test]
fn an_unknown_action_is_refused() {
    let text = edit(
        GDPR,
        "[fields.PatientName]\naction = \"encrypt\"",
        "[fields.PatientName]\naction = \"hash\"",
    );
    let c = write("gdpr.toml", text);
    let (err, msg) = refuse(&c);
    assert!(matches!(err, PolicyError::UnknownAction { .. }), "{err:?}");
    assert_names(
        &c,
        &msg,
        line_of(&c.text, "action = \"hash\""),
        &["field PatientName", "unknown action `hash`"],
    );
    // The column points at the value.
    assert!(msg.contains(":10: "), "{msg}");
}

#[test]
fn a_bad_duration_is_refused() {
    for bad in ["P10", "10Y", "P1.5Y", "P0Y", "P1D1Y"] {
        let c = write(
            "gdpr.toml",
            edit(GDPR, "period = \"P10Y\"", &format!("period = \"{bad}\"")),
        );
        let (err, msg) = refuse(&c);
        assert!(matches!(err, PolicyError::BadDuration { .. }), "{err:?}");
        assert_names(
            &c,
            &msg,
            line_of(&c.text, "period = "),
            &["[retention]", "period", bad],
        );
    }
}

#[test]
fn an_unknown_retention_anchor_is_refused() {
    let c = write(
        "gdpr.toml",
        edit(GDPR, "from = \"StudyDate\"", "from = \"BirthDate\""),
    );
    let (_, msg) = refuse(&c);
    assert_names(
        &c,
        &msg,
        line_of(&c.text, "from = \"BirthDate\""),
        &["[retention]", "`from`", "BirthDate"],
    );
}

#[test]
fn missing_top_level_keys_are_refused() {
    for (key, line) in [
        ("id = \"gdpr\"\n", "id"),
        ("version = \"2026.1\"\n", "version"),
    ] {
        let c = write("gdpr.toml", edit(GDPR, key, ""));
        let (err, msg) = refuse(&c);
        assert!(matches!(err, PolicyError::MissingKey { .. }), "{err:?}");
        assert_names(&c, &msg, 1, &[&format!("missing key `{line}`")]);
    }
    let retention_start = GDPR.find("[retention]").unwrap();
    let retention_end = GDPR.find("[fields.SeriesInstanceUID]").unwrap();
    let text = format!("{}{}", &GDPR[..retention_start], &GDPR[retention_end..]);
    let c = write("gdpr.toml", text);
    let (_, msg) = refuse(&c);
    assert_names(&c, &msg, 1, &["missing key `retention`"]);
}

#[test]
fn missing_rule_keys_are_refused() {
    let c = write(
        "gdpr.toml",
        edit(
            GDPR,
            "[fields.Modality]\naction = \"keep\"\n",
            "[fields.Modality]\n",
        ),
    );
    let (_, msg) = refuse(&c);
    assert_names(
        &c,
        &msg,
        line_of(&c.text, "[fields.Modality]"),
        &["[fields.Modality]", "missing key `action`"],
    );
    let c = write("gdpr.toml", edit(GDPR, "period = \"P10Y\"\n", ""));
    let (_, msg) = refuse(&c);
    assert_names(
        &c,
        &msg,
        line_of(&c.text, "[retention]"),
        &["[retention]", "missing key `period`"],
    );
}

#[test]
fn an_unknown_key_is_refused_so_a_typo_cannot_drop_an_index() {
    let text = edit(
        GDPR,
        "indexed = true   # subject access",
        "indexd = true   # subject access",
    );
    let c = write("gdpr.toml", text);
    let (err, msg) = refuse(&c);
    assert!(matches!(err, PolicyError::UnknownKey { .. }), "{err:?}");
    assert_names(
        &c,
        &msg,
        line_of(&c.text, "indexd"),
        &["[fields.PatientID]", "unknown key `indexd`"],
    );
}

#[test]
fn a_value_of_the_wrong_type_is_refused() {
    let text = edit(
        GDPR,
        "indexed = true   # subject access",
        "indexed = \"yes\"   # subject access",
    );
    let c = write("gdpr.toml", text);
    let (err, msg) = refuse(&c);
    assert!(matches!(err, PolicyError::WrongType { .. }), "{err:?}");
    assert_names(
        &c,
        &msg,
        line_of(&c.text, "indexed = \"yes\""),
        &[
            "[fields.PatientID]",
            "`indexed` must be true or false, not string",
        ],
    );
}

#[test]
fn generalize_without_a_generalisation_is_refused() {
    let text = edit(
        GDPR,
        "[fields.PatientName]\naction = \"encrypt\"",
        "[fields.PatientName]\naction = \"generalize\"",
    );
    let c = write("gdpr.toml", text);
    let (err, msg) = refuse(&c);
    assert!(matches!(err, PolicyError::NotApplicable { .. }), "{err:?}");
    assert_names(
        &c,
        &msg,
        line_of(
            &c.text,
            "action = \"generalize\"\nsource = \"PS3.15 E.1-1 (0010,0010)",
        ),
        &[
            "field PatientName",
            "`generalize` does not apply to a PN field",
        ],
    );
}

#[test]
fn shift_on_a_field_that_is_not_a_date_is_refused() {
    let text = edit(
        GDPR,
        "[fields.StudyTime]\naction = \"keep\"",
        "[fields.StudyTime]\naction = \"shift\"",
    );
    let c = write("gdpr.toml", text);
    let (_, msg) = refuse(&c);
    assert_names(
        &c,
        &msg,
        line_of(
            &c.text,
            "action = \"shift\"\nsource = \"PS3.15 E.1-1 (0008,0030)",
        ),
        &["field StudyTime", "`shift` does not apply to a TM field"],
    );
}

#[test]
fn patient_id_and_series_uid_must_be_indexed() {
    for (from, field) in [
        ("indexed = true   # subject access", "PatientID"),
        ("indexed = true   # a resubmitted", "SeriesInstanceUID"),
    ] {
        let c = write(
            "gdpr.toml",
            edit(GDPR, from, &from.replace("true", "false")),
        );
        let (err, msg) = refuse(&c);
        assert!(matches!(err, PolicyError::IndexRequired { .. }), "{err:?}");
        assert_names(
            &c,
            &msg,
            line_of(&c.text, &format!("[fields.{field}]")),
            &[&format!("field {field}"), "indexed = true"],
        );
    }
}

#[test]
fn safe_harbor_refuses_identifiers_in_the_clear() {
    for (block, action, field, clause) in [
        (
            "[fields.PatientID]\naction = \"encrypt\"",
            "keep",
            "PatientID",
            "(H)",
        ),
        (
            "[fields.PatientName]\naction = \"encrypt\"",
            "keep",
            "PatientName",
            "(A)",
        ),
        (
            "[fields.StudyDate]\naction = \"generalize\"",
            "shift",
            "StudyDate",
            "(C)",
        ),
        (
            "[fields.PatientBirthDate]\naction = \"generalize\"",
            "keep",
            "PatientBirthDate",
            "(C)",
        ),
        (
            "[fields.PatientAge]\naction = \"generalize\"",
            "keep",
            "PatientAge",
            "(C)",
        ),
        (
            "[fields.StudyTime]\naction = \"encrypt\"",
            "generalize",
            "StudyTime",
            "(C)",
        ),
        (
            "[fields.StudyInstanceUID]\naction = \"pseudonymize\"",
            "keep",
            "StudyInstanceUID",
            "(R)",
        ),
        (
            "[fields.InstitutionName]\naction = \"encrypt\"",
            "keep",
            "InstitutionName",
            "(B)",
        ),
        (
            "[fields.SeriesDescription]\naction = \"encrypt\"",
            "keep",
            "SeriesDescription",
            "(R)",
        ),
        (
            "[fields.AccessionNumber]\naction = \"encrypt\"",
            "keep",
            "AccessionNumber",
            "(R)",
        ),
        (
            "[fields.ReferringPhysicianName]\naction = \"encrypt\"",
            "keep",
            "ReferringPhysicianName",
            "(A)",
        ),
    ] {
        let (head, _) = block.split_once("action").unwrap();
        let replaced = format!("{head}action = \"{action}\"");
        let c = write("hipaa.toml", edit(HIPAA, block, &replaced));
        let (err, msg) = refuse(&c);
        assert!(matches!(err, PolicyError::SafeHarbor { .. }), "{err:?}");
        assert_names(
            &c,
            &msg,
            line_of(&c.text, &replaced) + 1,
            &[&format!("field {field}"), "Safe Harbor", clause],
        );
    }
}

#[test]
fn the_id_must_match_the_file_name() {
    let c = write("hipaa.toml", GDPR.to_owned());
    let (_, msg) = refuse(&c);
    assert_names(
        &c,
        &msg,
        line_of(&c.text, "id = "),
        &["`id`", "gdpr", "hipaa.toml"],
    );
}

#[test]
fn an_empty_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("README.md"), "not a policy").unwrap();
    let err = PolicySet::load_dir(dir.path()).unwrap_err();
    assert!(matches!(err, PolicyError::NoPolicies { .. }), "{err:?}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));
}

#[test]
fn a_missing_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = PolicySet::load_dir(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(err, PolicyError::ReadDir { .. }), "{err:?}");
}

#[test]
fn a_file_that_is_not_utf8_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gdpr.toml"), b"id = \"\xff\"").unwrap();
    let err = PolicySet::load_dir(dir.path()).unwrap_err();
    assert!(matches!(err, PolicyError::NotUtf8 { .. }), "{err:?}");
}

#[test]
fn one_bad_file_refuses_the_whole_directory() {
    let c = write("gdpr.toml", GDPR.to_owned());
    std::fs::write(
        c.dir.join("hipaa.toml"),
        edit(HIPAA, "period = \"P6Y\"", "period = \"6 years\""),
    )
    .unwrap();
    let err = PolicySet::load_dir(&c.dir).unwrap_err();
    assert!(err.to_string().contains("hipaa.toml:"), "{err}");
    // check_dir lists every error, in file order.
    let all = PolicySet::check_dir(&c.dir).unwrap_err();
    assert_eq!(all.0.len(), 1);
}

#[test]
fn check_dir_reports_every_error() {
    let text = edit(
        &edit(GDPR, "period = \"P10Y\"", "period = \"P10\""),
        "[fields.PatientName]\naction = \"encrypt\"",
        "[fields.PatientName]\naction = \"hash\"",
    );
    let c = write("gdpr.toml", text);
    let all = PolicySet::check_dir(&c.dir).unwrap_err();
    assert_eq!(all.0.len(), 2, "{all:?}");
    assert!(matches!(all.0[0], PolicyError::BadDuration { .. }));
    assert!(matches!(all.0[1], PolicyError::UnknownAction { .. }));
    assert!(all.to_string().contains("1 more"));
}

#[test]
fn a_valid_directory_replaces_the_embedded_set() {
    let c = write(
        "gdpr.toml",
        edit(GDPR, "version = \"2026.1\"", "version = \"local-7\""),
    );
    let set = PolicySet::load_dir(&c.dir).unwrap();
    assert_eq!(set.ids().collect::<Vec<_>>(), ["gdpr"]);
    let p = set.get("gdpr").unwrap();
    assert_eq!(p.version(), "local-7");
    assert!(set.get("hipaa").is_none());
    // The stamp hashes the file's bytes.
    let embedded = PolicySet::embedded().unwrap();
    assert_ne!(
        p.stamp().sha256,
        embedded.get("gdpr").unwrap().stamp().sha256
    );
}
