//! No PHI on disk or in logs: the built binary, logging at `debug`, ingests
//! records with distinctive PHI strings under both shipped policies, serves
//! them back to a reader, refuses invalid bodies that carry PHI, and stops;
//! then every byte of every file of its data directory and everything it
//! wrote to stdout and stderr is searched for each string.

use std::path::Path;
use std::process::Stdio;

use phivault::domain::Role;
use serde_json::{Value, json};

use crate::crash::{ChildServer, token};
use crate::support::client_trusting;

/// The values of fields a policy does not `keep`: none may reach the disk
/// in the clear. Each is distinctive, so a hit cannot be a coincidence.
/// (A generalised date keeps its year in the clear, a shifted one a moved
/// date: the full original is what must not appear.)
const GDPR_PHI: &[(&str, &str)] = &[
    ("PatientName", "Qwxzyv^Plokmij"),
    ("PatientID", "PID-ZXQ-998877"),
    ("SeriesInstanceUID", "1.2.826.0.1.3680043.8.498.86753091"),
    ("StudyInstanceUID", "1.2.826.0.1.3680043.8.498.86753092"),
    ("AccessionNumber", "ACC-QZX-4417"),
    ("ReferringPhysicianName", "Drqwpk^Zmlxnv"),
    ("StudyDescription", "Knee QZXW meniscus"),
    ("SeriesDescription", "Sagittal QZXW T2"),
    ("PatientBirthDate", "19410823"),
    ("StudyDate", "20230917"),
];

const HIPAA_PHI: &[(&str, &str)] = &[
    ("PatientName", "Vbnmrt^Ghjkuy"),
    ("PatientID", "PID-ZXQ-112233"),
    ("SeriesInstanceUID", "1.2.826.0.1.3680043.8.498.86753093"),
    ("StudyInstanceUID", "1.2.826.0.1.3680043.8.498.86753094"),
    ("AccessionNumber", "ACC-QZX-5528"),
    ("ReferringPhysicianName", "Drpqwz^Xnmvbl"),
    ("InstitutionName", "Zyqxwv Klinik Hospital"),
    ("StudyDescription", "Shoulder QZXW labrum"),
    ("SeriesDescription", "Coronal QZXW PD"),
    ("StudyTime", "134527.918273"),
    ("PatientBirthDate", "19370219"),
    ("StudyDate", "20220406"),
];

/// Kept in the clear by gdpr (the controller's own name): the positive
/// control that proves the scan reads the stored records' bytes.
const KEPT_CONTROL: &str = "Kqzwx Positive Control Clinic";

/// A record from `phi` plus fields every policy keeps.
fn record(phi: &[(&str, &str)]) -> Value {
    let mut doc = json!({
        "InstancesInSeries": 21,
        "InstitutionName": KEPT_CONTROL,
        "PatientSex": "O",
        "Modality": "MR",
        "BodyPartExamined": "KNEE",
    });
    for (k, v) in phi {
        doc[*k] = json!(v);
    }
    doc
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinctive_phi_never_reaches_the_data_dir_or_the_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("phivault-data");
    let stdout_path = tmp.path().join("stdout.log");
    let stdout = std::fs::File::create(&stdout_path).unwrap();
    let server = ChildServer::start(&data, "debug", Stdio::from(stdout));
    let ingest = token(&data, Role::Ingest, "modality-phi");
    let reader = token(&data, Role::Reader, "dr-phi");
    let client = client_trusting(&data.join("tls/cert.pem"));

    let mut ids = Vec::new();
    for (policy, phi) in [("gdpr", GDPR_PHI), ("hipaa", HIPAA_PHI)] {
        // One record, then the same series resubmitted (an update), then a
        // batch with a second series of the same patient.
        for _ in 0..2 {
            let r = client
                .post(server.url("/v1/records"))
                .bearer_auth(&ingest)
                .header("Compliance-Policy", policy)
                .json(&record(phi))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{policy}: {}", r.status());
            let receipt: Value = r.json().await.unwrap();
            assert_eq!(receipt["policy"]["id"], policy);
            ids.push(receipt["id"].as_str().unwrap().to_owned());
        }
        let mut second = record(phi);
        second["SeriesInstanceUID"] = json!(format!("{}.2", phi[2].1));
        let r = client
            .post(server.url("/v1/records/batch"))
            .bearer_auth(&ingest)
            .header("Compliance-Policy", policy)
            .json(&json!([second]))
            .send()
            .await
            .unwrap();
        let answers: Value = r.json().await.unwrap();
        assert_eq!(answers[0]["status"], 201, "{answers}");

        // Read back: the reader gets the PHI (over TLS), nothing else does.
        let pid = phi.iter().find(|(k, _)| *k == "PatientID").unwrap().1;
        let body: Value = client
            .post(server.url("/v1/subjects/access"))
            .bearer_auth(&reader)
            .header("Purpose-Of-Use", "TREAT")
            .json(&json!({ "PatientID": pid }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["records"].as_array().unwrap().len(), 2, "{policy}");
        let name = phi.iter().find(|(k, _)| *k == "PatientName").unwrap().1;
        assert_eq!(body["records"][0]["fields"]["PatientName"]["value"], name);
    }
    for id in &ids {
        let r = client
            .get(server.url(&format!("/v1/records/{id}")))
            .bearer_auth(&reader)
            .header("Purpose-Of-Use", "TREAT")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // Invalid bodies carrying PHI: refused, and the values are not echoed
    // into the logs.
    let long_pid = format!("PID-ZXQ-998877{}", "9".repeat(70));
    let invalid = [
        json!({"PatientName": ["Qwxzyv^Plokmij"], "PatientID": long_pid}),
        json!({"StudyDate": "2023091799", "PatientBirthDate": "19410823x",
               "StudyDescription": format!("Knee QZXW meniscus{}", "\u{1}")}),
        json!({"Qwxzyv^Plokmij": "PID-ZXQ-998877", "AccessionNumber": {"v": "ACC-QZX-4417"}}),
        json!({"ReferringPhysicianName": "Drqwpk^Zmlxnv^a^b^c^d^e^f",
               "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.86753091.x"}),
    ];
    for body in &invalid {
        let r = client
            .post(server.url("/v1/records"))
            .bearer_auth(&ingest)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{body}");
        let r = client
            .post(server.url("/v1/records/batch"))
            .bearer_auth(&ingest)
            .json(&json!([body]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = client
        .post(server.url("/v1/records"))
        .bearer_auth(&ingest)
        .header("content-type", "application/json")
        .body("{\"PatientName\": \"Qwxzyv^Plokmij\", \"PatientID\": \"PID-ZXQ-998877\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // PHI where it does not belong: in a URL path, and a subject lookup by
    // an unknown PatientID.
    let r = client
        .get(server.url("/v1/records/PID-ZXQ-998877"))
        .bearer_auth(&reader)
        .header("Purpose-Of-Use", "TREAT")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Refused roles on PHI routes.
    let r = client
        .post(server.url("/v1/subjects/access"))
        .bearer_auth(&ingest)
        .header("Purpose-Of-Use", "TREAT")
        .json(&json!({"PatientID": "PID-ZXQ-998877"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    drop(client);

    let stderr = std::sync::Arc::clone(&server.stderr);
    assert!(server.terminate(), "graceful stop");
    let stderr = stderr.lock().unwrap().clone();
    let log_text = String::from_utf8_lossy(&stderr);
    assert!(log_text.contains("phivault: stopped"), "{log_text}");
    assert!(
        log_text.contains("DEBUG"),
        "the server logged at debug level, so the scan covers it"
    );

    let mut files = Vec::new();
    files_under(&data, &mut files);
    let mut sources: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
        .collect();
    assert!(
        sources
            .iter()
            .any(|(p, b)| p.contains("/db/") && b.len() > 1000),
        "the database files are scanned: {files:?}"
    );
    sources.push(("stderr".into(), stderr));
    sources.push(("stdout".into(), std::fs::read(&stdout_path).unwrap()));
    let total: usize = sources.iter().map(|(_, b)| b.len()).sum();
    assert!(
        sources
            .iter()
            .any(|(p, b)| p.contains("/db/") && contains(b, KEPT_CONTROL.as_bytes())),
        "a kept value must be found in the database files, or the scan proves nothing"
    );

    let mut hits = Vec::new();
    for (field, value) in GDPR_PHI.iter().chain(HIPAA_PHI) {
        for (source, bytes) in &sources {
            if contains(bytes, value.as_bytes()) {
                hits.push(format!("{field} {value:?} in {source}"));
            }
        }
    }
    assert!(hits.is_empty(), "PHI found:\n{}", hits.join("\n"));
    eprintln!(
        "no-PHI scan: {} strings over {} files + stdout + stderr, {} bytes: 0 hits",
        GDPR_PHI.len() + HIPAA_PHI.len(),
        files.len(),
        total
    );
}
