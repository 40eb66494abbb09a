//! DICOM Part 10 files written with dicom-rs, read back by the client: the
//! series collector's records match the headers, unusable files are skipped
//! with reasons, pixel data is never read. Also the sender's behaviour on a
//! real socket where no phivault server answers (the end-to-end submit
//! against a real server is added with the server).

// Test helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use dicom_core::{DataElement, PrimitiveValue, Tag, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject, OpenFileOptions};
use phivault::client::{
    BearerToken, Inputs, RetryPolicy, SeriesCollector, SubmitOptions, collect_inputs,
    read_header_file, submit,
};
use serde_json::{Value, json};

/// MR Image Storage (PS3.4 annex B).
pub(crate) const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
/// Explicit VR Little Endian (PS3.5 §A.2).
pub(crate) const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

pub(crate) const STUDY_A: &str = "1.2.826.0.1.3680043.8.498.1";
pub(crate) const SERIES_A1: &str = "1.2.826.0.1.3680043.8.498.1.1";
pub(crate) const SERIES_A2: &str = "1.2.826.0.1.3680043.8.498.1.2";
pub(crate) const STUDY_B: &str = "1.2.826.0.1.3680043.8.498.2";
pub(crate) const SERIES_B1: &str = "1.2.826.0.1.3680043.8.498.2.1";
pub(crate) const SERIES_C1: &str = "1.2.826.0.1.3680043.8.498.3.1";

/// One instance's data set: the required tags, `extra` elements, and a
/// small OW pixel data element.
pub(crate) fn instance(
    series: &str,
    study: &str,
    sop: &str,
    patient: (&str, &str),
    extra: Vec<DataElement<InMemDicomObject>>,
) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    // UTF-8 (PS3.3 C.12.1.1.2), so that names in any script can be written.
    o.put(DataElement::new(
        tags::SPECIFIC_CHARACTER_SET,
        VR::CS,
        "ISO_IR 192",
    ));
    o.put(DataElement::new(
        tags::SOP_CLASS_UID,
        VR::UI,
        MR_IMAGE_STORAGE,
    ));
    o.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, sop));
    o.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, series));
    o.put(DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, study));
    o.put(DataElement::new(tags::PATIENT_ID, VR::LO, patient.0));
    o.put(DataElement::new(tags::PATIENT_NAME, VR::PN, patient.1));
    for e in extra {
        o.put(e);
    }
    o.put(DataElement::new(tags::ROWS, VR::US, dicom_value!(U16, [4])));
    o.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        dicom_value!(U16, [4]),
    ));
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16((0u16..16).collect()),
    ));
    o
}

pub(crate) fn text(tag: Tag, vr: VR, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, v)
}

/// Writes `object` as a DICOM Part 10 file (preamble, DICM, meta group,
/// explicit VR little endian).
pub(crate) fn write(object: InMemDicomObject, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = object
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(EXPLICIT_VR_LE))
        .unwrap();
    file.write_to_file(path).unwrap();
}

pub(crate) fn full_optional_tags() -> Vec<DataElement<InMemDicomObject>> {
    vec![
        text(tags::PATIENT_BIRTH_DATE, VR::DA, "19840229"),
        text(tags::PATIENT_SEX, VR::CS, "F"),
        text(tags::PATIENT_AGE, VR::AS, "041Y"),
        text(tags::STUDY_DATE, VR::DA, "20250301"),
        text(tags::STUDY_TIME, VR::TM, "073015.25"),
        text(tags::ACCESSION_NUMBER, VR::SH, "ACC0001"),
        text(tags::MODALITY, VR::CS, "MR"),
        text(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "House^Gregory"),
        text(tags::INSTITUTION_NAME, VR::LO, "Princeton-Plainsboro"),
        text(tags::STUDY_DESCRIPTION, VR::LO, "MRT Schädel"),
        text(tags::SERIES_DESCRIPTION, VR::LO, "t2_tse_tra"),
        text(tags::BODY_PART_EXAMINED, VR::CS, "HEAD"),
    ]
}

/// The fixture tree: several series, several patients, missing optional
/// tags, odd values, a duplicate SOPInstanceUID, unusable files.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
}

impl Fixture {
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let p = |rel: &str| dir.path().join(rel);
    let jane = ("PID-A-0001", "Doe^Jane");
    // Patient A, series A1: three instances with every optional tag.
    for i in 1..=3 {
        write(
            instance(
                SERIES_A1,
                STUDY_A,
                &format!("{SERIES_A1}.{i}"),
                jane,
                full_optional_tags(),
            ),
            &p(&format!("patient-a/a1/img{i}.dcm")),
        );
    }
    // Patient A, series A2: two instances, no optional tag at all, in a
    // nested directory and without a file extension.
    for i in 1..=2 {
        write(
            instance(
                SERIES_A2,
                STUDY_A,
                &format!("{SERIES_A2}.{i}"),
                jane,
                vec![],
            ),
            &p(&format!("patient-a/a2/deeper/IM{i:04}")),
        );
    }
    // Patient B, series B1: multi-valued name, padded values, a sex code
    // outside M/F/O, an age without its leading zero, and the same
    // SOPInstanceUID written into two files.
    let b_extra = || {
        vec![
            text(tags::PATIENT_SEX, VR::CS, "U"),
            text(tags::PATIENT_AGE, VR::AS, "7Y"),
            text(tags::MODALITY, VR::CS, "CT"),
            text(tags::STUDY_DATE, VR::DA, "2024.02.29"),
            DataElement::new(
                tags::REFERRING_PHYSICIAN_NAME,
                VR::PN,
                dicom_value!(Strs, ["Strange^Stephen", "Wong^Wong"]),
            ),
        ]
    };
    write(
        instance(
            SERIES_B1,
            STUDY_B,
            &format!("{SERIES_B1}.1"),
            ("PID-B-0002 ", "Yamada^Tarou=山田^太郎"),
            b_extra(),
        ),
        &p("patient-b/first.dcm"),
    );
    write(
        instance(
            SERIES_B1,
            STUDY_B,
            &format!("{SERIES_B1}.1"),
            ("PID-B-0002 ", "Yamada^Tarou=山田^太郎"),
            b_extra(),
        ),
        &p("patient-b/first-copy.dcm"),
    );
    write(
        instance(
            SERIES_B1,
            STUDY_B,
            &format!("{SERIES_B1}.2"),
            ("PID-B-0002", "Yamada^Tarou=山田^太郎"),
            b_extra(),
        ),
        &p("patient-b/second.dcm"),
    );
    // Not DICOM at all, one of them named like DICOM.
    std::fs::write(p("notes.txt"), "not an image\n").unwrap();
    std::fs::write(p("patient-b/fake.dcm"), vec![b'x'; 300]).unwrap();
    // DICOM without SeriesInstanceUID.
    let mut no_series = instance(SERIES_C1, STUDY_B, "1.2.3.99", jane, vec![]);
    no_series.remove_element(tags::SERIES_INSTANCE_UID);
    write(no_series, &p("broken/no-series.dcm"));
    Fixture { dir }
}

fn record_for<'a>(inputs: &'a Inputs, series: &str) -> &'a Value {
    &inputs
        .records
        .iter()
        .find(|r| r.record["SeriesInstanceUID"] == series)
        .unwrap_or_else(|| panic!("no record for {series}"))
        .record
}

#[test]
fn records_match_the_headers_one_per_series() {
    let f = fixture();
    let inputs = collect_inputs(&[f.dir.path().to_owned()]);
    assert_eq!(inputs.records.len(), 3, "{:#?}", inputs.records);
    assert!(inputs.refused.is_empty(), "{:?}", inputs.refused);

    assert_eq!(
        *record_for(&inputs, SERIES_A1),
        json!({
            "SeriesInstanceUID": SERIES_A1,
            "StudyInstanceUID": STUDY_A,
            "PatientID": "PID-A-0001",
            "PatientName": "Doe^Jane",
            "InstancesInSeries": 3,
            "PatientBirthDate": "19840229",
            "PatientSex": "F",
            "PatientAge": "041Y",
            "StudyDate": "20250301",
            "StudyTime": "073015.25",
            "AccessionNumber": "ACC0001",
            "Modality": "MR",
            "ReferringPhysicianName": "House^Gregory",
            "InstitutionName": "Princeton-Plainsboro",
            "StudyDescription": "MRT Schädel",
            "SeriesDescription": "t2_tse_tra",
            "BodyPartExamined": "HEAD"
        })
    );
    // Missing optional tags: the record simply does not carry them.
    assert_eq!(
        *record_for(&inputs, SERIES_A2),
        json!({
            "SeriesInstanceUID": SERIES_A2,
            "StudyInstanceUID": STUDY_A,
            "PatientID": "PID-A-0001",
            "PatientName": "Doe^Jane",
            "InstancesInSeries": 2
        })
    );
    // Normalised: padding trimmed, first value of a multi-valued PN, sex
    // code U dropped, age zero-padded, ACR-NEMA date rewritten, and the
    // duplicated SOPInstanceUID counted once.
    assert_eq!(
        *record_for(&inputs, SERIES_B1),
        json!({
            "SeriesInstanceUID": SERIES_B1,
            "StudyInstanceUID": STUDY_B,
            "PatientID": "PID-B-0002",
            "PatientName": "Yamada^Tarou=山田^太郎",
            "InstancesInSeries": 2,
            "PatientAge": "007Y",
            "StudyDate": "20240229",
            "Modality": "CT",
            "ReferringPhysicianName": "Strange^Stephen"
        })
    );
    // Every record passes the parser, as sent.
    for r in &inputs.records {
        phivault::domain::Record::from_json_now(&r.record).unwrap();
    }
}

#[test]
fn unusable_files_are_skipped_by_path_with_a_reason() {
    let f = fixture();
    let inputs = collect_inputs(&[f.dir.path().to_owned()]);
    let reason_for = |rel: &str| {
        let path = f.path(rel).display().to_string();
        inputs
            .skipped
            .iter()
            .find(|s| s.path == path)
            .unwrap_or_else(|| panic!("{rel} not skipped: {:?}", inputs.skipped))
            .reason
            .clone()
    };
    assert_eq!(inputs.skipped.len(), 3, "{:?}", inputs.skipped);
    assert!(reason_for("notes.txt").contains("neither DICOM"));
    assert!(reason_for("patient-b/fake.dcm").contains("no DICM marker"));
    assert_eq!(
        reason_for("broken/no-series.dcm"),
        "required tag SeriesInstanceUID (0020,000E) is missing or empty"
    );
    // The skipped file's series never appears, not even half-formed.
    assert!(
        inputs
            .records
            .iter()
            .all(|r| r.record["SeriesInstanceUID"] != SERIES_C1)
    );
}

#[test]
fn pixel_data_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.dcm");
    write(
        instance(
            SERIES_C1,
            STUDY_B,
            &format!("{SERIES_C1}.1"),
            ("PID-C", "Roe^Richard"),
            vec![],
        ),
        &path,
    );
    // Cut the file in the middle of the pixel data value (32 bytes) and
    // append nothing: a reader that parses pixel data must fail.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    assert!(
        OpenFileOptions::new().read_all().open_file(&path).is_err(),
        "the fixture must be broken for a full read"
    );
    let header = read_header_file(&path).unwrap();
    assert_eq!(header.series_instance_uid(), SERIES_C1);

    // Pixel data whose declared length runs far past the end of the file.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(4)
        .rposition(|w| w == [0xE0, 0x7F, 0x10, 0x00])
        .expect("pixel data tag");
    // Explicit VR OW: tag (4), VR (2), reserved (2), 32-bit length.
    bytes[at + 8..at + 12].copy_from_slice(&0x0010_0000u32.to_le_bytes());
    bytes.extend_from_slice(b"garbage");
    std::fs::write(&path, &bytes).unwrap();
    assert!(OpenFileOptions::new().read_all().open_file(&path).is_err());
    let inputs = collect_inputs(std::slice::from_ref(&path));
    assert_eq!(inputs.records.len(), 1, "{:?}", inputs.skipped);
    assert_eq!(inputs.records[0].record["InstancesInSeries"], 1);
}

#[test]
fn a_series_whose_instances_disagree_is_refused_without_values() {
    let dir = tempfile::tempdir().unwrap();
    write(
        instance(
            SERIES_C1,
            STUDY_B,
            &format!("{SERIES_C1}.1"),
            ("PID-CONFLICT-ONE", "Roe^Richard"),
            vec![],
        ),
        &dir.path().join("one.dcm"),
    );
    write(
        instance(
            SERIES_C1,
            STUDY_B,
            &format!("{SERIES_C1}.2"),
            ("PID-CONFLICT-TWO", "Roe^Richard"),
            vec![text(tags::STUDY_DATE, VR::DA, "20231301")],
        ),
        &dir.path().join("two.dcm"),
    );
    let inputs = collect_inputs(&[dir.path().to_owned()]);
    assert!(inputs.records.is_empty());
    assert_eq!(inputs.refused.len(), 1, "{:?}", inputs.refused);
    let r = &inputs.refused[0];
    assert_eq!(r.pointer.as_deref(), Some("/PatientID"));
    assert!(r.source.ends_with("one.dcm (+1 more)"), "{}", r.source);
    assert!(!r.reason.contains("PID-CONFLICT"));

    // Without the conflict, the invalid month is reported with its pointer.
    std::fs::remove_file(dir.path().join("one.dcm")).unwrap();
    let inputs = collect_inputs(&[dir.path().to_owned()]);
    assert_eq!(inputs.refused.len(), 1, "{:?}", inputs.refused);
    assert_eq!(inputs.refused[0].pointer.as_deref(), Some("/StudyDate"));
    assert!(!inputs.refused[0].reason.contains("20231301"));
}

#[test]
fn the_collector_takes_in_memory_data_sets() {
    // The C-STORE listener hands data sets, not files, to the collector.
    let mut c = SeriesCollector::new();
    for i in [1, 2, 2, 3] {
        c.add_object(
            "AE MODALITY1",
            &instance(
                SERIES_A1,
                STUDY_A,
                &format!("{SERIES_A1}.{i}"),
                ("PID-MEM", "Mem^Ory"),
                vec![],
            ),
        )
        .unwrap();
    }
    let first = c.outcome(SERIES_A1).unwrap();
    assert_eq!(first.instances, 3);
    assert_eq!(first.result.unwrap()["InstancesInSeries"], 3);
    // A later instance updates the same series.
    c.add_object(
        "AE MODALITY1",
        &instance(
            SERIES_A1,
            STUDY_A,
            &format!("{SERIES_A1}.4"),
            ("PID-MEM", "Mem^Ory"),
            vec![],
        ),
    )
    .unwrap();
    assert_eq!(
        c.outcome(SERIES_A1).unwrap().result.unwrap()["InstancesInSeries"],
        4
    );
    let mut missing = instance(SERIES_A1, STUDY_A, "1.2.3", ("P", "N"), vec![]);
    missing.remove_element(tags::SOP_INSTANCE_UID);
    assert!(c.add_object("AE X", &missing).is_err());
    assert_eq!(c.len(), 1);
}

#[test]
fn json_and_ndjson_inputs_are_validated_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let good = json!({
        "SeriesInstanceUID": "1.2.3.4", "StudyInstanceUID": "1.2.3",
        "PatientID": "P1", "PatientName": "Doe^J", "InstancesInSeries": 1
    });
    let mut bad = good.clone();
    bad["StudyDate"] = json!("20230229");
    std::fs::write(
        dir.path().join("batch.json"),
        serde_json::to_vec(&json!([good, bad])).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("lines.ndjson"),
        format!("{good}\n\n{{\"SeriesInstanceUID\": \"SECRET-VALUE\n{bad}\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("scalar.json"), "42").unwrap();
    let inputs = collect_inputs(&[dir.path().to_owned()]);
    let sources: Vec<&str> = inputs.records.iter().map(|r| r.source.as_str()).collect();
    let name = |f: &str| dir.path().join(f).display().to_string();
    assert_eq!(
        sources,
        [
            format!("{}#/0", name("batch.json")),
            format!("{}:1", name("lines.ndjson"))
        ]
    );
    let refused: Vec<(String, Option<String>)> = inputs
        .refused
        .iter()
        .map(|r| (r.source.clone(), r.pointer.clone()))
        .collect();
    assert_eq!(
        refused,
        [
            (
                format!("{}#/1", name("batch.json")),
                Some("/StudyDate".into())
            ),
            (format!("{}:3", name("lines.ndjson")), None),
            (
                format!("{}:4", name("lines.ndjson")),
                Some("/StudyDate".into())
            ),
        ]
    );
    assert!(inputs.refused.iter().all(|r| !r.reason.contains("SECRET")));
    assert_eq!(inputs.skipped.len(), 1);
    assert_eq!(inputs.skipped[0].path, name("scalar.json"));
}

fn fast_options(port: u16, attempts: u32) -> SubmitOptions {
    let mut o = SubmitOptions::new(
        format!("https://127.0.0.1:{port}").parse().unwrap(),
        BearerToken::new("test-token".into()),
    );
    o.retry = RetryPolicy {
        max_attempts: attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_millis(5),
    };
    o.request_timeout = Duration::from_secs(5);
    o
}

#[tokio::test]
async fn an_unreachable_server_leaves_every_record_undelivered_after_the_retries() {
    let f = fixture();
    let inputs = collect_inputs(&[f.dir.path().to_owned()]);
    // A port that was just free: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut options = fast_options(port, 3);
    options.batch_size = 2;
    let summary = submit(&options, inputs).await.unwrap();
    assert_eq!(summary.sent, 0);
    assert_eq!(summary.undelivered.len(), 3);
    assert!(
        summary.undelivered[0]
            .reason
            .starts_with("gave up after 3 attempts: cannot connect"),
        "{}",
        summary.undelivered[0].reason
    );
    assert_eq!(summary.skipped.len(), 3);
    assert!(!summary.all_stored());
}

#[tokio::test]
async fn a_tls_failure_is_not_retried() {
    // A real listener that answers in plain text, not TLS: the handshake
    // fails, which waiting cannot fix, so exactly one connection is made.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = std::thread::spawn({
        let done = done.clone();
        move || {
            let mut accepted = 0;
            loop {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        use std::io::Write;
                        accepted += 1;
                        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
                    }
                    // Every connection the client made completed its TCP
                    // handshake before `submit` returned, so once it has,
                    // an empty backlog means there are no more.
                    Err(_) if done.load(std::sync::atomic::Ordering::SeqCst) => return accepted,
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
    });
    let mut inputs = Inputs::default();
    inputs.records.push(phivault::client::SourcedRecord {
        source: "one.json".into(),
        record: json!({"SeriesInstanceUID": "1.2", "StudyInstanceUID": "1.3",
                       "PatientID": "P", "PatientName": "N", "InstancesInSeries": 1}),
    });
    let summary = submit(&fast_options(port, 5), inputs).await.unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(summary.undelivered.len(), 1, "{summary:?}");
    assert!(
        summary.undelivered[0].reason.starts_with("TLS failure"),
        "{}",
        summary.undelivered[0].reason
    );
    assert_eq!(
        server.join().unwrap(),
        1,
        "a TLS failure must not be retried"
    );
}

#[test]
fn submit_command_line() {
    let bin = env!("CARGO_BIN_EXE_phivault");
    let help = std::process::Command::new(bin)
        .args(["submit", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--server",
        "--ca",
        "--token",
        "--batch-size",
        "PHIVAULT_TOKEN",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    // No token: one clear line, non-zero, nothing on stdout.
    let out = std::process::Command::new(bin)
        .args(["submit", "--server", "https://127.0.0.1:1", "."])
        .env_remove("PHIVAULT_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bearer token is required"));
    // Plain http without the explicit flag is refused before any I/O.
    let out = std::process::Command::new(bin)
        .args(["submit", "--server", "http://127.0.0.1:1", "."])
        .env("PHIVAULT_TOKEN", "t")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("https://"));
}

// ---- The sender against a real HTTPS endpoint with scripted answers ----
//
// Not the phivault server (the end-to-end test comes with it): a TLS
// listener on 127.0.0.1 whose answers each test scripts, to pin down the
// retry rules, the accounting and the trust of `--ca` over a real socket.

mod scripted {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::{Json, Router, routing::post};
    use serde_json::Value;

    /// One scripted answer: status, optional Retry-After, body.
    pub type Answer = (u16, Option<&'static str>, Value);
    /// One request seen: its Authorization header and batch length.
    pub type Call = (Option<String>, usize);

    /// What the endpoint saw and what it will answer next.
    #[derive(Clone, Default)]
    pub struct Script {
        pub answers: Arc<Mutex<VecDeque<Answer>>>,
        /// Per request: the Authorization header and the batch length.
        pub calls: Arc<Mutex<Vec<Call>>>,
    }

    async fn batch(
        State(s): State<Script>,
        headers: HeaderMap,
        Json(body): Json<Vec<Value>>,
    ) -> Response {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        s.calls.lock().unwrap().push((auth, body.len()));
        let next = s.answers.lock().unwrap().pop_front();
        let (status, retry_after, body) = next.unwrap_or((500, None, Value::Null));
        let mut r = (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
        if let Some(ra) = retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(ra));
        }
        r
    }

    /// Starts the endpoint with a fresh self-signed certificate for
    /// 127.0.0.1; returns its port, its certificate (PEM) and the script.
    pub async fn start(answers: Vec<Answer>) -> (u16, Vec<u8>, Script) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert_pem = key.cert.pem().into_bytes();
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(
            cert_pem.clone(),
            key.signing_key.serialize_pem().into_bytes(),
        )
        .await
        .unwrap();
        let script = Script::default();
        script.answers.lock().unwrap().extend(answers);
        let app = Router::new()
            .route("/v1/records/batch", post(batch))
            .with_state(script.clone());
        let handle: axum_server::Handle<std::net::SocketAddr> = axum_server::Handle::new();
        let server =
            axum_server::bind_rustls("127.0.0.1:0".parse().unwrap(), config).handle(handle.clone());
        tokio::spawn(async move { server.serve(app.into_make_service()).await });
        let addr = handle.listening().await.unwrap();
        (addr.port(), cert_pem, script)
    }
}

fn three_records() -> Inputs {
    let mut inputs = Inputs::default();
    for i in 1..=3 {
        inputs.records.push(phivault::client::SourcedRecord {
            source: format!("r{i}.json"),
            record: json!({"SeriesInstanceUID": format!("1.2.{i}"), "StudyInstanceUID": "1.3",
                           "PatientID": "P", "PatientName": "N", "InstancesInSeries": 1}),
        });
    }
    inputs
}

fn trusting(port: u16, cert: &[u8], attempts: u32) -> SubmitOptions {
    let mut o = fast_options(port, attempts);
    o.ca_pem = Some(cert.to_vec());
    o
}

#[tokio::test]
async fn transient_answers_are_retried_then_each_record_is_accounted() {
    let (port, cert, script) = scripted::start(vec![
        (503, Some("0"), json!({"title": "Service Unavailable"})),
        (429, None, json!({"title": "Too Many Requests"})),
        (408, None, Value::Null),
        (
            200,
            None,
            json!([
                {"status": 201, "id": "a"},
                {"status": 200, "id": "b"},
                {"status": 422, "problem": {"type": "about:blank", "title": "Invalid record",
                  "status": 422, "errors": [{"pointer": "/StudyDate", "reason": "a date (DA) is YYYYMMDD"}]}}
            ]),
        ),
    ])
    .await;
    let summary = submit(&trusting(port, &cert, 5), three_records())
        .await
        .unwrap();
    let calls = script.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 4, "three transient answers, then success");
    assert!(
        calls
            .iter()
            .all(|(auth, n)| auth.as_deref() == Some("Bearer test-token") && *n == 3)
    );
    assert_eq!((summary.sent, summary.created, summary.replaced), (3, 1, 1));
    assert_eq!(summary.refused.len(), 1);
    assert_eq!(summary.refused[0].source, "r3.json");
    assert_eq!(summary.refused[0].pointer.as_deref(), Some("/StudyDate"));
    assert!(summary.undelivered.is_empty());
}

#[tokio::test]
async fn a_client_error_is_never_retried() {
    for status in [400u16, 404, 409, 413, 422] {
        let (port, cert, script) = scripted::start(vec![(
            status,
            None,
            json!({"type": "about:blank", "title": "Nope", "status": status}),
        )])
        .await;
        let summary = submit(&trusting(port, &cert, 5), three_records())
            .await
            .unwrap();
        assert_eq!(
            script.calls.lock().unwrap().len(),
            1,
            "{status} was retried"
        );
        assert_eq!(summary.refused.len(), 3);
        assert_eq!(
            summary.refused[0].reason,
            format!("server answered {status}: Nope")
        );
        assert_eq!(summary.sent, 0);
    }
}

#[tokio::test]
async fn an_authentication_failure_stops_the_later_batches() {
    let (port, cert, script) =
        scripted::start(vec![(401, None, json!({"title": "Unauthorized"}))]).await;
    let mut options = trusting(port, &cert, 5);
    options.batch_size = 1;
    let summary = submit(&options, three_records()).await.unwrap();
    assert_eq!(script.calls.lock().unwrap().len(), 1);
    assert_eq!(summary.refused.len(), 3);
    assert!(summary.refused.iter().all(|r| r.reason.contains("401")));
}

#[tokio::test]
async fn exhausted_retries_leave_the_batch_undelivered() {
    let (port, cert, script) =
        scripted::start(vec![(502, None, Value::Null), (502, None, Value::Null)]).await;
    let summary = submit(&trusting(port, &cert, 2), three_records())
        .await
        .unwrap();
    assert_eq!(script.calls.lock().unwrap().len(), 2);
    assert_eq!(summary.undelivered.len(), 3);
    assert_eq!(
        summary.undelivered[0].reason,
        "gave up after 2 attempts: server answered 502"
    );
}

#[tokio::test]
async fn only_the_given_ca_is_trusted() {
    let (port, _cert, script) = scripted::start(vec![]).await;
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let summary = submit(
        &trusting(port, other.cert.pem().as_bytes(), 5),
        three_records(),
    )
    .await
    .unwrap();
    assert_eq!(script.calls.lock().unwrap().len(), 0);
    assert_eq!(summary.undelivered.len(), 3);
    assert!(
        summary.undelivered[0].reason.starts_with("TLS failure"),
        "{}",
        summary.undelivered[0].reason
    );
    // A CA file without a certificate is refused before any connection.
    let err = submit(&trusting(port, b"not a pem", 1), three_records())
        .await
        .unwrap_err();
    assert!(matches!(err, phivault::client::SubmitError::BadCa), "{err}");
}
