//! The crypto layer through its public API: key directory lifecycle, tamper
//! resistance, rotation, and an independent implementation of
//! docs/FORMAT.md (ring's AEAD, not the product's code path).

// Helpers outside `#[test]` functions are test code too: a failed unwrap
// there is the test failing, which clippy.toml allows inside tests.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use phivault::crypto::{
    AUDIT_KEY_FILE, CryptoError, DERIVE_KEY_FILE, FieldAad, KeyRing, SealedField, WrappedDek,
    audit_subject_pseudonym, open_field, seal_field, verify,
};
use phivault::domain::DicomUid;
use proptest::prelude::*;

const RECORD: [u8; 16] = [0x5a; 16];
const OTHER_RECORD: [u8; 16] = [0x5b; 16];
const PHI: &[u8] = b"ZZTOP^WILHELMINA^Q";

fn new_ring() -> (tempfile::TempDir, KeyRing) {
    let tmp = tempfile::tempdir().unwrap();
    let (ring, _) = KeyRing::open_or_create(&tmp.path().join("keys")).unwrap();
    (tmp, ring)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_start_creates_private_key_files_and_reports_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data/keys");
    let (ring, created) = KeyRing::open_or_create(&dir).unwrap();
    let mut names: Vec<String> = created
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["audit-ed25519.pk8", "derive.key", "kek-v1.key"]);
    assert_eq!(mode(&dir), 0o700);
    for path in &created {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    assert_eq!(fs::read(dir.join("kek-v1.key")).unwrap().len(), 32);
    assert_eq!(fs::read(dir.join(DERIVE_KEY_FILE)).unwrap().len(), 32);
    // docs/FORMAT.md §1, §7: ring's PKCS#8 v2 document ends with the public key.
    let pkcs8 = fs::read(dir.join(AUDIT_KEY_FILE)).unwrap();
    assert_eq!(pkcs8.len(), 83);
    assert_eq!(pkcs8[51..], ring.audit_signer().public_key());
    assert_eq!(ring.current_kek_version(), 1);
    assert_eq!(ring.kek_versions(), [1]);

    // Second start: nothing created, same keys.
    let (again, created) = KeyRing::open_or_create(&dir).unwrap();
    assert!(created.is_empty());
    assert_eq!(
        again.pseudonym("PatientID", "P1"),
        ring.pseudonym("PatientID", "P1")
    );
    assert_eq!(
        again.audit_signer().public_key(),
        ring.audit_signer().public_key()
    );

    // Debug shows no key bytes.
    let kek_hex = hex::encode(fs::read(dir.join("kek-v1.key")).unwrap());
    let root_hex = hex::encode(fs::read(dir.join(DERIVE_KEY_FILE)).unwrap());
    let shown = format!("{ring:?}").to_lowercase();
    assert!(
        !shown.contains(&kek_hex[..16]) && !shown.contains(&root_hex[..16]),
        "{shown}"
    );
}

#[test]
fn open_requires_existing_keys() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        KeyRing::open(tmp.path()),
        Err(CryptoError::NoKek { .. })
    ));
}

#[test]
fn a_lost_derivation_root_is_never_silently_replaced() {
    let (tmp, _ring) = new_ring();
    let dir = tmp.path().join("keys");
    fs::remove_file(dir.join(DERIVE_KEY_FILE)).unwrap();
    let err = KeyRing::open_or_create(&dir).unwrap_err();
    assert!(matches!(err, CryptoError::KeyFileMissing { .. }), "{err}");
    assert!(err.to_string().contains(DERIVE_KEY_FILE));
    assert!(!dir.join(DERIVE_KEY_FILE).exists());
}

#[test]
fn key_files_readable_by_others_are_refused() {
    let (tmp, mut ring) = new_ring();
    ring.rotate().unwrap();
    let dir = tmp.path().join("keys");
    for name in ["kek-v1.key", "kek-v2.key", DERIVE_KEY_FILE, AUDIT_KEY_FILE] {
        let path = dir.join(name);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = KeyRing::open(&dir).unwrap_err();
        assert!(
            matches!(err, CryptoError::KeyFileExposed { mode: 0o644, .. }),
            "{name}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains("644"), "{msg}");
        // Same refusal on the first-start path.
        assert!(KeyRing::open_or_create(&dir).is_err());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert!(KeyRing::open(&dir).is_ok());
}

#[test]
fn flipping_any_byte_of_a_sealed_field_fails_clearly() {
    let (_tmp, ring) = new_ring();
    let (dek, _) = ring.new_dek().unwrap();
    let aad = FieldAad::for_sealing(RECORD, "PatientName", &dek);
    let sealed = seal_field(&dek, &aad, PHI).unwrap();
    assert_eq!(open_field(&dek, &aad, &sealed).unwrap().as_slice(), PHI);

    let expect_refused = |bad: &SealedField, what: String| {
        let aad = FieldAad::for_opening(RECORD, "PatientName", bad);
        let err = open_field(&dek, &aad, bad).unwrap_err();
        assert!(
            matches!(err, CryptoError::FieldOpen { .. }),
            "{what}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("PatientName"), "{msg}");
        assert!(!msg.contains("ZZTOP"), "{msg}");
    };
    for i in 0..sealed.nonce.len() {
        for bit in [0x01, 0x80] {
            let mut bad = sealed.clone();
            bad.nonce[i] ^= bit;
            expect_refused(&bad, format!("nonce byte {i}"));
        }
    }
    for i in 0..sealed.ciphertext.len() {
        for bit in [0x01, 0x80] {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= bit;
            expect_refused(&bad, format!("ciphertext byte {i}"));
        }
    }
    // Truncated, extended and emptied ciphertexts.
    for len in [0, 15, sealed.ciphertext.len() - 1] {
        let mut bad = sealed.clone();
        bad.ciphertext.truncate(len);
        expect_refused(&bad, format!("truncated to {len}"));
    }
    let mut bad = sealed.clone();
    bad.ciphertext.push(0);
    expect_refused(&bad, "extended".into());
    // The stored KEK version is bound too.
    let mut bad = sealed.clone();
    bad.kek_version += 1;
    expect_refused(&bad, "kek_version".into());
}

#[test]
fn a_field_moved_to_another_field_or_record_does_not_open() {
    let (_tmp, ring) = new_ring();
    let (dek, _) = ring.new_dek().unwrap();
    let sealed = seal_field(
        &dek,
        &FieldAad::for_sealing(RECORD, "PatientName", &dek),
        PHI,
    )
    .unwrap();
    for (record, field) in [
        (RECORD, "ReferringPhysicianName"),
        (OTHER_RECORD, "PatientName"),
        (OTHER_RECORD, "PatientID"),
        (RECORD, "patientname"),
    ] {
        let aad = FieldAad::for_opening(record, field, &sealed);
        assert!(
            matches!(
                open_field(&dek, &aad, &sealed),
                Err(CryptoError::FieldOpen { .. })
            ),
            "{field}"
        );
    }
    // Another subject's DEK, even when the AAD is forged to name it.
    let (other, _) = ring.new_dek().unwrap();
    let mut forged = sealed.clone();
    forged.dek_id = other.id();
    let aad = FieldAad::for_opening(RECORD, "PatientName", &forged);
    assert!(open_field(&other, &aad, &forged).is_err());
}

#[test]
fn flipping_any_byte_of_a_wrapped_dek_fails_clearly() {
    let (_tmp, mut ring) = new_ring();
    ring.rotate().unwrap(); // versions 1 and 2 are held, so a flipped version may hit one
    let (_dek, wrapped) = ring.new_dek().unwrap();
    let bytes = wrapped.to_bytes();
    assert_eq!(bytes.len(), 81);
    assert!(
        ring.unwrap_dek(&WrappedDek::from_bytes(&bytes).unwrap())
            .is_ok()
    );
    for i in 0..bytes.len() {
        for bit in [0x01, 0x02, 0x80] {
            let mut bad = bytes.clone();
            bad[i] ^= bit;
            let err = match WrappedDek::from_bytes(&bad) {
                Err(e) => e,
                Ok(w) => ring.unwrap_dek(&w).unwrap_err(),
            };
            assert!(
                matches!(
                    err,
                    CryptoError::WrappedDekFormat { .. }
                        | CryptoError::DekUnwrap { .. }
                        | CryptoError::UnknownKekVersion { .. }
                ),
                "byte {i}: {err}"
            );
            if i >= 5 {
                assert!(
                    matches!(err, CryptoError::DekUnwrap { .. }),
                    "byte {i}: {err}"
                );
            }
        }
    }
}

#[test]
fn after_rotation_and_rewrap_every_field_still_opens() {
    let (tmp, mut ring) = new_ring();
    let dir = tmp.path().join("keys");
    let pseudonym = ring.pseudonym("PatientID", "P-1");
    let index = ring.blind_index("SeriesInstanceUID", "1.2.3");
    let shift = ring.date_shift_days("P-1");
    let uid = ring.uid_pseudonym("1.2.3");

    let (dek, wrapped_v1) = ring.new_dek().unwrap();
    let fields = ["PatientName", "PatientID", "PatientBirthDate"];
    let sealed: Vec<SealedField> = fields
        .iter()
        .map(|f| seal_field(&dek, &FieldAad::for_sealing(RECORD, f, &dek), PHI).unwrap())
        .collect();
    let audit_name = audit_subject_pseudonym(&dek, "P-1").unwrap();
    drop(dek);

    assert_eq!(ring.rotate().unwrap(), 2);
    assert_eq!(ring.current_kek_version(), 2);
    assert_eq!(ring.kek_versions(), [1, 2]);
    let wrapped_v2 = ring.rewrap(&wrapped_v1).unwrap();
    assert_eq!(wrapped_v2.kek_version(), 2);
    assert_eq!(wrapped_v2.dek_id(), wrapped_v1.dek_id());

    // A restarted process sees the new version as current.
    let mut ring = KeyRing::open(&dir).unwrap();
    assert_eq!(ring.current_kek_version(), 2);
    let dek = ring
        .unwrap_dek(&WrappedDek::from_bytes(&wrapped_v2.to_bytes()).unwrap())
        .unwrap();
    for (field, s) in fields.iter().zip(&sealed) {
        assert_eq!(s.kek_version, 1, "the stored field is untouched");
        let aad = FieldAad::for_opening(RECORD, field, s);
        assert_eq!(open_field(&dek, &aad, s).unwrap().as_slice(), PHI);
    }
    // Keys held apart from the KEK: rotation changed none of them.
    assert_eq!(ring.pseudonym("PatientID", "P-1"), pseudonym);
    assert_eq!(ring.blind_index("SeriesInstanceUID", "1.2.3"), index);
    assert_eq!(ring.date_shift_days("P-1"), shift);
    assert_eq!(ring.uid_pseudonym("1.2.3"), uid);
    assert_eq!(audit_subject_pseudonym(&dek, "P-1").unwrap(), audit_name);

    // New fields sealed after rotation bind the new version.
    let fresh = seal_field(
        &dek,
        &FieldAad::for_sealing(RECORD, "StudyDate", &dek),
        b"x",
    )
    .unwrap();
    assert_eq!(fresh.kek_version, 2);

    // Retiring version 1: the re-wrapped DEK still opens, the old wrapping
    // no longer does, and the current version cannot be retired.
    assert!(matches!(
        ring.retire(2),
        Err(CryptoError::RetireCurrent { version: 2 })
    ));
    let removed = ring.retire(1).unwrap();
    assert!(!removed.exists());
    assert_eq!(ring.kek_versions(), [2]);
    assert!(matches!(
        ring.unwrap_dek(&wrapped_v1),
        Err(CryptoError::UnknownKekVersion { version: 1 })
    ));
    assert!(ring.unwrap_dek(&wrapped_v2).is_ok());
    assert_eq!(KeyRing::open(&dir).unwrap().kek_versions(), [2]);
    assert!(matches!(
        ring.retire(1),
        Err(CryptoError::UnknownKekVersion { version: 1 })
    ));
}

#[test]
fn audit_signatures_verify_with_the_published_key() {
    let (tmp, ring) = new_ring();
    let sig = ring.audit_signer().sign(b"head");
    let pk = ring.audit_signer().public_key();
    assert!(verify(&pk, b"head", &sig));
    assert!(!verify(&pk, b"heae", &sig));
    let reopened = KeyRing::open(&tmp.path().join("keys")).unwrap();
    assert_eq!(reopened.audit_signer().public_key(), pk);
}

/// A second implementation of docs/FORMAT.md with `ring::aead` and nothing
/// from `phivault::crypto` but serialised outputs: reads `kek-v1.key`,
/// parses the 81-byte wrapped DEK, unwraps it, then opens a field from its
/// JSON.
#[test]
fn an_independent_program_opens_a_field_from_format_md() {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

    let (tmp, ring) = new_ring();
    let (dek, wrapped) = ring.new_dek().unwrap();
    let sealed = seal_field(
        &dek,
        &FieldAad::for_sealing(RECORD, "PatientName", &dek),
        PHI,
    )
    .unwrap();
    let wrapped_bytes = wrapped.to_bytes();
    let json = serde_json::to_string(&sealed).unwrap();
    drop((dek, ring));

    fn lp(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(&(p.len() as u32).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }
    fn aes_open(key: &[u8], nonce: &[u8], aad: &[u8], ct: &[u8]) -> Vec<u8> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
        let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
        let mut buf = ct.to_vec();
        key.open_in_place(nonce, Aad::from(aad), &mut buf)
            .unwrap()
            .to_vec()
    }

    // Wrapped DEK: 0x01 | kek_version u32 BE | dek_id 16 | nonce 12 | ct+tag 48.
    assert_eq!(wrapped_bytes[0], 0x01);
    let kek_version = u32::from_be_bytes(wrapped_bytes[1..5].try_into().unwrap());
    let dek_id = &wrapped_bytes[5..21];
    let kek = fs::read(tmp.path().join(format!("keys/kek-v{kek_version}.key"))).unwrap();
    let dek_aad = lp(&[b"phivault/dek/v1", dek_id, &kek_version.to_be_bytes()]);
    let dek_bytes = aes_open(&kek, &wrapped_bytes[21..33], &dek_aad, &wrapped_bytes[33..]);
    assert_eq!(dek_bytes.len(), 32);

    // Sealed field JSON: base64 nonce and ciphertext‖tag, hex dek_id.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["alg"], "A256GCM");
    assert_eq!(v["dek_id"].as_str().unwrap(), hex::encode(dek_id));
    let field_kek_version = v["kek_version"].as_u64().unwrap() as u32;
    let nonce = B64.decode(v["nonce"].as_str().unwrap()).unwrap();
    let ct = B64.decode(v["ciphertext"].as_str().unwrap()).unwrap();
    let field_aad = lp(&[
        b"phivault/field/v1",
        &RECORD,
        b"PatientName",
        &hex::decode(v["dek_id"].as_str().unwrap()).unwrap(),
        &field_kek_version.to_be_bytes(),
    ]);
    assert_eq!(aes_open(&dek_bytes, &nonce, &field_aad, &ct), PHI);
}

/// Recomputes a pseudonym, blind index, UID pseudonym and date shift from
/// `derive.key` with ring's HKDF and HMAC, as docs/FORMAT.md describes.
#[test]
fn an_independent_program_recomputes_the_keyed_values() {
    use ring::{hkdf, hmac};
    struct Len32;
    impl hkdf::KeyType for Len32 {
        fn len(&self) -> usize {
            32
        }
    }
    fn lp(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(&(p.len() as u32).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    let (tmp, ring) = new_ring();
    let root = fs::read(tmp.path().join("keys/derive.key")).unwrap();
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[0u8; 32]).extract(&root);
    let key_for = |info: &str| {
        let mut k = [0u8; 32];
        prk.expand(&[info.as_bytes()], Len32)
            .unwrap()
            .fill(&mut k)
            .unwrap();
        hmac::Key::new(hmac::HMAC_SHA256, &k)
    };
    let mac = |key: &hmac::Key, parts: &[&[u8]]| hmac::sign(key, &lp(parts)).as_ref().to_vec();

    let pk = key_for("phivault/hkdf/pseudonym/v1");
    assert_eq!(
        ring.pseudonym("PatientID", "P-1"),
        hex::encode(mac(&pk, &[b"phivault/pseudonym/v1", b"PatientID", b"P-1"]))
    );
    let uid_mac = mac(&pk, &[b"phivault/uid-pseudonym/v1", b"1.2.3"]);
    let n = u128::from_be_bytes(uid_mac[..16].try_into().unwrap());
    assert_eq!(ring.uid_pseudonym("1.2.3"), format!("2.25.{n}"));

    let bk = key_for("phivault/hkdf/blind-index/v1");
    assert_eq!(
        ring.blind_index("SeriesInstanceUID", "1.2.3").to_vec(),
        mac(
            &bk,
            &[b"phivault/blind-index/v1", b"SeriesInstanceUID", b"1.2.3"]
        )
    );

    let dk = key_for("phivault/hkdf/date-shift/v1");
    let d = mac(&dk, &[b"phivault/date-shift/v1", b"P-1"]);
    let draw = u64::from_be_bytes(d[..8].try_into().unwrap()) % 365;
    assert_eq!(ring.date_shift_days("P-1"), -(1 + draw as i64));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn seal_open_round_trips(
        plaintext in proptest::collection::vec(any::<u8>(), 0..600),
        record in any::<[u8; 16]>(),
        field in "[A-Za-z]{1,32}",
    ) {
        let (_keep_dir, ring) = RING.with(|r| r.clone());
        let (dek, _) = ring.new_dek().unwrap();
        let sealed = seal_field(&dek, &FieldAad::for_sealing(record, &field, &dek), &plaintext).unwrap();
        prop_assert_eq!(sealed.ciphertext.len(), plaintext.len() + 16);
        let back: SealedField = serde_json::from_str(&serde_json::to_string(&sealed).unwrap()).unwrap();
        let aad = FieldAad::for_opening(record, &field, &back);
        let opened = open_field(&dek, &aad, &back).unwrap();
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn uid_pseudonyms_are_valid_uids(value in "\\PC{0,80}") {
        let (_keep_dir, ring) = RING.with(|r| r.clone());
        let uid = ring.uid_pseudonym(&value);
        prop_assert!(uid.len() <= 64);
        prop_assert!(DicomUid::parse(&uid).is_ok(), "{}", uid);
    }
}

thread_local! {
    /// One key directory per test thread for the property tests.
    static RING: (std::rc::Rc<tempfile::TempDir>, std::rc::Rc<KeyRing>) = {
        let (tmp, ring) = new_ring();
        (std::rc::Rc::new(tmp), std::rc::Rc::new(ring))
    };
}

/// The worked examples printed in docs/FORMAT.md §3 and §4 open with
/// `ring`'s AES-256-GCM, so the document's bytes are checked by a second
/// implementation (the unit tests check that phivault produces them).
#[test]
fn format_md_worked_examples_open_with_ring() {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    fn aes_open(key: &[u8], nonce: &[u8], aad: &[u8], ct: &[u8]) -> Vec<u8> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
        let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
        let mut buf = ct.to_vec();
        key.open_in_place(nonce, Aad::from(aad), &mut buf)
            .unwrap()
            .to_vec()
    }
    let doc = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    // Each example value is hex wrapped over several lines inside a code block.
    let hex_after = |label: &str| -> Vec<u8> {
        let start = doc.find(label).unwrap() + label.len();
        let text: String = doc[start..]
            .lines()
            .map_while(|l| {
                let l = l.trim().trim_end_matches("(81 bytes)").trim();
                (!l.is_empty() && l.bytes().all(|b| b.is_ascii_hexdigit())).then(|| l.to_owned())
            })
            .collect();
        hex::decode(text).unwrap()
    };

    let dek_aad = hex_after("\nassociated data = ");
    let wrapped = hex_after("\nwrapped DEK     = ");
    assert_eq!(wrapped.len(), 81);
    let dek = aes_open(&[0x01; 32], &wrapped[21..33], &dek_aad, &wrapped[33..]);
    assert_eq!(dek, [0x42; 32]);

    let field_aad = hex_after("\nfield AAD = ");
    let json_start = doc.find("sealed    = ").unwrap() + "sealed    = ".len();
    let json_line = doc[json_start..].lines().next().unwrap();
    let v: serde_json::Value = serde_json::from_str(json_line).unwrap();
    let nonce = B64.decode(v["nonce"].as_str().unwrap()).unwrap();
    let ct = B64.decode(v["ciphertext"].as_str().unwrap()).unwrap();
    assert_eq!(aes_open(&dek, &nonce, &field_aad, &ct), b"DOE^JANE");
}
