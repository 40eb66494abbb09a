//! Erasure receipts (SPEC §3): a signed statement that a data subject was
//! erased, derivable from the `subject_erased` audit entry alone, so that a
//! report can show it again and an auditor can check it with the public key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::{AuditAction, AuditEntry};

/// Domain-separation label prefixed to the signed bytes.
pub const RECEIPT_LABEL: &[u8] = b"phivault/erasure-receipt/v1\n";

/// What an erasure did, without PHI. Signed as `RECEIPT_LABEL` followed by
/// this struct's compact JSON in field order (docs/FORMAT.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErasureReceipt {
    /// The subject's audit pseudonym (keyed by its now destroyed key: it can
    /// no longer be linked to the person).
    pub subject_pseudonym: String,
    /// Records deleted.
    pub records_removed: u64,
    /// Whether the subject's data key was destroyed (crypto-shredding).
    pub key_destroyed: bool,
    /// When, RFC 3339 UTC.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub erased_at: OffsetDateTime,
    /// The seq of the `subject_erased` audit entry.
    pub audit_seq: u64,
}

impl ErasureReceipt {
    /// The receipt of a `subject_erased` entry, or `None` for any other
    /// entry (or one without the store's detail).
    pub fn from_entry(entry: &AuditEntry) -> Option<Self> {
        if entry.action != AuditAction::SubjectErased {
            return None;
        }
        let detail = entry.detail.as_ref()?;
        Some(Self {
            subject_pseudonym: entry.subject.clone().unwrap_or_default(),
            records_removed: detail.get("records_removed")?.as_u64()?,
            key_destroyed: detail.get("key_destroyed")?.as_bool()?,
            erased_at: entry.time,
            audit_seq: entry.seq,
        })
    }

    /// The exact bytes signed.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = RECEIPT_LABEL.to_vec();
        // Serialising a struct of strings, integers and a bool cannot fail.
        bytes.extend(serde_json::to_vec(self).unwrap_or_default());
        bytes
    }
}

/// A receipt with its Ed25519 signature by the audit signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignedReceipt {
    /// The receipt.
    pub receipt: ErasureReceipt,
    /// Ed25519 signature over [`ErasureReceipt::signing_bytes`], hex.
    pub signature: String,
    /// The audit public key that verifies it, hex.
    pub public_key: String,
}

impl super::Vault {
    /// Signs a receipt with the audit signing key. Ed25519 is deterministic,
    /// so signing the same receipt again gives the same signature.
    pub fn sign_receipt(&self, receipt: ErasureReceipt) -> SignedReceipt {
        let keys = self.keys();
        let signer = keys.audit_signer();
        SignedReceipt {
            signature: hex::encode(signer.sign(&receipt.signing_bytes())),
            public_key: hex::encode(signer.public_key()),
            receipt,
        }
    }

    /// The audit public key (Ed25519, 32 bytes) that verifies chain heads
    /// and receipts.
    pub fn audit_public_key(&self) -> [u8; 32] {
        self.keys().audit_signer().public_key()
    }
}
