//! Bearer tokens (RFC 7519 JWT, RFC 6750 bearer usage): the data
//! directory's HS256 secret, minting (`phivault token issue`) and
//! verification with the algorithm pinned (RFC 8725 §3.1).

use std::fmt;
use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::config::{JwtAlgorithm, JwtSettings};
use crate::domain::{Actor, Role};

/// Length of the HS256 secret: 256 bits, the hash output size (RFC 7518 §3.2).
pub const JWT_SECRET_LEN: usize = 32;

/// The HS256 secret. Invariant: exactly [`JWT_SECRET_LEN`] bytes, wiped on
/// drop, never printed (`Debug` hides it).
pub struct JwtSecret(Zeroizing<[u8; JWT_SECRET_LEN]>);

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

/// A failure to create, read or use a token key.
#[derive(Debug, thiserror::Error)]
pub enum JwtKeyError {
    /// The operating system's random generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file does not hold a key of the expected form.
    #[error("{path}: {reason}")]
    Malformed {
        /// The key file.
        path: String,
        /// What is wrong (never the key bytes).
        reason: &'static str,
    },
    /// The token could not be signed.
    #[error("cannot sign token: {0}")]
    Sign(jsonwebtoken::errors::Error),
}

impl JwtSecret {
    /// Creates a fresh secret from the OS generator and writes it to `path`
    /// (mode 0600) unless a file is already there; returns whether it created one.
    pub fn create_if_missing(path: &Path) -> Result<bool, JwtKeyError> {
        if path.exists() {
            return Ok(false);
        }
        let mut bytes = Zeroizing::new([0u8; JWT_SECRET_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| JwtKeyError::Random)?;
        crate::config::write_private_file(path, bytes.as_ref()).map_err(|source| {
            JwtKeyError::Io {
                path: path.display().to_string(),
                source,
            }
        })?;
        Ok(true)
    }

    /// Reads the secret written by [`JwtSecret::create_if_missing`].
    pub fn read(path: &Path) -> Result<Self, JwtKeyError> {
        let raw = Zeroizing::new(std::fs::read(path).map_err(|source| JwtKeyError::Io {
            path: path.display().to_string(),
            source,
        })?);
        let mut bytes = Zeroizing::new([0u8; JWT_SECRET_LEN]);
        if raw.len() != JWT_SECRET_LEN {
            return Err(JwtKeyError::Malformed {
                path: path.display().to_string(),
                reason: "expected exactly 32 bytes",
            });
        }
        bytes.copy_from_slice(&raw);
        Ok(Self(bytes))
    }
}

/// The claims of a phivault token. `sub`, `role` and `exp` are required
/// (SPEC §4); `iat` is informative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The principal: a user or system name, never a patient.
    pub sub: String,
    /// One of the four roles; any other value makes the token invalid.
    pub role: Role,
    /// Issued at (seconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Expires at (seconds since the Unix epoch).
    pub exp: u64,
}

/// Mints an HS256 token for `sub` in `role`, valid for `ttl` from `now`
/// (seconds since the Unix epoch).
pub fn mint(
    secret: &JwtSecret,
    sub: &str,
    role: Role,
    now: u64,
    ttl: std::time::Duration,
) -> Result<String, JwtKeyError> {
    let claims = Claims {
        sub: sub.to_owned(),
        role,
        iat: Some(now),
        exp: now.saturating_add(ttl.as_secs()),
    };
    let key = EncodingKey::from_secret(secret.0.as_ref()).map_err(JwtKeyError::Sign)?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).map_err(JwtKeyError::Sign)
}

/// RFC 8410 §4: the DER prefix of an Ed25519 SubjectPublicKeyInfo, before
/// the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A public key for `alg` from a key file's text: a JWK (RFC 7517, as an
/// identity provider publishes in its JWKS) of the algorithm's key type, or
/// for EdDSA an Ed25519 `PUBLIC KEY` PEM (RFC 8410).
fn public_key(alg: JwtAlgorithm, text: &str) -> Option<DecodingKey> {
    use base64::Engine;
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(trimmed).ok()?;
        let key = DecodingKey::from_jwk(&jwk).ok()?;
        let family_ok = matches!(
            (alg, &jwk.algorithm),
            (
                JwtAlgorithm::EdDSA,
                jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_)
            ) | (
                JwtAlgorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
            )
        );
        return family_ok.then_some(key);
    }
    if alg != JwtAlgorithm::EdDSA {
        return None;
    }
    let body: String = trimmed
        .strip_prefix("-----BEGIN PUBLIC KEY-----")?
        .strip_suffix("-----END PUBLIC KEY-----")?
        .split_whitespace()
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    let raw = der.strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    (raw.len() == 32).then(|| DecodingKey::from_ed_der(raw))
}

/// Why a token was refused. The variants exist for logs and metrics; the
/// client is told only that the token is invalid (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// The token has expired.
    #[error("token expired")]
    Expired,
    /// Bad signature, wrong or `none` algorithm, missing or unknown claim,
    /// or not a JWT at all.
    #[error("token invalid")]
    Invalid,
}

/// Verifies bearer tokens with one pinned algorithm and key.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier for `settings`: HS256 with the data directory's secret at
    /// `secret_path`, or EdDSA/RS256 with the configured public key file.
    pub fn new(settings: &JwtSettings, secret_path: &Path) -> Result<Self, JwtKeyError> {
        let (algorithm, key) = match (settings.algorithm, &settings.public_key) {
            (JwtAlgorithm::HS256, _) => {
                let secret = JwtSecret::read(secret_path)?;
                let key = DecodingKey::from_secret(secret.0.as_ref()).map_err(|_| {
                    JwtKeyError::Malformed {
                        path: secret_path.display().to_string(),
                        reason: "empty secret",
                    }
                })?;
                (Algorithm::HS256, key)
            }
            (alg, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|source| JwtKeyError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                let key = public_key(alg, &text).ok_or_else(|| JwtKeyError::Malformed {
                    path: path.display().to_string(),
                    reason: "not a public key for the configured jwt_algorithm (a JWK, or for EdDSA an Ed25519 PEM)",
                })?;
                let algorithm = match alg {
                    JwtAlgorithm::EdDSA => Algorithm::EdDSA,
                    _ => Algorithm::RS256,
                };
                (algorithm, key)
            }
            (_, None) => {
                return Err(JwtKeyError::Malformed {
                    path: String::from("jwt_public_key"),
                    reason: "a public key file is required for EdDSA and RS256",
                });
            }
        };
        let mut validation = Validation::new(algorithm);
        // Exactly one algorithm; `none` is not even representable here.
        validation.algorithms = vec![algorithm];
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        validation.leeway = settings.leeway_seconds;
        Ok(Self { key, validation })
    }

    /// The principal named by a valid token.
    pub fn verify(&self, token: &str) -> Result<Actor, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) if !data.claims.sub.is_empty() => Ok(Actor {
                sub: data.claims.sub,
                role: data.claims.role,
            }),
            Ok(_) => Err(TokenError::Invalid),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(TokenError::Expired),
            Err(_) => Err(TokenError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine;

    use super::*;

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn setup() -> (tempfile::TempDir, TokenVerifier, JwtSecret) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.secret");
        assert!(JwtSecret::create_if_missing(&path).unwrap());
        assert!(!JwtSecret::create_if_missing(&path).unwrap());
        let settings = JwtSettings {
            algorithm: JwtAlgorithm::HS256,
            public_key: None,
            leeway_seconds: 0,
        };
        let verifier = TokenVerifier::new(&settings, &path).unwrap();
        let secret = JwtSecret::read(&path).unwrap();
        (dir, verifier, secret)
    }

    #[test]
    fn minted_token_round_trips() {
        let (_d, verifier, secret) = setup();
        let token = mint(
            &secret,
            "alice",
            Role::Reader,
            now(),
            Duration::from_secs(60),
        )
        .unwrap();
        let actor = verifier.verify(&token).unwrap();
        assert_eq!(actor.sub, "alice");
        assert_eq!(actor.role, Role::Reader);
    }

    #[test]
    fn expired_token_is_refused() {
        let (_d, verifier, secret) = setup();
        let token = mint(
            &secret,
            "alice",
            Role::Reader,
            now() - 3600,
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(verifier.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn alg_none_unknown_role_and_missing_claims_are_refused() {
        let (_d, verifier, secret) = setup();
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let exp = now() + 600;
        let none = format!(
            "{}.{}.",
            b64(serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(serde_json::json!({"sub": "eve", "role": "admin", "exp": exp}))
        );
        assert_eq!(verifier.verify(&none), Err(TokenError::Invalid));
        let key = EncodingKey::from_secret(secret.0.as_ref()).unwrap();
        let sign = |claims: serde_json::Value, alg| {
            jsonwebtoken::encode(&Header::new(alg), &claims, &key).unwrap()
        };
        for claims in [
            serde_json::json!({"sub": "eve", "role": "root", "exp": exp}),
            serde_json::json!({"sub": "eve", "exp": exp}),
            serde_json::json!({"role": "admin", "exp": exp}),
            serde_json::json!({"sub": "eve", "role": "admin"}),
            serde_json::json!({"sub": "", "role": "admin", "exp": exp}),
        ] {
            assert_eq!(
                verifier.verify(&sign(claims.clone(), Algorithm::HS256)),
                Err(TokenError::Invalid),
                "{claims}"
            );
        }
        // Same secret, another HMAC algorithm: refused, the algorithm is pinned.
        let hs512 = sign(
            serde_json::json!({"sub": "eve", "role": "admin", "exp": exp}),
            Algorithm::HS512,
        );
        assert_eq!(verifier.verify(&hs512), Err(TokenError::Invalid));
        assert_eq!(verifier.verify("not a token"), Err(TokenError::Invalid));
    }

    #[test]
    fn eddsa_tokens_verify_with_a_pem_or_jwk_public_key_and_hs256_is_refused() {
        use ring::signature::KeyPair;
        let rng = SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let raw = pair.public_key().as_ref().to_vec();
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&raw);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&spki);
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
        let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x}).to_string();

        let claims = serde_json::json!({"sub": "idp-user", "role": "auditor", "exp": now() + 600});
        let signing = EncodingKey::from_ed_der(pkcs8.as_ref());
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &signing).unwrap();
        let (_d, _hs_verifier, secret) = setup();
        let hs256 = mint(
            &secret,
            "idp-user",
            Role::Auditor,
            now(),
            Duration::from_secs(60),
        )
        .unwrap();

        for key_text in [pem, jwk] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("idp.key");
            std::fs::write(&path, key_text).unwrap();
            let settings = JwtSettings {
                algorithm: JwtAlgorithm::EdDSA,
                public_key: Some(path.clone()),
                leeway_seconds: 0,
            };
            let verifier = TokenVerifier::new(&settings, Path::new("/nonexistent")).unwrap();
            assert_eq!(verifier.verify(&token).unwrap().sub, "idp-user");
            assert_eq!(verifier.verify(&hs256), Err(TokenError::Invalid));
            // The same key file is refused for RS256 (wrong key type).
            let rs = JwtSettings {
                algorithm: JwtAlgorithm::RS256,
                ..settings
            };
            assert!(TokenVerifier::new(&rs, Path::new("/nonexistent")).is_err());
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let (_d, verifier, secret) = setup();
        assert_eq!(format!("{secret:?}"), "JwtSecret(<redacted>)");
        assert!(!format!("{verifier:?}").contains("secret"));
    }
}
