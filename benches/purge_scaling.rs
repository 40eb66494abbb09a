//! Purge scaling at the store level: time to purge N due records among M
//! stored, as `due_by` paging (1,000 per page) + `delete_record` for each
//! due entry, one blocking flush per page (what a purge run does before
//! reporting). The records are cheap synthetic ones (one kept field, no
//! subject key), inserted with `put_record` first (insertion is timed
//! separately and not part of the figure).
//!
//! Run: `cargo bench --bench purge_scaling` (100,000 due among 100,000 and
//! among 1,000,000), or `cargo bench --bench purge_scaling -- DUE STORED...`
//! (e.g. `-- 100000 100000 500000`). Prints its figures; no criterion.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot set up should stop

use std::collections::BTreeMap;
use std::time::Instant;

use phivault::audit::AuditContext;
use phivault::domain::{Actor, RecordField, Role};
use phivault::policy::PolicyStamp;
use phivault::store::{
    RecordId, RecordWrite, RetentionEntry, SledStore, Store, StoredField, StoredRecord, SubjectId,
    SubjectKeyUse,
};
use time::OffsetDateTime;
use time::macros::datetime;

const PAGE: usize = 1000;

fn context(actor: &str, role: Role) -> AuditContext {
    AuditContext {
        time: OffsetDateTime::now_utc(),
        actor: Actor {
            sub: actor.into(),
            role,
        },
        subject: None,
        purpose: None,
        detail: None,
    }
}

/// Record `n`: due in the past if `due`, else in 2100. Due and kept records
/// are interleaved in insertion order (`n` spreads them).
fn write(n: u64, due: bool) -> RecordWrite {
    let retain_until = if due {
        datetime!(2020-01-01 00:00:00 UTC) + time::Duration::seconds(n as i64)
    } else {
        datetime!(2100-01-01 00:00:00 UTC) + time::Duration::seconds(n as i64)
    };
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&n.to_be_bytes());
    let mut fields = BTreeMap::new();
    fields.insert(
        RecordField::Modality,
        StoredField::Keep { value: "MR".into() },
    );
    let t = datetime!(2019-01-01 00:00:00 UTC);
    RecordWrite {
        record: StoredRecord {
            id: RecordId::random(),
            policy: PolicyStamp {
                id: "gdpr".into(),
                version: "1".into(),
                sha256: "ab".repeat(32),
            },
            subject: SubjectId(key),
            ingested_at: t,
            updated_at: t,
            retain_until,
            fields,
        },
        series_key: key,
        subject_key: SubjectKeyUse::Unused,
        audit: context("ingest-bot", Role::Ingest),
    }
}

fn fill(store: &SledStore, due: u64, stored: u64) {
    let started = Instant::now();
    // Spread the due records evenly among the stored ones.
    let every = stored / due.max(1);
    let mut placed_due = 0;
    for n in 0..stored {
        let is_due = placed_due < due && n % every.max(1) == 0;
        placed_due += u64::from(is_due);
        let _ = store.put_record(write(n, is_due)).unwrap();
        if n % 50_000 == 49_999 {
            store.flush_blocking().unwrap();
            eprintln!(
                "  inserted {} ({:.0}/s)",
                n + 1,
                (n + 1) as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    store.flush_blocking().unwrap();
    assert_eq!(placed_due, due, "due records placed");
    eprintln!(
        "  inserted {stored} in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        stored as f64 / started.elapsed().as_secs_f64()
    );
}

/// Purges everything due; returns how many and the time taken.
fn purge(store: &SledStore) -> (u64, std::time::Duration) {
    let as_of = datetime!(2030-01-01 00:00:00 UTC);
    let started = Instant::now();
    let mut after: Option<RetentionEntry> = None;
    let mut purged = 0u64;
    loop {
        let page = store.due_by(as_of, after.as_ref(), PAGE).unwrap();
        let Some(last) = page.last().copied() else {
            break;
        };
        for entry in &page {
            let _ = store
                .delete_record(&entry.id, context("purger", Role::Admin))
                .unwrap();
            purged += 1;
        }
        store.flush_blocking().unwrap();
        after = Some(last);
    }
    (purged, started.elapsed())
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let (due, sizes) = match args.split_first() {
        Some((due, sizes)) if !sizes.is_empty() => (*due, sizes.to_vec()),
        _ => (100_000, vec![100_000, 1_000_000]),
    };
    let mut results = Vec::new();
    for stored in sizes {
        eprintln!("purge_scaling: {due} due among {stored} stored");
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path().join("db")).unwrap();
        fill(&store, due, stored);
        let (purged, took) = purge(&store);
        assert_eq!(purged, due);
        assert_eq!(store.record_count().unwrap(), stored - due);
        println!(
            "purge {due} due among {stored} stored: {:.2} s ({:.0} records/s, {:.1} µs each)",
            took.as_secs_f64(),
            purged as f64 / took.as_secs_f64(),
            took.as_secs_f64() * 1e6 / purged as f64
        );
        results.push((stored, took));
    }
    if let [(small_n, small), .., (big_n, big)] = results.as_slice() {
        println!(
            "ratio ({big_n} stored / {small_n} stored): {:.2}",
            big.as_secs_f64() / small.as_secs_f64()
        );
    }
}
