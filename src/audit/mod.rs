//! The audit log's entries and their SHA-256 hash chain (SPEC §6).
//!
//! An entry names the actor, the action, the record id or subject pseudonym,
//! the time, and never PHI. Each entry carries the hash of the previous one,
//! so altering, deleting or reordering an entry breaks the chain at that
//! entry; truncation at the end is caught by signed chain heads (stored by
//! `store`, signed by `crypto`). The encoding is in docs/FORMAT.md, "Audit
//! entry".

mod canonical;
mod chain;

pub use canonical::{CanonicalError, MAX_SAFE_INTEGER};
pub use chain::{
    AuditHead, ChainError, ChainFault, ChainVerifier, GENESIS_PREV_HASH, verify_chain,
};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::domain::Actor;
use crate::store::RecordId;

/// What happened (SPEC §6). Serialised in snake case, e.g. `record_created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A new series was stored.
    RecordCreated,
    /// A resubmitted series replaced its record (same id).
    RecordReplaced,
    /// A record was read, decrypted (with the purpose of use).
    RecordRead,
    /// A legal hold was placed on a record.
    HoldPlaced,
    /// A legal hold was released.
    HoldReleased,
    /// A record was deleted because its retention ended.
    RecordPurged,
    /// A purge ran (one entry per run, with counts in `detail`).
    PurgeRun,
    /// A subject's records were returned (GDPR Art. 15).
    SubjectAccessed,
    /// A subject was erased: records deleted, key shredded (GDPR Art. 17).
    SubjectErased,
    /// A new master key version became current and the DEKs were re-wrapped.
    KeysRotated,
    /// The compliance report was produced.
    ReportProduced,
    /// The audit log was read.
    AuditRead,
    /// A request was refused (authentication, role, purpose, hold).
    AccessDenied,
    /// The chain head was signed.
    ChainHeadSigned,
}

impl AuditAction {
    /// The name used in entries and documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecordCreated => "record_created",
            Self::RecordReplaced => "record_replaced",
            Self::RecordRead => "record_read",
            Self::HoldPlaced => "hold_placed",
            Self::HoldReleased => "hold_released",
            Self::RecordPurged => "record_purged",
            Self::PurgeRun => "purge_run",
            Self::SubjectAccessed => "subject_accessed",
            Self::SubjectErased => "subject_erased",
            Self::KeysRotated => "keys_rotated",
            Self::ReportProduced => "report_produced",
            Self::AuditRead => "audit_read",
            Self::AccessDenied => "access_denied",
            Self::ChainHeadSigned => "chain_head_signed",
        }
    }
}

/// Who did it, when, about whom and why: the part of an entry that the
/// caller knows before the store has decided the outcome. Store operations
/// that decide the action themselves (a put is a create or a replace) take
/// this and fill in `action` and `record`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditContext {
    /// When it happened (stored in UTC).
    pub time: OffsetDateTime,
    /// Who did it.
    pub actor: Actor,
    /// The subject's per-subject pseudonym (computed by `crypto`), never PHI
    /// and never the blind index.
    pub subject: Option<String>,
    /// The HL7 v3 PurposeOfUse code the request stated, if any.
    pub purpose: Option<String>,
    /// Counts, reasons and other non-PHI facts: a JSON object whose numbers
    /// are integers below 2^53 in magnitude.
    pub detail: Option<serde_json::Value>,
}

impl AuditContext {
    /// The draft of an entry with this context.
    pub fn into_draft(self, action: AuditAction, record: Option<RecordId>) -> AuditDraft {
        AuditDraft {
            time: self.time,
            actor: self.actor,
            action,
            record,
            subject: self.subject,
            purpose: self.purpose,
            detail: self.detail,
        }
    }
}

/// An audit entry before the store gives it its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditDraft {
    /// When it happened (stored in UTC).
    pub time: OffsetDateTime,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub action: AuditAction,
    /// The record concerned, if one.
    pub record: Option<RecordId>,
    /// The subject's per-subject pseudonym, never PHI.
    pub subject: Option<String>,
    /// The HL7 v3 PurposeOfUse code, if any.
    pub purpose: Option<String>,
    /// Non-PHI facts: a JSON object of integers, strings, booleans, arrays.
    pub detail: Option<serde_json::Value>,
}

impl AuditDraft {
    /// Adds one member to `detail` (creating the object if absent).
    ///
    /// Used by the store to record what it decided inside a transaction
    /// (records removed, key destroyed). A non-object detail is refused by
    /// [`AuditEntry::seal`], so it is left as is here.
    pub fn add_detail(&mut self, name: &str, value: serde_json::Value) {
        match &mut self.detail {
            Some(serde_json::Value::Object(map)) => {
                map.insert(name.to_owned(), value);
            }
            None | Some(serde_json::Value::Null) => {
                let mut map = serde_json::Map::new();
                map.insert(name.to_owned(), value);
                self.detail = Some(serde_json::Value::Object(map));
            }
            Some(_) => {}
        }
    }

    /// Checks what [`AuditEntry::seal`] will check, so a store can refuse a
    /// bad draft before it starts a transaction.
    pub fn check(&self) -> Result<(), AuditError> {
        match &self.detail {
            None | Some(serde_json::Value::Null) => Ok(()),
            Some(v @ serde_json::Value::Object(_)) => {
                canonical::check(v).map_err(AuditError::Canonical)
            }
            Some(_) => Err(AuditError::DetailNotObject),
        }
    }
}

/// One entry of the audit log, in its place in the hash chain.
///
/// Guarantee (for entries made by [`AuditEntry::seal`]): `hash` is
/// `SHA-256(prev_hash || canonical(entry without "hash"))` (docs/FORMAT.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// Position in the log: 1 for the first entry, then consecutive.
    pub seq: u64,
    /// The previous entry's `hash` (32 zero bytes for seq 1), hex.
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// This entry's hash, hex.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    /// When it happened, RFC 3339 in UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub action: AuditAction,
    /// The record concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordId>,
    /// The subject's pseudonym.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The HL7 v3 PurposeOfUse code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Non-PHI facts (a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// An entry cannot be made or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// `detail` was present but not a JSON object.
    #[error("audit detail must be a JSON object")]
    DetailNotObject,
    /// A value cannot be encoded canonically.
    #[error(transparent)]
    Canonical(CanonicalError),
    /// The entry could not be turned into JSON (a time outside RFC 3339's
    /// years 0000–9999).
    #[error("audit entry not encodable as JSON")]
    Json,
    /// Stored bytes are not an audit entry.
    #[error("stored bytes are not an audit entry")]
    Undecodable,
}

impl AuditEntry {
    /// Gives `draft` its place after the entry whose hash is `prev_hash`:
    /// normalises the time to UTC, drops a null detail, and computes `hash`.
    pub fn seal(draft: AuditDraft, seq: u64, prev_hash: [u8; 32]) -> Result<Self, AuditError> {
        draft.check()?;
        let detail = match draft.detail {
            Some(serde_json::Value::Null) => None,
            other => other,
        };
        let mut entry = Self {
            seq,
            prev_hash,
            hash: [0; 32],
            time: draft.time.to_offset(time::UtcOffset::UTC),
            actor: draft.actor,
            action: draft.action,
            record: draft.record,
            subject: draft.subject,
            purpose: draft.purpose,
            detail,
        };
        entry.hash = entry.computed_hash()?;
        Ok(entry)
    }

    /// The canonical bytes the hash covers: the entry as a JSON object
    /// without its `hash` member, canonicalised (docs/FORMAT.md).
    pub fn canonical_body(&self) -> Result<Vec<u8>, AuditError> {
        let mut value = serde_json::to_value(self).map_err(|_| AuditError::Json)?;
        if let serde_json::Value::Object(map) = &mut value {
            map.remove("hash");
        }
        canonical::to_bytes(&value).map_err(AuditError::Canonical)
    }

    /// `SHA-256(prev_hash || canonical_body)`, from the entry's content.
    pub fn computed_hash(&self) -> Result<[u8; 32], AuditError> {
        let body = self.canonical_body()?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.prev_hash);
        ctx.update(&body);
        let digest = ctx.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Ok(out)
    }

    /// The bytes the store keeps: the whole entry (with `hash`) in canonical
    /// JSON, which is also its export form.
    pub fn to_stored_bytes(&self) -> Result<Vec<u8>, AuditError> {
        let value = serde_json::to_value(self).map_err(|_| AuditError::Json)?;
        canonical::to_bytes(&value).map_err(AuditError::Canonical)
    }

    /// Parses stored bytes (no chain check: see [`ChainVerifier`]).
    ///
    /// Guarantee: accepts only bytes that are exactly the canonical form of
    /// the entry they decode to, so a verifier working on the parsed entry
    /// and one working on the raw JSON (docs/FORMAT.md) agree; an entry
    /// rewritten in another spelling (upper-case hex, `+00:00`, reordered
    /// members, whitespace) is refused.
    pub fn from_stored_bytes(bytes: &[u8]) -> Result<Self, AuditError> {
        let entry: Self = serde_json::from_slice(bytes).map_err(|_| AuditError::Undecodable)?;
        if entry.to_stored_bytes()? != bytes {
            return Err(AuditError::Undecodable);
        }
        Ok(entry)
    }

    /// The head of the chain this entry ends.
    pub fn head(&self) -> AuditHead {
        AuditHead {
            seq: self.seq,
            hash: self.hash,
        }
    }
}

pub(crate) mod hex32 {
    //! Serde for 32-byte arrays as lower-case hex.
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}
