//! The write operations: each one atomic `apply_batch` on the store's
//! tree, under the store's write lock (see the parent module's invariant).

use std::cell::RefCell;
use std::collections::BTreeMap;

use sled::IVec;

use super::overlay::{Overlay, Writes, batch_of};
use super::space::{full_key, prefix};
use super::{SledStore, tree};
use crate::audit::{
    AuditAction, AuditContext, AuditDraft, AuditEntry, AuditHead, GENESIS_PREV_HASH,
};
use crate::store::keys::{self, meta};
use crate::store::{
    DeleteOutcome, ErasureOutcome, Hold, PutKind, PutOutcome, RecordId, RecordWrite, SignedHead,
    StoreError, StoredField, StoredRecord, SubjectId, SubjectKeyUse,
};

type TxResult<T> = Result<T, StoreError>;

/// How many deferred keys may wait before a deferred write applies them
/// itself (~1,000 records; under load a flush drains far fewer).
pub(super) const MAX_DEFERRED_KEYS: usize = 10_000;

/// The writes of one operation, not yet applied: full key → new value
/// (`None`: removed). Reads through a [`TxSpace`] see them first, then the
/// overlay's deferred writes, then the tree.
struct Pending<'a> {
    overlay: &'a Overlay,
    writes: RefCell<Writes>,
}

impl Pending<'_> {
    fn get(&self, key: &[u8]) -> TxResult<Option<IVec>> {
        if let Some(v) = self.writes.borrow().get(key) {
            return Ok(v.clone());
        }
        Ok(self.overlay.get(key)?)
    }

    /// Sets `key`, returning the value it had.
    fn replace(&self, key: Vec<u8>, value: Option<IVec>) -> TxResult<Option<IVec>> {
        let previous = self.get(&key)?;
        self.writes.borrow_mut().insert(key, value);
        Ok(previous)
    }

    /// Sets `key` without reading what it held.
    fn set(&self, key: Vec<u8>, value: Option<IVec>) {
        self.writes.borrow_mut().insert(key, value);
    }
}

/// One key space as seen by a write in preparation.
struct TxSpace<'a> {
    pending: &'a Pending<'a>,
    prefix: u8,
}

impl TxSpace<'_> {
    fn get(&self, key: impl AsRef<[u8]>) -> TxResult<Option<IVec>> {
        self.pending.get(&full_key(self.prefix, key.as_ref()))
    }

    /// Sets `key`, returning the value it had.
    fn insert(&self, key: impl AsRef<[u8]>, value: impl Into<IVec>) -> TxResult<Option<IVec>> {
        self.pending
            .replace(full_key(self.prefix, key.as_ref()), Some(value.into()))
    }

    /// Sets `key` when what it held does not matter (saves a read).
    fn put(&self, key: impl AsRef<[u8]>, value: impl Into<IVec>) {
        self.pending
            .set(full_key(self.prefix, key.as_ref()), Some(value.into()));
    }

    /// Removes `key`, returning the value it had.
    fn remove(&self, key: impl AsRef<[u8]>) -> TxResult<Option<IVec>> {
        self.pending
            .replace(full_key(self.prefix, key.as_ref()), None)
    }

    /// Removes `key` when what it held does not matter (saves a read).
    fn delete(&self, key: impl AsRef<[u8]>) {
        self.pending.set(full_key(self.prefix, key.as_ref()), None);
    }
}

/// The view of every key space a write uses.
struct Tx<'a> {
    records: TxSpace<'a>,
    series_index: TxSpace<'a>,
    record_series: TxSpace<'a>,
    subject_index: TxSpace<'a>,
    subject_keys: TxSpace<'a>,
    retention_queue: TxSpace<'a>,
    holds: TxSpace<'a>,
    audit: TxSpace<'a>,
    meta: TxSpace<'a>,
}

impl<'a> Tx<'a> {
    fn new(pending: &'a Pending<'a>) -> Self {
        let space = |prefix| TxSpace { pending, prefix };
        Self {
            records: space(prefix::RECORDS),
            series_index: space(prefix::SERIES_INDEX),
            record_series: space(prefix::RECORD_SERIES),
            subject_index: space(prefix::SUBJECT_INDEX),
            subject_keys: space(prefix::SUBJECT_KEYS),
            retention_queue: space(prefix::RETENTION_QUEUE),
            holds: space(prefix::HOLDS),
            audit: space(prefix::AUDIT),
            meta: space(prefix::META),
        }
    }
}

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(e)
}

fn corrupt(tree: &'static str) -> StoreError {
    StoreError::Corrupt { tree }
}

impl Tx<'_> {
    /// Appends `draft` to the audit chain after the recorded head.
    fn append_audit(&self, draft: AuditDraft) -> TxResult<AuditEntry> {
        let (seq, prev_hash) = match self.meta.get(meta::AUDIT_HEAD)? {
            Some(v) => {
                let head = keys::decode_head(&v).ok_or_else(|| corrupt(tree::META))?;
                (head.seq + 1, head.hash)
            }
            None => (1, GENESIS_PREV_HASH),
        };
        let entry = AuditEntry::seal(draft, seq, prev_hash).map_err(StoreError::Audit)?;
        let bytes = entry.to_stored_bytes().map_err(StoreError::Audit)?;
        self.audit.put(keys::seq_key(seq), bytes);
        let head = AuditHead {
            seq,
            hash: entry.hash,
        };
        self.meta
            .put(meta::AUDIT_HEAD, &keys::encode_head(head)[..]);
        Ok(entry)
    }

    /// Adds `delta` to a counter; a counter at zero is removed.
    fn bump(&self, key: &[u8], delta: i64) -> TxResult<()> {
        let current = match self.meta.get(key)? {
            Some(v) => keys::decode_u64(&v).ok_or_else(|| corrupt(tree::META))?,
            None => 0,
        };
        let next = current.saturating_add_signed(delta);
        if next == 0 {
            self.meta.delete(key);
        } else {
            self.meta.put(key, &next.to_be_bytes());
        }
        Ok(())
    }

    fn read_record(&self, id: &RecordId) -> TxResult<Option<StoredRecord>> {
        match self.records.get(id.as_bytes())? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|_| corrupt(tree::RECORDS)),
        }
    }

    /// Removes a record and every index and queue entry pointing at it,
    /// and updates the counters. Refuses if the record is held.
    fn remove_record(&self, id: &RecordId) -> TxResult<StoredRecord> {
        if self.holds.get(id.as_bytes())?.is_some() {
            return abort(StoreError::Held { records: vec![*id] });
        }
        let Some(old) = self.read_record(id)? else {
            return abort(StoreError::NotFound(*id));
        };
        self.records.remove(id.as_bytes())?;
        if let Some(series_key) = self.record_series.remove(id.as_bytes())? {
            self.series_index.remove(series_key)?;
        }
        self.subject_index
            .remove(&keys::subject_index_key(&old.subject, id)[..])?;
        self.retention_queue
            .remove(keys::retention_key(old.retain_until, id))?;
        self.bump(meta::RECORDS, -1)?;
        self.bump(&keys::policy_count_key(&old.policy.id), -1)?;
        Ok(old)
    }
}

fn json<T: serde::Serialize>(value: &T, tree: &'static str) -> TxResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|_| corrupt(tree))
}

impl SledStore {
    /// Runs `f` against the current state (deferred writes included) and,
    /// if it returns `Ok`, applies its writes as one atomic batch after
    /// every deferred write; if it returns `Err`, nothing. The caller holds
    /// the write lock, so nothing changes between `f`'s reads and the batch.
    fn transact<A>(&self, f: impl FnOnce(&Tx<'_>) -> TxResult<A>) -> Result<A, StoreError> {
        // Earlier writes first (the audit chain reaches the tree in order);
        // if that fails, this operation has changed nothing.
        self.overlay.drain()?;
        let (out, writes) = self.prepare(f)?;
        self.overlay.tree().apply_batch(batch_of(&writes))?;
        Ok(out)
    }

    /// Runs `f` against the current state (deferred writes included) and
    /// returns its answer with the writes it asks for, applying nothing.
    fn prepare<A>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> TxResult<A>,
    ) -> Result<(A, Writes), StoreError> {
        let pending = Pending {
            overlay: &self.overlay,
            writes: RefCell::new(BTreeMap::new()),
        };
        let out = f(&Tx::new(&pending))?;
        Ok((out, pending.writes.into_inner()))
    }

    /// Like [`Self::transact`], but the writes are deferred: visible to
    /// every read at once, applied to the tree with the next drain (at the
    /// latest, the next flush), together with the other deferred writes.
    fn transact_deferred<A>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> TxResult<A>,
    ) -> Result<A, StoreError> {
        // A writer that never flushes (a bulk load) must not grow the
        // overlay without bound: past the limit, apply what waits first (if
        // that fails, this operation has changed nothing).
        if self.overlay.len() >= MAX_DEFERRED_KEYS {
            self.overlay.drain()?;
        }
        let (out, writes) = self.prepare(f)?;
        self.overlay.defer(writes);
        Ok(out)
    }

    pub(super) fn put_record_impl(&self, write: RecordWrite) -> Result<PutOutcome, StoreError> {
        let encrypted = write
            .record
            .fields
            .values()
            .any(|f| matches!(f, StoredField::Encrypt { .. }));
        if encrypted && write.subject_key == SubjectKeyUse::Unused {
            return Err(StoreError::SubjectKeyRequired);
        }
        write
            .audit
            .clone()
            .into_draft(AuditAction::RecordCreated, None)
            .check()?;

        let _guard = self.lock_writes();
        // If this replaces a record of another subject that has no other
        // record, that subject's key goes with it (no key without records).
        // A prefix scan cannot run inside a sled transaction; under the
        // write lock its answer still holds inside the transaction, which
        // re-reads the series index and only acts if it names the same
        // record (otherwise it keeps the key: never destroys a needed one).
        let mut previous_alone = None;
        if let Some(prior) = self.find_series_impl(&write.series_key)?
            && let Some(old) = self.read_record(&prior)?
            && old.subject != write.record.subject
            && self.subject_record_count(&old.subject, 2)? == 1
        {
            previous_alone = Some((prior, old.subject));
        }

        self.transact_deferred(|tx| {
            let mut record = write.record.clone();
            let existing = match tx.series_index.get(write.series_key)? {
                Some(v) => {
                    Some(keys::decode_record_id(&v).ok_or_else(|| corrupt(tree::SERIES_INDEX))?)
                }
                None => None,
            };
            let mut previous_key_destroyed = false;
            let kind = match existing {
                Some(id) => {
                    let Some(old) = tx.read_record(&id)? else {
                        return Err(corrupt(tree::SERIES_INDEX));
                    };
                    record.id = id;
                    record.ingested_at = old.ingested_at;
                    tx.retention_queue
                        .delete(keys::retention_key(old.retain_until, &id));
                    tx.subject_index
                        .delete(&keys::subject_index_key(&old.subject, &id)[..]);
                    tx.bump(&keys::policy_count_key(&old.policy.id), -1)?;
                    if previous_alone == Some((id, old.subject)) && old.subject != record.subject {
                        previous_key_destroyed = tx.subject_keys.remove(old.subject.0)?.is_some();
                    }
                    PutKind::Replaced
                }
                None => {
                    tx.series_index.put(write.series_key, record.id.as_bytes());
                    tx.record_series
                        .put(record.id.as_bytes(), &write.series_key);
                    tx.bump(meta::RECORDS, 1)?;
                    PutKind::Created
                }
            };
            let id = record.id;

            match &write.subject_key {
                SubjectKeyUse::Unused => {}
                SubjectKeyUse::Existing(expected) => match tx.subject_keys.get(record.subject.0)? {
                    Some(stored) if stored.as_ref() == expected.as_slice() => {}
                    _ => return abort(StoreError::SubjectKeyChanged),
                },
                SubjectKeyUse::New(wrapped) => {
                    if tx.subject_keys.get(record.subject.0)?.is_some() {
                        return abort(StoreError::SubjectKeyChanged);
                    }
                    tx.subject_keys.put(record.subject.0, wrapped.as_slice());
                }
            }

            tx.records.put(id.as_bytes(), json(&record, tree::RECORDS)?);
            tx.subject_index
                .put(&keys::subject_index_key(&record.subject, &id)[..], &[]);
            tx.retention_queue
                .put(keys::retention_key(record.retain_until, &id), &[]);
            tx.bump(&keys::policy_count_key(&record.policy.id), 1)?;

            let action = match kind {
                PutKind::Created => AuditAction::RecordCreated,
                PutKind::Replaced => AuditAction::RecordReplaced,
            };
            let mut draft = write.audit.clone().into_draft(action, Some(id));
            if previous_key_destroyed {
                draft.add_detail("previous_subject_key_destroyed", true.into());
            }
            let audit = tx.append_audit(draft)?;
            Ok(PutOutcome {
                kind,
                record,
                previous_subject_key_destroyed: previous_key_destroyed,
                audit,
            })
        })
    }

    pub(super) fn delete_record_impl(
        &self,
        id: &RecordId,
        context: AuditContext,
    ) -> Result<DeleteOutcome, StoreError> {
        context
            .clone()
            .into_draft(AuditAction::RecordPurged, Some(*id))
            .check()?;
        let _guard = self.lock_writes();
        let Some(record) = self.read_record(id)? else {
            return Err(StoreError::NotFound(*id));
        };
        // Under the write lock the count holds inside the transaction.
        // Deferred like ingest: a purge's deletions reach sled as one batch
        // per flush (or per page, whose next `due_by` scan drains them).
        let last_of_subject = self.subject_record_count(&record.subject, 2)? == 1;
        self.transact_deferred(|tx| {
            let old = tx.remove_record(id)?;
            let key_destroyed = last_of_subject
                && old.subject == record.subject
                && tx.subject_keys.remove(old.subject.0)?.is_some();
            let mut draft = context
                .clone()
                .into_draft(AuditAction::RecordPurged, Some(*id));
            draft.add_detail("key_destroyed", key_destroyed.into());
            let audit = tx.append_audit(draft)?;
            Ok(DeleteOutcome {
                subject: old.subject,
                policy_id: old.policy.id,
                key_destroyed,
                audit,
            })
        })
    }

    pub(super) fn erase_subject_impl(
        &self,
        subject: &SubjectId,
        context: AuditContext,
    ) -> Result<ErasureOutcome, StoreError> {
        context
            .clone()
            .into_draft(AuditAction::SubjectErased, None)
            .check()?;
        let _guard = self.lock_writes();
        let records = self.records_of_subject_impl(subject)?;
        let mut held = Vec::new();
        for id in &records {
            if self.trees.holds.contains_key(id.as_bytes())? {
                held.push(*id);
            }
        }
        if !held.is_empty() {
            return Err(StoreError::Held { records: held });
        }
        self.transact(|tx| {
            for id in &records {
                tx.remove_record(id)?;
            }
            let key_destroyed = tx.subject_keys.remove(subject.0)?.is_some();
            let mut draft = context.clone().into_draft(AuditAction::SubjectErased, None);
            draft.add_detail("records_removed", (records.len() as u64).into());
            draft.add_detail("key_destroyed", key_destroyed.into());
            let audit = tx.append_audit(draft)?;
            Ok(ErasureOutcome {
                records: records.clone(),
                key_destroyed,
                audit,
            })
        })
    }

    pub(super) fn place_hold_impl(
        &self,
        id: &RecordId,
        hold: Hold,
        context: AuditContext,
    ) -> Result<(Option<Hold>, AuditEntry), StoreError> {
        context
            .clone()
            .into_draft(AuditAction::HoldPlaced, Some(*id))
            .check()?;
        let _guard = self.lock_writes();
        self.transact(|tx| {
            if tx.records.get(id.as_bytes())?.is_none() {
                return abort(StoreError::NotFound(*id));
            }
            let previous = match tx.holds.insert(id.as_bytes(), json(&hold, tree::HOLDS)?)? {
                Some(v) => {
                    Some(serde_json::from_slice::<Hold>(&v).map_err(|_| corrupt(tree::HOLDS))?)
                }
                None => {
                    tx.bump(meta::HOLDS, 1)?;
                    None
                }
            };
            let draft = context
                .clone()
                .into_draft(AuditAction::HoldPlaced, Some(*id));
            Ok((previous, tx.append_audit(draft)?))
        })
    }

    pub(super) fn release_hold_impl(
        &self,
        id: &RecordId,
        context: AuditContext,
    ) -> Result<(Hold, AuditEntry), StoreError> {
        context
            .clone()
            .into_draft(AuditAction::HoldReleased, Some(*id))
            .check()?;
        let _guard = self.lock_writes();
        self.transact(|tx| {
            let Some(v) = tx.holds.remove(id.as_bytes())? else {
                return abort(StoreError::NotHeld(*id));
            };
            let hold: Hold = serde_json::from_slice(&v).map_err(|_| corrupt(tree::HOLDS))?;
            tx.bump(meta::HOLDS, -1)?;
            let draft = context
                .clone()
                .into_draft(AuditAction::HoldReleased, Some(*id));
            Ok((hold, tx.append_audit(draft)?))
        })
    }

    pub(super) fn replace_subject_key_impl(
        &self,
        subject: &SubjectId,
        expected: &[u8],
        new: Vec<u8>,
    ) -> Result<(), StoreError> {
        let _guard = self.lock_writes();
        match self
            .trees
            .subject_keys
            .compare_and_swap(subject.0, Some(expected), Some(new))?
        {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::SubjectKeyChanged),
        }
    }

    pub(super) fn append_audit_impl(&self, draft: AuditDraft) -> Result<AuditEntry, StoreError> {
        draft.check()?;
        let _guard = self.lock_writes();
        self.transact(|tx| tx.append_audit(draft.clone()))
    }

    pub(super) fn put_signed_head_impl(&self, head: &SignedHead) -> Result<(), StoreError> {
        let _guard = self.lock_writes();
        let entry = match self.trees.audit.get(keys::seq_key(head.seq))? {
            Some(v) => AuditEntry::from_stored_bytes(&v)
                .map_err(|_| StoreError::CorruptAuditEntry { seq: head.seq })?,
            None => return Err(StoreError::HeadMismatch { seq: head.seq }),
        };
        if entry.seq != head.seq || entry.hash != head.hash {
            return Err(StoreError::HeadMismatch { seq: head.seq });
        }
        let bytes = serde_json::to_vec(head).map_err(|_| StoreError::Corrupt {
            tree: tree::AUDIT_HEADS,
        })?;
        self.trees
            .audit_heads
            .insert(keys::seq_key(head.seq), bytes)?;
        Ok(())
    }
}
