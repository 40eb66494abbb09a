//! The vault over a real data directory: no plaintext PHI on disk, fields
//! opened by an independent implementation of docs/FORMAT.md, tamper
//! resistance of stored fields, key rotation, upsert, and date shifting.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use phivault::crypto::{FieldAad, KeyRing, SealedField, WrappedDek, open_field};
use phivault::domain::{Actor, DicomDate, PatientId, Record, RecordField, Role};
use phivault::policy::PolicySet;
use phivault::store::{RecordId, StoredField, StoredRecord};
use phivault::vault::{IngestStatus, Vault, keys_path};
use serde_json::{Value, json};
use time::OffsetDateTime;

fn open(dir: &Path) -> Vault {
    crate::support::reopen_vault(dir)
}

fn actor(role: Role) -> Actor {
    Actor {
        sub: "vault-test".into(),
        role,
    }
}

fn record(doc: &Value) -> Record {
    Record::from_json_now(doc).unwrap()
}

/// A full record: every field present.
fn full(series: &str, pid: &str, name: &str) -> Value {
    json!({
        "SeriesInstanceUID": series,
        "StudyInstanceUID": format!("{series}.9"),
        "PatientID": pid,
        "PatientName": name,
        "InstancesInSeries": 33,
        "PatientBirthDate": "19520704",
        "PatientSex": "M",
        "PatientAge": "071Y",
        "StudyDate": "20240301",
        "StudyTime": "081500",
        "AccessionNumber": "ACC-7",
        "Modality": "CT",
        "ReferringPhysicianName": "Ref^Ray",
        "InstitutionName": "Test Clinic",
        "StudyDescription": "Chest",
        "SeriesDescription": "Axial",
        "BodyPartExamined": "CHEST"
    })
}

async fn ingest(vault: &Vault, doc: &Value, policy: &str) -> phivault::vault::IngestReceipt {
    vault
        .ingest(
            &record(doc),
            policy,
            &actor(Role::Ingest),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap()
}

fn stored(vault: &Vault, id: &RecordId) -> StoredRecord {
    vault.store().get_record(id).unwrap().unwrap()
}

fn sealed(record: &StoredRecord, field: RecordField) -> &SealedField {
    match &record.fields[&field] {
        StoredField::Encrypt { sealed } => sealed,
        other => panic!("{field} is not encrypted: {other:?}"),
    }
}

/// Every file under `dir`, recursively, with its bytes.
fn all_bytes(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            all_bytes(&entry.path(), out);
        } else {
            out.push((
                entry.path().display().to_string(),
                std::fs::read(entry.path()).unwrap(),
            ));
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_plaintext_of_a_non_kept_field_reaches_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let gdpr = json!({
        "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.55501",
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.55502",
        "PatientID": "PID-VLT-4711",
        "PatientName": "Xqvwz^Jkplm",
        "InstancesInSeries": 5,
        "PatientBirthDate": "19380517",
        "StudyDate": "20230822",
        "AccessionNumber": "ACC-VLT-0815",
        "ReferringPhysicianName": "Rzqxv^Wmnbt",
        "InstitutionName": "Kept Control Klinikum Vqz",
        "StudyDescription": "Elbow VLTQ effusion",
        "SeriesDescription": "VLTQ sagittal PD"
    });
    let hipaa = json!({
        "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.55503",
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.55504",
        "PatientID": "PID-VLT-9922",
        "PatientName": "Yqwpo^Lkjzx",
        "InstancesInSeries": 6,
        "PatientBirthDate": "19440203",
        "StudyDate": "20210614",
        "StudyTime": "142233.445566",
        "AccessionNumber": "ACC-VLT-3344",
        "ReferringPhysicianName": "Pqlzm^Vbxcn",
        "InstitutionName": "Hqzx Memorial VLTQ",
        "StudyDescription": "Wrist VLTQ fracture",
        "SeriesDescription": "VLTQ coronal T1"
    });
    let (vault, _) = Vault::open(&tmp.path().join("data"), PolicySet::embedded().unwrap()).unwrap();
    let mut must_not_appear = Vec::new();
    for (doc, policy) in [(&gdpr, "gdpr"), (&hipaa, "hipaa")] {
        let receipt = ingest(&vault, doc, policy).await;
        // Resubmitted: the replaced version must not linger either.
        ingest(&vault, doc, policy).await;
        for (field, report) in &receipt.fields {
            if report.action != phivault::policy::Action::Keep {
                let value = doc[field.keyword()].as_str().unwrap().to_owned();
                must_not_appear.push((policy, field.keyword(), value));
            }
        }
    }
    assert_eq!(must_not_appear.len(), 10 + 12, "{must_not_appear:?}");
    vault.flush().await.unwrap();
    drop(vault);

    let mut files = Vec::new();
    all_bytes(tmp.path(), &mut files);
    // Positive control: a kept value is found, so the scan sees the records.
    assert!(
        files
            .iter()
            .any(|(_, b)| contains(b, b"Kept Control Klinikum Vqz")),
        "the scan must see stored records"
    );
    let mut hits = Vec::new();
    for (policy, field, value) in &must_not_appear {
        for (path, bytes) in &files {
            if contains(bytes, value.as_bytes()) {
                hits.push(format!("{policy} {field} {value:?} in {path}"));
            }
        }
    }
    assert!(hits.is_empty(), "plaintext found:\n{}", hits.join("\n"));
}

/// A second implementation of docs/FORMAT.md §1, §3, §4 and §9 with
/// `ring::aead`: from the record as `phivault inspect` prints it, the
/// subject's wrapped DEK and the key files, it opens every encrypted field.
#[tokio::test]
async fn an_independent_program_opens_stored_fields_from_inspect_output() {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

    fn lp(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(&u32::try_from(p.len()).unwrap().to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }
    fn aes_open(key: &[u8], nonce: &[u8], aad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ct.to_vec();
        key.open_in_place(nonce, Aad::from(aad), &mut buf)
            .ok()
            .map(|p| p.to_vec())
    }

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let vault = open(&data);
    let doc = full(
        "1.2.826.0.1.3680043.8.498.601",
        "PID-IND-1",
        "Indie^Pendent",
    );
    let id = ingest(&vault, &doc, "gdpr").await.id;
    let record = stored(&vault, &id);
    let inspect: Value = serde_json::to_value(&record).unwrap();
    let wrapped = vault.store().subject_key(&record.subject).unwrap().unwrap();
    drop(vault);

    // Wrapped DEK (§3): 0x01 | kek_version | dek_id | nonce | ct+tag.
    assert_eq!(wrapped.len(), 81);
    assert_eq!(wrapped[0], 0x01);
    let kek_version = u32::from_be_bytes(wrapped[1..5].try_into().unwrap());
    let dek_id = &wrapped[5..21];
    let kek = std::fs::read(data.join(format!("keys/kek-v{kek_version}.key"))).unwrap();
    assert_eq!(kek.len(), 32);
    let dek = aes_open(
        &kek,
        &wrapped[21..33],
        &lp(&[b"phivault/dek/v1", dek_id, &kek_version.to_be_bytes()]),
        &wrapped[33..],
    )
    .expect("the DEK unwraps");

    // The record id's 16 bytes: the UUID's hex digits (§4, §9).
    let id_text = inspect["id"].as_str().unwrap();
    let record_id = hex::decode(id_text.replace('-', "")).unwrap();
    let mut opened = BTreeMap::new();
    for (field, member) in inspect["fields"].as_object().unwrap() {
        if member["action"] != "encrypt" {
            continue;
        }
        let s = &member["sealed"];
        assert_eq!(s["alg"], "A256GCM");
        let field_dek_id = hex::decode(s["dek_id"].as_str().unwrap()).unwrap();
        assert_eq!(field_dek_id, dek_id);
        let v = u32::try_from(s["kek_version"].as_u64().unwrap()).unwrap();
        let aad = lp(&[
            b"phivault/field/v1",
            &record_id,
            field.as_bytes(),
            &field_dek_id,
            &v.to_be_bytes(),
        ]);
        let nonce = B64.decode(s["nonce"].as_str().unwrap()).unwrap();
        let ct = B64.decode(s["ciphertext"].as_str().unwrap()).unwrap();
        let plain = aes_open(&dek, &nonce, &aad, &ct).unwrap_or_else(|| panic!("{field}"));
        opened.insert(field.clone(), String::from_utf8(plain).unwrap());
    }
    // Every field gdpr encrypts, with its submitted value.
    let want: BTreeMap<String, String> = [
        "SeriesInstanceUID",
        "StudyInstanceUID",
        "PatientID",
        "PatientName",
        "PatientBirthDate",
        "AccessionNumber",
        "ReferringPhysicianName",
        "StudyDescription",
        "SeriesDescription",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), doc[*k].as_str().unwrap().to_owned()))
    .collect();
    assert_eq!(opened, want);
}

#[tokio::test]
async fn a_tampered_or_moved_stored_field_does_not_open() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let vault = open(&data);
    let one = ingest(
        &vault,
        &full("1.2.826.0.1.3680043.8.498.701", "PID-TMP-1", "Tamper^Tina"),
        "gdpr",
    )
    .await
    .id;
    // Same subject, so the same DEK: only the associated data tells the
    // records apart.
    let two = ingest(
        &vault,
        &full("1.2.826.0.1.3680043.8.498.702", "PID-TMP-1", "Tamper^Tina"),
        "gdpr",
    )
    .await
    .id;
    let (r1, r2) = (stored(&vault, &one), stored(&vault, &two));
    assert_eq!(r1.subject, r2.subject);
    let wrapped = vault.store().subject_key(&r1.subject).unwrap().unwrap();
    let dek = KeyRing::open(&keys_path(&data))
        .unwrap()
        .unwrap_dek(&WrappedDek::from_bytes(&wrapped).unwrap())
        .unwrap();
    let name = sealed(&r1, RecordField::PatientName);
    let open = |record: &RecordId, field: RecordField, s: &SealedField| {
        open_field(
            &dek,
            &FieldAad::for_opening(*record.as_bytes(), field.keyword(), s),
            s,
        )
    };
    // Control: the stored field opens with the real key and its place.
    assert_eq!(
        &*open(&one, RecordField::PatientName, name).unwrap(),
        b"Tamper^Tina"
    );

    for i in 0..name.ciphertext.len() {
        let mut bad = name.clone();
        bad.ciphertext[i] ^= 0x01;
        assert!(
            open(&one, RecordField::PatientName, &bad).is_err(),
            "ciphertext byte {i}"
        );
    }
    for i in 0..name.nonce.len() {
        let mut bad = name.clone();
        bad.nonce[i] ^= 0x80;
        assert!(
            open(&one, RecordField::PatientName, &bad).is_err(),
            "nonce byte {i}"
        );
    }
    let mut bad = name.clone();
    bad.kek_version += 1;
    assert!(open(&one, RecordField::PatientName, &bad).is_err());

    // Moved to another field of the same record, or to the same field of
    // another record of the same subject: refused.
    assert!(open(&one, RecordField::StudyDescription, name).is_err());
    assert!(open(&one, RecordField::PatientID, name).is_err());
    assert!(open(&two, RecordField::PatientName, name).is_err());
    // The other record's own field still opens.
    assert_eq!(
        &*open(
            &two,
            RecordField::PatientName,
            sealed(&r2, RecordField::PatientName)
        )
        .unwrap(),
        b"Tamper^Tina"
    );
}

#[tokio::test]
async fn after_rotation_every_record_opens_and_the_old_kek_is_retired() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let vault = open(&data);
    let mut ids = Vec::new();
    for (i, (pid, policy)) in [
        ("PID-ROT-1", "gdpr"),
        ("PID-ROT-2", "hipaa"),
        ("PID-ROT-3", "gdpr"),
        ("PID-ROT-1", "gdpr"),
    ]
    .iter()
    .enumerate()
    {
        let doc = full(
            &format!("1.2.826.0.1.3680043.8.498.80{i}"),
            pid,
            &format!("Rot^Ann{i}"),
        );
        ids.push((ingest(&vault, &doc, policy).await.id, doc));
    }
    let before = vault.key_status().unwrap();
    assert_eq!(before.current_version, 1);
    assert_eq!(before.versions.len(), 1);
    assert_eq!(before.versions[0].deks_wrapped, 3);
    let stored_before: Vec<StoredRecord> = ids.iter().map(|(id, _)| stored(&vault, id)).collect();

    let mut progress = Vec::new();
    let summary = vault
        .rotate_keys(&actor(Role::Admin), OffsetDateTime::now_utc(), &mut |n| {
            progress.push(n)
        })
        .unwrap();
    assert_eq!(summary.previous_version, 1);
    assert_eq!(summary.current_version, 2);
    assert_eq!(summary.rewrapped, 3);
    assert_eq!(summary.retired_versions, [1]);
    assert_eq!(progress.last(), Some(&3));

    let status = vault.key_status().unwrap();
    assert_eq!(status.current_version, 2);
    assert_eq!(status.versions.len(), 1, "{status:?}");
    assert_eq!(status.versions[0].version, 2);
    assert_eq!(status.versions[0].deks_wrapped, 3);
    assert!(!data.join("keys/kek-v1.key").exists());
    assert!(data.join("keys/kek-v2.key").exists());

    // No field was re-sealed: the stored records are exactly as before.
    for ((id, _), before) in ids.iter().zip(&stored_before) {
        assert_eq!(&stored(&vault, id), before);
    }
    // And every one opens, through the vault, after a reopen too.
    drop(vault);
    let vault = open(&data);
    for (id, doc) in &ids {
        let view = vault
            .read(id, &actor(Role::Reader), "TREAT", OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert_eq!(
            view.fields[&RecordField::PatientName].value,
            doc["PatientName"].as_str().unwrap()
        );
        assert_eq!(
            view.fields[&RecordField::PatientID].value,
            doc["PatientID"].as_str().unwrap()
        );
    }
    // New subjects get DEKs under the new version.
    ingest(
        &vault,
        &full("1.2.826.0.1.3680043.8.498.809", "PID-ROT-9", "Rot^New"),
        "gdpr",
    )
    .await;
    assert_eq!(vault.key_status().unwrap().versions[0].deks_wrapped, 4);
}

#[tokio::test]
async fn a_resubmitted_series_keeps_its_id_and_follows_a_changed_patient() {
    let tmp = tempfile::tempdir().unwrap();
    let vault = open(&tmp.path().join("data"));
    let series = "1.2.826.0.1.3680043.8.498.901";
    let first = ingest(&vault, &full(series, "PID-UPS-OLD", "Old^Olive"), "gdpr").await;
    assert_eq!(first.status, IngestStatus::Created);
    let again = ingest(&vault, &full(series, "PID-UPS-OLD", "Old^Olive"), "gdpr").await;
    assert_eq!(again.status, IngestStatus::Replaced);
    assert_eq!(again.id, first.id);
    assert_eq!(vault.store().record_count().unwrap(), 1);
    let old_subject = stored(&vault, &first.id).subject;

    // Corrected PatientID: same record, moved to the new subject; the old
    // subject had no other record, so its key is shredded with it.
    let moved = ingest(&vault, &full(series, "PID-UPS-NEW", "New^Nora"), "gdpr").await;
    assert_eq!(moved.status, IngestStatus::Replaced);
    assert_eq!(moved.id, first.id);
    assert_eq!(vault.store().record_count().unwrap(), 1);
    let now_stored = stored(&vault, &first.id);
    assert_ne!(now_stored.subject, old_subject);
    assert!(
        vault
            .store()
            .records_of_subject(&old_subject)
            .unwrap()
            .is_empty()
    );
    assert!(vault.store().subject_key(&old_subject).unwrap().is_none());
    assert_eq!(
        vault
            .store()
            .records_of_subject(&now_stored.subject)
            .unwrap(),
        [first.id]
    );
    let reader = actor(Role::Reader);
    let t = OffsetDateTime::now_utc();
    let view = vault.read(&first.id, &reader, "TREAT", t).await.unwrap();
    assert_eq!(view.fields[&RecordField::PatientID].value, "PID-UPS-NEW");
    assert_eq!(view.fields[&RecordField::PatientName].value, "New^Nora");
    let old = PatientId::parse("PID-UPS-OLD").unwrap();
    let new = PatientId::parse("PID-UPS-NEW").unwrap();
    assert!(
        vault
            .subject_access(&old, &reader, "TREAT", t)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        vault
            .subject_access(&new, &reader, "TREAT", t)
            .await
            .unwrap()
            .len(),
        1
    );
    // The audit log calls the resubmissions updates.
    let actions: Vec<_> = vault
        .store()
        .audit_range(1, 100)
        .unwrap()
        .iter()
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        &actions[..3],
        ["record_created", "record_replaced", "record_replaced"]
    );
}

#[tokio::test]
async fn gdpr_shift_moves_a_patients_dates_by_one_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let vault = open(&tmp.path().join("data"));
    let mut shifted = Vec::new();
    for (i, date) in ["20240101", "20240111"].iter().enumerate() {
        let mut doc = full(
            &format!("1.2.826.0.1.3680043.8.498.95{i}"),
            "PID-SHIFT-1",
            "Shift^Sam",
        );
        doc["StudyDate"] = json!(date);
        let id = ingest(&vault, &doc, "gdpr").await.id;
        let value = match &stored(&vault, &id).fields[&RecordField::StudyDate] {
            StoredField::Shift { value } => value.clone(),
            other => panic!("StudyDate not shifted: {other:?}"),
        };
        assert_ne!(&value, date, "the stored date differs from the original");
        shifted.push(DicomDate::parse(&value).unwrap().to_date());
    }
    assert_eq!(shifted[1] - shifted[0], time::Duration::days(10));
    let original = DicomDate::parse("20240101").unwrap().to_date();
    let offset = (shifted[0] - original).whole_days();
    assert!((-365..=-1).contains(&offset), "offset {offset}");

    // Another patient's offset is its own (keyed by PatientID); equal
    // offsets are possible but these two differ.
    let mut doc = full("1.2.826.0.1.3680043.8.498.959", "PID-SHIFT-2", "Shift^Sue");
    doc["StudyDate"] = json!("20240101");
    let id = ingest(&vault, &doc, "gdpr").await.id;
    let StoredField::Shift { value } = &stored(&vault, &id).fields[&RecordField::StudyDate] else {
        panic!("not shifted")
    };
    assert_ne!(DicomDate::parse(value).unwrap().to_date(), shifted[0]);
}
