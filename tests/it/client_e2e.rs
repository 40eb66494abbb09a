//! `submit` end to end: DICOM files written with dicom-rs (several series
//! and patients, missing optional tags, a non-DICOM file, a file without
//! SeriesInstanceUID) plus JSON and NDJSON files, sent to a real phivault
//! server (TLS, JWT, vault) and read back as a `reader`.

use std::collections::BTreeMap;
use std::path::Path;

use phivault::audit::AuditAction;
use phivault::client::{BearerToken, SubmitOptions, Summary, collect_inputs, submit};
use phivault::domain::Role;
use serde_json::{Value, json};

use crate::dicom_files::{SERIES_A1, SERIES_A2, SERIES_B1, SERIES_C1, fixture};
use crate::support::TestServer;

/// Submit options trusting only the test server's certificate.
pub(crate) fn options_for(server: &TestServer, token: &str) -> SubmitOptions {
    let mut o = SubmitOptions::new(
        server.url("").parse().unwrap(),
        BearerToken::new(token.to_owned()),
    );
    o.ca_pem = Some(std::fs::read(server.data_dir().tls_cert()).unwrap());
    o
}

/// Every stored record, read through the API as a reader with purpose
/// TREAT, by SeriesInstanceUID. The ids come from the audit log's
/// created/replaced entries (the API has no listing of records).
pub(crate) async fn stored_records(server: &TestServer) -> BTreeMap<String, Value> {
    let entries = server.vault.store().audit_range(0, 100_000).unwrap();
    let mut ids: Vec<String> = entries
        .iter()
        .filter(|e| {
            matches!(
                e.action,
                AuditAction::RecordCreated | AuditAction::RecordReplaced
            )
        })
        .filter_map(|e| e.record.as_ref())
        .map(|id| {
            serde_json::to_value(id)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    ids.sort();
    ids.dedup();
    let reader = server.token(Role::Reader, "dr-e2e");
    let mut out = BTreeMap::new();
    for id in ids {
        let response = server
            .client
            .get(server.url(&format!("/v1/records/{id}")))
            .bearer_auth(&reader)
            .header("Purpose-Of-Use", "TREAT")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {id}");
        let view: Value = response.json().await.unwrap();
        let series = view["fields"]["SeriesInstanceUID"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            out.insert(series, view).is_none(),
            "two records, one series"
        );
    }
    out
}

/// The value a reader sees for `field`.
pub(crate) fn value<'a>(view: &'a Value, field: &str) -> &'a str {
    view["fields"][field]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing from {}", view["fields"]))
}

/// Every submitted field the policy encrypts or keeps reads back as sent;
/// every other submitted field is present, transformed by the policy.
fn assert_matches(view: &Value, sent: &Value) {
    for (field, sent_value) in sent.as_object().unwrap() {
        let sent_text = match sent_value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let stored = &view["fields"][field];
        match stored["action"].as_str() {
            Some("encrypt" | "keep") => {
                assert_eq!(stored["value"], sent_text.as_str(), "{field}")
            }
            Some("redact") | None => {
                assert!(stored.is_null(), "{field}: redacted yet present")
            }
            Some(_) => assert!(stored["value"].is_string(), "{field}"),
        }
    }
}

fn write_json_inputs(dir: &Path) {
    let good = |series: &str, count: u32| {
        json!({
            "SeriesInstanceUID": series, "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.9",
            "PatientID": "PID-J-0009", "PatientName": "Json^Jamie",
            "InstancesInSeries": count, "Modality": "CT"
        })
    };
    let mut bad = good("1.2.826.0.1.3680043.8.498.9.3", 1);
    bad["StudyDate"] = json!("20230229");
    std::fs::write(
        dir.join("batch.json"),
        serde_json::to_vec(&json!([good("1.2.826.0.1.3680043.8.498.9.1", 4), bad])).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("more.ndjson"),
        format!("{}\n", good("1.2.826.0.1.3680043.8.498.9.2", 7)),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dicom_json_and_ndjson_inputs_are_stored_as_their_headers_and_resubmitting_replaces() {
    let server = TestServer::start().await;
    let f = fixture();
    let json_dir = tempfile::tempdir().unwrap();
    write_json_inputs(json_dir.path());
    let paths = [f.dir.path().to_owned(), json_dir.path().to_owned()];
    let ingest = server.token(Role::Ingest, "modality-e2e");

    let inputs = collect_inputs(&paths);
    let sent_records: BTreeMap<String, Value> = inputs
        .records
        .iter()
        .map(|r| {
            (
                r.record["SeriesInstanceUID"].as_str().unwrap().to_owned(),
                r.record.clone(),
            )
        })
        .collect();
    let summary = submit(&options_for(&server, &ingest), inputs)
        .await
        .unwrap();
    // 3 DICOM series + 1 JSON + 1 NDJSON record sent and created; the JSON
    // record with an impossible date refused before sending; the text file,
    // the fake .dcm and the file without SeriesInstanceUID skipped.
    assert_eq!(
        (summary.sent, summary.created, summary.replaced),
        (5, 5, 0),
        "{summary:#?}"
    );
    assert_eq!(summary.refused.len(), 1, "{:?}", summary.refused);
    assert_eq!(summary.refused[0].pointer.as_deref(), Some("/StudyDate"));
    assert!(summary.refused[0].source.ends_with("batch.json#/1"));
    let mut skipped: Vec<String> = summary.skipped.iter().map(|s| s.path.clone()).collect();
    skipped.sort();
    let mut expected_skips = vec![
        f.path("notes.txt").display().to_string(),
        f.path("patient-b/fake.dcm").display().to_string(),
        f.path("broken/no-series.dcm").display().to_string(),
    ];
    expected_skips.sort();
    assert_eq!(skipped, expected_skips);
    assert!(summary.undelivered.is_empty());

    let stored = stored_records(&server).await;
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        sent_records.keys().collect::<Vec<_>>()
    );
    assert!(!stored.contains_key(SERIES_C1));
    for (series, view) in &stored {
        assert_matches(view, &sent_records[series]);
    }
    // The headers, decrypted: counts of distinct SOPInstanceUIDs, names in
    // any script, padding trimmed, optional tags absent when missing.
    let a1 = &stored[SERIES_A1];
    assert_eq!(
        (
            value(a1, "PatientName"),
            value(a1, "PatientID"),
            value(a1, "InstancesInSeries")
        ),
        ("Doe^Jane", "PID-A-0001", "3")
    );
    assert_eq!(value(a1, "StudyDescription"), "MRT Schädel");
    assert_eq!(value(a1, "Modality"), "MR");
    let a2 = &stored[SERIES_A2];
    assert_eq!(value(a2, "InstancesInSeries"), "2");
    assert!(a2["fields"]["Modality"].is_null());
    assert!(a2["fields"]["StudyDescription"].is_null());
    let b1 = &stored[SERIES_B1];
    assert_eq!(
        (
            value(b1, "PatientName"),
            value(b1, "PatientID"),
            value(b1, "InstancesInSeries")
        ),
        ("Yamada^Tarou=山田^太郎", "PID-B-0002", "2")
    );
    assert_eq!(
        value(
            &stored["1.2.826.0.1.3680043.8.498.9.2"],
            "InstancesInSeries"
        ),
        "7"
    );
    assert_eq!(server.vault.store().record_count().unwrap(), 5);

    // Again, through the command: every series replaces itself.
    let cert = server.data_dir().tls_cert();
    let url = server.url("");
    let args: Vec<String> = vec![
        "submit".into(),
        "--server".into(),
        url,
        "--ca".into(),
        cert.display().to_string(),
        paths[0].display().to_string(),
        paths[1].display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::support::binary())
            .args(&args)
            .env("PHIVAULT_TOKEN", ingest)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    // Non-zero: the bad JSON record is still refused.
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 record(s) refused, 0 undelivered"),
        "{stderr}"
    );
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&again["sent"], &again["created"], &again["replaced"]),
        (&json!(5), &json!(0), &json!(5)),
        "{again:#}"
    );
    assert_eq!(again["skipped"].as_array().unwrap().len(), 3);
    assert_eq!(server.vault.store().record_count().unwrap(), 5);
    let ids_before: Vec<&Value> = stored.values().map(|v| &v["id"]).collect();
    let after = stored_records(&server).await;
    assert_eq!(
        after.values().map(|v| &v["id"]).collect::<Vec<_>>(),
        ids_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_ingest_role_is_refused_for_every_record_and_stores_nothing() {
    let server = TestServer::start().await;
    let f = fixture();
    let reader = server.token(Role::Reader, "dr-nosy");
    let summary: Summary = submit(
        &options_for(&server, &reader),
        collect_inputs(&[f.dir.path().to_owned()]),
    )
    .await
    .unwrap();
    assert_eq!((summary.sent, summary.created, summary.replaced), (0, 0, 0));
    assert_eq!(summary.refused.len(), 3, "{:?}", summary.refused);
    assert!(summary.refused.iter().all(|r| r.reason.contains("403")));
    assert_eq!(server.vault.store().record_count().unwrap(), 0);
}
