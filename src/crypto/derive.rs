//! Purpose keys derived with HKDF-SHA256 (RFC 5869) and the keyed values
//! made with them: pseudonyms, UID pseudonyms, blind indexes, date shifts,
//! and per-subject audit pseudonyms (HMAC-SHA256, RFC 2104 / FIPS 198-1).
//!
//! Invariant: every purpose has its own key, derived from the derivation
//! root (`derive.key`) with its own HKDF label, never from the KEK, so KEK
//! rotation changes no pseudonym, index or shift; and every HMAC input
//! starts with its own domain label, so no two purposes can collide.

use ring::{hkdf, hmac};

use super::CryptoError;
use super::aad::length_prefixed;
use super::secret::{Dek, KEY_LEN, SecretKey};

/// HKDF salt for every derivation: empty, which RFC 5869 §2.2 defines as
/// HashLen zero bytes. The input keys are uniformly random, so no salt is
/// needed for extraction.
pub const HKDF_SALT: &[u8] = b"";

/// HKDF `info` of the pseudonym key.
pub const HKDF_INFO_PSEUDONYM: &str = "phivault/hkdf/pseudonym/v1";
/// HKDF `info` of the blind-index key.
pub const HKDF_INFO_BLIND_INDEX: &str = "phivault/hkdf/blind-index/v1";
/// HKDF `info` of the date-shift key.
pub const HKDF_INFO_DATE_SHIFT: &str = "phivault/hkdf/date-shift/v1";
/// HKDF `info` of a subject's audit-pseudonym key (derived from the DEK).
pub const HKDF_INFO_AUDIT_SUBJECT: &str = "phivault/hkdf/audit-subject/v1";

/// HMAC input label of a field pseudonym.
pub const MAC_LABEL_PSEUDONYM: &str = "phivault/pseudonym/v1";
/// HMAC input label of a UID pseudonym.
pub const MAC_LABEL_UID: &str = "phivault/uid-pseudonym/v1";
/// HMAC input label of a blind index.
pub const MAC_LABEL_BLIND_INDEX: &str = "phivault/blind-index/v1";
/// HMAC input label of a date shift.
pub const MAC_LABEL_DATE_SHIFT: &str = "phivault/date-shift/v1";
/// HMAC input label of an audit subject pseudonym.
pub const MAC_LABEL_AUDIT_SUBJECT: &str = "phivault/audit-subject/v1";

/// Date shifts fall in `-DATE_SHIFT_MAX_DAYS..=-1`: always into the past,
/// never zero.
pub const DATE_SHIFT_MAX_DAYS: i64 = 365;

/// The UID root of UUID-derived UIDs (PS3.5 §B.2).
pub const UID_ROOT: &str = "2.25.";

/// Output length `L` for ring's HKDF expand.
struct OutLen(usize);

impl hkdf::KeyType for OutLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 (RFC 5869): extract with `salt` from `ikm`, expand with
/// `info` to fill `out`.
pub(crate) fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    let okm = prk
        .expand(&info, OutLen(out.len()))
        .map_err(|_| CryptoError::KeyDerivation)?;
    okm.fill(out).map_err(|_| CryptoError::KeyDerivation)
}

/// A 32-byte key derived from `root` for the purpose named by `info`.
fn derive_key(root: &SecretKey, info: &str) -> Result<SecretKey, CryptoError> {
    let mut out = zeroize::Zeroizing::new([0u8; KEY_LEN]);
    hkdf_sha256(
        HKDF_SALT,
        root.expose(),
        info.as_bytes(),
        out.as_mut_slice(),
    )?;
    SecretKey::from_slice(out.as_slice()).ok_or(CryptoError::KeyDerivation)
}

/// HMAC-SHA256 of `msg` under `key` (RFC 2104).
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// The keys derived from `derive.key`, one per purpose.
pub(crate) struct PurposeKeys {
    pseudonym: SecretKey,
    blind_index: SecretKey,
    date_shift: SecretKey,
}

impl std::fmt::Debug for PurposeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PurposeKeys([hidden])")
    }
}

impl PurposeKeys {
    pub(crate) fn derive(root: &SecretKey) -> Result<Self, CryptoError> {
        Ok(Self {
            pseudonym: derive_key(root, HKDF_INFO_PSEUDONYM)?,
            blind_index: derive_key(root, HKDF_INFO_BLIND_INDEX)?,
            date_shift: derive_key(root, HKDF_INFO_DATE_SHIFT)?,
        })
    }

    /// Lower-case hex (64 digits) of
    /// `HMAC(pseudonym key, lp("phivault/pseudonym/v1") ‖ lp(field) ‖ lp(value))`.
    pub(crate) fn pseudonym(&self, field: &str, value: &str) -> String {
        let msg = length_prefixed(&[
            MAC_LABEL_PSEUDONYM.as_bytes(),
            field.as_bytes(),
            value.as_bytes(),
        ]);
        hex::encode(hmac_sha256(self.pseudonym.expose(), &msg))
    }

    /// `2.25.` followed by the decimal of the first 16 bytes (big-endian
    /// unsigned) of `HMAC(pseudonym key, lp("phivault/uid-pseudonym/v1") ‖
    /// lp(value))`. Not field-labelled: one UID maps to one pseudonym
    /// wherever it appears, so references between UIDs survive.
    pub(crate) fn uid_pseudonym(&self, value: &str) -> String {
        let msg = length_prefixed(&[MAC_LABEL_UID.as_bytes(), value.as_bytes()]);
        let mac = hmac_sha256(self.pseudonym.expose(), &msg);
        let mut first = [0u8; 16];
        first.copy_from_slice(&mac[..16]);
        // PS3.5 §B.2: the integer is written in decimal without leading
        // zeros; a u128 is at most 39 digits, so the UID is at most 44
        // characters (PS3.5 §9.1 allows 64).
        format!("{UID_ROOT}{}", u128::from_be_bytes(first))
    }

    /// `HMAC(blind-index key, lp("phivault/blind-index/v1") ‖ lp(field) ‖
    /// lp(value))`.
    pub(crate) fn blind_index(&self, field: &str, value: &str) -> [u8; 32] {
        let msg = length_prefixed(&[
            MAC_LABEL_BLIND_INDEX.as_bytes(),
            field.as_bytes(),
            value.as_bytes(),
        ]);
        hmac_sha256(self.blind_index.expose(), &msg)
    }

    /// `-(1 + (u64 BE of the first 8 bytes of HMAC(date-shift key,
    /// lp("phivault/date-shift/v1") ‖ lp(subject))) mod 365))`: a value in
    /// `-365..=-1`. The modulo bias is below 2^-54.
    pub(crate) fn date_shift_days(&self, subject: &str) -> i64 {
        let msg = length_prefixed(&[MAC_LABEL_DATE_SHIFT.as_bytes(), subject.as_bytes()]);
        let mac = hmac_sha256(self.date_shift.expose(), &msg);
        let mut first = [0u8; 8];
        first.copy_from_slice(&mac[..8]);
        let draw = u64::from_be_bytes(first) % DATE_SHIFT_MAX_DAYS.unsigned_abs();
        // `draw` < 365, so the conversion cannot fail.
        -(1 + i64::try_from(draw).unwrap_or(0))
    }
}

/// A pseudonym for `patient_id` for use in audit entries, keyed by a key
/// HKDF-derived from the subject's own DEK (info
/// `phivault/hkdf/audit-subject/v1`): lower-case hex of `HMAC(that key,
/// lp("phivault/audit-subject/v1") ‖ lp(patient_id))`.
///
/// Guarantee (SPEC §6): once the DEK is shredded, nobody, including the
/// operator holding every other key, can recompute the pseudonym, so audit
/// entries can no longer be linked to the person.
pub fn audit_subject_pseudonym(dek: &Dek, patient_id: &str) -> Result<String, CryptoError> {
    let key = derive_key(dek.key(), HKDF_INFO_AUDIT_SUBJECT)?;
    let msg = length_prefixed(&[MAC_LABEL_AUDIT_SUBJECT.as_bytes(), patient_id.as_bytes()]);
    Ok(hex::encode(hmac_sha256(key.expose(), &msg)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::DekId;
    use crate::domain::DicomUid;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 4231 §4: HMAC-SHA256 test cases 1–4, 6, 7 (case 5 tests
    /// truncation, which is not used here).
    #[test]
    fn rfc4231_hmac_sha256() {
        let long_key = vec![0xaa; 131];
        let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                long_key.clone(),
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                long_key,
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (i, (key, msg, expected)) in cases.iter().enumerate() {
            assert_eq!(
                hex::encode(hmac_sha256(key, msg)),
                *expected,
                "case index {i}"
            );
        }
    }

    /// RFC 5869 Appendix A: HKDF-SHA256 test cases 1–3.
    #[test]
    fn rfc5869_hkdf_sha256() {
        let ikm3 = vec![0x0b; 22];
        let ikm2: Vec<u8> = (0x00..=0x4f).collect();
        let salt2: Vec<u8> = (0x60..=0xaf).collect();
        let info2: Vec<u8> = (0xb0..=0xff).collect();
        // (ikm, salt, info, okm)
        type Case = (Vec<u8>, Vec<u8>, Vec<u8>, &'static str);
        let cases: [Case; 3] = [
            (
                vec![0x0b; 22],
                unhex("000102030405060708090a0b0c"),
                unhex("f0f1f2f3f4f5f6f7f8f9"),
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
            ),
            (
                ikm2,
                salt2,
                info2,
                "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
            ),
            (
                ikm3,
                Vec::new(),
                Vec::new(),
                "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
            ),
        ];
        for (i, (ikm, salt, info, expected)) in cases.iter().enumerate() {
            let mut out = vec![0u8; expected.len() / 2];
            hkdf_sha256(salt, ikm, info, &mut out).unwrap();
            assert_eq!(hex::encode(&out), *expected, "case {}", i + 1);
        }
    }

    fn keys(byte: u8) -> PurposeKeys {
        PurposeKeys::derive(&SecretKey::from_slice(&[byte; 32]).unwrap()).unwrap()
    }

    #[test]
    fn purpose_keys_are_distinct() {
        let k = keys(1);
        let all = [
            k.pseudonym.expose(),
            k.blind_index.expose(),
            k.date_shift.expose(),
        ];
        assert_ne!(all[0], all[1]);
        assert_ne!(all[1], all[2]);
        assert_ne!(all[0], all[2]);
        // Not the root either.
        assert!(all.iter().all(|key| **key != [1; 32]));
    }

    #[test]
    fn pseudonyms_are_consistent_keyed_and_field_labelled() {
        let (a, b) = (keys(1), keys(2));
        assert_eq!(
            a.pseudonym("PatientID", "P1"),
            a.pseudonym("PatientID", "P1")
        );
        assert_eq!(a.pseudonym("PatientID", "P1").len(), 64);
        assert_ne!(
            a.pseudonym("PatientID", "P1"),
            b.pseudonym("PatientID", "P1")
        );
        assert_ne!(
            a.pseudonym("PatientID", "P1"),
            a.pseudonym("AccessionNumber", "P1")
        );
        // The blind index uses another key, so it does not reveal the pseudonym.
        assert_ne!(
            hex::encode(a.blind_index("PatientID", "P1")),
            a.pseudonym("PatientID", "P1")
        );
        assert_ne!(
            a.blind_index("PatientID", "P1"),
            a.blind_index("PatientID", "P2")
        );
    }

    #[test]
    fn date_shift_is_in_range_and_spread() {
        let k = keys(3);
        let shifts: Vec<i64> = (0..2000)
            .map(|i| k.date_shift_days(&format!("P{i}")))
            .collect();
        assert!(shifts.iter().all(|d| (-365..=-1).contains(d)));
        assert_eq!(k.date_shift_days("P7"), k.date_shift_days("P7"));
        // 2000 draws over 365 values reach both ends' neighbourhoods.
        assert!(shifts.iter().any(|d| *d <= -360));
        assert!(shifts.iter().any(|d| *d >= -6));
    }

    #[test]
    fn audit_pseudonym_depends_on_the_dek() {
        let d1 = Dek::new(DekId([1; 16]), 1, SecretKey::from_slice(&[1; 32]).unwrap());
        let d2 = Dek::new(DekId([1; 16]), 1, SecretKey::from_slice(&[2; 32]).unwrap());
        let p1 = audit_subject_pseudonym(&d1, "P1").unwrap();
        assert_eq!(p1, audit_subject_pseudonym(&d1, "P1").unwrap());
        assert_ne!(p1, audit_subject_pseudonym(&d2, "P1").unwrap());
        assert_ne!(p1, audit_subject_pseudonym(&d1, "P2").unwrap());
    }

    #[test]
    fn uid_pseudonym_is_a_uuid_derived_uid() {
        let k = keys(4);
        let uid = k.uid_pseudonym("1.2.840.113619.2.55.3");
        assert!(uid.starts_with("2.25."));
        assert!(DicomUid::parse(&uid).is_ok(), "{uid}");
        assert_eq!(uid, k.uid_pseudonym("1.2.840.113619.2.55.3"));
        assert_ne!(uid, k.uid_pseudonym("1.2.840.113619.2.55.4"));
    }

    proptest! {
        #[test]
        fn uid_pseudonym_always_parses(value in ".{0,64}", root in any::<[u8; 32]>()) {
            let k = PurposeKeys::derive(&SecretKey::from_slice(&root).unwrap()).unwrap();
            let uid = k.uid_pseudonym(&value);
            prop_assert!(uid.len() <= 64);
            prop_assert!(DicomUid::parse(&uid).is_ok(), "{}", uid);
        }
    }
}
