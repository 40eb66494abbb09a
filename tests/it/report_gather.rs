//! The compliance report gathered from a real store (SPEC §7): a vault
//! built by the test with several policies, holds, a purge, an erasure, a
//! rotation and a signed chain head; every figure in the JSON must equal
//! what was set up. Then the route (auditor JSON and HTML, reader refused)
//! and the command run as the built binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use phivault::audit::{AuditAction, AuditContext};
use phivault::crypto::KeyRing;
use phivault::domain::{Actor, Record, Role, latest_civil_date};
use phivault::policy::PolicySet;
use phivault::report::{
    CONTENT_SECURITY_POLICY, ComplianceReport, ReportPeriod, RetentionOutlook, TIMELINE_MONTHS,
    gather, produce, signed_head_message,
};
use phivault::store::{Hold, RecordId, SignedHead, SubjectId};
use phivault::vault::{ErasureReceipt, Vault, keys_path};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::support::TestServer;

/// The report's generation time in the scenario: 27.5 days before the
/// coming 1 January (the stored `retain_until` is always a 1 January 00:00
/// UTC, see `round_up_to_year` in src/policy/evaluate.rs), so that one falls within 30 days
/// and the next one (2028-01-01, 392.5 days) outside 365.
const NOW: OffsetDateTime = datetime!(2026-12-04 12:00:00 UTC);

/// The 1 January 00:00 UTC of `year`: every stored `retain_until` is one.
fn jan1(year: i32) -> OffsetDateTime {
    time::Date::from_calendar_date(year, time::Month::January, 1)
        .unwrap()
        .midnight()
        .assume_utc()
}

fn actor(sub: &str, role: Role) -> Actor {
    Actor {
        sub: sub.to_owned(),
        role,
    }
}

fn ctx(sub: &str, role: Role, time: OffsetDateTime) -> AuditContext {
    AuditContext {
        time,
        actor: actor(sub, role),
        subject: None,
        purpose: None,
        detail: None,
    }
}

/// A record of patient `pid`, series number `n`, with an optional StudyDate.
fn record(pid: &str, n: u32, study_date: Option<&str>, at: OffsetDateTime) -> Record {
    let mut doc = json!({
        "SeriesInstanceUID": format!("1.2.826.0.1.3680043.8.498.{}.{n}", series_part(pid)),
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1",
        "PatientID": pid,
        "PatientName": "Testperson^Alpha",
        "Modality": "MR",
        "InstancesInSeries": 3
    });
    if let Some(d) = study_date {
        doc["StudyDate"] = json!(d);
    }
    Record::from_json(&doc, latest_civil_date(at)).unwrap()
}

/// A UID component unique to `pid`: its bytes' decimal codes, run together.
fn series_part(pid: &str) -> String {
    pid.bytes().map(|b| b.to_string()).collect()
}

/// Ingests and checks the record's `retain_until` is the one the scenario
/// relies on: the retention end rounded up to the next 1 January (UTC).
async fn ingest(
    vault: &Vault,
    rec: &Record,
    policy: &str,
    at: OffsetDateTime,
    retain_until: OffsetDateTime,
) -> RecordId {
    let receipt = vault
        .ingest(rec, policy, &actor("modality-1", Role::Ingest), at)
        .await
        .unwrap();
    assert_eq!(receipt.retain_until, retain_until, "{policy} retention");
    receipt.id
}

/// What the scenario set up, for the assertions.
struct Scenario {
    held_gdpr: RecordId,
    held_hipaa: RecordId,
    erased_pseudonym: String,
    purge_seq: u64,
    erasure_seq: u64,
    signed: SignedHead,
}

/// Builds the scenario into `vault` (whose keys live in `data_dir`).
async fn build(vault: &Vault, data_dir: &Path) -> Scenario {
    let oct = datetime!(2026-10-15 09:00:00 UTC);
    let g = |pid, date| record(pid, 1, Some(date), oct);
    // gdpr: P10Y from StudyDate.
    // G-1 ends 2026-12-20: due on the coming 1 January (within 30 days).
    ingest(vault, &g("G-1", "20161220"), "gdpr", oct, jan1(2027)).await;
    // G-2 ends 2027-02-01: due 2028-01-01, outside 365 days, on the chart.
    ingest(vault, &g("G-2", "20170201"), "gdpr", oct, jan1(2028)).await;
    // G-3 ends 2028-06-01, inside the chart's span, but is stored as
    // 2029-01-01: past the horizon (2028-11-30), never read.
    ingest(vault, &g("G-3", "20180601"), "gdpr", oct, jan1(2029)).await;
    // G-4 would be due with G-1 but is held.
    let held_gdpr = ingest(vault, &g("G-4", "20161210"), "gdpr", oct, jan1(2027)).await;
    // hipaa: P6Y from StudyDate.
    // H-1 ended 2025-06-01: overdue since 2026-01-01.
    ingest(vault, &g("H-1", "20190601"), "hipaa", oct, jan1(2026)).await;
    // H-2 is overdue too but held.
    let held_hipaa = ingest(vault, &g("H-2", "20190701"), "hipaa", oct, jan1(2026)).await;
    // H-3 ended 2026-06-01, before NOW, yet is not overdue: it is kept to
    // the end of its year.
    ingest(vault, &g("H-3", "20200601"), "hipaa", oct, jan1(2027)).await;
    // H-9: overdue, purged below.
    let purged = ingest(vault, &g("H-9", "20190301"), "hipaa", oct, jan1(2026)).await;
    // research: P2Y from ingestion. R-2 ends exactly on a year boundary,
    // which is kept as it is (not a year later).
    let jan10 = datetime!(2025-01-10 09:00:00 UTC);
    ingest(
        vault,
        &record("R-1", 1, None, jan10),
        "research",
        jan10,
        jan1(2028),
    )
    .await;
    ingest(
        vault,
        &record("R-2", 1, None, jan1(2025)),
        "research",
        jan1(2025),
        jan1(2027),
    )
    .await;
    // The subject to erase: two series.
    let mut erased_ids = Vec::new();
    for n in 1..=2 {
        let rec = record("E-1", n, Some("20200101"), oct);
        erased_ids.push(ingest(vault, &rec, "gdpr", oct, jan1(2030)).await);
    }
    let store = vault.store();

    // A reader reads one record; another reader is refused a route.
    vault
        .read(
            &held_gdpr,
            &actor("dr-who", Role::Reader),
            "TREAT",
            datetime!(2026-11-01 10:00 UTC),
        )
        .await
        .unwrap();
    vault
        .audit_access_denied(
            &actor("dr-who", Role::Reader),
            json!({"method": "GET", "route": "/v1/reports/compliance", "reason": "role not allowed on this route"}),
            datetime!(2026-11-01 10:05 UTC),
        )
        .unwrap();

    // Holds.
    for (id, reason) in [
        (held_gdpr, "litigation LIT-2026-17"),
        (held_hipaa, "regulator inquiry <Q4> & \"audit\""),
    ] {
        let placed_at = datetime!(2026-11-01 11:00 UTC);
        let hold = Hold {
            reason: reason.to_owned(),
            placed_by: "dpo".to_owned(),
            placed_at,
        };
        let _ = store
            .place_hold(&id, hold, ctx("dpo", Role::Admin, placed_at))
            .unwrap();
    }

    // A purge (as the purge command records it): a dry run first, then the
    // real run deleting the one overdue record it may.
    let purge_at = datetime!(2026-11-02 03:00 UTC);
    let mut dry = ctx("dpo", Role::Admin, purge_at);
    dry.detail =
        Some(json!({"as_of": "2026-11-02T03:00:00Z", "purged": 2, "held": 1, "dry_run": true}));
    store
        .append_audit(dry.into_draft(AuditAction::PurgeRun, None))
        .unwrap();
    let _ = store
        .delete_record(&purged, ctx("dpo", Role::Admin, purge_at))
        .unwrap();
    let mut run = ctx("dpo", Role::Admin, purge_at);
    run.detail =
        Some(json!({"as_of": "2026-11-02T03:00:00Z", "purged": 1, "held": 1, "dry_run": false}));
    let purge_seq = store
        .append_audit(run.into_draft(AuditAction::PurgeRun, None))
        .unwrap()
        .seq;

    // An erasure, named by the subject's blind index and audit pseudonym as
    // its record_created entries carry them.
    let subject: SubjectId = store.get_record(&erased_ids[0]).unwrap().unwrap().subject;
    let erased_pseudonym = pseudonym_of(vault, &erased_ids[0]);
    let mut erase = ctx("dpo", Role::Admin, datetime!(2026-11-20 14:00 UTC));
    erase.subject = Some(erased_pseudonym.clone());
    let erasure = store.erase_subject(&subject, erase).unwrap();
    assert_eq!(erasure.records.len(), 2);

    // A rotation.
    let summary = vault
        .rotate_keys(
            &actor("dpo", Role::Admin),
            datetime!(2026-11-25 08:00 UTC),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(summary.current_version, 2);

    // A signed chain head at the current head, signed with the audit key
    // (a second handle on the same key files).
    let head = store.audit_head().unwrap().unwrap();
    let ring = KeyRing::open(&keys_path(data_dir)).unwrap();
    let signed = SignedHead {
        seq: head.seq,
        hash: head.hash,
        signed_at: datetime!(2026-11-30 00:00 UTC),
        key_id: hex::encode(ring.audit_signer().public_key()),
        signature: ring
            .audit_signer()
            .sign(&signed_head_message(head.seq, &head.hash))
            .to_vec(),
    };
    store.put_signed_head(&signed).unwrap();
    vault.flush().await.unwrap();
    Scenario {
        held_gdpr,
        held_hipaa,
        erased_pseudonym,
        purge_seq,
        erasure_seq: erasure.audit.seq,
        signed,
    }
}

/// Every audit entry.
fn audit_entries(vault: &Vault) -> Vec<phivault::audit::AuditEntry> {
    vault.store().audit_range(1, 100_000).unwrap()
}

/// The audit pseudonym the record's record_created entry names.
fn pseudonym_of(vault: &Vault, id: &RecordId) -> String {
    audit_entries(vault)
        .into_iter()
        .find(|e| e.action == AuditAction::RecordCreated && e.record == Some(*id))
        .and_then(|e| e.subject)
        .unwrap()
}

fn open_vault(dir: &Path) -> Vault {
    crate::support::reopen_vault(dir)
}

/// Waits until no handle of this process holds the database of `dir`: a
/// dropped vault's group-commit task keeps a handle until the runtime has
/// run it to its end. (Opening and dropping a vault that never flushed
/// leaves no such task.) A hang guard, not a timing assertion.
async fn released(dir: &Path) {
    let started = std::time::Instant::now();
    loop {
        match Vault::open(dir, PolicySet::embedded().unwrap()) {
            Ok(_) => return,
            Err(phivault::vault::VaultError::Store(phivault::store::StoreError::Locked {
                ..
            })) => {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(30),
                    "still locked"
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// The timeline's non-empty months, with their counts.
fn nonzero(r: &RetentionOutlook) -> Vec<(&str, u64)> {
    r.timeline
        .iter()
        .filter(|b| b.due > 0)
        .map(|b| (b.month.as_str(), b.due))
        .collect()
}

fn access(report: &ComplianceReport) -> Vec<(String, String, u64, u64)> {
    report
        .access
        .iter()
        .map(|a| {
            (
                a.role.as_str().to_owned(),
                a.action.clone(),
                a.allowed,
                a.denied,
            )
        })
        .collect()
}

#[tokio::test]
async fn every_figure_equals_what_the_store_was_given() {
    let tmp = tempfile::tempdir().unwrap();
    let vault = open_vault(tmp.path());
    let s = build(&vault, tmp.path()).await;

    let reads_before = vault.store().stats().retention_entries_read;
    let report = gather(&vault, "/srv/phivault-data", NOW, None).unwrap();
    let reads = vault.store().stats().retention_entries_read - reads_before;

    assert_eq!(report.generated_at, NOW);
    assert_eq!(report.data_dir, "/srv/phivault-data");
    // The earliest entry: R-2's ingestion.
    assert_eq!(report.period.from, datetime!(2025-01-01 00:00 UTC));
    assert_eq!(report.period.to, NOW);

    // Policies in force, with their identity and counts after the purge and
    // the erasure.
    let counts: Vec<(&str, u64)> = report
        .policies
        .iter()
        .map(|p| (p.id.as_str(), p.record_count))
        .collect();
    assert_eq!(counts, [("gdpr", 4), ("hipaa", 3), ("research", 2)]);
    for section in &report.policies {
        let policy = vault.policies().get(&section.id).unwrap();
        assert_eq!(section.version, policy.version());
        assert_eq!(section.sha256, policy.stamp().sha256);
        assert_eq!(section.fields.len(), 17);
        assert_eq!(
            section.retention.period,
            policy.retention().period.to_string()
        );
    }
    assert_eq!(report.policies[0].retention.period, "P10Y");
    assert_eq!(report.policies[2].retention.anchor.as_str(), "ingestion");
    let pid_row = &report.policies[0]
        .fields
        .iter()
        .find(|f| f.field == "PatientID")
        .unwrap();
    assert_eq!(pid_row.tag.as_deref(), Some("(0010,0020)"));
    assert!(pid_row.indexed);

    // Retention: H-1 overdue (H-2 held, H-9 purged); G-1, H-3 and R-2 due
    // 2027-01-01, in 30 days (G-4 held); G-2 and R-1 due 2028-01-01,
    // outside 365 days; G-3 (2029) and E-1's records (erased) nowhere.
    let r = &report.retention;
    assert_eq!(
        (r.overdue, r.due_30_days, r.due_90_days, r.due_365_days),
        (1, 3, 3, 3)
    );
    assert_eq!(r.timeline.len(), TIMELINE_MONTHS as usize);
    assert_eq!(r.timeline[0].month, "2026-12");
    assert_eq!(r.timeline[23].month, "2028-11");
    // Every record falls due at a 1 January 00:00 UTC: in January, not in
    // the December before it.
    assert_eq!(nonzero(r), [("2027-01", 3), ("2028-01", 2)]);
    // Only the overdue entries and those up to the horizon (2028-11-30)
    // were read: H-1, H-2 (overdue); G-1, G-4, H-3, R-2, G-2, R-1. G-3
    // (2029-01-01) was not.
    assert_eq!(reads, 8);

    // The same store seen from two other instants tells the windows apart
    // (at NOW the three are equal). On 2026-10-20 the coming 1 January is
    // 72.5 days away: within 90 days, not 30.
    let early = gather(&vault, "d", datetime!(2026-10-20 12:00 UTC), None)
        .unwrap()
        .retention;
    assert_eq!(
        (
            early.overdue,
            early.due_30_days,
            early.due_90_days,
            early.due_365_days
        ),
        (1, 0, 3, 3)
    );
    assert_eq!(early.timeline[0].month, "2026-10");
    assert_eq!(nonzero(&early), [("2027-01", 3), ("2028-01", 2)]);
    // On 2027-03-01 the 2027-01-01 ones are overdue (G-4 held, so not
    // counted) and 2028-01-01 is 306 days away: within 365 days, not 90.
    // G-3 (2029-01-01) is now within the chart's span.
    let late = gather(&vault, "d", datetime!(2027-03-01 00:00 UTC), None)
        .unwrap()
        .retention;
    assert_eq!(
        (
            late.overdue,
            late.due_30_days,
            late.due_90_days,
            late.due_365_days
        ),
        (4, 0, 0, 2)
    );
    assert_eq!(late.timeline[0].month, "2027-03");
    assert_eq!(nonzero(&late), [("2028-01", 2), ("2029-01", 1)]);

    let mut holds: Vec<(&str, &str, &str, OffsetDateTime)> = r
        .holds
        .iter()
        .map(|h| {
            (
                h.record_id.as_str(),
                h.reason.as_str(),
                h.placed_by.as_str(),
                h.retain_until,
            )
        })
        .collect();
    holds.sort();
    let gdpr_id = s.held_gdpr.to_string();
    let hipaa_id = s.held_hipaa.to_string();
    let mut expected = vec![
        (
            gdpr_id.as_str(),
            "litigation LIT-2026-17",
            "dpo",
            jan1(2027),
        ),
        (
            hipaa_id.as_str(),
            "regulator inquiry <Q4> & \"audit\"",
            "dpo",
            jan1(2026),
        ),
    ];
    expected.sort();
    assert_eq!(holds, expected);
    assert!(
        r.holds
            .iter()
            .all(|h| h.placed_at == datetime!(2026-11-01 11:00 UTC))
    );

    // History: the real purge run only, and the erasure with a receipt
    // signature that verifies with the audit public key.
    assert_eq!(report.history.purges.len(), 1);
    let purge = &report.history.purges[0];
    assert_eq!(
        (purge.purged, purge.held, purge.audit_seq),
        (1, 1, s.purge_seq)
    );
    assert_eq!(purge.at, datetime!(2026-11-02 03:00 UTC));
    assert_eq!(report.history.erasures.len(), 1);
    let erasure = &report.history.erasures[0];
    assert_eq!(erasure.subject_pseudonym, s.erased_pseudonym);
    assert_eq!((erasure.records_removed, erasure.key_destroyed), (2, true));
    assert_eq!(erasure.audit_seq, s.erasure_seq);
    assert_eq!(erasure.at, datetime!(2026-11-20 14:00 UTC));
    let receipt = ErasureReceipt {
        subject_pseudonym: s.erased_pseudonym.clone(),
        records_removed: 2,
        key_destroyed: true,
        erased_at: erasure.at,
        audit_seq: s.erasure_seq,
    };
    let signature: [u8; 64] = hex::decode(&erasure.receipt_signature)
        .unwrap()
        .try_into()
        .unwrap();
    assert!(phivault::crypto::verify(
        &vault.audit_public_key(),
        &receipt.signing_bytes(),
        &signature
    ));

    // Keys: version 1 retired by the rotation; version 2 wraps one DEK per
    // remaining subject (every subject has one: it keys the audit
    // pseudonym): G-1..4, H-1..3, R-1..2; H-9 (purged) and E-1 (erased)
    // had theirs shredded.
    assert_eq!(report.keys.current_version, 2);
    let versions: Vec<(u32, u64)> = report
        .keys
        .versions
        .iter()
        .map(|v| (v.version, v.deks_wrapped))
        .collect();
    assert_eq!(versions, [(2, 9)]);
    assert_eq!(vault.store().subject_keys(None, 100).unwrap().len(), 9);

    // Audit: verified, the signed head shown with the public key.
    let a = &report.audit;
    assert!(a.verified, "{a:?}");
    assert_eq!((a.first_bad_seq, a.reason.as_deref()), (None, None));
    assert_eq!(a.entries, vault.store().audit_head().unwrap().unwrap().seq);
    let head = a.signed_head.as_ref().unwrap();
    assert_eq!(head.seq, s.signed.seq);
    assert_eq!(head.hash, hex::encode(s.signed.hash));
    assert_eq!(head.signature, hex::encode(&s.signed.signature));
    assert_eq!(head.public_key, hex::encode(vault.audit_public_key()));
    assert_eq!(head.signed_at, s.signed.signed_at);

    // Accesses by role over the whole log.
    let rows = access(&report);
    let expected: Vec<(String, String, u64, u64)> = [
        ("admin", "hold_placed", 2, 0),
        ("admin", "keys_rotated", 1, 0),
        ("admin", "purge_run", 2, 0),
        ("admin", "record_purged", 1, 0),
        ("admin", "subject_erased", 1, 0),
        ("ingest", "record_created", 12, 0),
        ("reader", "GET /v1/reports/compliance", 0, 1),
        ("reader", "record_read", 1, 0),
    ]
    .into_iter()
    .map(|(r, a, x, d)| (r.to_owned(), a.to_owned(), x, d))
    .collect();
    assert_eq!(rows, expected);

    // The JSON document validates against the published schema.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/compliance-report.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let value = serde_json::to_value(&report).unwrap();
    assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&value));
}

#[tokio::test]
async fn a_period_bounds_the_activity_and_producing_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let vault = open_vault(tmp.path());
    build(&vault, tmp.path()).await;
    let period = ReportPeriod {
        from: datetime!(2026-11-01 00:00 UTC),
        to: datetime!(2026-11-21 00:00 UTC),
    };
    let auditor = actor("inspector", Role::Auditor);
    let report = produce(&vault, "d", &auditor, NOW, Some(period.clone())).unwrap();
    assert_eq!(report.period, period);
    // The ingests (October, 2025) and the rotation (25 November) are
    // outside; the reads, holds, purge and erasure inside.
    let actions: Vec<String> = report.access.iter().map(|a| a.action.clone()).collect();
    assert_eq!(
        actions,
        [
            "hold_placed",
            "purge_run",
            "record_purged",
            "subject_erased",
            "GET /v1/reports/compliance",
            "record_read"
        ]
    );
    assert_eq!(report.history.purges.len(), 1);
    assert_eq!(report.history.erasures.len(), 1);
    // The retention outlook does not depend on the period.
    assert_eq!(report.retention.overdue, 1);

    let last = audit_entries(&vault).pop().unwrap();
    assert_eq!(last.action, AuditAction::ReportProduced);
    assert_eq!(last.actor, auditor);
    assert_eq!(last.time, NOW);
    assert_eq!(last.detail.as_ref().unwrap()["records"], 9);
    assert_eq!(
        last.detail.as_ref().unwrap()["period_from"],
        "2026-11-01T00:00:00Z"
    );
    // The report is not part of the report it produced.
    assert!(report.access.iter().all(|a| a.action != "report_produced"));
}

#[tokio::test]
async fn a_forged_signed_head_fails_verification_and_a_purge_clears_overdue() {
    let tmp = tempfile::tempdir().unwrap();
    let vault = open_vault(tmp.path());
    let at = datetime!(2026-10-15 09:00:00 UTC);
    let id = ingest(
        &vault,
        &record("H-1", 1, Some("20190601"), at),
        "hipaa",
        at,
        jan1(2026),
    )
    .await;
    let before = gather(&vault, "d", NOW, None).unwrap();
    assert_eq!(before.retention.overdue, 1);
    assert!(before.audit.verified);
    assert!(before.audit.signed_head.is_none());

    let _ = vault
        .store()
        .delete_record(&id, ctx("dpo", Role::Admin, NOW))
        .unwrap();
    let after = gather(&vault, "d", NOW, None).unwrap();
    assert_eq!(after.retention.overdue, 0);

    let head = vault.store().audit_head().unwrap().unwrap();
    let forged = SignedHead {
        seq: head.seq,
        hash: head.hash,
        signed_at: NOW,
        key_id: "x".into(),
        signature: vec![7; 64],
    };
    vault.store().put_signed_head(&forged).unwrap();
    let bad = gather(&vault, "d", NOW, None).unwrap().audit;
    assert!(!bad.verified);
    assert_eq!(bad.first_bad_seq, Some(head.seq));
    assert!(bad.reason.unwrap().contains("signature"));
}

#[tokio::test]
async fn the_route_serves_auditors_json_and_html_and_refuses_readers() {
    let server = TestServer::start().await;
    let ingest_token = server.token(Role::Ingest, "modality-1");
    let created = server
        .client
        .post(server.url("/v1/records"))
        .bearer_auth(&ingest_token)
        .json(&json!({
            "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.77",
            "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1",
            "PatientID": "ROUTE-1",
            "PatientName": "Route^Test",
            "InstancesInSeries": 1
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let auditor = server.token(Role::Auditor, "inspector");
    let json_answer = server
        .client
        .get(server.url("/v1/reports/compliance"))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(json_answer.status(), 200);
    let report: ComplianceReport = json_answer.json().await.unwrap();
    assert_eq!(
        report.data_dir,
        server.data_dir().root().display().to_string()
    );
    assert_eq!(report.record_total(), 1);
    assert_eq!(report.policies.len(), 3);
    assert!(report.audit.verified);
    let last = audit_entries(&server.vault).pop().unwrap();
    assert_eq!(last.action, AuditAction::ReportProduced);
    assert_eq!(last.actor, actor("inspector", Role::Auditor));

    let html = server
        .client
        .get(server.url("/v1/reports/compliance"))
        .bearer_auth(&auditor)
        .header("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 200);
    let headers = html.headers().clone();
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = html.text().await.unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("Retention outlook"));
    assert!(!page.contains("ROUTE-1") && !page.contains("Route^Test"));

    let reader = server.token(Role::Reader, "dr-who");
    let refused = server
        .client
        .get(server.url("/v1/reports/compliance"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

fn phivault_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_phivault"))
}

#[tokio::test]
async fn the_command_reports_a_data_dir_without_a_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    {
        let vault = open_vault(&dir);
        let at = datetime!(2026-10-15 09:00:00 UTC);
        // Ended 2016-06-01, due 2017-01-01: overdue whenever the command
        // runs (it reports as of the real clock).
        ingest(
            &vault,
            &record("CLI-1", 1, Some("20100601"), at),
            "hipaa",
            at,
            jan1(2017),
        )
        .await;
        vault.flush().await.unwrap();
    }
    released(&dir).await;

    let out = phivault_bin()
        .arg("--data-dir")
        .arg(&dir)
        .arg("report")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: ComplianceReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.record_total(), 1);
    assert_eq!(report.retention.overdue, 1);
    assert_eq!(report.data_dir, dir.display().to_string());

    let file = tmp.path().join("report.html");
    let out = phivault_bin()
        .arg("--data-dir")
        .arg(&dir)
        .args(["report", "--format", "html", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let page = std::fs::read_to_string(&file).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains(&dir.display().to_string()));

    // Both runs were audited, by the local operator in the auditor role.
    let vault = open_vault(&dir);
    let produced: Vec<_> = audit_entries(&vault)
        .into_iter()
        .filter(|e| e.action == AuditAction::ReportProduced)
        .collect();
    assert_eq!(produced.len(), 2);
    assert!(
        produced
            .iter()
            .all(|e| e.actor.role == Role::Auditor && e.actor.sub.starts_with("local:"))
    );

    // While a process that announced no server holds the database, the
    // command says so in one line.
    let held = phivault_bin()
        .arg("--data-dir")
        .arg(&dir)
        .arg("report")
        .output()
        .unwrap();
    assert!(!held.status.success());
    let stderr = String::from_utf8_lossy(&held.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("held by another process"), "{stderr}");
    drop(vault);

    // No database at all: one line, nothing created.
    let missing = tmp.path().join("nothing-here");
    let out = phivault_bin()
        .arg("--data-dir")
        .arg(&missing)
        .arg("report")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no phivault database"));
    assert!(!missing.exists());
}

/// Writes a realistic store for looking at the page: the scenario above
/// plus 150 records spread over the policies and the next two years (as
/// retention ends; stored rounded up to the year, they fall due on the
/// 1 Januaries).
/// Run: `PHIVAULT_REPORT_DEMO_DIR=/tmp/demo cargo test --test it
/// report_gather::demo_store -- --ignored`, then
/// `cargo run -q -- --data-dir /tmp/demo report --format html --out report.html`.
#[tokio::test]
#[ignore = "writes a demonstration data directory named by PHIVAULT_REPORT_DEMO_DIR"]
async fn demo_store() {
    let dir = std::path::PathBuf::from(std::env::var("PHIVAULT_REPORT_DEMO_DIR").unwrap());
    assert!(!dir.exists(), "{} exists already", dir.display());
    let vault = open_vault(&dir);
    build(&vault, &dir).await;
    let at = datetime!(2026-10-20 09:00:00 UTC);
    for i in 0..150u32 {
        let (policy, years) = [("gdpr", 10), ("hipaa", 6), ("gdpr", 10)][i as usize % 3];
        // StudyDates from one week to 26 months past the retention start.
        let day = time::Date::from_calendar_date(2026 - years, time::Month::December, 1).unwrap()
            + time::Duration::days(i64::from(i * 5 % 790));
        let date = format!(
            "{:04}{:02}{:02}",
            day.year(),
            u8::from(day.month()),
            day.day()
        );
        let rec = record(&format!("DEMO-{i}"), 1, Some(&date), at);
        vault
            .ingest(&rec, policy, &actor("modality-2", Role::Ingest), at)
            .await
            .unwrap();
    }
    vault.flush().await.unwrap();
}

/// A vault with five `record_created` entries, closed again, and the
/// ring's signature over the head at seq 5.
async fn five_entries(dir: &Path) {
    let vault = open_vault(dir);
    let at = datetime!(2026-10-15 09:00:00 UTC);
    for i in 0..5 {
        let rec = record(&format!("T-{i}"), 1, Some("20200601"), at);
        vault
            .ingest(&rec, "hipaa", &actor("m", Role::Ingest), at)
            .await
            .unwrap();
    }
    let head = vault.store().audit_head().unwrap().unwrap();
    let ring = KeyRing::open(&keys_path(dir)).unwrap();
    let signed = SignedHead {
        seq: head.seq,
        hash: head.hash,
        signed_at: at,
        key_id: "audit".into(),
        signature: ring
            .audit_signer()
            .sign(&signed_head_message(head.seq, &head.hash))
            .to_vec(),
    };
    vault.store().put_signed_head(&signed).unwrap();
    vault.flush().await.unwrap();
    drop(vault);
    released(dir).await;
}

/// Applies `f` to the raw audit tree of a closed vault (what an attacker
/// with the disk can do), then reports on it.
fn tampered_status(dir: &Path, f: impl FnOnce(&sled::Tree)) -> phivault::report::AuditStatus {
    {
        let raw = crate::support::open_raw_db(&phivault::vault::db_path(dir));
        f(&raw.open_tree("phivault").unwrap());
        raw.flush().unwrap();
    }
    gather(&open_vault(dir), "d", NOW, None).unwrap().audit
}

/// The raw key of audit entry `seq`: the store keeps every table in one
/// sled tree, audit entries under the prefix `a` (docs/FORMAT.md).
fn akey(seq: u64) -> Vec<u8> {
    let mut key = vec![b'a'];
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn altered(tree: &sled::Tree, seq: u64) {
    let key = akey(seq);
    let bytes = tree.get(&key).unwrap().unwrap();
    let mut e = phivault::audit::AuditEntry::from_stored_bytes(&bytes).unwrap();
    e.actor.sub = "someone-else".into();
    tree.insert(key.as_slice(), e.to_stored_bytes().unwrap())
        .unwrap();
}

/// What a tampering is called, what it does to the raw audit tree, the seq
/// the report must name, and a word of the reason it must give.
type TamperCase = (&'static str, fn(&sled::Tree), u64, &'static str);

#[tokio::test]
async fn the_audit_status_names_the_first_bad_entry() {
    let cases: [TamperCase; 4] = [
        ("altered", |t| altered(t, 3), 3, "hash"),
        (
            "undecodable",
            |t| {
                t.insert(akey(4), b"not an entry".to_vec()).unwrap();
            },
            4,
            "canonical",
        ),
        (
            "altered before an undecodable one",
            |t| {
                altered(t, 2);
                t.insert(akey(4), b"junk".to_vec()).unwrap();
            },
            2,
            "hash",
        ),
        (
            "truncated below the signed head",
            |t| {
                t.remove(akey(5)).unwrap();
            },
            5,
            "ends before entry 5",
        ),
    ];
    for (what, tamper, bad_seq, reason) in cases {
        let tmp = tempfile::tempdir().unwrap();
        five_entries(tmp.path()).await;
        let intact = gather(&open_vault(tmp.path()), "d", NOW, None)
            .unwrap()
            .audit;
        assert!(intact.verified, "{what}: {intact:?}");
        let status = tampered_status(tmp.path(), tamper);
        assert!(!status.verified, "{what}");
        assert_eq!(status.first_bad_seq, Some(bad_seq), "{what}: {status:?}");
        let text = status.reason.unwrap();
        assert!(text.contains(reason), "{what}: {text}");
        assert_eq!(status.entries, 5, "{what}");
        assert_eq!(status.signed_head.unwrap().seq, 5, "{what}");
    }
}
