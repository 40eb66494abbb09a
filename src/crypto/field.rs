//! Field sealing: one record field encrypted with AES-256-GCM under its data
//! subject's DEK, bound to its record, field name, DEK id and KEK version.

use zeroize::Zeroizing;

use super::aad::with_length_prefixed;
use super::gcm::{self, NONCE_LEN};
use super::{CryptoError, Dek, DekId, SealedField};

/// Domain-separation label of the field associated data.
pub const FIELD_AAD_LABEL: &str = "phivault/field/v1";

/// The value of [`SealedField::alg`] for every field sealed here.
pub const FIELD_ALG: &str = "A256GCM";

/// What a sealed field is bound to. Opening succeeds only with the same
/// values that sealing used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldAad<'a> {
    /// The record's UUID, as its 16 bytes (RFC 9562 byte order).
    pub record_id: [u8; 16],
    /// The DICOM keyword of the field, e.g. `PatientName`.
    pub field: &'a str,
    /// The DEK that seals the field.
    pub dek_id: DekId,
    /// The KEK version that wrapped the DEK when the field was sealed.
    pub kek_version: u32,
}

impl<'a> FieldAad<'a> {
    /// Associated data for sealing a new field with `dek` (its id and the
    /// KEK version it was last wrapped under).
    pub fn for_sealing(record_id: [u8; 16], field: &'a str, dek: &Dek) -> Self {
        Self {
            record_id,
            field,
            dek_id: dek.id(),
            kek_version: dek.kek_version(),
        }
    }

    /// Associated data for opening `sealed`, found in record `record_id`
    /// under `field`: the DEK id and KEK version come from the stored field.
    pub fn for_opening(record_id: [u8; 16], field: &'a str, sealed: &SealedField) -> Self {
        Self {
            record_id,
            field,
            dek_id: sealed.dek_id,
            kek_version: sealed.kek_version,
        }
    }

    /// The exact bytes given to AES-GCM as associated data:
    /// `lp("phivault/field/v1") ‖ lp(record_id) ‖ lp(field) ‖ lp(dek_id) ‖
    /// lp(kek_version as u32 BE)`, where `lp` is the length-prefixed part
    /// encoding of docs/FORMAT.md.
    pub fn encode(&self) -> Vec<u8> {
        self.with_encoded(<[u8]>::to_vec)
    }

    /// Calls `f` with exactly the bytes of [`Self::encode`], without a heap
    /// allocation for field names of usual length.
    fn with_encoded<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let kek_version = self.kek_version.to_be_bytes();
        with_length_prefixed::<160, R>(
            &[
                FIELD_AAD_LABEL.as_bytes(),
                &self.record_id,
                self.field.as_bytes(),
                &self.dek_id.0,
                &kek_version,
            ],
            f,
        )
    }
}

/// Seals `plaintext` under `dek` with a fresh random 96-bit nonce, bound to
/// `aad`.
///
/// Fails with [`CryptoError::DekMismatch`] if `aad` names another DEK, so
/// that a field can never claim a key that did not seal it.
pub fn seal_field(
    dek: &Dek,
    aad: &FieldAad<'_>,
    plaintext: &[u8],
) -> Result<SealedField, CryptoError> {
    let nonce = gcm::random_nonce();
    seal_field_with_nonce(dek, aad, &nonce, plaintext)
}

/// The body of [`seal_field`]; the nonce is a parameter only so that tests
/// can pin it.
fn seal_field_with_nonce(
    dek: &Dek,
    aad: &FieldAad<'_>,
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<SealedField, CryptoError> {
    if aad.dek_id != dek.id() {
        return Err(CryptoError::DekMismatch {
            expected: aad.dek_id,
            given: dek.id(),
        });
    }
    let ciphertext = aad
        .with_encoded(|aad| gcm::seal_with_nonce(dek.cipher(), nonce, aad, plaintext))
        .map_err(|_| CryptoError::Seal)?;
    Ok(SealedField {
        alg: std::borrow::Cow::Borrowed(FIELD_ALG),
        dek_id: aad.dek_id,
        kek_version: aad.kek_version,
        nonce: *nonce,
        ciphertext,
    })
}

/// Opens `sealed` with `dek`, checking that it is bound to exactly `aad`.
///
/// Fails, returning no plaintext, if any byte of the nonce, ciphertext or
/// tag changed, or if the record id, field name, DEK id or KEK version
/// differs from sealing time ([`CryptoError::FieldOpen`]); if `dek` is not
/// the DEK the field names ([`CryptoError::DekMismatch`]); or if the
/// algorithm is not `A256GCM`.
pub fn open_field(
    dek: &Dek,
    aad: &FieldAad<'_>,
    sealed: &SealedField,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.alg != FIELD_ALG {
        return Err(CryptoError::UnsupportedAlgorithm);
    }
    if sealed.dek_id != dek.id() {
        return Err(CryptoError::DekMismatch {
            expected: sealed.dek_id,
            given: dek.id(),
        });
    }
    aad.with_encoded(|encoded| gcm::open(dek.cipher(), &sealed.nonce, encoded, &sealed.ciphertext))
        .map_err(|_| CryptoError::FieldOpen {
            field: aad.field.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::secret::SecretKey;

    fn dek(byte: u8) -> Dek {
        Dek::new(
            DekId([byte; 16]),
            1,
            SecretKey::from_slice(&[byte; 32]).unwrap(),
        )
    }

    #[test]
    fn aad_encoding_is_documented_bytes() {
        let aad = FieldAad {
            record_id: [0x11; 16],
            field: "PatientName",
            dek_id: DekId([0x22; 16]),
            kek_version: 7,
        };
        let expected = [
            hex::encode(17u32.to_be_bytes()),
            hex::encode("phivault/field/v1"),
            "00000010".into(),
            "11".repeat(16),
            "0000000b".into(),
            hex::encode("PatientName"),
            "00000010".into(),
            "22".repeat(16),
            "00000004".into(),
            "00000007".into(),
        ]
        .concat();
        assert_eq!(hex::encode(aad.encode()), expected);
    }

    #[test]
    fn pinned_nonce_gives_a_reproducible_field() {
        // Pins the whole field format: an independent implementation
        // following docs/FORMAT.md must produce these bytes.
        let d = dek(0x42);
        let aad = FieldAad::for_sealing([0x11; 16], "PatientName", &d);
        let a = seal_field_with_nonce(&d, &aad, &[9; 12], b"DOE^JANE").unwrap();
        let b = seal_field_with_nonce(&d, &aad, &[9; 12], b"DOE^JANE").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.ciphertext.len(), 8 + 16);
        assert_eq!(open_field(&d, &aad, &a).unwrap().as_slice(), b"DOE^JANE");
    }

    /// The worked example of docs/FORMAT.md, "Sealed field".
    #[test]
    fn format_md_example() {
        let d = Dek::new(
            DekId([0x22; 16]),
            1,
            SecretKey::from_slice(&[0x42; 32]).unwrap(),
        );
        let aad = FieldAad::for_sealing([0x11; 16], "PatientName", &d);
        let s = seal_field_with_nonce(&d, &aad, &[0x09; 12], b"DOE^JANE").unwrap();
        assert_eq!(hex::encode(aad.encode()), EXAMPLE_AAD);
        assert_eq!(serde_json::to_string(&s).unwrap(), EXAMPLE_JSON);
    }

    const EXAMPLE_AAD: &str = "000000117068697661756c742f6669656c642f763100000010111111111111111111111111111111110000000b50617469656e744e616d6500000010222222222222222222222222222222220000000400000001";
    const EXAMPLE_JSON: &str = r#"{"alg":"A256GCM","dek_id":"22222222222222222222222222222222","kek_version":1,"nonce":"CQkJCQkJCQkJCQkJ","ciphertext":"eYbsNBvYCQwS125tlQ9IGPYrZMMOGiq9"}"#;

    #[test]
    fn sealing_refuses_an_aad_naming_another_dek() {
        let d = dek(1);
        let mut aad = FieldAad::for_sealing([0; 16], "PatientID", &d);
        aad.dek_id = DekId([2; 16]);
        assert!(matches!(
            seal_field(&d, &aad, b"x"),
            Err(CryptoError::DekMismatch { .. })
        ));
    }

    #[test]
    fn opening_with_another_dek_or_alg_fails() {
        let d = dek(1);
        let aad = FieldAad::for_sealing([0; 16], "PatientID", &d);
        let sealed = seal_field(&d, &aad, b"x").unwrap();
        assert!(matches!(
            open_field(&dek(2), &aad, &sealed),
            Err(CryptoError::DekMismatch { .. })
        ));
        let mut other_alg = sealed.clone();
        other_alg.alg = "A128GCM".into();
        assert!(matches!(
            open_field(&d, &aad, &other_alg),
            Err(CryptoError::UnsupportedAlgorithm)
        ));
    }

    #[test]
    fn two_sealings_use_different_nonces() {
        let d = dek(1);
        let aad = FieldAad::for_sealing([0; 16], "PatientID", &d);
        let a = seal_field(&d, &aad, b"same").unwrap();
        let b = seal_field(&d, &aad, b"same").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }
}
