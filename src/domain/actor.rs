//! Who is acting: the authenticated principal and its role (SPEC §4).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A role from SPEC §4. Each route allows exactly one role (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Submits records.
    Ingest,
    /// Reads records, decrypted.
    Reader,
    /// Reads reports and the audit log; never decrypted PHI.
    Auditor,
    /// Erasure, legal holds, purge, key rotation.
    Admin,
}

impl Role {
    /// The role's name as in tokens and documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Reader => "reader",
            Self::Auditor => "auditor",
            Self::Admin => "admin",
        }
    }
}

/// The principal an action is attributed to in the audit log: the token's
/// `sub` and `role`, or a local operator for commands run on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    /// The token subject (a user or system name, not a patient).
    pub sub: String,
    /// The role the principal acted in.
    pub role: Role,
}
