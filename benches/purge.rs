//! Purge cost against the retention queue: with N due among M stored the
//! purge should cost about the same as N due among N stored (it reads only
//! the due entries). Prints one line per case: stored, due, queue entries
//! read, purge time, time per purged record.
//!
//! Run: `cargo bench --bench purge` (default 10 000 due among 100 000
//! stored, and 10 000 among 10 000). The case, 100 000 due among
//! 1 000 000 stored: `PURGE_BENCH_DUE=100000 PURGE_BENCH_STORED=1000000
//! cargo bench --bench purge` (ingest takes minutes and ~GBs of disk).

// A benchmark that hits an error has no result to give: stopping is right.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use phivault::domain::{Actor, Record, Role, latest_civil_date};
use phivault::policy::PolicySet;
use phivault::vault::Vault;
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-01-05 08:00:00 UTC);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn record(n: u64, now: OffsetDateTime) -> Record {
    Record::from_json(
        &json!({
            "SeriesInstanceUID": format!("1.2.826.0.1.3680043.8.498.{}", n + 1),
            "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1",
            "PatientID": format!("BENCH-{n}"),
            "PatientName": "Zyxwabc^Floyina",
            "InstancesInSeries": 3
        }),
        latest_civil_date(now),
    )
    .expect("valid record")
}

/// Stores `stored` records under `research` (2 years from ingestion), the
/// first `due` of them a year earlier than the rest, and purges as of the
/// earlier ones' `retain_until`.
fn case(runtime: &tokio::runtime::Runtime, stored: u64, due: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vault, _) =
        Vault::open(dir.path(), PolicySet::embedded().expect("policies")).expect("vault");
    let vault = Arc::new(vault);
    let actor = Actor {
        sub: "bench".into(),
        role: Role::Ingest,
    };
    let later = T0 + Duration::days(400);
    let started = Instant::now();
    let as_of = runtime.block_on(async {
        let mut as_of = None;
        let mut n = 0;
        while n < stored {
            let end = (n + 1000).min(stored);
            let receipts = futures_util::future::join_all((n..end).map(|i| {
                let vault = Arc::clone(&vault);
                let actor = actor.clone();
                let now = if i < due { T0 } else { later };
                async move { vault.ingest(&record(i, now), "research", &actor, now).await }
            }))
            .await;
            if as_of.is_none() {
                as_of = receipts
                    .into_iter()
                    .next()
                    .map(|r| r.expect("ingest").retain_until);
            }
            n = end;
        }
        as_of.expect("at least one record")
    });
    let ingest = started.elapsed();
    let admin = Actor {
        sub: "bench".into(),
        role: Role::Admin,
    };
    let read_before = vault.store().stats().retention_entries_read;
    let started = Instant::now();
    let summary = vault
        .purge(as_of, false, &admin, &mut |_, _| {})
        .expect("purge");
    let took = started.elapsed();
    let read = vault.store().stats().retention_entries_read - read_before;
    assert_eq!(summary.purged, due);
    println!(
        "stored {stored:>9}  due {due:>8}  queue entries read {read:>8}  purge {:>8.2?}  per record {:>8.2?}  (ingest {:.1?})",
        took,
        took / u32::try_from(due.max(1)).unwrap_or(u32::MAX),
        ingest
    );
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we ignore.
    let due = env_u64("PURGE_BENCH_DUE", 10_000);
    let stored = env_u64("PURGE_BENCH_STORED", 100_000).max(due);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    case(&runtime, stored, due);
    case(&runtime, due, due);
}
