//! One table of records, valid and invalid, run through both the Rust parser
//! (`Record::from_json`) and the exported JSON Schema with an independent
//! validator (`jsonschema`), asserting that they agree record by record.
//!
//! The single documented exception is "not in the future": a static schema
//! cannot know the day of submission, so a row with a future date is marked
//! [`Expect::FutureOnly`] with its reason: the schema accepts it and the
//! parser refuses it.

// Test helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use phivault::domain::Record;
use serde_json::{Map, Value, json};

/// The fixed "today" of the table, so the future-date rows stay future.
const TODAY: time::Date = time::macros::date!(2025 - 06 - 15);

/// What a row must produce.
enum Expect {
    /// Parser and schema both accept.
    Valid,
    /// Parser and schema both refuse; the parser reports exactly these JSON
    /// pointers (every failing field), in this order.
    Invalid(&'static [&'static str]),
    /// The documented exception: the schema accepts (it cannot read a
    /// clock), the parser refuses with exactly these pointers.
    FutureOnly {
        pointers: &'static [&'static str],
        reason: &'static str,
    },
}

struct Row {
    name: &'static str,
    doc: Value,
    expect: Expect,
}

/// The minimal valid record every mutated row starts from.
fn base() -> Map<String, Value> {
    let Value::Object(m) = json!({
        "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.10001",
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.20001",
        "PatientID": "PID-TABLE-0001",
        "PatientName": "Doe^Jane",
        "InstancesInSeries": 12
    }) else {
        unreachable!()
    };
    m
}

/// `base()` with `key` set to `value`.
fn with(key: &str, value: Value) -> Value {
    let mut m = base();
    m.insert(key.to_owned(), value);
    Value::Object(m)
}

/// `base()` with several keys set.
fn with_all(pairs: &[(&str, Value)]) -> Value {
    let mut m = base();
    for (k, v) in pairs {
        m.insert((*k).to_owned(), v.clone());
    }
    Value::Object(m)
}

/// `base()` without `key`.
fn without(key: &str) -> Value {
    let mut m = base();
    m.remove(key);
    Value::Object(m)
}

/// A syntactically valid UID of exactly `len` characters.
fn uid_of_len(len: usize) -> String {
    let mut s = String::from("1.2.840.113619.2");
    while s.len() < len {
        s.push(if s.len().is_multiple_of(10) { '.' } else { '7' });
    }
    s.truncate(len);
    assert!(!s.ends_with('.'));
    s
}

fn row(name: &'static str, doc: Value, expect: Expect) -> Row {
    Row { name, doc, expect }
}

fn table() -> Vec<Row> {
    use Expect::*;
    let tomorrow = TODAY.next_day().unwrap();
    let tomorrow_da = format!(
        "{:04}{:02}{:02}",
        tomorrow.year(),
        u8::from(tomorrow.month()),
        tomorrow.day()
    );
    vec![
        // The original Floy client's payload: exactly its five keys.
        row(
            "floy_payload_five_keys",
            json!({
                "SeriesInstanceUID": "1.3.12.2.1107.5.2.32.35162.2012021516051193284503461",
                "StudyInstanceUID": "1.3.12.2.1107.5.2.32.35162.30000012021507363246800000016",
                "PatientID": "12345678",
                "PatientName": "Mustermann^Max",
                "InstancesInSeries": 176
            }),
            Valid,
        ),
        row(
            "every_field",
            json!({
                "SeriesInstanceUID": "1.2.3.4.5.6",
                "StudyInstanceUID": "1.2.3.4.5",
                "PatientID": "MRN/0042",
                "PatientName": "Doe^John^Q^Dr^Jr",
                "InstancesInSeries": 1,
                "PatientBirthDate": "19840229",
                "PatientSex": "O",
                "PatientAge": "041Y",
                "StudyDate": "20250101",
                "StudyTime": "235960.123456",
                "AccessionNumber": "ACC-16-CHARS-XYZ",
                "Modality": "MR",
                "ReferringPhysicianName": "Strange^Stephen^^Dr",
                "InstitutionName": "Hôpital Européen Georges-Pompidou",
                "StudyDescription": "MRT Schädel nativ",
                "SeriesDescription": "t2_tse_tra 5mm",
                "BodyPartExamined": "HEAD_NECK"
            }),
            Valid,
        ),
        // Person names (PS3.5 §6.2.1).
        row(
            "pn_latin_diacritics",
            with("PatientName", json!("Müller^Zoë")),
            Valid,
        ),
        row(
            "pn_japanese_three_groups",
            with("PatientName", json!("Yamada^Tarou=山田^太郎=やまだ^たろう")),
            Valid,
        ),
        row(
            "pn_korean_three_groups",
            with("PatientName", json!("Hong^Gildong=洪^吉洞=홍^길동")),
            Valid,
        ),
        row(
            "pn_cyrillic",
            with("PatientName", json!("Иванов^Иван^Иванович")),
            Valid,
        ),
        row(
            "pn_ideographic_group_exactly_64",
            with(
                "PatientName",
                json!(format!("Yamada^Tarou={}", "山".repeat(64))),
            ),
            Valid,
        ),
        row(
            "pn_ideographic_group_65",
            with(
                "PatientName",
                json!(format!("Yamada^Tarou={}", "山".repeat(65))),
            ),
            Invalid(&["/PatientName"]),
        ),
        row(
            "pn_alphabetic_group_65",
            with("PatientName", json!("Z".repeat(65))),
            Invalid(&["/PatientName"]),
        ),
        row(
            "pn_six_components",
            with("PatientName", json!("Doe^John^Q^Dr^Jr^Extra")),
            Invalid(&["/PatientName"]),
        ),
        row(
            "pn_four_groups",
            with("PatientName", json!("Alpha=Beta=Gamma=Delta")),
            Invalid(&["/PatientName"]),
        ),
        row(
            "pn_backslash",
            with("PatientName", json!("Doe\\Multivalue")),
            Invalid(&["/PatientName"]),
        ),
        row(
            "pn_control_char",
            with("PatientName", json!("Doe^Bell\u{7}Char")),
            Invalid(&["/PatientName"]),
        ),
        row(
            "pn_empty",
            with("PatientName", json!("")),
            Invalid(&["/PatientName"]),
        ),
        row(
            "referring_physician_six_components",
            with(
                "ReferringPhysicianName",
                json!("House^Gregory^M^Dr^MD^Extra"),
            ),
            Invalid(&["/ReferringPhysicianName"]),
        ),
        // Dates (PS3.5 table 6.2-1, DA): leap days and the calendar.
        row(
            "da_leap_2024",
            with("PatientBirthDate", json!("20240229")),
            Valid,
        ),
        row(
            "da_leap_2000",
            with("PatientBirthDate", json!("20000229")),
            Valid,
        ),
        row(
            "da_not_leap_2023",
            with("PatientBirthDate", json!("20230229")),
            Invalid(&["/PatientBirthDate"]),
        ),
        row(
            "da_not_leap_1900",
            with("StudyDate", json!("19000229")),
            Invalid(&["/StudyDate"]),
        ),
        row(
            "da_month_13",
            with("StudyDate", json!("20241301")),
            Invalid(&["/StudyDate"]),
        ),
        row(
            "da_iso_dashes",
            with("StudyDate", json!("2024-02-29")),
            Invalid(&["/StudyDate"]),
        ),
        row(
            "da_future_birth_date",
            with("PatientBirthDate", json!("20991231")),
            FutureOnly {
                pointers: &["/PatientBirthDate"],
                reason: "a static schema cannot know the day of submission",
            },
        ),
        row(
            "da_study_date_tomorrow",
            with("StudyDate", json!(tomorrow_da)),
            FutureOnly {
                pointers: &["/StudyDate"],
                reason: "a static schema cannot know the day of submission",
            },
        ),
        // UIDs (PS3.5 §9.1).
        row(
            "uid_64_chars",
            with("SeriesInstanceUID", json!(uid_of_len(64))),
            Valid,
        ),
        row(
            "uid_65_chars",
            with("SeriesInstanceUID", json!(uid_of_len(65))),
            Invalid(&["/SeriesInstanceUID"]),
        ),
        row(
            "uid_leading_zero_component",
            with("StudyInstanceUID", json!("1.2.840.0113619.2")),
            Invalid(&["/StudyInstanceUID"]),
        ),
        row(
            "uid_zero_component",
            with("StudyInstanceUID", json!("1.2.0.4")),
            Valid,
        ),
        row(
            "uid_empty_component",
            with("SeriesInstanceUID", json!("1.2..3")),
            Invalid(&["/SeriesInstanceUID"]),
        ),
        row(
            "uid_trailing_dot",
            with("SeriesInstanceUID", json!("1.2.3.")),
            Invalid(&["/SeriesInstanceUID"]),
        ),
        row(
            "uid_letters",
            with("SeriesInstanceUID", json!("1.2.abc.4")),
            Invalid(&["/SeriesInstanceUID"]),
        ),
        // LO, SH, CS.
        row(
            "lo_patient_id_64",
            with("PatientID", json!("P".repeat(64))),
            Valid,
        ),
        row(
            "lo_patient_id_65",
            with("PatientID", json!("Q".repeat(65))),
            Invalid(&["/PatientID"]),
        ),
        row(
            "lo_institution_65",
            with("InstitutionName", json!("Klinik".repeat(11))),
            Invalid(&["/InstitutionName"]),
        ),
        row(
            "lo_unicode_64_chars",
            with("StudyDescription", json!("ü".repeat(64))),
            Valid,
        ),
        row(
            "sh_accession_17",
            with("AccessionNumber", json!("ACC-17-CHARS-WXYZ")),
            Invalid(&["/AccessionNumber"]),
        ),
        row(
            "cs_modality_lower_case",
            with("Modality", json!("mr")),
            Invalid(&["/Modality"]),
        ),
        row(
            "cs_body_part_17",
            with("BodyPartExamined", json!("ABDOMENPELVISXYZW")),
            Invalid(&["/BodyPartExamined"]),
        ),
        row(
            "cs_patient_sex_lower_case",
            with("PatientSex", json!("f")),
            Invalid(&["/PatientSex"]),
        ),
        row(
            "cs_patient_sex_unknown_code",
            with("PatientSex", json!("U")),
            Invalid(&["/PatientSex"]),
        ),
        // AS.
        row("as_days", with("PatientAge", json!("000D")), Valid),
        row("as_weeks", with("PatientAge", json!("012W")), Valid),
        row("as_months", with("PatientAge", json!("018M")), Valid),
        row(
            "as_lower_case_unit",
            with("PatientAge", json!("045y")),
            Invalid(&["/PatientAge"]),
        ),
        row(
            "as_two_digits",
            with("PatientAge", json!("45Y")),
            Invalid(&["/PatientAge"]),
        ),
        row(
            "as_four_digits",
            with("PatientAge", json!("1045Y")),
            Invalid(&["/PatientAge"]),
        ),
        // TM.
        row("tm_hour_only", with("StudyTime", json!("07")), Valid),
        row("tm_hour_minute", with("StudyTime", json!("0730")), Valid),
        row("tm_fraction", with("StudyTime", json!("073015.1")), Valid),
        row(
            "tm_hour_24",
            with("StudyTime", json!("240000")),
            Invalid(&["/StudyTime"]),
        ),
        row(
            "tm_fraction_without_seconds",
            with("StudyTime", json!("0730.5")),
            Invalid(&["/StudyTime"]),
        ),
        row(
            "tm_colons",
            with("StudyTime", json!("07:30:15")),
            Invalid(&["/StudyTime"]),
        ),
        row(
            "tm_seven_fraction_digits",
            with("StudyTime", json!("073015.1234567")),
            Invalid(&["/StudyTime"]),
        ),
        // InstancesInSeries.
        row(
            "count_zero",
            with("InstancesInSeries", json!(0)),
            Invalid(&["/InstancesInSeries"]),
        ),
        row("count_max", with("InstancesInSeries", json!(100000)), Valid),
        row(
            "count_over_max",
            with("InstancesInSeries", json!(100001)),
            Invalid(&["/InstancesInSeries"]),
        ),
        row(
            "count_float_whole",
            with("InstancesInSeries", json!(5.0)),
            Valid,
        ),
        row(
            "count_float_fraction",
            with("InstancesInSeries", json!(5.5)),
            Invalid(&["/InstancesInSeries"]),
        ),
        row(
            "count_negative",
            with("InstancesInSeries", json!(-3)),
            Invalid(&["/InstancesInSeries"]),
        ),
        row(
            "count_string",
            with("InstancesInSeries", json!("5")),
            Invalid(&["/InstancesInSeries"]),
        ),
        row(
            "count_missing",
            without("InstancesInSeries"),
            Invalid(&["/InstancesInSeries"]),
        ),
        // Wrong types and nulls.
        row(
            "patient_id_number",
            with("PatientID", json!(12345678)),
            Invalid(&["/PatientID"]),
        ),
        row(
            "patient_name_object",
            with("PatientName", json!({"family": "Doe", "given": "Jane"})),
            Invalid(&["/PatientName"]),
        ),
        row(
            "patient_sex_boolean",
            with("PatientSex", json!(true)),
            Invalid(&["/PatientSex"]),
        ),
        row(
            "study_date_number",
            with("StudyDate", json!(20240101)),
            Invalid(&["/StudyDate"]),
        ),
        row(
            "modality_array",
            with("Modality", json!(["CT", "PT"])),
            Invalid(&["/Modality"]),
        ),
        row(
            "optional_null",
            with("PatientBirthDate", Value::Null),
            Invalid(&["/PatientBirthDate"]),
        ),
        row(
            "required_null",
            with("SeriesInstanceUID", Value::Null),
            Invalid(&["/SeriesInstanceUID"]),
        ),
        row(
            "required_missing",
            without("SeriesInstanceUID"),
            Invalid(&["/SeriesInstanceUID"]),
        ),
        // Unknown keys are refused, never stored.
        row(
            "unknown_key",
            with("PatientAddress", json!("Hauptstrasse 1")),
            Invalid(&["/PatientAddress"]),
        ),
        row(
            "keyword_wrong_case",
            with("patientid", json!("PID-LOWER-CASE")),
            Invalid(&["/patientid"]),
        ),
        row(
            "unknown_key_pointer_escaping",
            with("a/b~c", json!(1)),
            Invalid(&["/a~1b~0c"]),
        ),
        // Several failing fields at once: every one is reported.
        row(
            "three_bad_fields",
            with_all(&[
                ("StudyInstanceUID", json!("1.2.0099.7")),
                ("PatientBirthDate", json!("20230229")),
                ("Modality", json!("ctscan")),
            ]),
            Invalid(&["/StudyInstanceUID", "/PatientBirthDate", "/Modality"]),
        ),
        row(
            "unknown_key_and_bad_fields",
            with_all(&[
                ("ExtraKey", json!("whatever")),
                ("PatientName", json!("A=B=C=D")),
                ("InstancesInSeries", json!(0)),
            ]),
            Invalid(&["/ExtraKey", "/PatientName", "/InstancesInSeries"]),
        ),
        // Not an object at all.
        row(
            "empty_object",
            json!({}),
            Invalid(&[
                "/SeriesInstanceUID",
                "/StudyInstanceUID",
                "/PatientID",
                "/PatientName",
                "/InstancesInSeries",
            ]),
        ),
        row("document_array", json!([base()]), Invalid(&[""])),
        row("document_string", json!("1.2.3.4"), Invalid(&[""])),
        row("document_number", json!(42), Invalid(&[""])),
        row("document_null", Value::Null, Invalid(&[""])),
    ]
}

/// The record schema as exported by the code, compiled by an independent
/// validator with the draft pinned and the `fancy-regex` engine, which
/// implements the lookahead the PersonName pattern uses.
fn record_validator() -> jsonschema::Validator {
    let schema = phivault::schema::all()
        .into_iter()
        .find(|n| n.name == "record")
        .expect("the record schema is exported")
        .schema;
    let schema = serde_json::to_value(&schema).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_pattern_options(jsonschema::PatternOptions::fancy_regex())
        .build(&schema)
        .expect("the record schema compiles")
}

/// Every string (and long number) in a document, for the no-echo check.
fn submitted_values(doc: &Value, out: &mut Vec<String>) {
    match doc {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|v| submitted_values(v, out)),
        Value::Object(m) => m.values().for_each(|v| submitted_values(v, out)),
        _ => {}
    }
}

#[test]
fn the_table_has_at_least_forty_rows_with_unique_names() {
    let rows = table();
    assert!(rows.len() >= 40, "only {} rows", rows.len());
    let mut names: Vec<_> = rows.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "duplicate row names");
    assert!(rows.iter().any(|r| matches!(r.expect, Expect::Valid)));
    assert!(rows.iter().any(|r| matches!(r.expect, Expect::Invalid(_))));
}

#[test]
fn parser_and_schema_agree_record_by_record() {
    let validator = record_validator();
    let mut failures = Vec::new();
    for Row { name, doc, expect } in table() {
        let parsed = Record::from_json(&doc, TODAY);
        let schema_ok = validator.is_valid(&doc);
        let schema_errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        match (&expect, &parsed) {
            (Expect::Valid, Ok(_)) if schema_ok => {}
            (Expect::Valid, _) => failures.push(format!(
                "{name}: expected valid; parser: {:?}; schema: {schema_errors:?}",
                parsed.as_ref().err()
            )),
            (Expect::Invalid(pointers), Err(errors)) if !schema_ok => {
                let got: Vec<&str> = errors.errors.iter().map(|e| e.pointer.as_str()).collect();
                if got != *pointers {
                    failures.push(format!(
                        "{name}: parser reported {got:?}, expected every failing field {pointers:?}"
                    ));
                }
            }
            (Expect::Invalid(_), _) => failures.push(format!(
                "{name}: expected invalid; parser ok: {}; schema ok: {schema_ok}",
                parsed.is_ok()
            )),
            (Expect::FutureOnly { pointers, reason }, Err(errors)) if schema_ok => {
                assert!(!reason.is_empty());
                let got: Vec<&str> = errors.errors.iter().map(|e| e.pointer.as_str()).collect();
                if got != *pointers {
                    failures.push(format!(
                        "{name}: parser reported {got:?}, expected {pointers:?}"
                    ));
                }
                if !errors.errors.iter().all(|e| e.reason.contains("future")) {
                    failures.push(format!("{name}: the refusal must be for the future date"));
                }
            }
            (Expect::FutureOnly { reason, .. }, _) => failures.push(format!(
                "{name}: expected the schema to accept and the parser to refuse ({reason}); \
                 parser ok: {}; schema errors: {schema_errors:?}",
                parsed.is_ok()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_batch_schema_agrees_on_the_whole_table() {
    // A batch is valid only when every element is: the batch schema and the
    // parser applied element-wise agree (future rows excluded, see above).
    let schema = phivault::schema::all()
        .into_iter()
        .find(|n| n.name == "record-batch")
        .unwrap()
        .schema;
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&serde_json::to_value(&schema).unwrap())
        .unwrap();
    let rows = table();
    let valid: Vec<Value> = rows
        .iter()
        .filter(|r| matches!(r.expect, Expect::Valid))
        .map(|r| r.doc.clone())
        .collect();
    assert!(validator.is_valid(&Value::Array(valid.clone())));
    for r in rows
        .iter()
        .filter(|r| matches!(r.expect, Expect::Invalid(_)))
    {
        let mut batch = valid.clone();
        batch.push(r.doc.clone());
        assert!(!validator.is_valid(&Value::Array(batch)), "{}", r.name);
    }
    assert!(!validator.is_valid(&json!([])), "an empty batch is refused");
}

#[test]
fn no_error_message_or_pointer_contains_a_submitted_value() {
    for Row { name, doc, .. } in table() {
        let Err(errors) = Record::from_json(&doc, TODAY) else {
            continue;
        };
        let mut values = Vec::new();
        submitted_values(&doc, &mut values);
        // Values of three characters or fewer ("M", "07") could occur in a
        // rule's text by coincidence; every distinctive value must not.
        for value in values.iter().filter(|v| v.chars().count() >= 4) {
            for e in &errors.errors {
                assert!(
                    !e.reason.contains(value.as_str()) && !e.pointer.contains(value.as_str()),
                    "{name}: error {e:?} echoes a submitted value"
                );
            }
        }
        // The aggregate Display and Debug forms do not echo them either.
        let rendered = format!("{errors} {errors:?}");
        for value in values.iter().filter(|v| v.chars().count() >= 4) {
            assert!(!rendered.contains(value.as_str()), "{name}: {rendered}");
        }
    }
}

#[test]
fn a_null_is_refused_with_advice_that_fits_the_field() {
    let optional = Record::from_json(&with("StudyDate", Value::Null), TODAY).unwrap_err();
    assert!(optional.errors[0].reason.contains("omit the key"));
    let required = Record::from_json(&with("PatientID", Value::Null), TODAY).unwrap_err();
    assert!(!required.errors[0].reason.contains("omit"), "{required:?}");
    assert!(required.errors[0].reason.contains("required"));
}

#[test]
fn a_record_with_three_bad_fields_yields_three_precise_errors() {
    let doc = with_all(&[
        ("SeriesInstanceUID", json!("1.2.0777.9")),
        ("PatientSex", json!("unknown-sex-value")),
        ("StudyTime", json!("99:99")),
    ]);
    let errors = Record::from_json(&doc, TODAY).unwrap_err().errors;
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(errors[0].pointer, "/SeriesInstanceUID");
    assert!(errors[0].reason.contains("leading") || errors[0].reason.contains("start with 0"));
    assert_eq!(errors[1].pointer, "/PatientSex");
    assert!(errors[1].reason.contains("M, F or O"));
    assert_eq!(errors[2].pointer, "/StudyTime");
    assert!(errors[2].reason.contains("TM"));
}
