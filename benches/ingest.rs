//! A full record through policy + crypto, without and with the store:
//! - `plan_and_protect/<policy>`: what `Vault::ingest` computes before the
//!   store write (evaluate, blind indexes, a new data key, every field
//!   sealed, pseudonymised or shifted, the audit pseudonym), replicated
//!   here with the public crypto API;
//! - `vault_ingest_durable/<policy>`: `Vault::ingest` on a real data
//!   directory (sled in a temp dir), a new series each time, acknowledged
//!   only once flushed (the product path, one writer: no group commit).
//!
//! Seal + open against raw AES-256-GCM is in `benches/crypto.rs`; store
//! writes with and without durability in `benches/store.rs`.
//!
//! Run: `cargo bench --bench ingest`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot set up should stop

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use phivault::crypto::{FieldAad, KeyRing, audit_subject_pseudonym, seal_field};
use phivault::domain::{Actor, Record, RecordField, Role, latest_civil_date};
use phivault::loadtest::document;
use phivault::policy::{Action, PolicySet, evaluate};
use phivault::vault::Vault;
use time::OffsetDateTime;

/// Everything ingest computes before the store write; returns a size so
/// nothing is optimised away.
fn plan_and_protect(keys: &KeyRing, policy: &phivault::policy::Policy, record: &Record) -> usize {
    let now = OffsetDateTime::now_utc();
    let plan = evaluate(policy, record, now);
    let series = keys.blind_index(
        RecordField::SeriesInstanceUID.keyword(),
        record.series_instance_uid.as_str(),
    );
    let subject = keys.blind_index(RecordField::PatientID.keyword(), record.patient_id.as_str());
    let (dek, wrapped) = keys.new_dek().unwrap();
    let id = [0x11u8; 16];
    let mut size = series.len() + subject.len() + wrapped.to_bytes().len();
    for field in &plan.fields {
        let keyword = field.field.keyword();
        size += match field.action {
            Action::Keep | Action::Generalize => field.clear.as_ref().map_or(0, |v| v.len()),
            Action::Encrypt => {
                let aad = FieldAad::for_sealing(id, keyword, &dek);
                seal_field(&dek, &aad, field.original.as_bytes())
                    .unwrap()
                    .ciphertext
                    .len()
            }
            Action::Pseudonymize if field.field.vr() == "UI" => {
                keys.uid_pseudonym(&field.original).len()
            }
            Action::Pseudonymize => keys.pseudonym(keyword, &field.original).len(),
            Action::Shift => {
                black_box(keys.date_shift_days(record.patient_id.as_str()));
                field.original.len()
            }
            Action::Redact => 0,
        };
    }
    size + audit_subject_pseudonym(&dek, record.patient_id.as_str())
        .unwrap()
        .len()
}

fn benches(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let today = latest_civil_date(now);
    let policies = PolicySet::embedded().unwrap();
    let keys_dir = tempfile::tempdir().unwrap();
    let (keys, _) = KeyRing::open_or_create(&keys_dir.path().join("keys")).unwrap();
    let record = Record::from_json(&document(1, 42), today).unwrap();

    let mut group = c.benchmark_group("plan_and_protect");
    for id in ["gdpr", "hipaa"] {
        let policy = policies.get(id).unwrap();
        group.bench_function(id, |b| {
            b.iter(|| black_box(plan_and_protect(&keys, policy, black_box(&record))))
        });
    }
    group.finish();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let actor = Actor {
        sub: "bench".into(),
        role: Role::Ingest,
    };
    let mut group = c.benchmark_group("vault_ingest_durable");
    group.sample_size(30);
    for id in ["gdpr", "hipaa"] {
        let data = tempfile::tempdir().unwrap();
        let (vault, _) = Vault::open(data.path(), PolicySet::embedded().unwrap()).unwrap();
        let mut n = 0u64;
        group.bench_function(id, |b| {
            b.iter(|| {
                n += 1;
                let record = Record::from_json(&document(2, n), today).unwrap();
                black_box(
                    runtime
                        .block_on(vault.ingest(&record, id, &actor, OffsetDateTime::now_utc()))
                        .unwrap(),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(ingest, benches);
criterion_main!(ingest);
