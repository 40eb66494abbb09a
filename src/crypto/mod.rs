//! Keys, envelope encryption, field sealing, pseudonyms and signing.
//!
//! Invariant: only this module touches key bytes; every key lives in a type
//! that zeroizes on drop and whose `Debug` hides it. Every primitive comes
//! from `aes-gcm` (AES-256-GCM) or `ring` (HMAC-SHA256, HKDF-SHA256,
//! Ed25519, the system CSPRNG); nothing here is home-made cryptography.
//!
//! Map:
//! - [`KeyRing`]: the key directory (KEK versions, derivation root, audit
//!   key); DEK creation, unwrap, re-wrap, rotation, retirement; pseudonyms,
//!   blind indexes, date shifts.
//! - [`seal_field`] / [`open_field`] with [`FieldAad`]: one field under a DEK.
//! - [`WrappedDek`]: a DEK wrapped under a KEK version, as stored.
//! - [`audit_subject_pseudonym`]: the per-subject audit pseudonym that dies
//!   with the DEK.
//! - [`AuditSigner`] / [`verify`]: Ed25519.
//!
//! Byte layouts and labels: `docs/FORMAT.md`.

mod aad;
mod derive;
mod envelope;
mod error;
mod field;
mod gcm;
mod keyfile;
mod keyring;
mod sealed;
mod secret;
mod signing;

pub use derive::{
    DATE_SHIFT_MAX_DAYS, HKDF_INFO_AUDIT_SUBJECT, HKDF_INFO_BLIND_INDEX, HKDF_INFO_DATE_SHIFT,
    HKDF_INFO_PSEUDONYM, HKDF_SALT, MAC_LABEL_AUDIT_SUBJECT, MAC_LABEL_BLIND_INDEX,
    MAC_LABEL_DATE_SHIFT, MAC_LABEL_PSEUDONYM, MAC_LABEL_UID, UID_ROOT, audit_subject_pseudonym,
};
pub use envelope::{DEK_AAD_LABEL, WRAPPED_DEK_FORMAT_V1, WRAPPED_DEK_LEN, WrappedDek};
pub use error::CryptoError;
pub use field::{FIELD_AAD_LABEL, FIELD_ALG, FieldAad, open_field, seal_field};
pub use keyring::{AUDIT_KEY_FILE, DERIVE_KEY_FILE, KeyRing, kek_file_name};
pub use sealed::{DekId, SealedField};
pub use secret::Dek;
pub use signing::{AuditSigner, PUBLIC_KEY_LEN, SIGNATURE_LEN, verify};
