//! The audit log's signed chain heads and its full verification (SPEC §6).
//!
//! A chain head is signed by first appending a `chain_head_signed` entry and
//! then signing that entry's seq and hash with the audit key (Ed25519), so
//! the signature covers every entry up to and including the signing event.
//! The signed bytes are in docs/FORMAT.md, "Signed chain head".

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Vault, VaultError};
use crate::audit::{AuditAction, AuditContext, AuditEntry, AuditHead, ChainError, ChainVerifier};
use crate::crypto::{SIGNATURE_LEN, verify};
use crate::domain::Actor;
use crate::store::{SignedHead, StoreError};

/// Domain-separation label that starts the signed bytes of a chain head.
pub const HEAD_LABEL: &[u8] = b"phivault/audit-head/v1\n";

/// Audit entries read per page while verifying.
const VERIFY_PAGE: usize = 1000;

/// The most entries one audit page returns.
pub const AUDIT_PAGE_MAX: usize = 1000;

/// The exact bytes signed for the head at `seq` with `hash`:
/// `HEAD_LABEL ‖ u64_be(seq) ‖ hash` (23 + 8 + 32 = 63 bytes).
pub fn head_signing_bytes(seq: u64, hash: &[u8; 32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEAD_LABEL.len() + 8 + 32);
    bytes.extend_from_slice(HEAD_LABEL);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(hash);
    bytes
}

/// A signed chain head as documents show it (hex throughout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignedHeadView {
    /// The seq of the signed entry.
    pub seq: u64,
    /// Its hash, hex.
    pub hash: String,
    /// When it was signed.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub signed_at: OffsetDateTime,
    /// The signing key's id: the public key, hex.
    pub key_id: String,
    /// Ed25519 signature over [`head_signing_bytes`], hex (64 bytes).
    pub signature: String,
}

impl From<&SignedHead> for SignedHeadView {
    fn from(h: &SignedHead) -> Self {
        Self {
            seq: h.seq,
            hash: hex::encode(h.hash),
            signed_at: h.signed_at,
            key_id: h.key_id.clone(),
            signature: hex::encode(&h.signature),
        }
    }
}

/// The outcome of verifying the whole audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditVerification {
    /// Entries read.
    pub entries: u64,
    /// Signed heads whose signature was checked.
    pub signed_heads: u64,
    /// True exactly when every link, hash and signature holds and the log
    /// reaches every signed head and the recorded head.
    pub verified: bool,
    /// The first bad entry, when not verified.
    pub first_bad_seq: Option<u64>,
    /// Why it is bad, when not verified (no PHI: seqs and causes only).
    pub reason: Option<String>,
    /// The most recent signed head.
    pub signed_head: Option<SignedHeadView>,
}

/// One page of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries, in seq order.
    pub entries: Vec<AuditEntry>,
    /// The seq to ask for next, if more entries may follow.
    pub next: Option<u64>,
}

impl Vault {
    /// Appends a `chain_head_signed` entry, signs its seq and hash with the
    /// audit key, and stores the signed head; not flushed (the caller
    /// flushes before reporting it).
    pub(super) fn sign_head_unflushed(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<SignedHeadView, VaultError> {
        let key_id = hex::encode(self.audit_public_key());
        let entry = self.store.append_audit(
            AuditContext {
                time: now,
                actor: actor.clone(),
                subject: None,
                purpose: None,
                detail: Some(serde_json::json!({ "key_id": key_id })),
            }
            .into_draft(AuditAction::ChainHeadSigned, None),
        )?;
        let signature = self
            .keys()
            .audit_signer()
            .sign(&head_signing_bytes(entry.seq, &entry.hash));
        let head = SignedHead {
            seq: entry.seq,
            hash: entry.hash,
            signed_at: entry.time,
            key_id,
            signature: signature.to_vec(),
        };
        self.store.put_signed_head(&head)?;
        Ok(SignedHeadView::from(&head))
    }

    /// Signs the chain head now (SPEC §6 "on demand") and makes it durable.
    /// Blocking: call it off the async workers.
    pub fn sign_chain_head(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<SignedHeadView, VaultError> {
        let head = self.sign_head_unflushed(actor, now)?;
        self.flush_blocking()?;
        Ok(head)
    }

    /// Up to `limit` (at most [`AUDIT_PAGE_MAX`]) entries from seq `from`.
    pub fn audit_page(&self, from: u64, limit: usize) -> Result<AuditPage, VaultError> {
        let limit = limit.clamp(1, AUDIT_PAGE_MAX);
        let entries = self.store.audit_range(from.max(1), limit)?;
        let next = (entries.len() == limit)
            .then(|| entries.last().map(|e| e.seq.saturating_add(1)))
            .flatten();
        Ok(AuditPage { entries, next })
    }

    /// Verifies the whole audit log: every entry's seq, link and hash in
    /// order (docs/FORMAT.md "Verifying"), every signed head's Ed25519
    /// signature under this data directory's audit key, that the log passes
    /// through every signed head with the signed hash, and that it reaches
    /// the last signed head and the head the store recorded (truncation).
    /// Reads page by page; writes nothing.
    pub fn verify_audit(&self) -> Result<AuditVerification, VaultError> {
        let public_key = self.audit_public_key();
        let mut out = AuditVerification {
            entries: 0,
            signed_heads: 0,
            verified: false,
            first_bad_seq: None,
            reason: None,
            signed_head: None,
        };
        let mut verifier = ChainVerifier::new();
        let mut bad_signature: Option<u64> = None;
        let mut after = 0u64;
        loop {
            let heads = self.store.signed_heads(after, VERIFY_PAGE)?;
            let Some(last) = heads.last() else { break };
            after = last.seq;
            for head in &heads {
                out.signed_heads += 1;
                let signature: Option<[u8; SIGNATURE_LEN]> =
                    head.signature.as_slice().try_into().ok();
                let valid = signature.is_some_and(|sig| {
                    verify(&public_key, &head_signing_bytes(head.seq, &head.hash), &sig)
                });
                if !valid && bad_signature.is_none() {
                    bad_signature = Some(head.seq);
                }
                verifier.expect_head(AuditHead {
                    seq: head.seq,
                    hash: head.hash,
                });
                out.signed_head = Some(SignedHeadView::from(head));
            }
        }
        if let Some(seq) = bad_signature {
            out.first_bad_seq = Some(seq);
            out.reason = Some(format!(
                "the signed head at entry {seq} does not verify with the audit public key"
            ));
            return Ok(out);
        }
        if let Err(e) = self.walk_chain(&mut verifier, &mut out.entries)? {
            out.first_bad_seq = Some(e.first_bad_seq);
            out.reason = Some(e.reason.to_string());
            return Ok(out);
        }
        let reached = match verifier.finish() {
            Ok(head) => head,
            Err(e) => {
                out.first_bad_seq = Some(e.first_bad_seq);
                out.reason = Some(e.reason.to_string());
                return Ok(out);
            }
        };
        if let Some(recorded) = self.store.audit_head()? {
            let last = reached.map_or(0, |h| h.seq);
            if last < recorded.seq {
                out.first_bad_seq = Some(last + 1);
                out.reason = Some(format!(
                    "the log ends before entry {} (the last entry the store recorded)",
                    recorded.seq
                ));
                return Ok(out);
            }
            if reached.is_some_and(|h| h.seq == recorded.seq && h.hash != recorded.hash) {
                out.first_bad_seq = Some(recorded.seq);
                out.reason = Some("the last entry differs from the head the store recorded".into());
                return Ok(out);
            }
        }
        out.verified = true;
        Ok(out)
    }

    /// Feeds every stored entry to `verifier`, page by page; an entry that
    /// does not decode is a chain fault at its position.
    fn walk_chain(
        &self,
        verifier: &mut ChainVerifier,
        entries: &mut u64,
    ) -> Result<Result<(), ChainError>, VaultError> {
        let mut from = 1u64;
        loop {
            let page = match self.store.audit_range(from, VERIFY_PAGE) {
                Ok(page) => page,
                Err(StoreError::CorruptAuditEntry { seq }) => {
                    // Check the good entries before the damaged one first, so
                    // an earlier fault (a deleted entry) is named instead.
                    let mut at = from;
                    while at < seq {
                        match self.store.audit_range(at, 1) {
                            Ok(one) => {
                                let Some(entry) = one.first() else { break };
                                if entry.seq >= seq {
                                    break;
                                }
                                *entries += 1;
                                if let Err(e) = verifier.push(entry) {
                                    return Ok(Err(e));
                                }
                                at = entry.seq + 1;
                            }
                            Err(_) => break,
                        }
                    }
                    let expected = verifier.head().map_or(1, |h| h.seq + 1);
                    return Ok(Err(ChainError {
                        first_bad_seq: expected.min(seq),
                        reason: crate::audit::ChainFault::Undecodable,
                    }));
                }
                Err(e) => return Err(e.into()),
            };
            let Some(last) = page.last() else {
                return Ok(Ok(()));
            };
            from = last.seq.saturating_add(1);
            for entry in &page {
                *entries += 1;
                if let Err(e) = verifier.push(entry) {
                    return Ok(Err(e));
                }
            }
            if page.len() < VERIFY_PAGE {
                return Ok(Ok(()));
            }
        }
    }
}
