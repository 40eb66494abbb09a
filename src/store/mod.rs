//! Durable storage: records, blind indexes, subject keys, the retention
//! queue, legal holds and the audit log, behind the [`Store`] trait.
//!
//! Invariant: nothing outside this module knows the engine is sled; callers
//! hold an `Arc<dyn Store>`. Every write is one atomic transaction that also
//! appends its audit entry; a write is durable once
//! [`Store::flush_durable`] (or [`Store::flush_blocking`]) called after it
//! has returned `Ok`, and only a durable write may be reported as done.

mod error;
mod group_commit;
mod keys;
mod model;
mod sled_store;

use std::collections::BTreeMap;

use time::OffsetDateTime;

pub use error::{BackendError, StoreError};
pub use group_commit::BoxFuture;
pub use model::{Hold, InvalidRecordId, RecordId, StoredField, StoredRecord, SubjectId};
pub use sled_store::SledStore;

use crate::audit::{AuditContext, AuditDraft, AuditEntry, AuditHead};

/// How a record write relates to its subject's data key (DEK), as the
/// vault saw it when it sealed the fields. The store checks it inside the
/// write's transaction, so fields are never stored sealed under a key that
/// is not (or no longer) the subject's stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectKeyUse {
    /// No field is encrypted: the subject's key is neither needed nor
    /// created.
    Unused,
    /// The fields were sealed under the subject's stored key, whose wrapped
    /// bytes (as read by [`Store::subject_key`]) are given. Fails with
    /// [`StoreError::SubjectKeyChanged`] if the stored bytes differ (shredded
    /// or re-wrapped meanwhile).
    Existing(Vec<u8>),
    /// The subject had no key; the fields were sealed under a new one, whose
    /// wrapped bytes are given and are stored with the record. Fails with
    /// [`StoreError::SubjectKeyChanged`] if a key appeared meanwhile.
    New(Vec<u8>),
}

/// One record to store, with everything its write must update at once.
#[derive(Debug, Clone)]
pub struct RecordWrite {
    /// The record. For a new series its `id` is used (make it with
    /// [`RecordId::random`]); for a known series the stored `id` and
    /// `ingested_at` are kept and these are ignored.
    pub record: StoredRecord,
    /// The blind index of the SeriesInstanceUID (computed by `crypto`).
    pub series_key: [u8; 32],
    /// The subject key the fields were sealed under.
    pub subject_key: SubjectKeyUse,
    /// Who, when, why: the store adds the action (`record_created` or
    /// `record_replaced`) and the record id.
    pub audit: AuditContext,
}

/// Whether a put stored a new series or replaced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutKind {
    /// A new series: a new record.
    Created,
    /// A known series: its record was replaced, same id.
    Replaced,
}

/// What a put did.
#[derive(Debug, Clone)]
#[must_use = "a write is done only once flushed: call flush_durable before reporting it"]
pub struct PutOutcome {
    /// Created or replaced.
    pub kind: PutKind,
    /// The record as stored (with its final id and `ingested_at`).
    pub record: StoredRecord,
    /// Whether a replacement that moved the record to another subject
    /// shredded the previous subject's key (it had no record left).
    pub previous_subject_key_destroyed: bool,
    /// The audit entry of the write.
    pub audit: AuditEntry,
}

/// What a record deletion did.
#[derive(Debug, Clone)]
#[must_use = "a write is done only once flushed: call flush_durable before reporting it"]
pub struct DeleteOutcome {
    /// The deleted record's subject.
    pub subject: SubjectId,
    /// The deleted record's policy id.
    pub policy_id: String,
    /// Whether the subject's key was shredded (this was its last record).
    pub key_destroyed: bool,
    /// The audit entry of the deletion.
    pub audit: AuditEntry,
}

/// What an erasure did.
#[derive(Debug, Clone)]
#[must_use = "a write is done only once flushed: call flush_durable before reporting it"]
pub struct ErasureOutcome {
    /// The records deleted.
    pub records: Vec<RecordId>,
    /// Whether the subject had a key, now shredded.
    pub key_destroyed: bool,
    /// The audit entry of the erasure (its seq goes on the receipt).
    pub audit: AuditEntry,
}

/// One retention-queue entry: a record and when it must be purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionEntry {
    /// The record's `retain_until`.
    pub retain_until: OffsetDateTime,
    /// The record.
    pub id: RecordId,
}

/// Counts kept up to date by every write, so reports need no scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCounters {
    /// Records stored.
    pub records: u64,
    /// Records under legal hold.
    pub holds: u64,
    /// Records stored per policy id.
    pub records_per_policy: BTreeMap<String, u64>,
}

/// Work counters of this handle since it was opened (for metrics and for
/// tests that check what an operation touched).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Disk flushes made (by [`Store::flush_durable`] and
    /// [`Store::flush_blocking`]).
    pub flushes: u64,
    /// Retention-queue entries read by [`Store::due_by`] and
    /// [`Store::count_due_by`].
    pub retention_entries_read: u64,
}

/// A signed audit chain head: an Ed25519 signature (made by `crypto`) over
/// the head at `seq`. The store checks that `hash` is the hash of entry
/// `seq` and keeps every signed head, by seq.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedHead {
    /// The signed entry's seq.
    pub seq: u64,
    /// The signed entry's hash, hex.
    #[serde(with = "crate::audit::hex32")]
    pub hash: [u8; 32],
    /// When it was signed.
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    /// Identifies the signing key (defined by `crypto`).
    pub key_id: String,
    /// The signature, base64 (what is signed is defined by `crypto`).
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

/// The vault's storage. Object-safe: used as `Arc<dyn Store>`.
///
/// Guarantees of every implementation:
/// - Each write method is atomic: on `Err` nothing changed (no record,
///   index, queue, key, hold or audit entry), on `Ok` everything did,
///   including exactly one audit entry where the method takes an audit
///   context or draft.
/// - Writes are serialised: the audit log's order is the order the writes
///   took effect in.
/// - A write is durable once a later [`Store::flush_durable`] or
///   [`Store::flush_blocking`] returns `Ok`.
/// - A subject key exists only while the subject has at least one record:
///   the write that removes a subject's last record shreds its key.
pub trait Store: Send + Sync {
    /// Stores a record: replaces the record of the same series if there is
    /// one (same id, same `ingested_at`, indexes moved), else creates it;
    /// checks and stores the subject key as [`SubjectKeyUse`] says; appends
    /// `record_created` or `record_replaced`. Two concurrent puts of one new
    /// series give one record (one `Created`, one `Replaced`).
    fn put_record(&self, write: RecordWrite) -> Result<PutOutcome, StoreError>;

    /// Deletes a record with its indexes and queue entry, shreds the subject
    /// key if it was the subject's last record, and appends
    /// `record_purged`. Refuses with [`StoreError::Held`] if the record is
    /// held, [`StoreError::NotFound`] if there is none.
    fn delete_record(
        &self,
        id: &RecordId,
        audit: AuditContext,
    ) -> Result<DeleteOutcome, StoreError>;

    /// Erases a subject: all its records, their indexes and queue entries,
    /// and its key, at once; appends `subject_erased` with
    /// `records_removed` and `key_destroyed` in its detail. Refuses with
    /// [`StoreError::Held`] naming every held record if any is held.
    fn erase_subject(
        &self,
        subject: &SubjectId,
        audit: AuditContext,
    ) -> Result<ErasureOutcome, StoreError>;

    /// Places (or replaces) a legal hold on a record and appends
    /// `hold_placed`. Returns the hold it replaced, if any.
    fn place_hold(
        &self,
        id: &RecordId,
        hold: Hold,
        audit: AuditContext,
    ) -> Result<(Option<Hold>, AuditEntry), StoreError>;

    /// Releases a record's hold and appends `hold_released`.
    fn release_hold(
        &self,
        id: &RecordId,
        audit: AuditContext,
    ) -> Result<(Hold, AuditEntry), StoreError>;

    /// Replaces a subject's wrapped key if it still is `expected` (key
    /// rotation); [`StoreError::SubjectKeyChanged`] otherwise (shredded or
    /// changed meanwhile). Not audited: the caller appends one `keys_rotated`
    /// entry per rotation.
    fn replace_subject_key(
        &self,
        subject: &SubjectId,
        expected: &[u8],
        new: Vec<u8>,
    ) -> Result<(), StoreError>;

    /// Appends one entry to the audit log.
    fn append_audit(&self, draft: AuditDraft) -> Result<AuditEntry, StoreError>;

    /// Keeps a signed chain head after checking it names an entry that
    /// exists with that hash.
    fn put_signed_head(&self, head: &SignedHead) -> Result<(), StoreError>;

    /// The record with this id.
    fn get_record(&self, id: &RecordId) -> Result<Option<StoredRecord>, StoreError>;

    /// The record of the series with this blind index.
    fn find_series(&self, series_key: &[u8; 32]) -> Result<Option<RecordId>, StoreError>;

    /// A subject's wrapped key.
    fn subject_key(&self, subject: &SubjectId) -> Result<Option<Vec<u8>>, StoreError>;

    /// A subject's records, by index (no record is read).
    fn records_of_subject(&self, subject: &SubjectId) -> Result<Vec<RecordId>, StoreError>;

    /// Up to `limit` retention-queue entries with `retain_until <= as_of`,
    /// oldest first, starting after `after` (to page past held records).
    /// Reads only those entries: its cost grows with the entries returned,
    /// not with the records stored.
    fn due_by(
        &self,
        as_of: OffsetDateTime,
        after: Option<&RetentionEntry>,
        limit: usize,
    ) -> Result<Vec<RetentionEntry>, StoreError>;

    /// How many records have `retain_until <= as_of` (reads those queue
    /// entries' keys only).
    fn count_due_by(&self, as_of: OffsetDateTime) -> Result<u64, StoreError>;

    /// A record's hold.
    fn hold(&self, id: &RecordId) -> Result<Option<Hold>, StoreError>;

    /// Up to `limit` holds, by record id, after `after`.
    fn holds(
        &self,
        after: Option<&RecordId>,
        limit: usize,
    ) -> Result<Vec<(RecordId, Hold)>, StoreError>;

    /// Up to `limit` subject keys (wrapped), by subject, after `after`.
    fn subject_keys(
        &self,
        after: Option<&SubjectId>,
        limit: usize,
    ) -> Result<Vec<(SubjectId, Vec<u8>)>, StoreError>;

    /// Up to `limit` audit entries from seq `from_seq` on, in key order. An
    /// entry that does not decode fails with
    /// [`StoreError::CorruptAuditEntry`].
    fn audit_range(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;

    /// The last entry's seq and hash, as the store recorded it on append.
    fn audit_head(&self) -> Result<Option<AuditHead>, StoreError>;

    /// The most recent signed head.
    fn latest_signed_head(&self) -> Result<Option<SignedHead>, StoreError>;

    /// Up to `limit` signed heads with seq greater than `after_seq`.
    fn signed_heads(&self, after_seq: u64, limit: usize) -> Result<Vec<SignedHead>, StoreError>;

    /// The counters (records, holds, records per policy).
    fn counters(&self) -> Result<StoreCounters, StoreError>;

    /// The number of records stored.
    fn record_count(&self) -> Result<u64, StoreError>;

    /// This handle's work counters.
    fn stats(&self) -> StoreStats;

    /// Resolves once every write made before the call is on disk.
    /// Concurrent callers share flushes (group commit): N writers waiting at
    /// once cause at most two flushes. Needs a Tokio runtime.
    fn flush_durable(&self) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Flushes every earlier write to disk, blocking the thread (for
    /// commands without a runtime; never call it on an async worker).
    fn flush_blocking(&self) -> Result<(), StoreError>;
}
