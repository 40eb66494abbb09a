//! The data directory's layout and its first-start preparation: the
//! directories (0700) and the secrets and certificate (0600) that `serve`
//! creates on first start and reuses afterwards (SPEC §4).

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The data directory. Holds paths only; nothing is touched on disk until
/// [`DataDir::prepare`] or a reader is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

/// A failure to prepare or read the data directory.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// A directory or file could not be created, written or read.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The JWT secret could not be created or read.
    #[error(transparent)]
    Jwt(#[from] crate::http::JwtKeyError),
    /// The self-signed certificate could not be created.
    #[error(transparent)]
    Tls(#[from] crate::http::TlsError),
}

/// What [`DataDir::prepare`] created (an empty list on later starts), so the
/// caller can report where each new file is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Files created by this call, each with a short description.
    pub created: Vec<(PathBuf, &'static str)>,
}

impl DataDir {
    /// The data directory at `root` (default `./phivault-data`, SPEC §5).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `keys/`: master key versions, derived keys, audit signing key, JWT secret.
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    /// `keys/jwt.secret`: 32 random bytes, the HS256 key of locally minted tokens.
    pub fn jwt_secret(&self) -> PathBuf {
        self.keys_dir().join("jwt.secret")
    }

    /// `tls/`: the self-signed certificate and its key.
    pub fn tls_dir(&self) -> PathBuf {
        self.root.join("tls")
    }

    /// `tls/cert.pem`: what clients trust (`curl --cacert`).
    pub fn tls_cert(&self) -> PathBuf {
        self.tls_dir().join("cert.pem")
    }

    /// `tls/key.pem`: the certificate's private key.
    pub fn tls_key(&self) -> PathBuf {
        self.tls_dir().join("key.pem")
    }

    /// `phivault.toml`: the configuration file read when `--config` is not given.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("phivault.toml")
    }

    /// Creates whatever is missing: the directories (0700), the JWT secret
    /// and, when `self_signed_tls` is set, the self-signed certificate for
    /// `localhost` and `127.0.0.1` (files 0600). Existing files are reused,
    /// never overwritten.
    ///
    /// Hook: the master key and the audit signing key are created by the
    /// crypto module; add its `open_or_create` here and push its new files
    /// onto `created`.
    pub fn prepare(&self, self_signed_tls: bool) -> Result<Prepared, DataDirError> {
        let mut prepared = Prepared::default();
        create_private_dir(&self.root)?;
        create_private_dir(&self.keys_dir())?;
        if crate::http::JwtSecret::create_if_missing(&self.jwt_secret())? {
            prepared
                .created
                .push((self.jwt_secret(), "JWT signing secret (HS256)"));
        }
        if self_signed_tls {
            create_private_dir(&self.tls_dir())?;
            if crate::http::create_self_signed_if_missing(&self.tls_cert(), &self.tls_key())? {
                prepared.created.push((
                    self.tls_cert(),
                    "self-signed TLS certificate for localhost and 127.0.0.1 (clients trust this file)",
                ));
                prepared.created.push((self.tls_key(), "its private key"));
            }
        }
        Ok(prepared)
    }
}

/// Creates `dir` and its missing parents with mode 0700; an existing
/// directory is left as it is.
pub fn create_private_dir(dir: &Path) -> Result<(), DataDirError> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| DataDirError::Io {
            path: dir.to_owned(),
            source,
        })
}

/// Writes `bytes` to `path` with mode 0600, atomically: the bytes go to a
/// temporary sibling that is synced and then renamed, so a crash never leaves
/// a truncated secret behind. An existing `path` is replaced: callers decide
/// whether to overwrite.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    // The mode above applies only when the file is new; force it anyway.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        // Make the rename itself durable.
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// Reads a whole file, naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, DataDirError> {
    std::fs::read(path).map_err(|source| DataDirError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn prepare_creates_private_files_once_and_reuses_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("data"));
        let first = dir.prepare(true).unwrap();
        assert_eq!(first.created.len(), 3);
        for path in [dir.jwt_secret(), dir.tls_cert(), dir.tls_key()] {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        for path in [dir.root().to_owned(), dir.keys_dir(), dir.tls_dir()] {
            assert_eq!(mode(&path), 0o700, "{}", path.display());
        }
        let secret = std::fs::read(dir.jwt_secret()).unwrap();
        let cert = std::fs::read(dir.tls_cert()).unwrap();
        let again = dir.prepare(true).unwrap();
        assert!(again.created.is_empty());
        assert_eq!(std::fs::read(dir.jwt_secret()).unwrap(), secret);
        assert_eq!(std::fs::read(dir.tls_cert()).unwrap(), cert);
    }

    #[test]
    fn prepare_without_self_signed_makes_no_certificate() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path());
        dir.prepare(false).unwrap();
        assert!(!dir.tls_cert().exists());
    }
}
