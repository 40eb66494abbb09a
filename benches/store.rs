//! Store write costs: one put alone, one put followed by its own flush,
//! and many concurrent puts sharing flushes through group commit; plus
//! the engine alone (one insert, a 9-tree transaction, insert + flush) as
//! baselines for reading those figures.
//!
//! Run: `cargo bench --bench store`.

// A benchmark that hits an error has no result to give: stopping is right.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use phivault::audit::AuditContext;
use phivault::crypto::{DekId, SealedField};
use phivault::domain::{Actor, RecordField, Role};
use phivault::policy::PolicyStamp;
use phivault::store::{
    RecordId, RecordWrite, SledStore, Store, StoredField, StoredRecord, SubjectId, SubjectKeyUse,
};
use time::macros::datetime;

/// A record shaped like a GDPR one: a few kept values, a few sealed ones.
fn write(n: u32) -> RecordWrite {
    let t = datetime!(2026-03-01 09:00:00 UTC);
    let mut fields = BTreeMap::new();
    for (field, value) in [
        (RecordField::Modality, "MR"),
        (RecordField::BodyPartExamined, "HEAD"),
        (RecordField::InstancesInSeries, "180"),
        (RecordField::StudyDate, "2026"),
    ] {
        fields.insert(
            field,
            StoredField::Keep {
                value: value.into(),
            },
        );
    }
    for field in [
        RecordField::PatientName,
        RecordField::PatientBirthDate,
        RecordField::StudyDescription,
        RecordField::InstitutionName,
    ] {
        fields.insert(
            field,
            StoredField::Encrypt {
                sealed: SealedField {
                    alg: "A256GCM".into(),
                    dek_id: DekId([1; 16]),
                    kek_version: 1,
                    nonce: [2; 12],
                    ciphertext: vec![3; 40],
                },
            },
        );
    }
    fields.insert(
        RecordField::SeriesInstanceUID,
        StoredField::Pseudonymize {
            value: format!("2.25.{}", u128::from(n) * 7919),
        },
    );
    let mut series_key = [0u8; 32];
    series_key[..4].copy_from_slice(&n.to_be_bytes());
    let mut subject = [0u8; 32];
    subject[..4].copy_from_slice(&n.to_be_bytes());
    RecordWrite {
        record: StoredRecord {
            id: RecordId::random(),
            policy: PolicyStamp {
                id: "gdpr".into(),
                version: "1".into(),
                sha256: "ab".repeat(32),
            },
            subject: SubjectId(subject),
            ingested_at: t,
            updated_at: t,
            retain_until: t + time::Duration::days(3650),
            fields,
        },
        series_key,
        subject_key: SubjectKeyUse::New(vec![9; 60]),
        audit: AuditContext {
            time: t,
            actor: Actor {
                sub: "ingest-bot".into(),
                role: Role::Ingest,
            },
            subject: Some("pseudonym".into()),
            purpose: None,
            detail: None,
        },
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path().join("db")).expect("open"));
    let next = Arc::new(AtomicU32::new(0));
    let fresh = |next: &AtomicU32| write(next.fetch_add(1, Ordering::Relaxed));

    let mut group = c.benchmark_group("put_record");
    group.throughput(Throughput::Elements(1));
    group.bench_function("not_durable", |b| {
        b.iter_batched(
            || fresh(&next),
            |w| store.put_record(w).expect("put"),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("durable_alone", |b| {
        b.iter_batched(
            || fresh(&next),
            |w| {
                let out = store.put_record(w).expect("put");
                store.flush_blocking().expect("flush");
                out
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("append_audit_only", |b| {
        b.iter(|| {
            let mut draft = write(0)
                .audit
                .into_draft(phivault::audit::AuditAction::RecordRead, None);
            draft.purpose = Some("TREAT".into());
            store.append_audit(draft).expect("append")
        })
    });
    group.finish();

    // Baselines: the engine alone, same database directory kind.
    let raw_dir = tempfile::tempdir().expect("temporary directory");
    let raw = sled::open(raw_dir.path()).expect("open");
    let trees: Vec<sled::Tree> = (0..9)
        .map(|i| raw.open_tree(format!("t{i}")).expect("tree"))
        .collect();
    let value = vec![7u8; 1024];
    let mut group = c.benchmark_group("sled_baseline");
    group.bench_function("insert_1k", |b| {
        b.iter(|| {
            let k = next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
            trees[0].insert(k, value.as_slice()).expect("insert")
        })
    });
    group.bench_function("transaction_9_trees", |b| {
        use sled::Transactional;
        b.iter(|| {
            let k = next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
            (
                &trees[0], &trees[1], &trees[2], &trees[3], &trees[4], &trees[5], &trees[6],
                &trees[7], &trees[8],
            )
                .transaction(|(a, b, c, d, e, f, g, h, i)| {
                    for t in [a, b, c, d, e, f, g, h, i] {
                        t.insert(&k, &value[..100])?;
                    }
                    a.insert(&k, value.as_slice())?;
                    Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
                })
                .expect("transaction")
        })
    });
    group.bench_function("flush_after_insert", |b| {
        b.iter(|| {
            let k = next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
            trees[0].insert(k, value.as_slice()).expect("insert");
            raw.flush().expect("flush")
        })
    });
    group.finish();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("put_record_group_commit");
    for writers in [1u32, 8, 64] {
        group.throughput(Throughput::Elements(u64::from(writers)));
        group.bench_function(format!("{writers}_concurrent_writers"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let flushes_before = store.stats().flushes;
                for _ in 0..iters {
                    let writes: Vec<_> = (0..writers).map(|_| fresh(&next)).collect();
                    let start = Instant::now();
                    rt.block_on(async {
                        let tasks: Vec<_> = writes
                            .into_iter()
                            .map(|w| {
                                let store = Arc::clone(&store);
                                tokio::spawn(async move {
                                    let _ = store.put_record(w).expect("put");
                                    store.flush_durable().await.expect("flush");
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.expect("task");
                        }
                    });
                    total += start.elapsed();
                }
                let flushes = store.stats().flushes - flushes_before;
                eprintln!(
                    "  {writers} writers x {iters} rounds: {flushes} flushes ({:.2} per round)",
                    flushes as f64 / iters as f64
                );
                total
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
