//! Retention purge with a controlled clock: records under each policy
//! expire exactly at `retain_until`, held ones stay, a dry run changes
//! nothing, a second purge finds nothing, and the purge reads only the due
//! part of the retention queue.

use std::sync::Arc;

use phivault::domain::{Actor, Record, Role, latest_civil_date};
use phivault::store::RecordId;
use phivault::vault::{HoldReason, PurgeSummary, Vault};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub fn admin() -> Actor {
    Actor {
        sub: "tester".into(),
        role: Role::Admin,
    }
}

pub fn ingest_actor() -> Actor {
    Actor {
        sub: "modality".into(),
        role: Role::Ingest,
    }
}

/// A record of patient `pid` for series `n` (no dates: retention counts
/// from ingestion under every policy).
pub fn record(pid: &str, n: u64, now: OffsetDateTime) -> Record {
    Record::from_json(
        &json!({
            "SeriesInstanceUID": format!("1.2.826.0.1.3680043.8.498.{n}"),
            "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1",
            "PatientID": pid,
            "PatientName": "Zyxwabc^Floyina",
            "InstancesInSeries": 3
        }),
        latest_civil_date(now),
    )
    .unwrap()
}

pub fn open_vault(dir: &std::path::Path) -> Arc<Vault> {
    Arc::new(crate::support::reopen_vault(dir))
}

/// Runs a purge on the blocking pool (it flushes synchronously).
pub async fn purge(vault: &Arc<Vault>, as_of: OffsetDateTime, dry_run: bool) -> PurgeSummary {
    let vault = Arc::clone(vault);
    tokio::task::spawn_blocking(move || vault.purge(as_of, dry_run, &admin(), &mut |_, _| {}))
        .await
        .unwrap()
        .unwrap()
}

const T0: OffsetDateTime = datetime!(2026-01-05 08:00:00 UTC);

#[tokio::test]
async fn records_expire_exactly_at_retain_until_under_each_policy() {
    let dir = tempfile::tempdir().unwrap();
    let vault = open_vault(dir.path());
    let mut due: Vec<(String, RecordId, OffsetDateTime)> = Vec::new();
    for (i, policy) in ["gdpr", "hipaa", "research"].into_iter().enumerate() {
        let r = record(&format!("PID-{policy}"), i as u64 + 10, T0);
        let receipt = vault.ingest(&r, policy, &ingest_actor(), T0).await.unwrap();
        assert!(receipt.retain_until > T0);
        due.push((policy.to_owned(), receipt.id, receipt.retain_until));
    }
    // A held gdpr record of another subject, due with the gdpr one.
    let held = vault
        .ingest(&record("PID-held", 99, T0), "gdpr", &ingest_actor(), T0)
        .await
        .unwrap();
    vault
        .place_hold(
            &held.id,
            HoldReason::parse("case 2026-17").unwrap(),
            &admin(),
            T0,
        )
        .await
        .unwrap();
    // Shortest retention first.
    due.sort_by_key(|d| d.2);
    assert_eq!(due[0].0, "research");

    for (policy, id, retain_until) in &due {
        let before = *retain_until - Duration::seconds(1);
        // Dry run a second early, then for real a second early: it stays.
        let head = vault.store().audit_head().unwrap();
        let dry = purge(&vault, *retain_until, true).await;
        assert!(dry.dry_run);
        assert!(dry.by_policy[policy].purged == 1, "{dry:?}");
        assert_eq!(dry.audit_seq, None);
        assert_eq!(vault.store().audit_head().unwrap(), head, "dry run wrote");
        assert!(vault.store().get_record(id).unwrap().is_some());

        let early = purge(&vault, before, false).await;
        assert_eq!(early.by_policy.get(policy).map_or(0, |c| c.purged), 0);
        assert!(
            vault.store().get_record(id).unwrap().is_some(),
            "{policy} purged early"
        );

        let exact = purge(&vault, *retain_until, false).await;
        assert_eq!(exact.by_policy[policy].purged, 1, "{policy}: {exact:?}");
        assert_eq!(exact.purged, 1);
        assert!(
            vault.store().get_record(id).unwrap().is_none(),
            "{policy} kept"
        );
        // Its subject had no other record: its key was shredded.
        assert_eq!(exact.keys_destroyed, 1);
        let run_seq = exact.audit_seq.unwrap();
        let signed = exact.signed_head.unwrap();
        assert!(signed.seq > run_seq);
        let run = vault.store().audit_range(run_seq, 1).unwrap().remove(0);
        assert_eq!(run.action.as_str(), "purge_run");
        assert_eq!(run.detail.as_ref().unwrap()["purged"], 1);
        // The record_purged entry names the record.
        let entries = vault.store().audit_range(1, 10_000).unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e.action.as_str() == "record_purged" && e.record == Some(*id))
        );

        // A second purge at the same time finds nothing more of it.
        let again = purge(&vault, *retain_until, false).await;
        assert_eq!(again.purged, 0);
    }
    // The held record survived every purge, and was counted as held.
    let far = T0 + Duration::days(365 * 50);
    let last = purge(&vault, far, false).await;
    assert_eq!(last.purged, 0);
    assert_eq!(last.held, 1);
    assert_eq!(last.by_policy["gdpr"].held, 1);
    assert!(vault.store().get_record(&held.id).unwrap().is_some());
    // Released, it goes.
    vault.release_hold(&held.id, &admin(), far).await.unwrap();
    let released = purge(&vault, far, false).await;
    assert_eq!(released.purged, 1);
    assert_eq!(vault.store().record_count().unwrap(), 0);
    // Every purge left a verifiable chain.
    let verification = {
        let v = Arc::clone(&vault);
        tokio::task::spawn_blocking(move || v.verify_audit())
            .await
            .unwrap()
            .unwrap()
    };
    assert!(verification.verified, "{verification:?}");
}

#[tokio::test]
async fn a_subject_key_goes_only_with_its_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let vault = open_vault(dir.path());
    let early = vault
        .ingest(&record("PID-two", 1, T0), "research", &ingest_actor(), T0)
        .await
        .unwrap();
    let later = T0 + Duration::days(30);
    let late = vault
        .ingest(&record("PID-two", 2, later), "gdpr", &ingest_actor(), later)
        .await
        .unwrap();
    let subject = vault.store().get_record(&late.id).unwrap().unwrap().subject;
    assert!(vault.store().subject_key(&subject).unwrap().is_some());
    let first = purge(&vault, early.retain_until, false).await;
    assert_eq!(first.purged, 1);
    assert_eq!(first.keys_destroyed, 0);
    assert!(vault.store().subject_key(&subject).unwrap().is_some());
    let second = purge(&vault, late.retain_until, false).await;
    assert_eq!(second.purged, 1);
    assert_eq!(second.keys_destroyed, 1);
    assert!(vault.store().subject_key(&subject).unwrap().is_none());
}

/// With N due among M stored, the purge reads about N retention-queue
/// entries (it counts them, then pages through them), never M.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_reads_only_the_due_entries() {
    const DUE: u64 = 500;
    const STORED: u64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let vault = open_vault(dir.path());
    let later = T0 + Duration::days(400);
    let mut first_due = None;
    for chunk in 0..(STORED / 500) {
        let futures = (0..500).map(|i| {
            let n = chunk * 500 + i;
            let now = if n < DUE { T0 } else { later };
            let vault = Arc::clone(&vault);
            async move {
                vault
                    .ingest(
                        &record(&format!("PID-{n}"), n + 100, now),
                        "research",
                        &ingest_actor(),
                        now,
                    )
                    .await
                    .unwrap()
            }
        });
        let receipts = futures_util::future::join_all(futures).await;
        if chunk == 0 {
            first_due = Some(receipts[0].retain_until);
        }
    }
    assert_eq!(vault.store().record_count().unwrap(), STORED);
    let as_of = first_due.unwrap();
    let before = vault.store().stats().retention_entries_read;
    let summary = purge(&vault, as_of, false).await;
    let read = vault.store().stats().retention_entries_read - before;
    assert_eq!(summary.purged, DUE);
    assert_eq!(vault.store().record_count().unwrap(), STORED - DUE);
    // count (N) + pages (N, plus at most one look past the end per page).
    assert!(read >= DUE, "{read}");
    assert!(
        read <= 2 * DUE + 10,
        "read {read} queue entries for {DUE} due among {STORED}"
    );
}
