//! A small durable outbox: series records waiting to be forwarded.
//!
//! Layout of the outbox directory (mode 0700; every file 0600, because the
//! records are PHI waiting to be sent, in plaintext):
//!
//! ```text
//! outbox/
//!   00000000000000000042.json        pending: {"format", "key", "record"}
//!   .tmp-00000000000000000043.json   a write in progress (removed on open)
//!   rejected/
//!     00000000000000000017.json          refused for good by the server
//!     00000000000000000017.problem.json  {"status", "problem"}: its answer
//! ```
//!
//! Guarantees: [`Outbox::enqueue`] returns only once the entry is durable
//! (written to a temporary file, fsynced, renamed into place, directory
//! fsynced), so a crash or power loss right after it loses nothing; an entry
//! leaves the pending set only through [`Outbox::acknowledge`] (the server
//! stored it), [`Outbox::reject`] (moved, with the server's answer, to
//! `rejected/`) or as superseded by a newer entry for the same key. Entries
//! are delivered oldest first; on open, every pending entry is found again.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Envelope format written in every entry.
const FORMAT: &str = "phivault-outbox-1";
const TMP_PREFIX: &str = ".tmp-";
const REJECTED: &str = "rejected";

/// Failures of the outbox's own storage. Carries paths, never record values.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// A file or directory operation failed.
    #[error("outbox I/O failed on {path}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The directory exists and other users may read or enter it; the
    /// outbox holds PHI, so it is not used until it is made private.
    #[error(
        "{path} is accessible to other users; make it private (chmod 700) or choose another outbox"
    )]
    NotPrivate {
        /// The directory.
        path: PathBuf,
    },
    /// A record could not be serialised (it is not valid JSON data).
    #[error("an outbox entry cannot be encoded")]
    Encode(#[source] serde_json::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Identifies a pending entry; later entries have larger ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(u64);

impl EntryId {
    fn file_name(self) -> String {
        format!("{:020}.json", self.0)
    }

    fn parse(name: &str) -> Option<Self> {
        let digits = name.strip_suffix(".json")?;
        (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok().map(Self))
            .flatten()
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    key: String,
    record: Value,
}

/// The oldest pending entry, read back from disk.
#[derive(Clone)]
pub struct PendingEntry {
    /// Its id.
    pub id: EntryId,
    /// The key it was enqueued under (the SeriesInstanceUID: PHI).
    pub key: String,
    /// The record to send.
    pub record: Value,
    /// A newer pending entry has the same key: this one need not be sent.
    pub superseded: bool,
}

impl std::fmt::Debug for PendingEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingEntry")
            .field("id", &self.id)
            .field("superseded", &self.superseded)
            .finish_non_exhaustive()
    }
}

struct Index {
    pending: BTreeMap<EntryId, String>,
    next: u64,
}

/// The outbox. Shared between the thread that enqueues and the delivery
/// loop; every method is safe to call concurrently.
pub struct Outbox {
    dir: PathBuf,
    rejected: PathBuf,
    index: Mutex<Index>,
    work: tokio::sync::Notify,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("dir", &self.dir)
            .field("pending", &self.pending_count())
            .finish()
    }
}

/// Creates `dir` (and missing parents) with mode 0700; an existing `dir`
/// must already be closed to group and others (it is never chmod-ed: a
/// mistaken `--outbox /tmp` must not change a shared directory).
fn private_dir(dir: &Path) -> Result<(), OutboxError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    let mode = fs::metadata(dir).map_err(io(dir))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(OutboxError::NotPrivate {
            path: dir.to_owned(),
        });
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), OutboxError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Writes `bytes` to `dir/name` atomically and durably, mode 0600.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), OutboxError> {
    let tmp = dir.join(format!("{TMP_PREFIX}{name}"));
    let path = dir.join(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_dir(dir)
}

impl Outbox {
    /// Opens (creating if needed) the outbox in `dir`, removes the
    /// temporary files of interrupted writes, and indexes every pending
    /// entry.
    pub fn open(dir: &Path) -> Result<Self, OutboxError> {
        private_dir(dir)?;
        let rejected = dir.join(REJECTED);
        private_dir(&rejected)?;
        let mut pending = BTreeMap::new();
        let mut unreadable = Vec::new();
        let mut next = 0;
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) {
                // Never renamed into place: its enqueue did not return.
                fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
                continue;
            }
            let Some(id) = EntryId::parse(name) else {
                continue;
            };
            next = next.max(id.0 + 1);
            match read_envelope(&entry.path()) {
                Some(envelope) => {
                    pending.insert(id, envelope.key);
                }
                None => unreadable.push(id),
            }
        }
        // Rejected ids count too, so that a new entry never reuses one.
        for entry in fs::read_dir(&rejected).map_err(io(&rejected))? {
            let entry = entry.map_err(io(&rejected))?;
            if let Some(id) = entry.file_name().to_str().and_then(EntryId::parse) {
                next = next.max(id.0 + 1);
            }
        }
        let outbox = Self {
            dir: dir.to_owned(),
            rejected,
            index: Mutex::new(Index { pending, next }),
            work: tokio::sync::Notify::new(),
        };
        for id in unreadable {
            outbox.set_aside(id, 0, &unreadable_problem())?;
        }
        if outbox.pending_count() > 0 {
            outbox.work.notify_one();
        }
        Ok(outbox)
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        // The index is updated only after the file operation succeeded, in
        // one step, so a poisoned lock still holds a consistent index.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The outbox directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of rejected entries.
    pub fn rejected_dir(&self) -> &Path {
        &self.rejected
    }

    /// Stores `record` under `key` (the SeriesInstanceUID); durable when
    /// this returns `Ok`. A newer entry for a key supersedes older ones.
    pub fn enqueue(&self, key: &str, record: &Value) -> Result<EntryId, OutboxError> {
        let envelope = Envelope {
            format: FORMAT.to_owned(),
            key: key.to_owned(),
            record: record.clone(),
        };
        let bytes = serde_json::to_vec(&envelope).map_err(OutboxError::Encode)?;
        // Hold the lock across the write so that ids reach the disk in order.
        let mut index = self.lock();
        let id = EntryId(index.next);
        write_durably(&self.dir, &id.file_name(), &bytes)?;
        index.next += 1;
        index.pending.insert(id, key.to_owned());
        drop(index);
        self.work.notify_one();
        Ok(id)
    }

    /// Entries waiting to be delivered.
    pub fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }

    /// Entries set aside in `rejected/`.
    pub fn rejected_count(&self) -> Result<usize, OutboxError> {
        let mut n = 0;
        for entry in fs::read_dir(&self.rejected).map_err(io(&self.rejected))? {
            let entry = entry.map_err(io(&self.rejected))?;
            if entry
                .file_name()
                .to_str()
                .and_then(EntryId::parse)
                .is_some()
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The oldest pending entry, read from disk. An entry that cannot be
    /// read back is set aside in `rejected/` and the next one is tried.
    pub fn oldest(&self) -> Result<Option<PendingEntry>, OutboxError> {
        loop {
            let (id, key, superseded) = {
                let index = self.lock();
                let Some((&id, key)) = index.pending.iter().next() else {
                    return Ok(None);
                };
                let superseded = index
                    .pending
                    .range(id..)
                    .skip(1)
                    .any(|(_, other)| other == key);
                (id, key.clone(), superseded)
            };
            match read_envelope(&self.dir.join(id.file_name())) {
                Some(envelope) => {
                    return Ok(Some(PendingEntry {
                        id,
                        key,
                        record: envelope.record,
                        superseded,
                    }));
                }
                None => self.set_aside(id, 0, &unreadable_problem())?,
            }
        }
    }

    /// Removes a delivered (or superseded) entry. Durable when it returns.
    pub fn acknowledge(&self, id: EntryId) -> Result<(), OutboxError> {
        let path = self.dir.join(id.file_name());
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        sync_dir(&self.dir)?;
        self.lock().pending.remove(&id);
        Ok(())
    }

    /// Moves a permanently refused entry to `rejected/`, beside the
    /// server's answer (`status`, problem document). Durable when it returns.
    pub fn reject(&self, id: EntryId, status: u16, problem: &Value) -> Result<(), OutboxError> {
        self.set_aside(id, status, problem)
    }

    fn set_aside(&self, id: EntryId, status: u16, problem: &Value) -> Result<(), OutboxError> {
        let answer = serde_json::json!({ "status": status, "problem": problem });
        let bytes = serde_json::to_vec_pretty(&answer).map_err(OutboxError::Encode)?;
        let name = id.file_name();
        let problem_name = name.replace(".json", ".problem.json");
        write_durably(&self.rejected, &problem_name, &bytes)?;
        let to = self.rejected.join(&name);
        fs::rename(self.dir.join(&name), &to).map_err(io(&to))?;
        sync_dir(&self.rejected)?;
        sync_dir(&self.dir)?;
        self.lock().pending.remove(&id);
        Ok(())
    }

    /// Waits until an entry may be pending (an enqueue since the last wait,
    /// or entries found on open).
    pub async fn work_available(&self) {
        self.work.notified().await;
    }
}

fn read_envelope(path: &Path) -> Option<Envelope> {
    let bytes = fs::read(path).ok()?;
    let envelope: Envelope = serde_json::from_slice(&bytes).ok()?;
    (envelope.format == FORMAT).then_some(envelope)
}

fn unreadable_problem() -> Value {
    serde_json::json!({
        "title": "unreadable outbox entry",
        "detail": "the entry could not be read back from the outbox; it was set aside unsent"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_round_trip_and_refuse_other_names() {
        let id = EntryId(42);
        assert_eq!(EntryId::parse(&id.file_name()), Some(id));
        assert_eq!(EntryId::parse("42.json"), None);
        assert_eq!(EntryId::parse(".tmp-00000000000000000042.json"), None);
        assert_eq!(EntryId::parse("00000000000000000042.problem.json"), None);
    }

    #[test]
    fn files_are_private_and_newer_entries_supersede() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("outbox");
        let outbox = Outbox::open(&dir).unwrap();
        let a = outbox.enqueue("S1", &serde_json::json!({"n": 1})).unwrap();
        outbox.enqueue("S1", &serde_json::json!({"n": 2})).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(REJECTED)), 0o700);
        assert_eq!(mode(&dir.join(a.file_name())), 0o600);
        let first = outbox.oldest().unwrap().unwrap();
        assert_eq!(first.id, a);
        assert!(first.superseded);
        outbox.acknowledge(a).unwrap();
        let second = outbox.oldest().unwrap().unwrap();
        assert!(!second.superseded);
        assert_eq!(second.record["n"], 2);
    }

    #[test]
    fn a_directory_open_to_others_is_refused_not_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            Outbox::open(&shared),
            Err(OutboxError::NotPrivate { .. })
        ));
        assert_eq!(
            fs::metadata(&shared).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    #[test]
    fn leftovers_of_an_interrupted_write_are_removed_and_garbage_set_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("outbox");
        fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        fs::write(dir.join(".tmp-00000000000000000003.json"), b"{partial").unwrap();
        fs::write(dir.join("00000000000000000001.json"), b"not json").unwrap();
        let outbox = Outbox::open(&dir).unwrap();
        assert!(!dir.join(".tmp-00000000000000000003.json").exists());
        assert_eq!(outbox.pending_count(), 0);
        assert_eq!(outbox.rejected_count().unwrap(), 1);
        // New ids continue after every id seen.
        let id = outbox.enqueue("S", &Value::Null).unwrap();
        assert_eq!(id, EntryId(2));
    }
}
