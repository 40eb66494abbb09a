//! Deferred writes: whole operations waiting to be applied to the tree
//! together.
//!
//! sled 0.34 makes each `Tree::apply_batch` atomic by rolling its I/O
//! buffer before and after the batch (`PageCache::pin_log`), so one batch
//! per record costs two buffer writes and a hand-off to sled's I/O threads,
//! several times the inserts themselves (BENCHMARKS.md, "Store write").
//! Ingest therefore leaves its writes here and the group commit applies
//! every waiting operation as one batch just before its flush.
//!
//! Guarantees:
//! - every operation's writes enter the overlay under one lock, and a drain
//!   applies everything it holds as one atomic batch, so an operation is
//!   applied (and, after the flush, durable) whole or not at all;
//! - operations are applied in the order they entered, so the audit chain
//!   never has a gap on disk;
//! - a point read sees the overlay first, then the tree; a scan drains the
//!   overlay first. A drain keeps the overlay locked until its batch is in
//!   the tree, so no read falls between the two.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use sled::IVec;

/// Full key (prefix byte included) → new value, `None` for a removal.
pub(super) type Writes = BTreeMap<Vec<u8>, Option<IVec>>;

/// `writes` as one sled batch (applied atomically).
pub(super) fn batch_of(writes: &Writes) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (k, v) in writes {
        match v {
            Some(v) => batch.insert(k.as_slice(), v.clone()),
            None => batch.remove(k.as_slice()),
        }
    }
    batch
}

/// The tree and the writes not yet applied to it.
pub(super) struct Overlay {
    tree: sled::Tree,
    pending: Mutex<Writes>,
}

impl Overlay {
    /// An empty overlay over `tree`.
    pub(super) fn new(tree: sled::Tree) -> Self {
        Self {
            tree,
            pending: Mutex::new(Writes::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Writes> {
        // Writes enter under one `extend`, and a drain replaces the map only
        // after its batch is applied: a panic elsewhere leaves it consistent.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of `key`: the newest deferred write if there is one, else
    /// the tree's.
    pub(super) fn get(&self, key: &[u8]) -> sled::Result<Option<IVec>> {
        if let Some(v) = self.lock().get(key) {
            return Ok(v.clone());
        }
        self.tree.get(key)
    }

    /// The keys starting with `prefix`, deferred writes included, in key
    /// order, without draining: the tree and the overlay are read under the
    /// overlay's lock, so no drain moves a write between the two readings.
    /// Meant for small key ranges (one subject's records).
    pub(super) fn keys_with_prefix(&self, prefix: &[u8]) -> sled::Result<Vec<Vec<u8>>> {
        let pending = self.lock();
        let mut keys = std::collections::BTreeSet::new();
        for item in self.tree.scan_prefix(prefix) {
            keys.insert(item?.0.to_vec());
        }
        for (k, v) in pending.range(prefix.to_vec()..) {
            if !k.starts_with(prefix) {
                break;
            }
            if v.is_some() {
                keys.insert(k.clone());
            } else {
                keys.remove(k);
            }
        }
        Ok(keys.into_iter().collect())
    }

    /// Adds one operation's writes, to be applied at the next drain.
    pub(super) fn defer(&self, writes: Writes) {
        if !writes.is_empty() {
            self.lock().extend(writes);
        }
    }

    /// Applies every deferred write as one atomic batch. On error the writes
    /// stay deferred (a later drain retries them) and nothing was applied.
    pub(super) fn drain(&self) -> sled::Result<()> {
        let mut pending = self.lock();
        if pending.is_empty() {
            return Ok(());
        }
        self.tree.apply_batch(batch_of(&pending))?;
        pending.clear();
        Ok(())
    }

    /// Whether writes are waiting.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// How many keys are waiting.
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The tree, for scans (the caller drains first).
    pub(super) fn tree(&self) -> &sled::Tree {
        &self.tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay() -> Overlay {
        let db = sled::Config::new().temporary(true).open().unwrap();
        Overlay::new(db.open_tree("t").unwrap())
    }

    fn writes(items: &[(&[u8], Option<&[u8]>)]) -> Writes {
        items
            .iter()
            .map(|(k, v)| (k.to_vec(), v.map(IVec::from)))
            .collect()
    }

    #[test]
    fn reads_see_deferred_writes_before_and_after_the_drain() {
        let o = overlay();
        o.tree().insert(b"a", b"old").unwrap();
        o.tree().insert(b"b", b"gone").unwrap();
        o.defer(writes(&[(b"a", Some(b"new")), (b"b", None)]));
        // Not in the tree yet, but every point read sees it.
        assert_eq!(o.tree().get(b"a").unwrap().unwrap().as_ref(), b"old");
        assert_eq!(o.get(b"a").unwrap().unwrap().as_ref(), b"new");
        assert_eq!(o.get(b"b").unwrap(), None);
        o.drain().unwrap();
        assert!(o.is_empty());
        assert_eq!(o.tree().get(b"a").unwrap().unwrap().as_ref(), b"new");
        assert_eq!(o.tree().get(b"b").unwrap(), None);
        assert_eq!(o.get(b"a").unwrap().unwrap().as_ref(), b"new");
    }

    #[test]
    fn prefix_keys_merge_deferred_writes_without_draining() {
        let o = overlay();
        for k in [&b"pa"[..], b"pb", b"pc", b"q1"] {
            o.tree().insert(k, b"").unwrap();
        }
        o.defer(writes(&[
            (b"pb", None),
            (b"pd", Some(b"")),
            (b"p", Some(b"")),
            (b"q2", Some(b"")),
        ]));
        let keys = o.keys_with_prefix(b"p").unwrap();
        assert_eq!(
            keys,
            vec![
                b"p".to_vec(),
                b"pa".to_vec(),
                b"pc".to_vec(),
                b"pd".to_vec()
            ]
        );
        assert!(!o.is_empty(), "a prefix read must not drain");
    }

    #[test]
    fn a_later_operation_overrides_an_earlier_one_on_the_same_key() {
        let o = overlay();
        o.defer(writes(&[(b"k", Some(b"1"))]));
        o.defer(writes(&[(b"k", Some(b"2")), (b"j", Some(b"x"))]));
        o.defer(writes(&[(b"j", None)]));
        o.drain().unwrap();
        assert_eq!(o.tree().get(b"k").unwrap().unwrap().as_ref(), b"2");
        assert_eq!(o.tree().get(b"j").unwrap(), None);
        // Draining an empty overlay is a no-op.
        o.drain().unwrap();
    }
}
