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
    // The answers are the documents the published schemas describe.
    assert_valid("ingest-receipt", &receipt);
    assert_valid("ingest-receipt", &receipt2);
    assert_valid("record-view", &view);
    assert_eq!(server.vault.store().record_count().unwrap(), 1);
}

/// Rate limits out of the way: these tests send many requests at once.
fn generous(batch_max_records: usize) -> crate::support::Options {
    crate::support::Options {
        flags: phivault::config::ConfigLayer {
            rate_per_ip: Some(10_000),
            rate_per_ip_burst: Some(10_000),
            rate_per_principal: Some(10_000),
            rate_per_principal_burst: Some(10_000),
            batch_max_records: Some(batch_max_records),
            ..phivault::config::ConfigLayer::default()
        },
        ..crate::support::Options::default()
    }
}

/// A full, valid record of patient `pid` for series `series`.
fn full_record(series: &str, pid: &str, name: &str) -> Value {
    json!({
        "SeriesInstanceUID": series,
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.900",
        "PatientID": pid,
        "PatientName": name,
        "InstancesInSeries": 40,
        "PatientBirthDate": "19470312",
        "PatientSex": "F",
        "StudyDate": "20240511",
        "StudyTime": "101500",
        "AccessionNumber": "ACC-55501",
        "Modality": "MR",
        "InstitutionName": "Klinikum Test",
        "StudyDescription": "Knee left",
        "BodyPartExamined": "KNEE"
    })
}

/// POSTs `body` as JSON to `path` with `token`.
async fn post(server: &TestServer, path: &str, token: &str, body: &Value) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Every audit entry, oldest first.
fn audit_log(server: &TestServer) -> Vec<phivault::audit::AuditEntry> {
    server.vault.store().audit_range(1, 100_000).unwrap()
}

#[tokio::test]
async fn a_batch_answers_each_record_in_order_and_stores_only_valid_ones() {
    let server = TestServer::start_with(generous(3)).await;
    let ingest = server.token(Role::Ingest, "modality-1");
    let known = full_record("1.2.826.0.1.3680043.8.498.10", "PID-A", "Alpha^Anna");
    let first = post(&server, "/v1/records", &ingest, &known).await;
    assert_eq!(first.status(), 201);
    let known_id = first.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(server.vault.store().record_count().unwrap(), 1);

    let mut invalid = full_record("1.2.826.0.1.3680043.8.498.11", "PID-B", "Beta^Bert");
    invalid["PatientBirthDate"] = json!("19471332");
    invalid["Modality"] = json!(7);
    let batch = json!([
        full_record("1.2.826.0.1.3680043.8.498.12", "PID-C", "Gamma^Gus"),
        invalid,
        known,
    ]);
    let r = post(&server, "/v1/records/batch", &ingest, &batch).await;
    assert_eq!(r.status(), 200);
    let answers: Value = r.json().await.unwrap();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 3);

    assert_eq!(answers[0]["status"], 201);
    let new_id = answers[0]["id"].as_str().unwrap();
    assert_eq!(answers[0]["receipt"]["id"], new_id);
    assert_eq!(answers[0]["receipt"]["policy"]["id"], "gdpr");
    assert!(answers[0].get("problem").is_none());

    assert_eq!(answers[1]["status"], 422);
    assert!(answers[1].get("id").is_none() && answers[1].get("receipt").is_none());
    let pointers: Vec<&str> = answers[1]["problem"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/1/PatientBirthDate", "/1/Modality"]);
    assert_eq!(answers[1]["problem"]["status"], 422);

    assert_eq!(answers[2]["status"], 200);
    assert_eq!(answers[2]["id"], known_id.as_str());
    assert_eq!(answers[2]["receipt"]["status"], "replaced");

    // Exactly the valid new record was added.
    assert_eq!(server.vault.store().record_count().unwrap(), 2);
    let new_id: phivault::store::RecordId = new_id.parse().unwrap();
    assert!(server.vault.store().get_record(&new_id).unwrap().is_some());

    // One record over the limit: refused whole, nothing stored or audited.
    let head = server.vault.store().audit_head().unwrap();
    let too_many: Vec<Value> = (20..24)
        .map(|i| {
            full_record(
                &format!("1.2.826.0.1.3680043.8.498.{i}"),
                "PID-D",
                "Delta^Dora",
            )
        })
        .collect();
    let r = post(&server, "/v1/records/batch", &ingest, &json!(too_many)).await;
    let problem = crate::support::assert_problem(r, 422).await;
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("batch-too-large")
    );
    assert_eq!(server.vault.store().record_count().unwrap(), 2);
    assert_eq!(server.vault.store().audit_head().unwrap(), head);
}

#[tokio::test]
async fn only_readers_with_a_purpose_see_records_and_subjects() {
    let server = TestServer::start_with(generous(10)).await;
    let ingest = server.token(Role::Ingest, "modality-1");
    let reader = server.token(Role::Reader, "dr-who");
    let auditor = server.token(Role::Auditor, "aud-1");
    let mut ids_a = Vec::new();
    for (series, pid, name) in [
        ("1.2.826.0.1.3680043.8.498.31", "PID-QA-1", "Quartz^Amy"),
        ("1.2.826.0.1.3680043.8.498.32", "PID-QA-1", "Quartz^Amy"),
        ("1.2.826.0.1.3680043.8.498.33", "PID-QB-2", "Quill^Ben"),
    ] {
        let r = post(
            &server,
            "/v1/records",
            &ingest,
            &full_record(series, pid, name),
        )
        .await;
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        if pid == "PID-QA-1" {
            ids_a.push(id);
        }
    }
    let id = ids_a[0].clone();

    // The reader sees decrypted fields.
    let view: Value = server
        .client
        .get(server.url(&format!("/v1/records/{id}")))
        .bearer_auth(&reader)
        .header("Purpose-Of-Use", "TREAT")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["id"], id.as_str());
    assert_eq!(view["fields"]["PatientName"]["action"], "encrypt");
    assert_eq!(view["fields"]["PatientName"]["value"], "Quartz^Amy");
    assert_eq!(view["fields"]["PatientID"]["value"], "PID-QA-1");
    assert_eq!(
        view["fields"]["SeriesInstanceUID"]["value"],
        "1.2.826.0.1.3680043.8.498.31"
    );
    assert_eq!(view["fields"]["PatientBirthDate"]["value"], "19470312");
    assert_eq!(view["fields"]["StudyDate"]["action"], "shift");
    assert_ne!(view["fields"]["StudyDate"]["value"], "20240511");

    // Ingest and auditor roles: 403 on both PHI routes, with a purpose.
    for token in [&ingest, &auditor] {
        let r = server
            .client
            .get(server.url(&format!("/v1/records/{id}")))
            .bearer_auth(token)
            .header("Purpose-Of-Use", "TREAT")
            .send()
            .await
            .unwrap();
        let body = crate::support::assert_problem(r, 403).await;
        assert!(!body.to_string().contains("Quartz"), "{body}");
        let r = server
            .client
            .post(server.url("/v1/subjects/access"))
            .bearer_auth(token)
            .header("Purpose-Of-Use", "TREAT")
            .json(&json!({"PatientID": "PID-QA-1"}))
            .send()
            .await
            .unwrap();
        let body = crate::support::assert_problem(r, 403).await;
        assert!(!body.to_string().contains("Quartz"), "{body}");
    }

    // A reader without a purpose: 400 on both.
    let r = server
        .client
        .get(server.url(&format!("/v1/records/{id}")))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    crate::support::assert_problem(r, 400).await;
    let r = server
        .client
        .post(server.url("/v1/subjects/access"))
        .bearer_auth(&reader)
        .json(&json!({"PatientID": "PID-QA-1"}))
        .send()
        .await
        .unwrap();
    crate::support::assert_problem(r, 400).await;

    // Subject access: every record of the subject, none of another.
    let r = server
        .client
        .post(server.url("/v1/subjects/access"))
        .bearer_auth(&reader)
        .header("Purpose-Of-Use", "TREAT")
        .json(&json!({"PatientID": "PID-QA-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let records = body["records"].as_array().unwrap();
    let mut got: Vec<String> = records
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    let mut want = ids_a.clone();
    want.sort();
    assert_eq!(got, want);
    assert!(
        records
            .iter()
            .all(|v| v["fields"]["PatientID"]["value"] == "PID-QA-1")
    );
    // An unknown subject: an empty list, not another subject's records.
    let body: Value = server
        .client
        .post(server.url("/v1/subjects/access"))
        .bearer_auth(&reader)
        .header("Purpose-Of-Use", "TREAT")
        .json(&json!({"PatientID": "PID-NOBODY"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["records"], json!([]));

    // The audit log: the read with its purpose and the reader, no PHI.
    let log = audit_log(&server);
    let read = log
        .iter()
        .find(|e| e.action == phivault::audit::AuditAction::RecordRead)
        .expect("a record_read entry");
    assert_eq!(read.purpose.as_deref(), Some("TREAT"));
    assert_eq!(read.record.unwrap().to_string(), id);
    assert_eq!(read.actor.sub, "dr-who");
    assert!(
        read.subject.is_some(),
        "the read names the subject's pseudonym"
    );
    let accesses = log
        .iter()
        .filter(|e| e.action == phivault::audit::AuditAction::SubjectAccessed)
        .count();
    assert_eq!(accesses, 2);
    let denied = log
        .iter()
        .filter(|e| e.action == phivault::audit::AuditAction::AccessDenied)
        .count();
    assert_eq!(denied, 4, "one access_denied per 403");
    phivault::audit::verify_chain(&log).unwrap();
    let text = serde_json::to_string(&log).unwrap();
    for phi in [
        "Quartz",
        "Quill",
        "PID-QA-1",
        "PID-QB-2",
        "19470312",
        "20240511",
        "ACC-55501",
        "Knee left",
        "1.2.826.0.1.3680043.8.498.3",
    ] {
        assert!(!text.contains(phi), "{phi} in the audit log");
    }
}

#[tokio::test]
async fn bad_input_is_a_problem_and_stores_nothing() {
    let server = TestServer::start_with(generous(10)).await;
    let ingest = server.token(Role::Ingest, "modality-1");
    // One stored record so the counts are not trivially zero.
    let r = post(
        &server,
        "/v1/records",
        &ingest,
        &full_record("1.2.826.0.1.3680043.8.498.40", "PID-OK", "Okay^Olga"),
    )
    .await;
    assert_eq!(r.status(), 201);
    let count = server.vault.store().record_count().unwrap();
    let head = server.vault.store().audit_head().unwrap();
    assert!(head.is_some());

    let valid = full_record("1.2.826.0.1.3680043.8.498.41", "PID-BAD", "Bad^Bert");
    let mut oversize = valid.clone();
    oversize["StudyDescription"] = json!("x".repeat(1024 * 1024 + 10));
    let oversize_batch = json!([oversize.clone()]);

    let mut wrong = valid.clone();
    wrong["InstancesInSeries"] = json!("40");
    wrong["PatientName"] = Value::Null;
    wrong["StudyDate"] = json!(20240511);
    wrong["Colour"] = json!("blue");
    wrong["PatientSex"] = json!(["F"]);
    let wrong_pointers = [
        "/Colour",
        "/PatientName",
        "/InstancesInSeries",
        "/PatientSex",
        "/StudyDate",
    ];

    for path in ["/v1/records", "/v1/records/batch"] {
        let batch = path.ends_with("batch");
        let wrap = |v: &Value| if batch { json!([v]) } else { v.clone() };
        let send = |body: Vec<u8>, content_type: &'static str| {
            server
                .client
                .post(server.url(path))
                .bearer_auth(&ingest)
                .header("content-type", content_type)
                .body(body)
        };

        // Oversize.
        let body = serde_json::to_vec(if batch { &oversize_batch } else { &oversize }).unwrap();
        let r = send(body, "application/json").send().await.unwrap();
        crate::support::assert_problem(r, 413).await;

        // Malformed JSON.
        let mut body = serde_json::to_vec(&wrap(&valid)).unwrap();
        body.truncate(body.len() - 3);
        let r = send(body, "application/json").send().await.unwrap();
        crate::support::assert_problem(r, 400).await;

        // Wrong content type.
        let body = serde_json::to_vec(&wrap(&valid)).unwrap();
        let r = send(body, "text/plain").send().await.unwrap();
        crate::support::assert_problem(r, 415).await;

        // Wrong types, nulls, unknown members: 422 naming every pointer.
        let body = serde_json::to_vec(&wrap(&wrong)).unwrap();
        let r = send(body, "application/json").send().await.unwrap();
        let pointers: Vec<String> = if batch {
            assert_eq!(r.status(), 200);
            let answers: Value = r.json().await.unwrap();
            assert_eq!(answers[0]["status"], 422);
            answers[0]["problem"]["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["pointer"].as_str().unwrap().to_owned())
                .collect()
        } else {
            let problem = crate::support::assert_problem(r, 422).await;
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["pointer"].as_str().unwrap().to_owned())
                .collect()
        };
        let want: Vec<String> = wrong_pointers
            .iter()
            .map(|p| {
                if batch {
                    format!("/0{p}")
                } else {
                    (*p).to_owned()
                }
            })
            .collect();
        assert_eq!(pointers, want, "{path}");

        // Not an object / not an array.
        let body = serde_json::to_vec(&json!("PID-BAD")).unwrap();
        let r = send(body, "application/json").send().await.unwrap();
        let problem = crate::support::assert_problem(r, 422).await;
        assert!(!problem.to_string().contains("PID-BAD"), "{problem}");

        assert_eq!(
            server.vault.store().record_count().unwrap(),
            count,
            "{path}"
        );
        assert_eq!(server.vault.store().audit_head().unwrap(), head, "{path}");
    }
}

/// The README's run command, as a newcomer types it on a fresh clone: the
/// arguments after `cargo run … --` of its `serve` line, from an empty
/// directory. It must say where the certificate is and how to get a first
/// admin token, and that recipe must work.
#[tokio::test]
async fn the_readme_run_command_serves_and_prints_the_certificate_and_token_recipe() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.trim_start().starts_with("cargo run") && l.contains("-- serve"))
        .expect("README has a `cargo run … -- serve` line");
    let args: Vec<&str> = line
        .split_once(" -- ")
        .unwrap()
        .1
        .split('#')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(args.first(), Some(&"serve"), "{line}");

    let fresh = tempfile::tempdir().unwrap();
    let mut child = Command::new(crate::support::binary())
        .args(&args)
        .current_dir(fresh.path())
        .env_remove("PHIVAULT_DATA_DIR")
        // The README's default port may be taken on a test machine; the
        // environment layer sits below flags, so the command is unchanged.
        .env("PHIVAULT_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let addr = loop {
        let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!("no listening line: {seen:#?}");
        };
        seen.push(line.clone());
        if let Some(a) = line.strip_prefix("phivault: listening on https://") {
            break a.to_owned();
        }
    };
    let cert = fresh.path().join("phivault-data/tls/cert.pem");
    assert!(cert.is_file());
    let cert_line = seen
        .iter()
        .find(|l| l.starts_with("phivault: TLS certificate"))
        .unwrap_or_else(|| panic!("{seen:#?}"));
    assert!(
        cert_line.ends_with("phivault-data/tls/cert.pem"),
        "{cert_line}"
    );
    let recipe = seen
        .iter()
        .find_map(|l| {
            l.split_once("first admin token: ")
                .map(|(_, r)| r.to_owned())
        })
        .unwrap_or_else(|| panic!("no token recipe: {seen:#?}"));
    let recipe: Vec<&str> = recipe.split_whitespace().collect();
    assert_eq!(recipe[0], "phivault", "{recipe:?}");
    let out = Command::new(crate::support::binary())
        .args(&recipe[1..])
        .current_dir(fresh.path())
        .env_remove("PHIVAULT_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let client = crate::support::client_trusting(&cert);
    let r = client
        .get(format!("https://{addr}/v1/schemas"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(client);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// Asserts `doc` is valid under the published schema `name` (an
/// independent validator, as a third party would use).
fn assert_valid(name: &str, doc: &Value) {
    let schema = phivault::schema::all()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap()
        .schema
        .to_value();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
}
