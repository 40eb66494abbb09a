//! Key files on disk: created 0600 atomically and durably, refused when
//! group or others have any access.
//!
//! Invariant: a key file is never overwritten. A new file is written to a
//! temporary name, fsynced, then hard-linked to its final name (which fails
//! if the name exists), and the directory is fsynced.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::CryptoError;

/// Upper bound on what is read from a key file (the largest, the Ed25519
/// PKCS#8 document, is 83 bytes): a wrong path cannot make us read a huge
/// file into memory.
const MAX_KEY_FILE: u64 = 4096;

/// Creates `dir` (mode 0700 on unix) if it does not exist.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), CryptoError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| CryptoError::io(dir, e))
}

/// Reads a key file, refusing it if it is not a regular file or if group or
/// others have any permission on it. The mode is checked on the opened file
/// (fstat), so the file checked is the file read.
pub(crate) fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CryptoError::KeyFileMissing { path: path.into() });
        }
        Err(e) => return Err(CryptoError::io(path, e)),
    };
    let meta = file.metadata().map_err(|e| CryptoError::io(path, e))?;
    if !meta.is_file() {
        return Err(CryptoError::KeyFileNotRegular { path: path.into() });
    }
    check_private(path, &meta)?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(128));
    file.take(MAX_KEY_FILE)
        .read_to_end(&mut bytes)
        .map_err(|e| CryptoError::io(path, e))?;
    Ok(bytes)
}

/// Reads a key file that must hold exactly `len` bytes.
pub(crate) fn read_exact_len(path: &Path, len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let bytes = read(path)?;
    if bytes.len() != len {
        return Err(CryptoError::KeyFileLength {
            path: path.into(),
            expected: len,
            found: bytes.len(),
        });
    }
    Ok(bytes)
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata) -> Result<(), CryptoError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CryptoError::KeyFileExposed {
            path: path.into(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &fs::Metadata) -> Result<(), CryptoError> {
    // No POSIX mode bits: access is governed by the directory's ACL.
    Ok(())
}

/// Writes a new key file `dir/name` with mode 0600, durably, without ever
/// replacing an existing file (an existing name is an `AlreadyExists` I/O
/// error). Returns the final path.
pub(crate) fn create(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf, CryptoError> {
    let final_path = dir.join(name);
    let mut suffix = [0u8; 8];
    SystemRandom::new()
        .fill(&mut suffix)
        .map_err(|_| CryptoError::Random)?;
    let tmp_path = dir.join(format!(".{name}.{}.tmp", hex::encode(suffix)));

    let result = write_then_link(&tmp_path, &final_path, contents);
    // The temporary name is removed whether or not linking worked; the key
    // bytes now live only under the final name (or nowhere).
    let _ = fs::remove_file(&tmp_path);
    result?;
    sync_dir(dir)?;
    Ok(final_path)
}

fn write_then_link(tmp: &Path, final_path: &Path, contents: &[u8]) -> Result<(), CryptoError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(tmp).map_err(|e| CryptoError::io(tmp, e))?;
    file.write_all(contents)
        .map_err(|e| CryptoError::io(tmp, e))?;
    file.sync_all().map_err(|e| CryptoError::io(tmp, e))?;
    drop(file);
    // link(2) is atomic and fails if the target exists: never overwrites.
    fs::hard_link(tmp, final_path).map_err(|e| CryptoError::io(final_path, e))
}

/// Deletes a key file and makes the deletion durable.
pub(crate) fn remove(path: &Path) -> Result<(), CryptoError> {
    fs::remove_file(path).map_err(|e| CryptoError::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsync on the directory makes a create, link or unlink durable (POSIX).
fn sync_dir(dir: &Path) -> Result<(), CryptoError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| CryptoError::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_files_are_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = create(dir.path(), "a.key", &[1; 32]).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_exact_len(&path, 32).unwrap().as_slice(), &[1; 32]);
        let again = create(dir.path(), "a.key", &[2; 32]);
        assert!(matches!(again, Err(CryptoError::KeyFileIo { .. })));
        assert_eq!(read(&path).unwrap().as_slice(), &[1; 32]);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn group_or_other_access_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = create(dir.path(), "k.key", &[0xEE; 32]).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o601] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = read(&path).unwrap_err();
            assert!(
                matches!(err, CryptoError::KeyFileExposed { .. }),
                "{mode:o}"
            );
            let msg = err.to_string();
            assert!(msg.contains("k.key"), "{msg}");
            assert!(!msg.to_lowercase().contains("eeeeeeee"), "{msg}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(read(&path).is_ok());
    }

    #[test]
    fn wrong_length_and_missing_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = create(dir.path(), "short.key", &[0; 31]).unwrap();
        assert!(matches!(
            read_exact_len(&path, 32),
            Err(CryptoError::KeyFileLength {
                expected: 32,
                found: 31,
                ..
            })
        ));
        assert!(matches!(
            read(&dir.path().join("none.key")),
            Err(CryptoError::KeyFileMissing { .. })
        ));
    }

    #[test]
    fn a_directory_is_not_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("d.key");
        fs::create_dir(&sub).unwrap();
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(
            read(&sub),
            Err(CryptoError::KeyFileNotRegular { .. })
        ));
    }
}
