//! Reports built by hand for the unit tests. Test code only: the product
//! ships no sample data.

use time::macros::datetime;

use crate::domain::{RecordField, Role};
use crate::policy::Action;
use crate::report::*;

/// A script and quotes, to show that nothing is printed raw.
pub(crate) const HOSTILE: &str = "<script>alert(1)</script> \"quoted\" & 'single'";

/// A report with every section filled, and hostile text in the places an
/// administrator or a policy author writes free text.
pub(crate) fn full_report() -> ComplianceReport {
    let gdpr_fields = vec![
        FieldRow::new(
            RecordField::PatientID,
            Action::Encrypt,
            true,
            "PS3.15 E.1-1 (0010,0020) X; GDPR Art. 32",
        ),
        FieldRow::new(
            RecordField::PatientName,
            Action::Encrypt,
            false,
            "PS3.15 E.1-1 (0010,0010) Z",
        ),
        FieldRow::new(
            RecordField::SeriesInstanceUID,
            Action::Pseudonymize,
            true,
            "PS3.15 E.1-1 U",
        ),
        FieldRow::new(RecordField::InstancesInSeries, Action::Keep, false, HOSTILE),
        FieldRow::new(
            RecordField::ReferringPhysicianName,
            Action::Redact,
            false,
            "PS3.15 E.1-1 X",
        ),
    ];
    let hipaa_fields = vec![
        FieldRow::new(
            RecordField::PatientBirthDate,
            Action::Generalize,
            false,
            "45 CFR 164.514(b)(2)(i)(C)",
        ),
        FieldRow::new(
            RecordField::StudyDate,
            Action::Shift,
            false,
            "PS3.15 Modified Dates",
        ),
    ];
    ComplianceReport {
        generated_at: datetime!(2026-12-04 15:37:07 UTC),
        data_dir: "/var/lib/phivault-data".to_owned(),
        period: ReportPeriod {
            from: datetime!(2026-11-01 00:00:00 UTC),
            to: datetime!(2026-12-04 15:37:07 UTC),
        },
        policies: vec![
            PolicySection {
                id: "gdpr".to_owned(),
                version: "2026.1".to_owned(),
                sha256: "ab".repeat(32),
                retention: RetentionRule {
                    period: "P10Y".to_owned(),
                    anchor: RetentionAnchor::StudyDate,
                },
                fields: gdpr_fields,
                record_count: 1234,
            },
            PolicySection {
                id: "hipaa".to_owned(),
                version: "2026.2".to_owned(),
                sha256: "cd".repeat(32),
                retention: RetentionRule {
                    period: "P6Y".to_owned(),
                    anchor: RetentionAnchor::Ingestion,
                },
                fields: hipaa_fields,
                record_count: 567,
            },
        ],
        retention: RetentionOutlook {
            due_30_days: 17,
            due_90_days: 58,
            due_365_days: 301,
            overdue: 3,
            holds: vec![HoldRow {
                record_id: "rec-7f3a".to_owned(),
                reason: HOSTILE.to_owned(),
                placed_by: "dpo@example.org".to_owned(),
                placed_at: datetime!(2026-11-20 09:00:00 UTC),
                retain_until: datetime!(2027-01-01 00:00:00 UTC),
            }],
            timeline: (0..24u32)
                .map(|i| {
                    // Months counted from 2026-12 (month index 11 of 2026).
                    let m = 11 + i;
                    TimelineBucket {
                        month: format!("{}-{:02}", 2026 + m / 12, m % 12 + 1),
                        due: u64::from(i % 7) * 9 + 2,
                    }
                })
                .collect(),
        },
        history: History {
            purges: vec![PurgeRow {
                at: datetime!(2026-11-15 02:00:00 UTC),
                purged: 42,
                held: 1,
                audit_seq: 9001,
            }],
            erasures: vec![ErasureRow {
                at: datetime!(2026-11-18 10:30:00 UTC),
                subject_pseudonym: "subj-5e1d0c".to_owned(),
                records_removed: 5,
                key_destroyed: true,
                audit_seq: 9050,
                receipt_signature: "0f".repeat(64),
            }],
        },
        keys: KeyStatus {
            current_version: 2,
            versions: vec![
                KeyVersionRow {
                    version: 1,
                    deks_wrapped: 0,
                },
                KeyVersionRow {
                    version: 2,
                    deks_wrapped: 88,
                },
            ],
        },
        audit: AuditStatus {
            entries: 9123,
            verified: true,
            first_bad_seq: None,
            reason: None,
            signed_head: Some(SignedHead {
                seq: 9122,
                hash: "12".repeat(32),
                signature: "34".repeat(64),
                public_key: "56".repeat(32),
                signed_at: datetime!(2026-12-04 15:00:00 UTC),
            }),
        },
        access: vec![
            AccessRow {
                role: Role::Reader,
                action: "record.read".to_owned(),
                allowed: 321,
                denied: 4,
            },
            AccessRow {
                role: Role::Ingest,
                action: "record.create".to_owned(),
                allowed: 1801,
                denied: 0,
            },
        ],
    }
}

/// A report over an empty, fresh data directory: every count zero, every
/// list empty.
pub(crate) fn empty_report() -> ComplianceReport {
    ComplianceReport {
        generated_at: datetime!(2026-12-04 15:37:07 UTC),
        data_dir: "./phivault-data".to_owned(),
        period: ReportPeriod {
            from: datetime!(2026-12-04 15:37:07 UTC),
            to: datetime!(2026-12-04 15:37:07 UTC),
        },
        policies: Vec::new(),
        retention: RetentionOutlook {
            due_30_days: 0,
            due_90_days: 0,
            due_365_days: 0,
            overdue: 0,
            holds: Vec::new(),
            timeline: Vec::new(),
        },
        history: History::default(),
        keys: KeyStatus {
            current_version: 1,
            versions: Vec::new(),
        },
        audit: AuditStatus {
            entries: 0,
            verified: true,
            first_bad_seq: None,
            reason: None,
            signed_head: None,
        },
        access: Vec::new(),
    }
}
