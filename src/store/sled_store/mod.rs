//! The sled implementation of [`Store`].
//!
//! Everything lives in one sled tree, `phivault`, split into key spaces by a
//! one-byte prefix (layouts in docs/FORMAT.md, "Stored record"): `records`
//! (id → record JSON), `series_index` (series blind index → id),
//! `record_series` (id → series blind index, to remove the index entry on
//! delete), `subject_index` (subject ++ id → empty), `subject_keys`
//! (subject → wrapped DEK), `retention_queue` (time ++ id → empty), `holds`
//! (id → hold JSON), `audit` (seq → entry), `audit_heads` (seq → signed
//! head JSON) and `meta` (format, audit head, counters).
//!
//! Invariant: every write takes `write_lock`, reads what it needs, and
//! applies all its changes as one `Tree::apply_batch`, which sled makes
//! atomic, also across a crash. sled allows one process per database, so
//! under the lock no other writer exists: what the write read is still true
//! when its batch is applied (which is why no sled transaction, with its
//! conflict detection, is needed).

mod overlay;
mod space;
mod write;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use std::ops::Bound;
use time::OffsetDateTime;

use self::overlay::Overlay;
use self::space::{Space, prefix};
use super::group_commit::{BoxFuture, FlushFn, GroupCommit};
use super::keys::{self, meta};
use super::{
    BackendError, Hold, RecordId, RetentionEntry, SignedHead, StoreCounters, StoreError,
    StoreStats, StoredRecord, SubjectId,
};
use crate::audit::{AuditEntry, AuditHead};

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(BackendError::from(e))
    }
}

/// Key-space names, as reported in errors (and the tree's name).
mod tree {
    pub const MAIN: &str = "phivault";
    pub const RECORDS: &str = "records";
    pub const SERIES_INDEX: &str = "series_index";
    pub const SUBJECT_INDEX: &str = "subject_index";
    pub const SUBJECT_KEYS: &str = "subject_keys";
    pub const RETENTION_QUEUE: &str = "retention_queue";
    pub const HOLDS: &str = "holds";
    pub const AUDIT: &str = "audit";
    pub const AUDIT_HEADS: &str = "audit_heads";
    pub const META: &str = "meta";
}

#[derive(Clone)]
struct Trees {
    records: Space,
    series_index: Space,
    subject_index: Space,
    subject_keys: Space,
    retention_queue: Space,
    holds: Space,
    audit: Space,
    audit_heads: Space,
    meta: Space,
}

impl Trees {
    fn new(t: &Arc<Overlay>) -> Self {
        Self {
            records: Space::new(t, prefix::RECORDS),
            series_index: Space::new(t, prefix::SERIES_INDEX),
            subject_index: Space::new(t, prefix::SUBJECT_INDEX),
            subject_keys: Space::new(t, prefix::SUBJECT_KEYS),
            retention_queue: Space::new(t, prefix::RETENTION_QUEUE),
            holds: Space::new(t, prefix::HOLDS),
            audit: Space::new(t, prefix::AUDIT),
            audit_heads: Space::new(t, prefix::AUDIT_HEADS),
            meta: Space::new(t, prefix::META),
        }
    }
}

/// The page cache sled may keep in memory. sled's default (1 GiB) lets the
/// server's memory grow with the database; with this bound it stays flat
/// under load (BENCHMARKS.md, RSS), and pages beyond it are read back from
/// disk when needed.
const CACHE_CAPACITY_BYTES: u64 = 32 * 1024 * 1024;

/// The store on an embedded sled database. One process per database: a
/// second open of the same path fails with [`StoreError::Locked`], also
/// within one process (share the handle instead).
pub struct SledStore {
    db: sled::Db,
    overlay: Arc<Overlay>,
    trees: Trees,
    write_lock: Mutex<()>,
    commit: Arc<GroupCommit>,
    blocking_flushes: AtomicU64,
    retention_reads: AtomicU64,
}

impl Drop for SledStore {
    /// Deferred writes are applied before the handle goes: sled then flushes
    /// them as it closes. (Every acknowledged write was flushed already;
    /// this keeps unacknowledged ones from being dropped silently.)
    fn drop(&mut self) {
        if let Err(e) = self.overlay.drain() {
            tracing::error!(error = %e, "could not apply deferred writes while closing the store");
        }
    }
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (creating if needed) the database in directory `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(CACHE_CAPACITY_BYTES)
            .open()
            .map_err(|e| open_error(e, &path))?;
        refuse_format_1(&db)?;
        let tree = db.open_tree(tree::MAIN).map_err(|e| open_error(e, &path))?;
        let overlay = Arc::new(Overlay::new(tree));
        let trees = Trees::new(&overlay);
        check_format(&trees.meta)?;
        let flush_db = db.clone();
        let flush_overlay = Arc::clone(&overlay);
        // A flush first applies every deferred write (as one batch), so a
        // waiter's write is in the tree before the flush that serves it.
        let flush: Arc<FlushFn> = Arc::new(move || {
            let db = flush_db.clone();
            let drained = flush_overlay.drain();
            Box::pin(async move {
                drained.map_err(BackendError::from)?;
                db.flush_async()
                    .await
                    .map(|_| ())
                    .map_err(BackendError::from)
            })
        });
        Ok(Self {
            db,
            overlay,
            trees,
            write_lock: Mutex::new(()),
            commit: GroupCommit::new(flush),
            blocking_flushes: AtomicU64::new(0),
            retention_reads: AtomicU64::new(0),
        })
    }

    fn lock_writes(&self) -> MutexGuard<'_, ()> {
        // The lock guards no data of its own (the trees are consistent after
        // any transaction, committed or not), so a poisoned lock is usable.
        self.write_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_record(&self, id: &RecordId) -> Result<Option<StoredRecord>, StoreError> {
        self.trees
            .records
            .get(id.as_bytes())?
            .map(|v| decode_json(&v, tree::RECORDS))
            .transpose()
    }

    /// How many records the subject has, counting at most `cap`.
    /// Reads deferred writes without applying them, so that a deferred
    /// write can ask it (purge asks it once per deleted record).
    fn subject_record_count(&self, subject: &SubjectId, cap: usize) -> Result<usize, StoreError> {
        let keys = self.trees.subject_index.keys_with_prefix(&subject.0)?;
        Ok(keys.len().min(cap))
    }

    fn counter(&self, key: &[u8]) -> Result<u64, StoreError> {
        match self.trees.meta.get(key)? {
            None => Ok(0),
            Some(v) => keys::decode_u64(&v).ok_or(StoreError::Corrupt { tree: tree::META }),
        }
    }
}

fn open_error(e: sled::Error, path: &Path) -> StoreError {
    // sled reports a held lock as an I/O error of kind Other whose message
    // starts with this text (sled 0.34 config.rs, `try_lock_exclusive`).
    if let sled::Error::Io(io) = &e
        && io.to_string().contains("could not acquire lock")
    {
        return StoreError::Locked {
            path: path.to_path_buf(),
        };
    }
    StoreError::Open {
        path: path.to_path_buf(),
        source: BackendError::from(e),
    }
}

/// Format 1 kept each table in its own tree, the `meta` tree holding the
/// format number: such a database is refused, not read as empty.
fn refuse_format_1(db: &sled::Db) -> Result<(), StoreError> {
    if !db.tree_names().iter().any(|n| n.as_ref() == b"meta") {
        return Ok(());
    }
    let old_meta = db.open_tree("meta")?;
    match old_meta.get(meta::FORMAT)? {
        None => Ok(()),
        Some(v) => Err(StoreError::UnsupportedFormat {
            found: <[u8; 4]>::try_from(v.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt { tree: tree::META })?,
            expected: keys::FORMAT_VERSION,
        }),
    }
}

fn check_format(meta_tree: &Space) -> Result<(), StoreError> {
    let current = keys::FORMAT_VERSION.to_be_bytes();
    match meta_tree.compare_and_swap(meta::FORMAT, None, Some(current.to_vec()))? {
        Ok(()) => Ok(()),
        Err(cas) => {
            let found = cas
                .current
                .as_deref()
                .and_then(|v| <[u8; 4]>::try_from(v).ok())
                .map(u32::from_be_bytes)
                .ok_or(StoreError::Corrupt { tree: tree::META })?;
            if found == keys::FORMAT_VERSION {
                Ok(())
            } else {
                Err(StoreError::UnsupportedFormat {
                    found,
                    expected: keys::FORMAT_VERSION,
                })
            }
        }
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    tree: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt { tree })
}

fn start_after(key: Option<Vec<u8>>) -> Bound<Vec<u8>> {
    match key {
        Some(k) => Bound::Excluded(k),
        None => Bound::Unbounded,
    }
}

/// Read operations (the write operations are in `write`).
impl SledStore {
    fn get_record_impl(&self, id: &RecordId) -> Result<Option<StoredRecord>, StoreError> {
        self.read_record(id)
    }

    fn find_series_impl(&self, series_key: &[u8; 32]) -> Result<Option<RecordId>, StoreError> {
        self.trees
            .series_index
            .get(series_key)?
            .map(|v| {
                keys::decode_record_id(&v).ok_or(StoreError::Corrupt {
                    tree: tree::SERIES_INDEX,
                })
            })
            .transpose()
    }

    fn subject_key_impl(&self, subject: &SubjectId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.trees.subject_keys.get(subject.0)?.map(|v| v.to_vec()))
    }

    fn records_of_subject_impl(&self, subject: &SubjectId) -> Result<Vec<RecordId>, StoreError> {
        space::keys(self.trees.subject_index.scan_prefix(&subject.0))
            .map(|k| {
                keys::decode_subject_index_key(&k?).ok_or(StoreError::Corrupt {
                    tree: tree::SUBJECT_INDEX,
                })
            })
            .collect()
    }

    fn due_by_impl(
        &self,
        as_of: OffsetDateTime,
        after: Option<&RetentionEntry>,
        limit: usize,
    ) -> Result<Vec<RetentionEntry>, StoreError> {
        if after.is_some_and(|a| a.retain_until > as_of) {
            return Ok(Vec::new());
        }
        let lower = start_after(after.map(|a| keys::retention_key(a.retain_until, &a.id).to_vec()));
        let upper = Bound::Included(keys::retention_upper_bound(as_of).to_vec());
        let mut out = Vec::new();
        for key in space::keys(self.trees.retention_queue.range(lower, upper)).take(limit) {
            let key = key?;
            self.retention_reads.fetch_add(1, Ordering::Relaxed);
            out.push(keys::decode_retention_key(&key).ok_or(StoreError::Corrupt {
                tree: tree::RETENTION_QUEUE,
            })?);
        }
        Ok(out)
    }

    fn count_due_by_impl(&self, as_of: OffsetDateTime) -> Result<u64, StoreError> {
        let upper = keys::retention_upper_bound(as_of);
        let mut n = 0u64;
        for key in space::keys(
            self.trees
                .retention_queue
                .range(Bound::Unbounded, Bound::Included(upper.to_vec())),
        ) {
            key?;
            n += 1;
        }
        self.retention_reads.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }

    fn hold_impl(&self, id: &RecordId) -> Result<Option<Hold>, StoreError> {
        self.trees
            .holds
            .get(id.as_bytes())?
            .map(|v| decode_json(&v, tree::HOLDS))
            .transpose()
    }

    fn holds_impl(
        &self,
        after: Option<&RecordId>,
        limit: usize,
    ) -> Result<Vec<(RecordId, Hold)>, StoreError> {
        let lower = start_after(after.map(|id| id.as_bytes().to_vec()));
        self.trees
            .holds
            .range(lower, Bound::Unbounded)
            .take(limit)
            .map(|item| {
                let (k, v) = item?;
                let id =
                    keys::decode_record_id(&k).ok_or(StoreError::Corrupt { tree: tree::HOLDS })?;
                Ok((id, decode_json(&v, tree::HOLDS)?))
            })
            .collect()
    }

    fn subject_keys_impl(
        &self,
        after: Option<&SubjectId>,
        limit: usize,
    ) -> Result<Vec<(SubjectId, Vec<u8>)>, StoreError> {
        let lower = start_after(after.map(|s| s.0.to_vec()));
        self.trees
            .subject_keys
            .range(lower, Bound::Unbounded)
            .take(limit)
            .map(|item| {
                let (k, v) = item?;
                let subject = keys::decode_key32(&k).ok_or(StoreError::Corrupt {
                    tree: tree::SUBJECT_KEYS,
                })?;
                Ok((SubjectId(subject), v.to_vec()))
            })
            .collect()
    }

    fn audit_range_impl(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.trees
            .audit
            .range(
                Bound::Included(keys::seq_key(from_seq).to_vec()),
                Bound::Unbounded,
            )
            .take(limit)
            .map(|item| {
                let (k, v) = item?;
                let seq = keys::decode_u64(&k).ok_or(StoreError::Corrupt { tree: tree::AUDIT })?;
                AuditEntry::from_stored_bytes(&v).map_err(|_| StoreError::CorruptAuditEntry { seq })
            })
            .collect()
    }

    fn audit_head_impl(&self) -> Result<Option<AuditHead>, StoreError> {
        self.trees
            .meta
            .get(meta::AUDIT_HEAD)?
            .map(|v| keys::decode_head(&v).ok_or(StoreError::Corrupt { tree: tree::META }))
            .transpose()
    }

    fn latest_signed_head_impl(&self) -> Result<Option<SignedHead>, StoreError> {
        self.trees
            .audit_heads
            .last()?
            .map(|(_, v)| decode_json(&v, tree::AUDIT_HEADS))
            .transpose()
    }

    fn signed_heads_impl(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SignedHead>, StoreError> {
        let lower = Bound::Excluded(keys::seq_key(after_seq).to_vec());
        space::values(self.trees.audit_heads.range(lower, Bound::Unbounded))
            .take(limit)
            .map(|v| decode_json(&v?, tree::AUDIT_HEADS))
            .collect()
    }

    fn counters_impl(&self) -> Result<StoreCounters, StoreError> {
        let mut out = StoreCounters {
            records: self.counter(meta::RECORDS)?,
            holds: self.counter(meta::HOLDS)?,
            ..StoreCounters::default()
        };
        for item in self.trees.meta.scan_prefix(meta::POLICY_PREFIX) {
            let (k, v) = item?;
            let id = std::str::from_utf8(&k[meta::POLICY_PREFIX.len()..])
                .map_err(|_| StoreError::Corrupt { tree: tree::META })?;
            let n = keys::decode_u64(&v).ok_or(StoreError::Corrupt { tree: tree::META })?;
            out.records_per_policy.insert(id.to_owned(), n);
        }
        Ok(out)
    }

    fn stats_impl(&self) -> StoreStats {
        StoreStats {
            flushes: self.commit.flushes() + self.blocking_flushes.load(Ordering::Relaxed),
            retention_entries_read: self.retention_reads.load(Ordering::Relaxed),
        }
    }

    fn flush_durable_impl(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        self.commit.wait_durable()
    }

    fn flush_blocking_impl(&self) -> Result<(), StoreError> {
        self.overlay.drain()?;
        self.db.flush()?;
        self.blocking_flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl super::Store for SledStore {
    fn put_record(&self, write: super::RecordWrite) -> Result<super::PutOutcome, StoreError> {
        self.put_record_impl(write)
    }
    fn delete_record(
        &self,
        id: &RecordId,
        audit: crate::audit::AuditContext,
    ) -> Result<super::DeleteOutcome, StoreError> {
        self.delete_record_impl(id, audit)
    }
    fn erase_subject(
        &self,
        subject: &SubjectId,
        audit: crate::audit::AuditContext,
    ) -> Result<super::ErasureOutcome, StoreError> {
        self.erase_subject_impl(subject, audit)
    }
    fn place_hold(
        &self,
        id: &RecordId,
        hold: Hold,
        audit: crate::audit::AuditContext,
    ) -> Result<(Option<Hold>, AuditEntry), StoreError> {
        self.place_hold_impl(id, hold, audit)
    }
    fn release_hold(
        &self,
        id: &RecordId,
        audit: crate::audit::AuditContext,
    ) -> Result<(Hold, AuditEntry), StoreError> {
        self.release_hold_impl(id, audit)
    }
    fn replace_subject_key(
        &self,
        subject: &SubjectId,
        expected: &[u8],
        new: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.replace_subject_key_impl(subject, expected, new)
    }
    fn append_audit(&self, draft: crate::audit::AuditDraft) -> Result<AuditEntry, StoreError> {
        self.append_audit_impl(draft)
    }
    fn put_signed_head(&self, head: &SignedHead) -> Result<(), StoreError> {
        self.put_signed_head_impl(head)
    }
    fn get_record(&self, id: &RecordId) -> Result<Option<StoredRecord>, StoreError> {
        self.get_record_impl(id)
    }
    fn find_series(&self, series_key: &[u8; 32]) -> Result<Option<RecordId>, StoreError> {
        self.find_series_impl(series_key)
    }
    fn subject_key(&self, subject: &SubjectId) -> Result<Option<Vec<u8>>, StoreError> {
        self.subject_key_impl(subject)
    }
    fn records_of_subject(&self, subject: &SubjectId) -> Result<Vec<RecordId>, StoreError> {
        self.records_of_subject_impl(subject)
    }
    fn due_by(
        &self,
        as_of: OffsetDateTime,
        after: Option<&RetentionEntry>,
        limit: usize,
    ) -> Result<Vec<RetentionEntry>, StoreError> {
        self.due_by_impl(as_of, after, limit)
    }
    fn count_due_by(&self, as_of: OffsetDateTime) -> Result<u64, StoreError> {
        self.count_due_by_impl(as_of)
    }
    fn hold(&self, id: &RecordId) -> Result<Option<Hold>, StoreError> {
        self.hold_impl(id)
    }
    fn holds(
        &self,
        after: Option<&RecordId>,
        limit: usize,
    ) -> Result<Vec<(RecordId, Hold)>, StoreError> {
        self.holds_impl(after, limit)
    }
    fn subject_keys(
        &self,
        after: Option<&SubjectId>,
        limit: usize,
    ) -> Result<Vec<(SubjectId, Vec<u8>)>, StoreError> {
        self.subject_keys_impl(after, limit)
    }
    fn audit_range(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_range_impl(from_seq, limit)
    }
    fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.audit_head_impl()
    }
    fn latest_signed_head(&self) -> Result<Option<SignedHead>, StoreError> {
        self.latest_signed_head_impl()
    }
    fn signed_heads(&self, after_seq: u64, limit: usize) -> Result<Vec<SignedHead>, StoreError> {
        self.signed_heads_impl(after_seq, limit)
    }
    fn counters(&self) -> Result<StoreCounters, StoreError> {
        self.counters_impl()
    }
    fn record_count(&self) -> Result<u64, StoreError> {
        self.counter(meta::RECORDS)
    }
    fn stats(&self) -> StoreStats {
        self.stats_impl()
    }
    fn flush_durable(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        self.flush_durable_impl()
    }
    fn flush_blocking(&self) -> Result<(), StoreError> {
        self.flush_blocking_impl()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that never flushes must not grow the deferred writes
    /// without bound, and every record it wrote stays readable.
    #[test]
    fn deferred_writes_are_applied_once_they_pass_the_bound() {
        use crate::audit::AuditContext;
        use crate::domain::{Actor, Role};
        use crate::policy::PolicyStamp;
        use crate::store::{RecordWrite, Store, SubjectKeyUse};

        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let mut ids = Vec::new();
        for n in 0u32..1500 {
            let mut series_key = [0u8; 32];
            series_key[..4].copy_from_slice(&n.to_be_bytes());
            let record = StoredRecord {
                id: RecordId::random(),
                policy: PolicyStamp {
                    id: "gdpr".into(),
                    version: "1".into(),
                    sha256: "00".repeat(32),
                },
                subject: SubjectId([(n % 7) as u8; 32]),
                ingested_at: now,
                updated_at: now,
                retain_until: now,
                fields: Default::default(),
            };
            let out = store
                .put_record(RecordWrite {
                    record,
                    series_key,
                    subject_key: SubjectKeyUse::Unused,
                    audit: AuditContext {
                        time: now,
                        actor: Actor {
                            sub: "bulk".into(),
                            role: Role::Ingest,
                        },
                        subject: None,
                        purpose: None,
                        detail: None,
                    },
                })
                .unwrap();
            ids.push(out.record.id);
            assert!(store.overlay.len() <= write::MAX_DEFERRED_KEYS + 20);
        }
        // ~9 keys a record: the bound was passed, so some were applied.
        assert!(store.overlay.len() < 1500 * 9);
        for id in &ids {
            assert!(store.get_record(id).unwrap().is_some());
        }
        assert_eq!(store.record_count().unwrap(), 1500);
    }

    #[test]
    fn a_format_1_database_is_refused_not_read_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let old_meta = db.open_tree("meta").unwrap();
            old_meta.insert(meta::FORMAT, &1u32.to_be_bytes()).unwrap();
            db.flush().unwrap();
        }
        // The raw handle just closed may hold the file lock a moment longer
        // while sled's threads wind down: wait that out (a hang guard).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let opened = loop {
            match SledStore::open(dir.path()) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other,
            }
        };
        match opened {
            Err(StoreError::UnsupportedFormat { found, expected }) => {
                assert_eq!((found, expected), (1, keys::FORMAT_VERSION));
            }
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        }
    }
}
