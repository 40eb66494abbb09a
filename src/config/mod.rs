//! Server configuration: built-in defaults < a TOML file < `PHIVAULT_*`
//! environment variables < command-line flags, in that order of precedence.
//!
//! Each setting has one name in three spellings: `body_limit_bytes` in the
//! TOML file, `PHIVAULT_BODY_LIMIT_BYTES` in the environment and
//! `--body-limit-bytes` on the command line. [`ConfigLayer`] holds one
//! source's settings (every one optional); [`Config::resolve`] stacks the
//! layers over the defaults and checks the result.

mod data_dir;
mod duration;
mod layer;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use data_dir::{
    DataDir, DataDirError, Prepared, create_private_dir, read_file, write_private_file,
};
pub use duration::{DurationError, HumanDuration};
pub use layer::ConfigLayer;

/// The default listen address (SPEC §5).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// The default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 1024 * 1024;
/// The default maximum number of records in one batch.
pub const DEFAULT_BATCH_MAX_RECORDS: usize = 1000;
/// The default request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The default JWT clock leeway, in seconds.
pub const DEFAULT_JWT_LEEWAY_SECONDS: u64 = 5;
/// The largest JWT clock leeway accepted, in seconds.
pub const MAX_JWT_LEEWAY_SECONDS: u64 = 30;
/// The policy applied when none is named.
pub const DEFAULT_POLICY: &str = "gdpr";

/// The Purpose-Of-Use codes accepted by default: HL7 v3 `PurposeOfUse`
/// (code system 2.16.840.1.113883.5.8) codes under which a HIPAA covered
/// entity may disclose PHI without a separate authorization (45 CFR 164.506
/// treatment, payment and operations; 164.512 public health, research under
/// waiver, legal; 164.524 the individual's own request). Deliberately left
/// out: `HMARKT` (marketing needs an authorization, 45 CFR 164.508(a)(3)).
pub const DEFAULT_PURPOSE_OF_USE: &[&str] = &[
    "TREAT",     // treatment
    "ETREAT",    // emergency treatment ("break the glass")
    "CAREMGT",   // care management
    "HPAYMT",    // healthcare payment
    "HOPERAT",   // healthcare operations
    "HQUALIMP",  // quality improvement
    "RECORDMGT", // records management
    "HLEGAL",    // legal
    "HRESCH",    // healthcare research
    "CLINTRCH",  // clinical trial research
    "PUBHLTH",   // public health
    "PATRQT",    // requested by the patient
    "FAMRQT",    // requested by the family
    "PWATRNY",   // requested by a power of attorney
];

/// The default per-client-IP rate: requests per second, then burst.
pub const DEFAULT_RATE_PER_IP: (u32, u32) = (100, 200);
/// The default per-principal (token `sub`) rate: requests per second, then burst.
pub const DEFAULT_RATE_PER_PRINCIPAL: (u32, u32) = (50, 100);

/// The JWT signature algorithm the server accepts; every other `alg`
/// (including `none`) is refused (RFC 8725 §3.1: pin the algorithm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 with the data directory's `keys/jwt.secret` (tokens from
    /// `phivault token issue`).
    HS256,
    /// Ed25519 signatures checked with `jwt_public_key` (an identity provider).
    EdDSA,
    /// RSASSA-PKCS1-v1_5 SHA-256 checked with `jwt_public_key`.
    RS256,
}

impl FromStr for JwtAlgorithm {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "HS256" => Ok(Self::HS256),
            "EdDSA" => Ok(Self::EdDSA),
            "RS256" => Ok(Self::RS256),
            _ => Err(ConfigError::Invalid {
                key: "jwt_algorithm",
                reason: "expected HS256, EdDSA or RS256".into(),
            }),
        }
    }
}

/// A token-bucket rate: a sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests allowed at once after an idle period.
    pub burst: NonZeroU32,
}

/// How the server speaks on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TLS with the data directory's self-signed certificate (the default).
    SelfSignedTls,
    /// TLS with the operator's certificate chain and key (PEM files).
    Tls {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// Plain HTTP: only with `--insecure-http`, for a TLS-terminating proxy
    /// on the same host.
    InsecureHttp,
}

/// The JWT verification settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// The one accepted algorithm.
    pub algorithm: JwtAlgorithm,
    /// The public key (PEM) for EdDSA or RS256; `None` for HS256.
    pub public_key: Option<PathBuf>,
    /// Clock leeway for `exp`, at most [`MAX_JWT_LEEWAY_SECONDS`].
    pub leeway_seconds: u64,
}

/// The resolved, checked server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// TLS or not, and with which certificate.
    pub transport: Transport,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Largest accepted batch, in records.
    pub batch_max_records: usize,
    /// Rate limit per client IP address.
    pub rate_per_ip: RateLimit,
    /// Rate limit per principal (token `sub`).
    pub rate_per_principal: RateLimit,
    /// Time after which a request is answered 408.
    pub request_timeout: Duration,
    /// The accepted `Purpose-Of-Use` codes.
    pub purpose_of_use: BTreeSet<String>,
    /// Token verification.
    pub jwt: JwtSettings,
    /// The policy id applied when none is named.
    pub default_policy: String,
    /// How often the server purges expired records; `None`: never.
    pub purge_every: Option<Duration>,
}

/// A configuration that cannot be used; names the setting and its source,
/// never a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for these settings.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause, with line and column.
        source: Box<toml::de::Error>,
    },
    /// An environment variable could not be read as its setting.
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable, e.g. `PHIVAULT_LISTEN`.
        var: String,
        /// What was expected.
        reason: String,
    },
    /// A setting's value is out of range or contradicts another.
    #[error("setting {key}: {reason}")]
    Invalid {
        /// The setting's TOML name.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn rate(key: &'static str, value: u32) -> Result<NonZeroU32, ConfigError> {
    NonZeroU32::new(value).ok_or(ConfigError::Invalid {
        key,
        reason: "must be at least 1".into(),
    })
}

/// A Purpose-Of-Use code must be an HL7 v3 code: upper-case letters only.
fn check_purpose_code(code: &str) -> Result<(), ConfigError> {
    if (1..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key: "purpose_of_use",
            reason: "codes are 1-32 upper-case letters (HL7 v3 PurposeOfUse)".into(),
        })
    }
}

impl Config {
    /// Stacks `flags` over `env` over `file` over the built-in defaults and
    /// checks the result.
    pub fn resolve(
        file: ConfigLayer,
        env: ConfigLayer,
        flags: ConfigLayer,
    ) -> Result<Self, ConfigError> {
        let l = flags.over(env).over(file);
        let insecure = l.insecure_http.unwrap_or(false);
        let transport = match (l.tls_cert, l.tls_key, insecure) {
            (None, None, false) => Transport::SelfSignedTls,
            (None, None, true) => Transport::InsecureHttp,
            (Some(cert), Some(key), false) => Transport::Tls { cert, key },
            (Some(_), Some(_), true) => {
                return Err(ConfigError::Invalid {
                    key: "insecure_http",
                    reason: "contradicts tls_cert/tls_key".into(),
                });
            }
            _ => {
                return Err(ConfigError::Invalid {
                    key: "tls_cert",
                    reason: "tls_cert and tls_key go together".into(),
                });
            }
        };
        let body_limit_bytes = l.body_limit_bytes.unwrap_or(DEFAULT_BODY_LIMIT_BYTES);
        if body_limit_bytes == 0 {
            return Err(ConfigError::Invalid {
                key: "body_limit_bytes",
                reason: "must be at least 1".into(),
            });
        }
        let batch_max_records = l.batch_max_records.unwrap_or(DEFAULT_BATCH_MAX_RECORDS);
        if batch_max_records == 0 {
            return Err(ConfigError::Invalid {
                key: "batch_max_records",
                reason: "must be at least 1".into(),
            });
        }
        let purpose_of_use: BTreeSet<String> = match l.purpose_of_use {
            Some(codes) => codes.into_iter().collect(),
            None => DEFAULT_PURPOSE_OF_USE
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
        };
        if purpose_of_use.is_empty() {
            return Err(ConfigError::Invalid {
                key: "purpose_of_use",
                reason: "at least one code is needed, or no PHI can ever be read".into(),
            });
        }
        for code in &purpose_of_use {
            check_purpose_code(code)?;
        }
        let algorithm = l.jwt_algorithm.unwrap_or(JwtAlgorithm::HS256);
        match (algorithm, &l.jwt_public_key) {
            (JwtAlgorithm::HS256, Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: "jwt_public_key",
                    reason: "only used with jwt_algorithm EdDSA or RS256".into(),
                });
            }
            (JwtAlgorithm::EdDSA | JwtAlgorithm::RS256, None) => {
                return Err(ConfigError::Invalid {
                    key: "jwt_public_key",
                    reason: "required with jwt_algorithm EdDSA or RS256".into(),
                });
            }
            _ => {}
        }
        let leeway_seconds = l.jwt_leeway_seconds.unwrap_or(DEFAULT_JWT_LEEWAY_SECONDS);
        if leeway_seconds > MAX_JWT_LEEWAY_SECONDS {
            return Err(ConfigError::Invalid {
                key: "jwt_leeway_seconds",
                reason: format!("at most {MAX_JWT_LEEWAY_SECONDS}"),
            });
        }
        let default_policy = l.default_policy.unwrap_or_else(|| DEFAULT_POLICY.into());
        if default_policy.is_empty() {
            return Err(ConfigError::Invalid {
                key: "default_policy",
                reason: "must not be empty".into(),
            });
        }
        let default_listen = SocketAddr::from(([127, 0, 0, 1], 8443));
        Ok(Self {
            listen: l.listen.unwrap_or(default_listen),
            transport,
            body_limit_bytes,
            batch_max_records,
            rate_per_ip: RateLimit {
                per_second: rate(
                    "rate_per_ip",
                    l.rate_per_ip.unwrap_or(DEFAULT_RATE_PER_IP.0),
                )?,
                burst: rate(
                    "rate_per_ip_burst",
                    l.rate_per_ip_burst.unwrap_or(DEFAULT_RATE_PER_IP.1),
                )?,
            },
            rate_per_principal: RateLimit {
                per_second: rate(
                    "rate_per_principal",
                    l.rate_per_principal.unwrap_or(DEFAULT_RATE_PER_PRINCIPAL.0),
                )?,
                burst: rate(
                    "rate_per_principal_burst",
                    l.rate_per_principal_burst
                        .unwrap_or(DEFAULT_RATE_PER_PRINCIPAL.1),
                )?,
            },
            request_timeout: l
                .request_timeout
                .map_or(DEFAULT_REQUEST_TIMEOUT, HumanDuration::get),
            purpose_of_use,
            jwt: JwtSettings {
                algorithm,
                public_key: l.jwt_public_key,
                leeway_seconds,
            },
            default_policy,
            purge_every: l.purge_every.map(HumanDuration::get),
        })
    }

    /// The configuration with every default: what `serve` runs on when
    /// nothing is configured.
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::resolve(
            ConfigLayer::default(),
            ConfigLayer::default(),
            ConfigLayer::default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> ConfigLayer {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ConfigLayer::from_env(|var| map.get(var).cloned()).unwrap()
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = Config::defaults().unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.transport, Transport::SelfSignedTls);
        assert_eq!(c.body_limit_bytes, 1 << 20);
        assert_eq!(c.batch_max_records, 1000);
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.jwt.algorithm, JwtAlgorithm::HS256);
        assert_eq!(c.default_policy, "gdpr");
        assert!(c.purpose_of_use.contains("TREAT"));
        assert!(!c.purpose_of_use.contains("HMARKT"));
        assert_eq!(c.purge_every, None);
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let file: ConfigLayer = toml::from_str(
            r#"
            listen = "127.0.0.1:1001"
            body_limit_bytes = 1001
            batch_max_records = 1001
            request_timeout = "11s"
            "#,
        )
        .unwrap();
        let env = env(&[
            ("PHIVAULT_LISTEN", "127.0.0.1:2002"),
            ("PHIVAULT_BODY_LIMIT_BYTES", "2002"),
            ("PHIVAULT_UNRELATED", "ignored"),
        ]);
        let flags = ConfigLayer {
            listen: Some("127.0.0.1:3003".parse().unwrap()),
            ..ConfigLayer::default()
        };
        let c = Config::resolve(file, env, flags).unwrap();
        assert_eq!(c.listen.port(), 3003, "flag wins over env and file");
        assert_eq!(c.body_limit_bytes, 2002, "env wins over file");
        assert_eq!(c.batch_max_records, 1001, "file wins over default");
        assert_eq!(c.request_timeout, Duration::from_secs(11));
        assert_eq!(c.rate_per_ip.per_second.get(), DEFAULT_RATE_PER_IP.0);
    }

    #[test]
    fn env_lists_and_booleans() {
        let layer = env(&[
            ("PHIVAULT_PURPOSE_OF_USE", "TREAT, HRESCH"),
            ("PHIVAULT_INSECURE_HTTP", "true"),
        ]);
        let c = Config::resolve(ConfigLayer::default(), layer, ConfigLayer::default()).unwrap();
        assert_eq!(
            c.purpose_of_use
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["HRESCH", "TREAT"]
        );
        assert_eq!(c.transport, Transport::InsecureHttp);
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let err =
            ConfigLayer::from_env(|v| (v == "PHIVAULT_LISTEN").then(|| "nope".into())).unwrap_err();
        assert!(err.to_string().contains("PHIVAULT_LISTEN"), "{err}");
    }

    #[test]
    fn file_refuses_unknown_keys() {
        assert!(toml::from_str::<ConfigLayer>("lisen = \"x\"").is_err());
    }

    #[test]
    fn contradictions_and_ranges_are_refused() {
        let bad = [
            ConfigLayer {
                tls_cert: Some("c.pem".into()),
                ..Default::default()
            },
            ConfigLayer {
                tls_cert: Some("c.pem".into()),
                tls_key: Some("k.pem".into()),
                insecure_http: Some(true),
                ..Default::default()
            },
            ConfigLayer {
                jwt_algorithm: Some(JwtAlgorithm::EdDSA),
                ..Default::default()
            },
            ConfigLayer {
                jwt_leeway_seconds: Some(31),
                ..Default::default()
            },
            ConfigLayer {
                rate_per_ip: Some(0),
                ..Default::default()
            },
            ConfigLayer {
                purpose_of_use: Some(vec!["treat".into()]),
                ..Default::default()
            },
            ConfigLayer {
                purpose_of_use: Some(vec![]),
                ..Default::default()
            },
        ];
        for layer in bad {
            let shown = format!("{layer:?}");
            assert!(
                Config::resolve(layer, ConfigLayer::default(), ConfigLayer::default()).is_err(),
                "{shown}"
            );
        }
    }

    #[test]
    fn every_key_has_an_env_variable() {
        // The env names are derived from KEYS; make sure each is read.
        for key in ConfigLayer::KEYS {
            let var = format!("PHIVAULT_{}", key.to_ascii_uppercase());
            let result = ConfigLayer::from_env(|v| (v == var).then(|| "\u{0}bad".into()));
            // Strings and paths accept anything; the rest must refuse this value.
            let lenient = matches!(
                *key,
                "tls_cert" | "tls_key" | "jwt_public_key" | "default_policy" | "purpose_of_use"
            );
            assert_eq!(result.is_ok(), lenient, "{key}");
        }
    }
}
