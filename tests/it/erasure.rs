//! Erasure (GDPR Art. 17) and legal holds over the real HTTPS API: after an
//! erasure no record, index entry or key of the subject remains, the signed
//! receipt verifies with the exported public key, the audit chain still
//! verifies; holds stop it with 409 naming the held records.

use phivault::domain::Role;
use phivault::store::{RecordId, SubjectId};
use serde_json::{Value, json};

use crate::support::{TestServer, assert_problem, binary};

fn payload(pid: &str, series: u64) -> Value {
    json!({
        "SeriesInstanceUID": format!("1.2.826.0.1.3680043.8.498.{series}"),
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1",
        "PatientID": pid,
        "PatientName": "Zyxwabc^Floyina",
        "InstancesInSeries": 12
    })
}

async fn submit(server: &TestServer, pid: &str, series: u64) -> RecordId {
    let response = server
        .client
        .post(server.url("/v1/records"))
        .bearer_auth(server.token(Role::Ingest, "modality"))
        .json(&payload(pid, series))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().parse().unwrap()
}

fn series_key(server: &TestServer, series: u64) -> [u8; 32] {
    // The blind index of a SeriesInstanceUID, as FORMAT.md §5 defines it,
    // computed with the data directory's keys.
    let keys = phivault::crypto::KeyRing::open(&server.data_dir().keys_dir()).unwrap();
    keys.blind_index(
        "SeriesInstanceUID",
        &format!("1.2.826.0.1.3680043.8.498.{series}"),
    )
}

async fn verify_chain(server: &TestServer) {
    let vault = server.vault.clone();
    let result = tokio::task::spawn_blocking(move || vault.verify_audit())
        .await
        .unwrap()
        .unwrap();
    assert!(result.verified, "{result:?}");
}

#[tokio::test]
async fn erasure_removes_everything_of_the_subject_and_answers_a_signed_receipt() {
    let server = TestServer::start().await;
    let admin = server.token(Role::Admin, "dpo");
    let a1 = submit(&server, "ERASE-ME", 1).await;
    let a2 = submit(&server, "ERASE-ME", 2).await;
    let b = submit(&server, "KEEP-ME", 3).await;
    let subject: SubjectId = server
        .vault
        .store()
        .get_record(&a1)
        .unwrap()
        .unwrap()
        .subject;
    assert_eq!(
        server
            .vault
            .store()
            .records_of_subject(&subject)
            .unwrap()
            .len(),
        2
    );

    // A hold on one record stops the erasure: 409 naming it, nothing erased.
    let hold = server
        .client
        .put(server.url(&format!("/v1/records/{a2}/hold")))
        .bearer_auth(&admin)
        .json(&json!({"reason": "litigation 2026-041"}))
        .send()
        .await
        .unwrap();
    assert_eq!(hold.status(), 200);
    let refused = server
        .client
        .post(server.url("/v1/subjects/erasure"))
        .bearer_auth(&admin)
        .json(&json!({"PatientID": "ERASE-ME"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(refused, 409).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&a2.to_string()),
        "{problem}"
    );
    assert!(
        !problem["detail"]
            .as_str()
            .unwrap()
            .contains(&a1.to_string())
    );
    assert!(server.vault.store().get_record(&a1).unwrap().is_some());
    assert!(
        server
            .vault
            .store()
            .subject_key(&subject)
            .unwrap()
            .is_some()
    );

    let released = server
        .client
        .delete(server.url(&format!("/v1/records/{a2}/hold")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), 200);

    let erased = server
        .client
        .post(server.url("/v1/subjects/erasure"))
        .bearer_auth(&admin)
        .json(&json!({"PatientID": "ERASE-ME"}))
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 200);
    let signed: Value = erased.json().await.unwrap();
    let receipt = &signed["receipt"];
    assert_eq!(receipt["records_removed"], 2);
    assert_eq!(receipt["key_destroyed"], true);
    assert_eq!(receipt["subject_pseudonym"].as_str().unwrap().len(), 64);
    assert!(!signed.to_string().contains("ERASE-ME"));

    // Nothing of the subject remains: records, subject index, series index,
    // key. The other subject is untouched.
    let store = server.vault.store();
    assert!(store.get_record(&a1).unwrap().is_none());
    assert!(store.get_record(&a2).unwrap().is_none());
    assert!(store.records_of_subject(&subject).unwrap().is_empty());
    assert!(store.subject_key(&subject).unwrap().is_none());
    assert!(
        store
            .find_series(&series_key(&server, 1))
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_series(&series_key(&server, 2))
            .unwrap()
            .is_none()
    );
    assert_eq!(store.find_series(&series_key(&server, 3)).unwrap(), Some(b));

    // The receipt verifies with the key `phivault audit public-key` prints.
    let out = std::process::Command::new(binary())
        .arg("--data-dir")
        .arg(server.data_dir().root())
        .args(["audit", "public-key"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let exported = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(signed["public_key"], exported.as_str());
    let receipt: phivault::vault::ErasureReceipt = serde_json::from_value(receipt.clone()).unwrap();
    let public: [u8; 32] = hex::decode(&exported).unwrap().try_into().unwrap();
    let signature: [u8; 64] = hex::decode(signed["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert!(phivault::crypto::verify(
        &public,
        &receipt.signing_bytes(),
        &signature
    ));
    let mut forged = receipt.clone();
    forged.records_removed = 1;
    assert!(!phivault::crypto::verify(
        &public,
        &forged.signing_bytes(),
        &signature
    ));
    // The receipt is the subject_erased entry's, and that entry is followed by
    // a signed head.
    let entry = store.audit_range(receipt.audit_seq, 1).unwrap().remove(0);
    assert_eq!(entry.action.as_str(), "subject_erased");
    assert_eq!(
        phivault::vault::ErasureReceipt::from_entry(&entry),
        Some(receipt.clone())
    );
    assert!(store.latest_signed_head().unwrap().unwrap().seq > receipt.audit_seq);
    verify_chain(&server).await;

    // Erasing again: no record of the subject any more.
    let again = server
        .client
        .post(server.url("/v1/subjects/erasure"))
        .bearer_auth(&admin)
        .json(&json!({"PatientID": "ERASE-ME"}))
        .send()
        .await
        .unwrap();
    assert_problem(again, 404).await;
}

#[tokio::test]
async fn hold_routes_check_their_input() {
    let server = TestServer::start().await;
    let admin = server.token(Role::Admin, "dpo");
    let id = submit(&server, "HOLD-ME", 7).await;
    let unknown = RecordId::random();
    let put = |id: String, body: Value| {
        server
            .client
            .put(server.url(&format!("/v1/records/{id}/hold")))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    assert_problem(
        put(unknown.to_string(), json!({"reason": "x"}))
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_problem(
        put("not-an-id".into(), json!({"reason": "x"}))
            .await
            .unwrap(),
        404,
    )
    .await;
    for bad in [
        json!({"reason": ""}),
        json!({"reason": "a\nb"}),
        json!({"reason": "r".repeat(201)}),
    ] {
        let problem = assert_problem(put(id.to_string(), bad).await.unwrap(), 422).await;
        assert_eq!(problem["errors"][0]["pointer"], "/reason");
    }
    assert_problem(put(id.to_string(), json!({"why": "x"})).await.unwrap(), 422).await;
    // Release of a record that is not held: 409; of an unknown one: 404.
    let release = |id: String| {
        server
            .client
            .delete(server.url(&format!("/v1/records/{id}/hold")))
            .bearer_auth(&admin)
            .send()
    };
    assert_problem(release(id.to_string()).await.unwrap(), 409).await;
    assert_problem(release(unknown.to_string()).await.unwrap(), 404).await;
    let placed = put(id.to_string(), json!({"reason": "r".repeat(200)}))
        .await
        .unwrap();
    assert_eq!(placed.status(), 200);
    let view: Value = placed.json().await.unwrap();
    assert_eq!(view["placed_by"], "dpo");
    assert!(server.vault.store().hold(&id).unwrap().is_some());
    // Audited.
    let entries = server.vault.store().audit_range(1, 1000).unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.action.as_str() == "hold_placed" && e.record == Some(id))
    );
    verify_chain(&server).await;
}

#[tokio::test]
async fn the_audit_route_pages_and_audits_its_reads() {
    let server = TestServer::start().await;
    for n in 0..5 {
        submit(&server, "PAGE-ME", 20 + n).await;
    }
    let auditor = server.token(Role::Auditor, "auditor-1");
    let get = |q: &str| {
        server
            .client
            .get(server.url(&format!("/v1/audit{q}")))
            .bearer_auth(&auditor)
            .send()
    };
    let page: Value = get("?from=1&limit=2").await.unwrap().json().await.unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    assert_eq!(page["entries"][0]["seq"], 1);
    assert_eq!(page["next"], 3);
    let page: Value = get("?from=3").await.unwrap().json().await.unwrap();
    assert!(page["entries"].as_array().unwrap().len() >= 3);
    assert!(page["next"].is_null());
    assert_problem(get("?limit=1001").await.unwrap(), 422).await;
    assert_problem(get("?limit=0").await.unwrap(), 422).await;
    assert_problem(get("?from=abc").await.unwrap(), 422).await;
    let entries = server.vault.store().audit_range(1, 1000).unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action.as_str() == "audit_read")
            .count(),
        2
    );
    verify_chain(&server).await;
}
