//! Key versions, the audit chain's status and access counts (SPEC §3, §6).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Hex, Rfc3339};
use crate::domain::Role;

/// The master key (KEK) versions and the data keys each wraps (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyStatus {
    /// The version that wraps new data keys.
    pub current_version: u32,
    /// Every version still present, oldest first.
    pub versions: Vec<KeyVersionRow>,
}

/// One master key version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyVersionRow {
    /// The version number.
    pub version: u32,
    /// Data keys (one per data subject) wrapped under it.
    pub deks_wrapped: u64,
}

/// The audit chain's verification status (SPEC §6).
///
/// Guarantee stated by whoever gathers it: `verified` is true exactly when
/// `first_bad_seq` and `reason` are null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditStatus {
    /// Entries in the chain.
    pub entries: u64,
    /// Whether every link and signature checked out.
    pub verified: bool,
    /// The sequence number of the first entry that failed, if any.
    pub first_bad_seq: Option<u64>,
    /// Why it failed, without PHI.
    pub reason: Option<String>,
    /// The last signed chain head, if one was signed.
    pub signed_head: Option<SignedHead>,
}

/// A signed chain head: whoever holds `public_key` can check that the chain
/// up to `seq` was not truncated or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedHead {
    /// The sequence number of the head entry.
    pub seq: u64,
    /// The head entry's SHA-256, hex.
    #[schemars(with = "Hex")]
    pub hash: String,
    /// The Ed25519 signature over the head, hex.
    #[schemars(with = "Hex")]
    pub signature: String,
    /// The Ed25519 public key that checks it, hex.
    #[schemars(with = "Hex")]
    pub public_key: String,
    /// When the head was signed.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub signed_at: OffsetDateTime,
}

/// Accesses of one kind by one role over the report's period, from the
/// audit log (allowed) and its access-denied entries (refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRow {
    /// The role the principals acted in.
    pub role: Role,
    /// The audited action, e.g. `record.read`.
    pub action: String,
    /// Requests allowed.
    pub allowed: u64,
    /// Requests refused.
    pub denied: u64,
}
