//! The records API end to end: real server, TLS, JWT, sled, keys.

use phivault::domain::Role;
use serde_json::{Value, json};

use crate::support::TestServer;

/// The original Floy client's payload: only its five keys.
fn floy_payload(series: &str) -> Value {
    json!({
        "SeriesInstanceUID": series,
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1",
        "PatientID": "FLOY-PID-7731",
        "PatientName": "Zyxwabc^Floyina",
        "InstancesInSeries": 12
    })
}

#[tokio::test]
async fn floy_payload_is_stored_replaced_and_read_back_by_a_reader() {
    let server = TestServer::start().await;
    let ingest = server.token(Role::Ingest, "modality-1");
    let reader = server.token(Role::Reader, "dr-who");

    let first = server
        .client
        .post(server.url("/v1/records"))
        .bearer_auth(&ingest)
        .json(&floy_payload("1.2.826.0.1.3680043.8.498.2"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let receipt: Value = first.json().await.unwrap();
    let id = receipt["id"].as_str().unwrap().to_owned();
    assert_eq!(receipt["policy"]["id"], "gdpr");
    assert_eq!(receipt["fields"]["PatientName"]["action"], "encrypt");
    assert!(receipt["retain_until"].is_string());

    let mut again = floy_payload("1.2.826.0.1.3680043.8.498.2");
    again["InstancesInSeries"] = json!(13);
    let second = server
        .client
        .post(server.url("/v1/records"))
        .bearer_auth(&ingest)
        .json(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    let receipt2: Value = second.json().await.unwrap();
    assert_eq!(receipt2["id"], id.as_str());

    let read = server
        .client
        .get(server.url(&format!("/v1/records/{id}")))
        .bearer_auth(&reader)
        .header("Purpose-Of-Use", "TREAT")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let view: Value = read.json().await.unwrap();
    assert_eq!(view["fields"]["PatientName"]["value"], "Zyxwabc^Floyina");
    assert_eq!(view["fields"]["PatientID"]["value"], "FLOY-PID-7731");
    assert_eq!(view["fields"]["InstancesInSeries"]["value"], "13");
    assert_eq!(server.vault.store().record_count().unwrap(), 1);
}
