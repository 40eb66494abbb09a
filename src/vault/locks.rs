//! Striped async locks: one ingest per series (and per new subject) at a
//! time, without a lock per key.
//!
//! Why: a field's associated data binds the record id, so the id must be
//! known before sealing; it is looked up from the series index, and a second
//! ingest of the same new series must not pick another id meanwhile. One
//! process holds the database (sled), so in-process locks suffice.

use tokio::sync::{Mutex, MutexGuard};

/// Number of stripes: enough that unrelated series rarely wait on each other
/// at the concurrency an ingest node sees.
const STRIPES: usize = 256;

/// A fixed array of async mutexes selected by a key's first bytes.
pub(super) struct StripedLocks {
    stripes: Vec<Mutex<()>>,
}

impl StripedLocks {
    pub(super) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// The stripe index of a 32-byte key (a blind index: uniformly spread).
    pub(super) fn stripe_of(key: &[u8; 32]) -> usize {
        usize::from(u16::from_be_bytes([key[0], key[1]])) % STRIPES
    }

    /// Locks the stripe of `key`.
    pub(super) async fn lock(&self, key: &[u8; 32]) -> MutexGuard<'_, ()> {
        self.stripes[Self::stripe_of(key)].lock().await
    }
}
