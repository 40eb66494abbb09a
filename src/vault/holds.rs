//! Legal holds (SPEC §2): a held record survives purge and erasure until
//! an admin releases the hold. Placing and releasing are audited.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Vault, VaultError};
use crate::audit::AuditContext;
use crate::domain::Actor;
use crate::store::{Hold, RecordId};

/// The longest hold reason, in characters.
pub const HOLD_REASON_MAX_CHARS: usize = 200;

/// Why a record is held: 1–200 characters, no control characters. Free
/// text from an admin (a case or matter number, not PHI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct HoldReason(String);

/// The text is not an acceptable hold reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a hold reason is 1-200 characters without control characters")]
pub struct InvalidHoldReason;

impl HoldReason {
    /// Checks `text`.
    pub fn parse(text: &str) -> Result<Self, InvalidHoldReason> {
        let n = text.chars().count();
        if n == 0 || n > HOLD_REASON_MAX_CHARS || text.chars().any(char::is_control) {
            return Err(InvalidHoldReason);
        }
        Ok(Self(text.to_owned()))
    }

    /// The reason.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HoldReason {
    type Error = InvalidHoldReason;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<HoldReason> for String {
    fn from(r: HoldReason) -> Self {
        r.0
    }
}

/// A hold as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HoldView {
    /// The held record.
    #[schemars(with = "String")]
    pub record: RecordId,
    /// Why.
    pub reason: String,
    /// The admin who placed it.
    pub placed_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub placed_at: OffsetDateTime,
    /// The seq of the audit entry.
    pub audit_seq: u64,
}

impl Vault {
    /// Places (or replaces) a legal hold on record `id`; durable and audited
    /// (`hold_placed`) on `Ok`. [`VaultError::NotFound`] for an unknown id.
    pub async fn place_hold(
        &self,
        id: &RecordId,
        reason: HoldReason,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<HoldView, VaultError> {
        let hold = Hold {
            reason: reason.0,
            placed_by: actor.sub.clone(),
            placed_at: now,
        };
        let (_, entry) = self
            .store
            .place_hold(id, hold.clone(), context(actor, now))?;
        self.flush().await?;
        Ok(HoldView {
            record: *id,
            reason: hold.reason,
            placed_by: hold.placed_by,
            placed_at: hold.placed_at,
            audit_seq: entry.seq,
        })
    }

    /// Releases record `id`'s hold; durable and audited (`hold_released`) on
    /// `Ok`. [`VaultError::NotHeld`] if it has none, [`VaultError::NotFound`]
    /// if the record does not exist.
    pub async fn release_hold(
        &self,
        id: &RecordId,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<HoldView, VaultError> {
        if self.store.get_record(id)?.is_none() {
            return Err(VaultError::NotFound(*id));
        }
        let (hold, entry) = self.store.release_hold(id, context(actor, now))?;
        self.flush().await?;
        Ok(HoldView {
            record: *id,
            reason: hold.reason,
            placed_by: hold.placed_by,
            placed_at: hold.placed_at,
            audit_seq: entry.seq,
        })
    }
}

fn context(actor: &Actor, now: OffsetDateTime) -> AuditContext {
    AuditContext {
        time: now,
        actor: actor.clone(),
        subject: None,
        purpose: None,
        detail: None,
    }
}
