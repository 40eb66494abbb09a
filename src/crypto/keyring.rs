//! The key directory: master key (KEK) versions, the derivation root and the
//! audit signing key, loaded into one [`KeyRing`].
//!
//! Files (docs/FORMAT.md, "Key files"), all mode 0600:
//! - `kek-v{N}.key`: 32 raw random bytes, KEK version N (N ≥ 1, decimal,
//!   no leading zero); the highest N is current.
//! - `derive.key`: 32 raw random bytes, the HKDF root of the pseudonym,
//!   blind-index and date-shift keys (kept apart from the KEK so rotation
//!   changes none of them).
//! - `audit-ed25519.pk8`: the Ed25519 audit signing key, PKCS#8 (DER).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};

use super::derive::PurposeKeys;
use super::envelope::{self, WrappedDek};
use super::secret::{Dek, KEY_LEN, Kek, SecretKey};
use super::signing::AuditSigner;
use super::{CryptoError, DekId, keyfile};

/// File name of the derivation root.
pub const DERIVE_KEY_FILE: &str = "derive.key";
/// File name of the audit signing key.
pub const AUDIT_KEY_FILE: &str = "audit-ed25519.pk8";

/// File name of KEK version `version`.
pub fn kek_file_name(version: u32) -> String {
    format!("kek-v{version}.key")
}

/// The version in a KEK file name, if `name` is exactly `kek-v{N}.key` with
/// N ≥ 1 written without leading zeros.
fn parse_kek_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("kek-v")?.strip_suffix(".key")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Every key the process holds, loaded from one key directory.
///
/// Guarantees: every key file was refused unless private to its owner (no
/// group/other permission bits); key bytes are zeroized on drop and never
/// shown by `Debug`; the current KEK is the highest version present.
pub struct KeyRing {
    dir: PathBuf,
    /// Never empty: `open` fails without a KEK and `retire` keeps the current.
    keks: BTreeMap<u32, Kek>,
    current: u32,
    purpose: PurposeKeys,
    signer: AuditSigner,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("dir", &self.dir)
            .field("kek_versions", &self.kek_versions())
            .field("current", &self.current)
            .field("keys", &"[hidden]")
            .finish()
    }
}

impl KeyRing {
    /// Opens the key directory `dir`, creating it (0700) and its keys on
    /// first start. Returns the key ring and the files it created (empty
    /// when everything existed).
    ///
    /// "First start" means no `kek-v{N}.key` exists: then `derive.key`,
    /// `audit-ed25519.pk8` and `kek-v1.key` are created, each only if
    /// missing (KEK last). Once a KEK exists, a missing `derive.key` or
    /// audit key is an error, never silently replaced: a new derivation
    /// root would change every pseudonym and blind index, and a new audit
    /// key would orphan every earlier signature.
    pub fn open_or_create(dir: &Path) -> Result<(Self, Vec<PathBuf>), CryptoError> {
        keyfile::ensure_dir(dir)?;
        let mut created = Vec::new();
        if scan_kek_versions(dir)?.is_empty() {
            let rng = SystemRandom::new();
            if !dir.join(DERIVE_KEY_FILE).exists() {
                let root = SecretKey::random(&rng)?;
                created.push(keyfile::create(dir, DERIVE_KEY_FILE, root.expose())?);
            }
            if !dir.join(AUDIT_KEY_FILE).exists() {
                let pkcs8 = AuditSigner::generate_pkcs8(&rng)?;
                created.push(keyfile::create(dir, AUDIT_KEY_FILE, &pkcs8)?);
            }
            let kek = SecretKey::random(&rng)?;
            created.push(keyfile::create(dir, &kek_file_name(1), kek.expose())?);
        }
        Ok((Self::open(dir)?, created))
    }

    /// Opens an existing key directory; every file must exist and be
    /// private to its owner.
    pub fn open(dir: &Path) -> Result<Self, CryptoError> {
        let versions = scan_kek_versions(dir)?;
        let mut keks = BTreeMap::new();
        for version in versions {
            let key = read_key32(&dir.join(kek_file_name(version)))?;
            keks.insert(version, Kek::new(version, &key));
        }
        let Some(&current) = keks.keys().next_back() else {
            return Err(CryptoError::NoKek { dir: dir.into() });
        };
        let root = read_key32(&dir.join(DERIVE_KEY_FILE))?;
        let purpose = PurposeKeys::derive(&root)?;
        let audit_path = dir.join(AUDIT_KEY_FILE);
        let pkcs8 = keyfile::read(&audit_path)?;
        let signer = AuditSigner::from_pkcs8(&pkcs8)
            .ok_or(CryptoError::SigningKeyInvalid { path: audit_path })?;
        Ok(Self {
            dir: dir.into(),
            keks,
            current,
            purpose,
            signer,
        })
    }

    /// The key directory this ring was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The KEK version that wraps new DEKs.
    pub fn current_kek_version(&self) -> u32 {
        self.current
    }

    /// Every KEK version held, ascending.
    pub fn kek_versions(&self) -> Vec<u32> {
        self.keks.keys().copied().collect()
    }

    fn kek(&self, version: u32) -> Result<&Kek, CryptoError> {
        self.keks
            .get(&version)
            .ok_or(CryptoError::UnknownKekVersion { version })
    }

    /// A new random DEK with a new random [`DekId`], and its wrapping under
    /// the current KEK (to store).
    pub fn new_dek(&self) -> Result<(Dek, WrappedDek), CryptoError> {
        let rng = SystemRandom::new();
        let key = SecretKey::random(&rng)?;
        let mut id = [0u8; 16];
        rng.fill(&mut id).map_err(|_| CryptoError::Random)?;
        let id = DekId(id);
        let wrapped = envelope::wrap(self.kek(self.current)?, id, &key)?;
        Ok((Dek::new(id, self.current, key), wrapped))
    }

    /// Unwraps `wrapped` under the KEK version it names. Fails if that
    /// version is not held ([`CryptoError::UnknownKekVersion`]) or if any
    /// byte was altered ([`CryptoError::DekUnwrap`]).
    pub fn unwrap_dek(&self, wrapped: &WrappedDek) -> Result<Dek, CryptoError> {
        envelope::unwrap(self.kek(wrapped.kek_version())?, wrapped)
    }

    /// Re-wraps a DEK under the current KEK: same DEK bytes, same
    /// [`DekId`], so every field it sealed still opens (fields bind the KEK
    /// version they were sealed under, which is stored with them).
    pub fn rewrap(&self, wrapped: &WrappedDek) -> Result<WrappedDek, CryptoError> {
        let dek = self.unwrap_dek(wrapped)?;
        envelope::wrap(self.kek(self.current)?, dek.id(), dek.key())
    }

    /// Writes `kek-v{N+1}.key` (32 random bytes, 0600, durable, never
    /// overwriting) and makes it current. Returns the new version. Existing
    /// wrapped DEKs keep opening under their own versions until re-wrapped.
    pub fn rotate(&mut self) -> Result<u32, CryptoError> {
        let next = self
            .current
            .checked_add(1)
            .ok_or(CryptoError::UnknownKekVersion { version: u32::MAX })?;
        let key = SecretKey::random(&SystemRandom::new())?;
        keyfile::create(&self.dir, &kek_file_name(next), key.expose())?;
        self.keks.insert(next, Kek::new(next, &key));
        self.current = next;
        Ok(next)
    }

    /// Deletes KEK version `version` from disk and memory. The caller must
    /// first make sure no stored DEK is wrapped under it (every DEK
    /// re-wrapped): afterwards such a DEK can never be unwrapped. The
    /// current version is never retired.
    ///
    /// Deleting a file does not reliably erase it from SSDs or backups;
    /// retiring limits exposure but is not a shredding guarantee.
    pub fn retire(&mut self, version: u32) -> Result<PathBuf, CryptoError> {
        if version == self.current {
            return Err(CryptoError::RetireCurrent { version });
        }
        self.kek(version)?;
        let path = self.dir.join(kek_file_name(version));
        keyfile::remove(&path)?;
        self.keks.remove(&version);
        Ok(path)
    }

    /// Keyed pseudonym of `value` in `field`: 64 lower-case hex digits, the
    /// same for the same field and value in every record (SPEC §2
    /// `pseudonymize`). Independent of the KEK.
    pub fn pseudonym(&self, field: &str, value: &str) -> String {
        self.purpose.pseudonym(field, value)
    }

    /// Keyed UID pseudonym: `2.25.` + a decimal 128-bit integer (PS3.5
    /// §B.2), at most 44 characters, a valid DICOM UID; the same UID maps to
    /// the same pseudonym in every field and record.
    pub fn uid_pseudonym(&self, value: &str) -> String {
        self.purpose.uid_pseudonym(value)
    }

    /// Blind index of `value` in `field` (its own key, unrelated to the
    /// pseudonym). The caller normalises `value` the same way at write and
    /// at lookup.
    pub fn blind_index(&self, field: &str, value: &str) -> [u8; 32] {
        self.purpose.blind_index(field, value)
    }

    /// Per-subject date offset in days, in `-365..=-1` (never 0), the same
    /// for every record of the subject (PS3.15 E.3.6, "Retain Longitudinal
    /// Temporal Information with Modified Dates Option").
    pub fn date_shift_days(&self, subject: &str) -> i64 {
        self.purpose.date_shift_days(subject)
    }

    /// The audit signing key.
    pub fn audit_signer(&self) -> &AuditSigner {
        &self.signer
    }
}

/// A key file of exactly 32 raw bytes.
fn read_key32(path: &Path) -> Result<SecretKey, CryptoError> {
    let bytes = keyfile::read_exact_len(path, KEY_LEN)?;
    SecretKey::from_slice(&bytes).ok_or(CryptoError::KeyFileLength {
        path: path.into(),
        expected: KEY_LEN,
        found: bytes.len(),
    })
}

/// The KEK versions whose files exist in `dir`, ascending.
fn scan_kek_versions(dir: &Path) -> Result<Vec<u32>, CryptoError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CryptoError::io(dir, e))?;
    let mut versions = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CryptoError::io(dir, e))?;
        if let Some(v) = entry.file_name().to_str().and_then(parse_kek_file_name) {
            versions.push(v);
        }
    }
    versions.sort_unstable();
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kek_file_names_parse_strictly() {
        assert_eq!(parse_kek_file_name("kek-v1.key"), Some(1));
        assert_eq!(parse_kek_file_name("kek-v12.key"), Some(12));
        assert_eq!(
            parse_kek_file_name(&kek_file_name(4_000_000_000)),
            Some(4_000_000_000)
        );
        for bad in [
            "kek-v0.key",
            "kek-v01.key",
            "kek-v.key",
            "kek-v1.key.tmp",
            ".kek-v1.key.ab.tmp",
            "kek-v1a.key",
            "kek-v99999999999.key",
        ] {
            assert_eq!(parse_kek_file_name(bad), None, "{bad}");
        }
    }
}
