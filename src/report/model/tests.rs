//! The report document: JSON form, round trip, and the published schema.

use serde_json::{Value, json};

use super::*;
use crate::domain::RecordField;
use crate::policy::Action;
use crate::report::fixtures::{empty_report, full_report};

/// The exported `schemas/compliance-report.schema.json`, as committed.
fn exported_schema() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/compliance-report.schema.json"
    );
    let text = std::fs::read_to_string(path).expect("schemas/compliance-report.schema.json");
    serde_json::from_str(&text).expect("schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&exported_schema())
        .expect("schema compiles")
}

#[test]
fn json_round_trip_keeps_every_figure() {
    for report in [full_report(), empty_report()] {
        let text = serde_json::to_string(&report).unwrap();
        let back: ComplianceReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }
}

#[test]
fn serialised_reports_validate_against_the_exported_schema() {
    let validator = validator();
    for report in [full_report(), empty_report()] {
        let value = serde_json::to_value(&report).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
}

/// A way to break a valid document: what, whether serde refuses it too, how.
type Breakage = (&'static str, bool, fn(&mut Value));

#[test]
fn the_schema_rejects_malformed_reports() {
    let validator = validator();
    let good = serde_json::to_value(full_report()).unwrap();
    let breakages: [Breakage; 7] = [
        ("unknown member", true, |v| v["extra"] = json!(1)),
        ("negative count", true, |v| {
            v["retention"]["overdue"] = json!(-1)
        }),
        ("bad anchor", true, |v| {
            v["policies"][0]["retention"]["anchor"] = json!("studydate")
        }),
        ("bad action", true, |v| {
            v["policies"][0]["fields"][0]["action"] = json!("hide")
        }),
        ("bad time", true, |v| v["generated_at"] = json!("yesterday")),
        // Text formats are the schema's to state; the model keeps them as
        // strings and the page escapes whatever they hold.
        ("bad tag", false, |v| {
            v["policies"][0]["fields"][0]["tag"] = json!("0010,0020")
        }),
        ("bad month", false, |v| {
            v["retention"]["timeline"][0]["month"] = json!("2026-13")
        }),
    ];
    assert!(validator.is_valid(&good));
    for (what, serde_refuses, break_it) in breakages {
        let mut bad = good.clone();
        break_it(&mut bad);
        assert!(!validator.is_valid(&bad), "{what} was accepted");
        if serde_refuses {
            let parsed = serde_json::from_value::<ComplianceReport>(bad);
            assert!(parsed.is_err(), "{what} deserialised");
        }
    }
}

#[test]
fn the_exported_schema_file_matches_the_code() {
    let named = crate::schema::all()
        .into_iter()
        .find(|s| s.name == "compliance-report")
        .expect("compliance-report is published");
    let generated: Value = serde_json::to_value(&named.schema).unwrap();
    assert_eq!(
        generated,
        exported_schema(),
        "run `cargo run -q -- schemas export`"
    );
}

#[test]
fn json_names_follow_the_spec() {
    let value = serde_json::to_value(full_report()).unwrap();
    assert_eq!(value["generated_at"], "2026-12-04T15:37:07Z");
    assert_eq!(
        value["policies"][0]["retention"],
        json!({"period": "P10Y", "anchor": "StudyDate"})
    );
    assert_eq!(value["policies"][1]["retention"]["anchor"], "ingestion");
    assert_eq!(value["policies"][0]["fields"][0]["field"], "PatientID");
    assert_eq!(value["policies"][0]["fields"][0]["tag"], "(0010,0020)");
    assert_eq!(value["policies"][0]["fields"][0]["action"], "encrypt");
    assert_eq!(value["policies"][0]["fields"][3]["tag"], Value::Null);
    assert_eq!(value["access"][0]["role"], "reader");
    assert_eq!(value["audit"]["first_bad_seq"], Value::Null);
}

#[test]
fn field_rows_carry_keyword_tag_and_measure() {
    let row = FieldRow::new(
        RecordField::SeriesDescription,
        Action::Redact,
        false,
        "PS3.15 X",
    );
    assert_eq!(row.field, "SeriesDescription");
    assert_eq!(row.tag.as_deref(), Some("(0008,103E)"));
    assert_eq!(row.security_measure, "dropped before storage");
    assert_eq!(
        security_measure(Action::Pseudonymize, true),
        "HMAC-SHA256 pseudonym (2.25. UID for UIDs); HMAC-SHA256 blind index"
    );
    assert!(
        FieldRow::new(RecordField::InstancesInSeries, Action::Keep, false, "")
            .tag
            .is_none()
    );
}

#[test]
fn record_total_sums_the_policies() {
    assert_eq!(full_report().record_total(), 1801);
    assert_eq!(empty_report().record_total(), 0);
}
