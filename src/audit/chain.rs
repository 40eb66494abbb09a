//! Checking the hash chain: every entry's hash recomputed, every link to
//! the previous entry followed, every sequence number in its place.

use super::AuditEntry;

/// The `prev_hash` of the first entry (seq 1): 32 zero bytes.
pub const GENESIS_PREV_HASH: [u8; 32] = [0; 32];

/// The last entry of a chain: what a signed head commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuditHead {
    /// The last entry's sequence number.
    pub seq: u64,
    /// The last entry's hash.
    pub hash: [u8; 32],
}

/// Why the chain breaks at [`ChainError::first_bad_seq`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChainFault {
    /// Another entry stands where this seq was expected: the expected one was
    /// deleted, or entries were reordered or inserted.
    #[error("expected entry {expected}, found entry {found}")]
    UnexpectedSeq {
        /// The seq that should come next.
        expected: u64,
        /// The seq found instead.
        found: u64,
    },
    /// The entry's `prev_hash` is not the previous entry's hash: the previous
    /// entry was altered (and its own hash recomputed), or this link was.
    #[error("prev_hash does not match the previous entry's hash")]
    BrokenLink,
    /// The entry's content does not hash to its `hash`: it was altered.
    #[error("content does not match its hash")]
    HashMismatch,
    /// The entry's stored bytes are not a canonical audit entry.
    #[error("stored bytes are not a canonical audit entry")]
    Undecodable,
    /// The entry's hash differs from the hash a signed head gives for its
    /// seq: the log was rewritten from there on (and re-hashed).
    #[error("hash differs from the signed head for this entry")]
    SignedHeadMismatch,
    /// The entries end before the head a signature (or the caller) vouches
    /// for: the log was truncated.
    #[error("the log ends before entry {expected_last}")]
    Truncated {
        /// The last seq that should exist.
        expected_last: u64,
    },
}

/// The chain is broken; `first_bad_seq` is the first entry that fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at entry {first_bad_seq}: {reason}")]
pub struct ChainError {
    /// The first entry (by position) that fails.
    pub first_bad_seq: u64,
    /// Why.
    pub reason: ChainFault,
}

/// Checks a chain entry by entry, so a long log can be verified page by
/// page without holding it in memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: u64,
    prev_hash: [u8; 32],
    /// Heads the chain must pass through (signed heads), by seq.
    checkpoints: std::collections::BTreeMap<u64, [u8; 32]>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier expecting the first entry (seq 1, genesis `prev_hash`).
    pub fn new() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS_PREV_HASH,
            checkpoints: std::collections::BTreeMap::new(),
        }
    }

    /// A verifier that continues after a head already verified.
    pub fn after(head: AuditHead) -> Self {
        Self {
            next_seq: head.seq.saturating_add(1),
            prev_hash: head.hash,
            checkpoints: std::collections::BTreeMap::new(),
        }
    }

    /// Requires the chain to pass through `head` (a verified signed head):
    /// [`ChainVerifier::push`] fails at that seq if the hash differs, and
    /// [`ChainVerifier::finish`] fails if the chain ends before it.
    pub fn expect_head(&mut self, head: AuditHead) {
        self.checkpoints.insert(head.seq, head.hash);
    }

    /// Checks the next entry: its seq, its link and its hash.
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainError> {
        let fail = |reason| ChainError {
            first_bad_seq: self.next_seq,
            reason,
        };
        if entry.seq != self.next_seq {
            return Err(fail(ChainFault::UnexpectedSeq {
                expected: self.next_seq,
                found: entry.seq,
            }));
        }
        if entry.prev_hash != self.prev_hash {
            return Err(fail(ChainFault::BrokenLink));
        }
        match entry.computed_hash() {
            Ok(hash) if hash == entry.hash => {}
            Ok(_) => return Err(fail(ChainFault::HashMismatch)),
            Err(_) => return Err(fail(ChainFault::Undecodable)),
        }
        if self
            .checkpoints
            .get(&entry.seq)
            .is_some_and(|signed| *signed != entry.hash)
        {
            return Err(fail(ChainFault::SignedHeadMismatch));
        }
        self.next_seq = entry.seq.saturating_add(1);
        self.prev_hash = entry.hash;
        Ok(())
    }

    /// The head of what has been verified so far (`None` before any entry
    /// when starting from genesis).
    pub fn head(&self) -> Option<AuditHead> {
        let seq = self.next_seq.checked_sub(1)?;
        (seq > 0).then_some(AuditHead {
            seq,
            hash: self.prev_hash,
        })
    }

    /// Ends verification: fails if the chain stopped before a head given to
    /// [`ChainVerifier::expect_head`] (truncation at the end). Returns the
    /// head verified (`None` for an empty log from genesis).
    pub fn finish(self) -> Result<Option<AuditHead>, ChainError> {
        if let Some((&expected_last, _)) = self.checkpoints.range(self.next_seq..).next_back() {
            return Err(ChainError {
                first_bad_seq: self.next_seq,
                reason: ChainFault::Truncated { expected_last },
            });
        }
        Ok(self.head())
    }
}

/// Verifies a whole chain from genesis: every entry in place, linked and
/// unaltered. Returns the head (`None` for an empty log).
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
) -> Result<Option<AuditHead>, ChainError> {
    let mut verifier = ChainVerifier::new();
    for entry in entries {
        verifier.push(entry)?;
    }
    verifier.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditAction, AuditDraft};
    use crate::domain::{Actor, Role};
    use serde_json::json;

    fn draft(n: u64) -> AuditDraft {
        AuditDraft {
            time: time::macros::datetime!(2026-05-01 10:00:00 UTC)
                + time::Duration::seconds(n as i64),
            actor: Actor {
                sub: "alice".into(),
                role: Role::Admin,
            },
            action: AuditAction::RecordRead,
            record: None,
            subject: Some(format!("pseud-{n}")),
            purpose: Some("TREAT".into()),
            detail: Some(json!({"n": n})),
        }
    }

    fn chain(len: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_PREV_HASH;
        (1..=len)
            .map(|seq| {
                let e = AuditEntry::seal(draft(seq), seq, prev).unwrap();
                prev = e.hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_reports_its_head() {
        let entries = chain(5);
        let head = verify_chain(&entries).unwrap().unwrap();
        assert_eq!(head, entries[4].head());
        assert_eq!(verify_chain(&[]).unwrap(), None);
    }

    #[test]
    fn an_altered_entry_is_found() {
        let mut entries = chain(5);
        entries[2].detail = Some(json!({"n": 99}));
        let err = verify_chain(&entries).unwrap_err();
        assert_eq!(err.first_bad_seq, 3);
        assert_eq!(err.reason, ChainFault::HashMismatch);
    }

    #[test]
    fn an_altered_and_rehashed_entry_breaks_the_next_link() {
        let mut entries = chain(5);
        entries[2].purpose = Some("HRESCH".into());
        entries[2].hash = entries[2].computed_hash().unwrap();
        let err = verify_chain(&entries).unwrap_err();
        assert_eq!(err.first_bad_seq, 4);
        assert_eq!(err.reason, ChainFault::BrokenLink);
    }

    #[test]
    fn a_deleted_entry_is_found_at_its_seq() {
        let mut entries = chain(5);
        entries.remove(1);
        let err = verify_chain(&entries).unwrap_err();
        assert_eq!(err.first_bad_seq, 2);
        assert_eq!(
            err.reason,
            ChainFault::UnexpectedSeq {
                expected: 2,
                found: 3
            }
        );
    }

    #[test]
    fn reordered_entries_are_found() {
        let mut entries = chain(5);
        entries.swap(1, 2);
        let err = verify_chain(&entries).unwrap_err();
        assert_eq!(err.first_bad_seq, 2);
    }

    #[test]
    fn truncation_is_found_against_a_signed_head() {
        let entries = chain(5);
        let mut v = ChainVerifier::new();
        v.expect_head(entries[4].head());
        for e in &entries[..3] {
            v.push(e).unwrap();
        }
        let err = v.clone().finish().unwrap_err();
        assert_eq!(err.first_bad_seq, 4);
        assert_eq!(err.reason, ChainFault::Truncated { expected_last: 5 });
        for e in &entries[3..] {
            v.push(e).unwrap();
        }
        assert_eq!(v.finish().unwrap(), Some(entries[4].head()));
    }

    #[test]
    fn a_rewritten_tail_is_found_at_the_signed_head() {
        // An attacker rewrites entry 3 onwards with a consistent new chain:
        // every link holds, but entry 3 no longer has the signed hash.
        let entries = chain(5);
        let signed = entries[2].head();
        let mut forged = entries[..2].to_vec();
        let mut prev = entries[1].hash;
        for seq in 3..=5 {
            let mut d = draft(seq);
            d.purpose = Some("HRESCH".into());
            let e = AuditEntry::seal(d, seq, prev).unwrap();
            prev = e.hash;
            forged.push(e);
        }
        verify_chain(&forged).unwrap();
        let mut v = ChainVerifier::new();
        v.expect_head(signed);
        let err = forged.iter().try_for_each(|e| v.push(e)).unwrap_err();
        assert_eq!(err.first_bad_seq, 3);
        assert_eq!(err.reason, ChainFault::SignedHeadMismatch);
    }

    #[test]
    fn verification_resumes_after_a_head() {
        let entries = chain(6);
        let mut v = ChainVerifier::after(entries[2].head());
        for e in &entries[3..] {
            v.push(e).unwrap();
        }
        assert_eq!(v.head(), Some(entries[5].head()));
    }

    #[test]
    fn the_hash_follows_the_documented_encoding() {
        // Recompute with no product code beyond parsing: SHA-256 over
        // prev_hash || the canonical JSON of the entry without "hash".
        let e = &chain(1)[0];
        let body = format!(
            concat!(
                r#"{{"action":"record_read","actor":{{"role":"admin","sub":"alice"}},"#,
                r#""detail":{{"n":1}},"prev_hash":"{}","purpose":"TREAT","seq":1,"#,
                r#""subject":"pseud-1","time":"2026-05-01T10:00:01Z"}}"#
            ),
            "0".repeat(64)
        );
        assert_eq!(e.canonical_body().unwrap(), body.as_bytes());
        let mut input = vec![0u8; 32];
        input.extend_from_slice(body.as_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        assert_eq!(digest.as_ref(), e.hash);
        // The value docs/FORMAT.md gives, computed independently (Python
        // hashlib) from the bytes above.
        assert_eq!(
            hex::encode(e.hash),
            "174d1e60e7dedf3f6bbacf056246016379fd5b8b0baf8f773a9007ffade06085"
        );
    }

    #[test]
    fn stored_bytes_round_trip_and_refuse_other_spellings() {
        let e = &chain(1)[0];
        let bytes = e.to_stored_bytes().unwrap();
        assert_eq!(&AuditEntry::from_stored_bytes(&bytes).unwrap(), e);
        let text = String::from_utf8(bytes).unwrap();
        let upper = text.replace(&hex::encode(e.hash), &hex::encode_upper(e.hash));
        assert!(AuditEntry::from_stored_bytes(upper.as_bytes()).is_err());
        let spaced = text.replacen(',', ", ", 1);
        assert!(AuditEntry::from_stored_bytes(spaced.as_bytes()).is_err());
    }

    #[test]
    fn seal_refuses_bad_detail_and_normalises_time() {
        let mut d = draft(1);
        d.detail = Some(json!([1]));
        assert_eq!(
            AuditEntry::seal(d, 1, GENESIS_PREV_HASH).unwrap_err(),
            crate::audit::AuditError::DetailNotObject
        );
        let mut d = draft(1);
        d.detail = Some(json!({"ratio": 0.5}));
        assert!(AuditEntry::seal(d, 1, GENESIS_PREV_HASH).is_err());
        let mut d = draft(1);
        d.time = d.time.to_offset(time::macros::offset!(+2));
        d.detail = Some(serde_json::Value::Null);
        let e = AuditEntry::seal(d, 1, GENESIS_PREV_HASH).unwrap();
        assert_eq!(e.time.offset(), time::UtcOffset::UTC);
        assert_eq!(e.detail, None);
    }
}
