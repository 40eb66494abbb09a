//! The audit chain's status for the report (SPEC §6): every entry checked
//! in order, the latest signed head's signature checked with the audit
//! public key, and the chain required to pass through that head.
//!
//! [`audit_status`] is the one place this happens, so that it can be
//! replaced by the vault's own chain verification when that exists.

use crate::audit::{AuditHead, ChainError, ChainVerifier};
use crate::crypto::{SIGNATURE_LEN, verify};
use crate::report::model::{AuditStatus, SignedHead};
use crate::store::{self, StoreError};
use crate::vault::Vault;

/// Audit entries are read this many at a time.
const PAGE: usize = 1024;

/// Domain-separation label of a signed chain head.
/// The bytes an Ed25519 chain-head signature covers: the vault's
/// definition (docs/FORMAT.md, "Signed chain head"), so the report checks
/// exactly what the signer signs.
pub fn signed_head_message(seq: u64, hash: &[u8; 32]) -> Vec<u8> {
    crate::vault::head_signing_bytes(seq, hash)
}

/// Verifies the whole chain and the latest signed head.
///
/// Guarantee: `verified` is true exactly when `first_bad_seq` and `reason`
/// are null. A store failure while reading counts as a failure at the entry
/// that could not be read. Cost: O(audit entries), one page in memory.
pub(super) fn audit_status(vault: &Vault) -> AuditStatus {
    let store = vault.store();
    let public_key = vault.audit_public_key();
    let latest = match store.latest_signed_head() {
        Ok(head) => head,
        Err(e) => return failed(0, 1, None, format!("signed heads unreadable: {e}")),
    };
    let signed_head = latest.as_ref().map(|h| SignedHead {
        seq: h.seq,
        hash: hex::encode(h.hash),
        signature: hex::encode(&h.signature),
        public_key: hex::encode(public_key),
        signed_at: h.signed_at,
    });
    // The store's record of the last entry: what the chain should hold.
    let entries = match store.audit_head() {
        Ok(head) => head.map_or(0, |h| h.seq),
        Err(e) => return failed(0, 1, signed_head, format!("audit head unreadable: {e}")),
    };
    let mut verifier = ChainVerifier::new();
    if let Some(head) = &latest {
        if !head_signature_valid(head, &public_key) {
            return failed(
                entries,
                head.seq,
                signed_head,
                "the signed head's signature does not verify with the audit public key".into(),
            );
        }
        verifier.expect_head(AuditHead {
            seq: head.seq,
            hash: head.hash,
        });
    }
    let mut next = 1u64;
    loop {
        let page = match store.audit_range(next, PAGE) {
            Ok(page) => page,
            // One entry in this page does not decode: check those before it
            // one by one so the first bad entry is named exactly.
            Err(StoreError::CorruptAuditEntry { seq }) => {
                return match single_steps(vault, &mut verifier, next, seq) {
                    Ok(()) => failed(
                        entries,
                        seq,
                        signed_head,
                        "stored bytes are not a canonical audit entry".into(),
                    ),
                    Err(e) => chain_failed(entries, e, signed_head),
                };
            }
            Err(e) => {
                return failed(
                    entries,
                    next,
                    signed_head,
                    format!("audit log unreadable: {e}"),
                );
            }
        };
        let Some(last) = page.last() else { break };
        next = last.seq.saturating_add(1);
        let full = page.len() == PAGE;
        for entry in &page {
            if let Err(e) = verifier.push(entry) {
                return chain_failed(entries, e, signed_head);
            }
        }
        if !full {
            break;
        }
    }
    match verifier.finish() {
        Ok(_) => AuditStatus {
            entries,
            verified: true,
            first_bad_seq: None,
            reason: None,
            signed_head,
        },
        Err(e) => chain_failed(entries, e, signed_head),
    }
}

/// Checks the entries from `from` up to (not including) the undecodable
/// `bad`, one at a time, so an earlier fault is named first.
fn single_steps(
    vault: &Vault,
    verifier: &mut ChainVerifier,
    from: u64,
    bad: u64,
) -> Result<(), ChainError> {
    for seq in from..bad {
        if let Ok(entries) = vault.store().audit_range(seq, 1) {
            for entry in entries.iter().filter(|e| e.seq == seq) {
                verifier.push(entry)?;
            }
        }
    }
    Ok(())
}

/// Whether `head`'s signature is a valid Ed25519 signature of
/// [`signed_head_message`] under `public_key`.
fn head_signature_valid(head: &store::SignedHead, public_key: &[u8; 32]) -> bool {
    let Ok(signature) = <[u8; SIGNATURE_LEN]>::try_from(head.signature.as_slice()) else {
        return false;
    };
    verify(
        public_key,
        &signed_head_message(head.seq, &head.hash),
        &signature,
    )
}

fn chain_failed(entries: u64, e: ChainError, signed_head: Option<SignedHead>) -> AuditStatus {
    failed(entries, e.first_bad_seq, signed_head, e.reason.to_string())
}

fn failed(entries: u64, seq: u64, signed_head: Option<SignedHead>, reason: String) -> AuditStatus {
    AuditStatus {
        entries,
        verified: false,
        first_bad_seq: Some(seq),
        reason: Some(reason),
        signed_head,
    }
}
