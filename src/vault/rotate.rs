//! Key rotation: a new master key (KEK) version becomes current and every
//! subject's data key (DEK) is re-wrapped under it. No field is re-sealed,
//! so every field's associated data stays as it was (SPEC §3).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Vault, VaultError};
use crate::audit::{AuditAction, AuditContext};
use crate::crypto::WrappedDek;
use crate::domain::Actor;
use crate::store::{StoreError, SubjectId};

/// Subject keys are read and re-wrapped this many at a time.
const PAGE: usize = 512;

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RotationSummary {
    /// The KEK version current before.
    pub previous_version: u32,
    /// The new current version.
    pub current_version: u32,
    /// DEKs re-wrapped under it.
    pub rewrapped: u64,
    /// Old KEK versions retired (their files deleted) because no DEK needs
    /// them any more.
    pub retired_versions: Vec<u32>,
    /// The audit entry's seq.
    pub audit_seq: u64,
}

/// How many DEKs one KEK version wraps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyVersionCount {
    /// The KEK version.
    pub version: u32,
    /// DEKs wrapped under it.
    pub deks_wrapped: u64,
}

/// The key hierarchy's state: no key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyStatus {
    /// The version new DEKs are wrapped under.
    pub current_version: u32,
    /// Every KEK version on disk, with its DEK count.
    pub versions: Vec<KeyVersionCount>,
}

impl Vault {
    /// Makes a new KEK version current, re-wraps every DEK under it, then
    /// retires the versions no DEK needs. `progress(done)` is called after
    /// each page of DEKs.
    ///
    /// Guarantees: a DEK is replaced only if it is still the one that was
    /// read (a concurrent erasure wins); every field opens afterwards exactly
    /// as before; a failure half-way leaves every DEK readable (the old
    /// version is retired only once nothing needs it).
    pub fn rotate_keys(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        progress: &mut dyn FnMut(u64),
    ) -> Result<RotationSummary, VaultError> {
        let previous_version = self.keys().current_kek_version();
        let current_version = {
            // Waits for in-flight ingests (they hold the read lock while they
            // wrap a new DEK), so none wraps under the old version after this.
            let mut keys = self
                .keys
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            keys.rotate()?
        };
        let mut rewrapped = 0u64;
        let mut after: Option<SubjectId> = None;
        loop {
            let page = self.store.subject_keys(after.as_ref(), PAGE)?;
            let Some(last) = page.last() else { break };
            after = Some(last.0);
            for (subject, bytes) in &page {
                let wrapped = WrappedDek::from_bytes(bytes)?;
                if wrapped.kek_version() == current_version {
                    continue;
                }
                let new = self.keys().rewrap(&wrapped)?;
                match self
                    .store
                    .replace_subject_key(subject, bytes, new.to_bytes())
                {
                    Ok(()) => rewrapped += 1,
                    // Shredded or replaced meanwhile: nothing left to re-wrap.
                    Err(StoreError::SubjectKeyChanged) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            progress(rewrapped);
        }
        let status = self.key_status()?;
        let mut retired_versions = Vec::new();
        {
            let mut keys = self
                .keys
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for v in status
                .versions
                .iter()
                .filter(|v| v.deks_wrapped == 0 && v.version != current_version)
            {
                keys.retire(v.version)?;
                retired_versions.push(v.version);
            }
        }
        let entry = self.store.append_audit(
            AuditContext {
                time: now,
                actor: actor.clone(),
                subject: None,
                purpose: None,
                detail: Some(serde_json::json!({
                    "previous_version": previous_version,
                    "current_version": current_version,
                    "rewrapped": rewrapped,
                    "retired_versions": retired_versions,
                })),
            }
            .into_draft(AuditAction::KeysRotated, None),
        )?;
        self.flush_blocking()?;
        Ok(RotationSummary {
            previous_version,
            current_version,
            rewrapped,
            retired_versions,
            audit_seq: entry.seq,
        })
    }

    /// How many DEKs each KEK version wraps (reads every subject key's
    /// 5-byte header; no key is unwrapped).
    pub fn key_status(&self) -> Result<KeyStatus, VaultError> {
        let keys = self.keys();
        let mut counts: BTreeMap<u32, u64> =
            keys.kek_versions().into_iter().map(|v| (v, 0)).collect();
        let current_version = keys.current_kek_version();
        drop(keys);
        let mut after: Option<SubjectId> = None;
        loop {
            let page = self.store.subject_keys(after.as_ref(), PAGE)?;
            let Some(last) = page.last() else { break };
            after = Some(last.0);
            for (_, bytes) in &page {
                *counts
                    .entry(WrappedDek::from_bytes(bytes)?.kek_version())
                    .or_default() += 1;
            }
        }
        Ok(KeyStatus {
            current_version,
            versions: counts
                .into_iter()
                .map(|(version, deks_wrapped)| KeyVersionCount {
                    version,
                    deks_wrapped,
                })
                .collect(),
        })
    }
}
