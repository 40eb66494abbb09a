//! What the store keeps: the stored form of a record, its identifiers and
//! legal holds. Serialised as JSON, which is also what `phivault inspect`
//! prints (the layout is in docs/FORMAT.md, "Stored record").

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::crypto::SealedField;
use crate::domain::RecordField;
use crate::policy::PolicyStamp;

/// The opaque identifier of a stored record: a random UUID version 4
/// (RFC 9562 §5.4), shown as the hyphenated lower-case UUID.
///
/// Guarantee: carries no information about the record's content (it is
/// random), so it may appear in URLs, logs and the audit log.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId([u8; 16]);

impl RecordId {
    /// A fresh random id (UUID v4 from the operating system's generator).
    pub fn random() -> Self {
        Self(*uuid::Uuid::new_v4().as_bytes())
    }

    /// The id from its 16 stored bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes the id is stored as (the UUID's bytes in RFC 9562 order).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&uuid::Uuid::from_bytes(self.0).hyphenated(), f)
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

/// The text was not a hyphenated UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a record id (expected a hyphenated UUID)")]
pub struct InvalidRecordId;

impl FromStr for RecordId {
    type Err = InvalidRecordId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the canonical 36-character hyphenated form is accepted, so one
        // id has exactly one spelling (in URLs and in the audit log).
        if s.len() != 36 {
            return Err(InvalidRecordId);
        }
        let uuid = uuid::Uuid::try_parse(s).map_err(|_| InvalidRecordId)?;
        Ok(Self(*uuid.as_bytes()))
    }
}

impl Serialize for RecordId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A data subject as the store knows it: the keyed blind index of the
/// PatientID, computed by `crypto` (HMAC-SHA256, 32 bytes), lower-case hex
/// in documents.
///
/// Guarantee: the store never sees the PatientID itself; equal PatientIDs
/// give equal `SubjectId`s under one index key, so a subject's records are
/// found without decrypting anything.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectId(pub [u8; 32]);

impl fmt::Display for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubjectId({self})")
    }
}

impl Serialize for SubjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for SubjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(Self(out))
    }
}

/// One field of a stored record: what the policy's action left of it.
/// Serialised with the action as the `"action"` tag; redacted fields are
/// absent from the record, so there is no `redact` variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase", deny_unknown_fields)]
pub enum StoredField {
    /// Plaintext, as submitted.
    Keep {
        /// The value.
        value: String,
    },
    /// A coarser value (a date's year, `90+`).
    Generalize {
        /// The generalised value.
        value: String,
    },
    /// A date moved by the subject's keyed offset.
    Shift {
        /// The shifted date, DICOM DA form.
        value: String,
    },
    /// A keyed pseudonym (a `2.25.` UID for UIDs).
    Pseudonymize {
        /// The pseudonym.
        value: String,
    },
    /// AES-256-GCM ciphertext under the subject's data key.
    Encrypt {
        /// The sealed value (layout in docs/FORMAT.md).
        sealed: SealedField,
    },
}

/// A record as stored: policy identity, subject, times and the fields the
/// policy left, keyed by DICOM keyword.
///
/// Invariants kept by the store: `id` never changes once assigned (a
/// resubmitted series keeps it, and its `ingested_at`); the record is listed
/// under `subject` in the subject index and under `retain_until` in the
/// retention queue, and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredRecord {
    /// The record's opaque id.
    pub id: RecordId,
    /// The policy applied (id, version, SHA-256).
    pub policy: PolicyStamp,
    /// The data subject, by blind index.
    pub subject: SubjectId,
    /// When the series was first stored.
    #[serde(with = "time::serde::rfc3339")]
    pub ingested_at: OffsetDateTime,
    /// When this version of the record was stored.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the record must be purged (SPEC §2).
    #[serde(with = "time::serde::rfc3339")]
    pub retain_until: OffsetDateTime,
    /// The stored fields; redacted fields are absent.
    pub fields: BTreeMap<RecordField, StoredField>,
}

/// A legal hold on one record: while it exists the record survives purge
/// and erasure (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// Why the record is held (free text from an admin; must not be PHI).
    pub reason: String,
    /// The `sub` of the admin who placed it.
    pub placed_by: String,
    /// When it was placed.
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::DekId;

    #[test]
    fn record_id_round_trips_through_text_and_json() {
        let id = RecordId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<RecordId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<RecordId>(&json).unwrap(), id);
    }

    #[test]
    fn record_id_is_a_version_4_uuid() {
        let id = RecordId::random();
        let uuid = uuid::Uuid::from_bytes(*id.as_bytes());
        assert_eq!(uuid.get_version_num(), 4);
    }

    #[test]
    fn record_id_rejects_other_spellings() {
        let id = RecordId::random();
        let simple = uuid::Uuid::from_bytes(*id.as_bytes()).simple().to_string();
        assert!(simple.parse::<RecordId>().is_err());
        assert!("".parse::<RecordId>().is_err());
        assert!(format!("{{{id}}}").parse::<RecordId>().is_err());
    }

    #[test]
    fn stored_record_json_has_the_documented_shape() {
        let t = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        let mut fields = BTreeMap::new();
        fields.insert(
            RecordField::Modality,
            StoredField::Keep { value: "MR".into() },
        );
        fields.insert(
            RecordField::PatientName,
            StoredField::Encrypt {
                sealed: SealedField {
                    alg: "A256GCM".into(),
                    dek_id: DekId([7; 16]),
                    kek_version: 1,
                    nonce: [1; 12],
                    ciphertext: vec![2; 20],
                },
            },
        );
        let record = StoredRecord {
            id: "0b5e1d2c-3f4a-4b6c-8d9e-0f1a2b3c4d5e".parse().unwrap(),
            policy: PolicyStamp {
                id: "gdpr".into(),
                version: "1".into(),
                sha256: "ab".into(),
            },
            subject: SubjectId([0xaa; 32]),
            ingested_at: t,
            updated_at: t,
            retain_until: t,
            fields,
        };
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(value["id"], "0b5e1d2c-3f4a-4b6c-8d9e-0f1a2b3c4d5e");
        assert_eq!(value["subject"], "aa".repeat(32));
        assert_eq!(value["retain_until"], "2026-01-02T03:04:05Z");
        assert_eq!(value["fields"]["Modality"]["action"], "keep");
        assert_eq!(value["fields"]["Modality"]["value"], "MR");
        assert_eq!(value["fields"]["PatientName"]["action"], "encrypt");
        assert_eq!(value["fields"]["PatientName"]["sealed"]["kek_version"], 1);
        let back: StoredRecord = serde_json::from_value(value).unwrap();
        assert_eq!(back, record);
    }
}
