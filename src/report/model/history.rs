//! What retention and erasure have done: purges and erasures, each with the
//! audit entry that records it (SPEC §2, §3, §6; GDPR Art. 17).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Hex, Rfc3339};

/// Purges and erasures carried out over the report's period, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Every purge run.
    pub purges: Vec<PurgeRow>,
    /// Every erasure of a data subject.
    pub erasures: Vec<ErasureRow>,
}

/// One purge run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeRow {
    /// When the purge ran.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub at: OffsetDateTime,
    /// Records deleted.
    pub purged: u64,
    /// Records past their retention that a hold kept.
    pub held: u64,
    /// The sequence number of the purge's audit entry.
    pub audit_seq: u64,
}

/// One erasure of a data subject (crypto-shredding, SPEC §3), as its signed
/// receipt records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRow {
    /// When the erasure was carried out.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub at: OffsetDateTime,
    /// The subject's keyed pseudonym (never the PatientID).
    pub subject_pseudonym: String,
    /// Records deleted.
    pub records_removed: u64,
    /// Whether the subject's data key was destroyed.
    pub key_destroyed: bool,
    /// The sequence number of the erasure's audit entry.
    pub audit_seq: u64,
    /// The receipt's Ed25519 signature, hex.
    #[schemars(with = "Hex")]
    pub receipt_signature: String,
}
