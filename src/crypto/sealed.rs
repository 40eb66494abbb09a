//! The stored form of one encrypted field (documented in docs/FORMAT.md).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Identifies one data subject's data key (DEK): 16 random bytes, shown as
/// 32 lower-case hex digits. Not derived from any PHI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DekId(pub [u8; 16]);

impl std::fmt::Display for DekId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl Serialize for DekId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for DekId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 16];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(Self(out))
    }
}

/// One field sealed with AES-256-GCM under a subject's DEK.
///
/// Guarantee: opening succeeds only with the same DEK and the same
/// associated data (record id, field name, `dek_id`, `kek_version`), so a
/// ciphertext moved to another field or record fails to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedField {
    /// Always `A256GCM` (borrowed when sealed here: no allocation).
    pub alg: std::borrow::Cow<'static, str>,
    /// The DEK that sealed the field.
    pub dek_id: DekId,
    /// The KEK version current when the field was sealed; bound into the
    /// associated data, so it never changes after sealing (rotation re-wraps
    /// the DEK, not the field).
    pub kek_version: u32,
    /// The 96-bit nonce, fresh and random for every sealing (base64).
    #[serde(with = "b64_array12")]
    pub nonce: [u8; 12],
    /// Ciphertext followed by the 16-byte GCM tag (base64).
    #[serde(with = "b64_vec")]
    pub ciphertext: Vec<u8>,
}

mod b64_vec {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s).map_err(serde::de::Error::custom)
    }
}

mod b64_array12 {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[u8; 12], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 12], D::Error> {
        let s = String::deserialize(d)?;
        let bytes = B64.decode(s).map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a nonce is 12 bytes"))
    }
}
