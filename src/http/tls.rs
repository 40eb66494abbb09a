//! TLS: the self-signed development certificate made on first start, and
//! the rustls server configuration (ring provider only; no aws-lc-rs).

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use zeroize::Zeroizing;

/// A failure to create or load TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate could not be generated.
    #[error("cannot generate the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file holds no certificate or no private key.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What is missing.
        reason: &'static str,
    },
    /// rustls refused the certificate and key.
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Installs ring as the process-wide rustls provider. Idempotent: a
/// provider already installed (by an earlier call) is kept.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The names the development certificate is valid for.
pub const SELF_SIGNED_NAMES: &[&str] = &["localhost", "127.0.0.1"];

/// Writes a self-signed certificate for `localhost` and `127.0.0.1` to
/// `cert` and its key to `key` (both 0600) unless `cert` exists; returns
/// whether it created them.
pub fn create_self_signed_if_missing(cert: &Path, key: &Path) -> Result<bool, TlsError> {
    if cert.exists() && key.exists() {
        return Ok(false);
    }
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|s| (*s).to_owned()).collect();
    let certified = rcgen::generate_simple_self_signed(names)?;
    let key_pem = Zeroizing::new(certified.signing_key.serialize_pem());
    // Key first: a certificate without its key would be reused forever.
    write(key, key_pem.as_bytes())?;
    write(cert, certified.cert.pem().as_bytes())?;
    Ok(true)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    crate::config::write_private_file(path, bytes).map_err(|source| TlsError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The rustls server configuration for a PEM certificate chain and key,
/// offering HTTP/2 and HTTP/1.1 (ALPN, RFC 7301).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| TlsError::Io { path, source }
    };
    let cert_pem = std::fs::read(cert).map_err(io(cert))?;
    let key_pem = Zeroizing::new(std::fs::read(key).map_err(io(key))?);
    let chain = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(io(cert))?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: cert.display().to_string(),
            reason: "no certificate found",
        });
    }
    let private_key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(io(key))?
        .ok_or_else(|| TlsError::Pem {
            path: key.display().to_string(),
            reason: "no private key found",
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_loads_into_rustls() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        assert!(create_self_signed_if_missing(&cert, &key).unwrap());
        assert!(!create_self_signed_if_missing(&cert, &key).unwrap());
        server_config(&cert, &key).unwrap();
    }

    #[test]
    fn empty_pem_is_refused_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, "").unwrap();
        std::fs::write(&key, "").unwrap();
        let err = server_config(&cert, &key).unwrap_err();
        assert!(err.to_string().contains("cert.pem"), "{err}");
    }
}
