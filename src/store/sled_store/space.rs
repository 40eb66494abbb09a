//! Key spaces: the logical tables of the store, each a one-byte key prefix
//! inside the single sled tree `phivault` (docs/FORMAT.md, "Key spaces").
//!
//! One tree instead of one per table lets every write be one
//! `Tree::apply_batch`, which sled applies atomically (also across a
//! crash), instead of a multi-tree transaction, which costs several times
//! more and whose conflict detection the store's write lock makes useless.

use std::ops::Bound;
use std::sync::Arc;

use sled::IVec;

use super::overlay::Overlay;

/// A key space: the tree (seen through its deferred writes) and the prefix
/// byte of one logical table.
#[derive(Clone)]
pub(super) struct Space {
    overlay: Arc<Overlay>,
    prefix: u8,
}

/// The prefix bytes (distinct; their order is the order of the spaces in
/// the tree, which nothing depends on).
pub(super) mod prefix {
    pub const META: u8 = b'm';
    pub const RECORDS: u8 = b'r';
    pub const SERIES_INDEX: u8 = b's';
    pub const RECORD_SERIES: u8 = b'S';
    pub const SUBJECT_INDEX: u8 = b'i';
    pub const SUBJECT_KEYS: u8 = b'k';
    pub const RETENTION_QUEUE: u8 = b'q';
    pub const HOLDS: u8 = b'h';
    pub const AUDIT: u8 = b'a';
    pub const AUDIT_HEADS: u8 = b'H';
}

/// `prefix ++ key`.
pub(super) fn full_key(prefix: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + key.len());
    out.push(prefix);
    out.extend_from_slice(key);
    out
}

/// Only the keys of an iterator of entries.
pub(super) fn keys(
    items: impl DoubleEndedIterator<Item = Item>,
) -> impl DoubleEndedIterator<Item = sled::Result<IVec>> {
    items.map(|item| item.map(|(k, _)| k))
}

/// Only the values of an iterator of entries.
pub(super) fn values(
    items: impl DoubleEndedIterator<Item = Item>,
) -> impl DoubleEndedIterator<Item = sled::Result<IVec>> {
    items.map(|item| item.map(|(_, v)| v))
}

/// The key without its prefix byte (every key read from a space has one).
fn strip(key: IVec) -> IVec {
    if key.is_empty() {
        key
    } else {
        key.subslice(1, key.len() - 1)
    }
}

type Item = sled::Result<(IVec, IVec)>;

impl Space {
    pub(super) fn new(overlay: &Arc<Overlay>, prefix: u8) -> Self {
        Self {
            overlay: Arc::clone(overlay),
            prefix,
        }
    }

    /// The value at `key`, deferred writes included.
    pub(super) fn get(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        self.overlay.get(&full_key(self.prefix, key.as_ref()))
    }

    /// Whether `key` has a value, deferred writes included.
    pub(super) fn contains_key(&self, key: impl AsRef<[u8]>) -> sled::Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// Stores one value on its own (a single-key write is atomic in sled),
    /// after every deferred write (so writes reach the tree in order).
    pub(super) fn insert(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<IVec>,
    ) -> sled::Result<Option<IVec>> {
        self.overlay.drain()?;
        self.overlay
            .tree()
            .insert(full_key(self.prefix, key.as_ref()), value)
    }

    /// Compare-and-swap of one value, after every deferred write.
    pub(super) fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        old: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> sled::Result<Result<(), sled::CompareAndSwapError>> {
        self.overlay.drain()?;
        self.overlay
            .tree()
            .compare_and_swap(full_key(self.prefix, key.as_ref()), old, new)
    }

    /// The keys starting with `key_prefix` (without the space's prefix
    /// byte), deferred writes included, without draining them.
    pub(super) fn keys_with_prefix(&self, key_prefix: &[u8]) -> sled::Result<Vec<IVec>> {
        Ok(self
            .overlay
            .keys_with_prefix(&full_key(self.prefix, key_prefix))?
            .into_iter()
            .map(|k| strip(IVec::from(k)))
            .collect())
    }

    /// Applies deferred writes so that a scan sees them; a failure becomes
    /// the scan's first item.
    fn drain_for_scan(&self) -> Option<Item> {
        self.overlay.drain().err().map(Err)
    }

    /// Entries whose key starts with `key_prefix`, in key order, keys
    /// without the space's prefix byte.
    pub(super) fn scan_prefix(
        &self,
        key_prefix: &[u8],
    ) -> impl DoubleEndedIterator<Item = Item> + use<> {
        let failed = self.drain_for_scan();
        failed.into_iter().chain(
            self.overlay
                .tree()
                .scan_prefix(full_key(self.prefix, key_prefix))
                .map(|item| item.map(|(k, v)| (strip(k), v))),
        )
    }

    /// Entries with keys within `(lower, upper)` (keys of this space,
    /// without the prefix byte), in key order.
    pub(super) fn range(
        &self,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
    ) -> impl DoubleEndedIterator<Item = Item> + use<> {
        let lower = match lower {
            Bound::Included(k) => Bound::Included(full_key(self.prefix, &k)),
            Bound::Excluded(k) => Bound::Excluded(full_key(self.prefix, &k)),
            Bound::Unbounded => Bound::Included(vec![self.prefix]),
        };
        let upper = match upper {
            Bound::Included(k) => Bound::Included(full_key(self.prefix, &k)),
            Bound::Excluded(k) => Bound::Excluded(full_key(self.prefix, &k)),
            // Every key of the space is below the next prefix byte (prefixes
            // are ASCII letters, never 0xff).
            Bound::Unbounded => Bound::Excluded(vec![self.prefix.wrapping_add(1)]),
        };
        let failed = self.drain_for_scan();
        failed.into_iter().chain(
            self.overlay
                .tree()
                .range((lower, upper))
                .map(|item| item.map(|(k, v)| (strip(k), v))),
        )
    }

    /// The entry with the greatest key.
    pub(super) fn last(&self) -> sled::Result<Option<(IVec, IVec)>> {
        self.overlay.drain()?;
        self.range(Bound::Unbounded, Bound::Unbounded)
            .next_back()
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_do_not_see_each_other() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let overlay = Arc::new(Overlay::new(db.open_tree("t").unwrap()));
        let a = Space::new(&overlay, b'a');
        let b = Space::new(&overlay, b'b');
        a.insert([1u8], &[10u8][..]).unwrap();
        a.insert([2u8], &[20u8][..]).unwrap();
        b.insert([1u8], &[30u8][..]).unwrap();
        assert_eq!(b.get([1u8]).unwrap().unwrap().as_ref(), &[30]);
        let all: Vec<_> = a
            .range(Bound::Unbounded, Bound::Unbounded)
            .map(|i| i.unwrap().0.to_vec())
            .collect();
        assert_eq!(all, vec![vec![1u8], vec![2u8]]);
        assert_eq!(a.last().unwrap().unwrap().0.as_ref(), &[2]);
        assert_eq!(b.last().unwrap().unwrap().0.as_ref(), &[1]);
        assert_eq!(a.scan_prefix(&[2u8]).count(), 1);
        let after_1: Vec<_> = a
            .range(Bound::Excluded(vec![1]), Bound::Unbounded)
            .map(|i| i.unwrap().1.to_vec())
            .collect();
        assert_eq!(after_1, vec![vec![20u8]]);
    }
}
