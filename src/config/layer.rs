//! One source's settings: the TOML file, the `PHIVAULT_*` environment or
//! the command line, declared once so the three spellings cannot drift.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{ConfigError, HumanDuration, JwtAlgorithm};

/// A value that can be read from an environment variable.
trait EnvValue: Sized {
    fn from_env_str(s: &str) -> Result<Self, String>;
}

macro_rules! env_via_from_str {
    ($($t:ty),*) => {$(
        impl EnvValue for $t {
            fn from_env_str(s: &str) -> Result<Self, String> {
                s.trim().parse::<$t>().map_err(|e| e.to_string())
            }
        }
    )*};
}
env_via_from_str!(
    SocketAddr,
    usize,
    u32,
    u64,
    HumanDuration,
    JwtAlgorithm,
    String
);

impl EnvValue for PathBuf {
    fn from_env_str(s: &str) -> Result<Self, String> {
        Ok(PathBuf::from(s))
    }
}

impl EnvValue for bool {
    fn from_env_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            _ => Err("expected true or false".into()),
        }
    }
}

impl EnvValue for Vec<String> {
    fn from_env_str(s: &str) -> Result<Self, String> {
        Ok(s.split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

/// Declares [`ConfigLayer`] once, so the TOML keys, the environment
/// variables and the merge cannot drift apart.
macro_rules! config_layer {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty, )*) => {
        /// One source's settings, every one optional: the TOML file, the
        /// environment or the command line. Unknown TOML keys are refused.
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct ConfigLayer {
            $( $(#[$doc])* pub $field: Option<$ty>, )*
        }

        impl ConfigLayer {
            /// Every setting's TOML name, in declaration order.
            pub const KEYS: &'static [&'static str] = &[$( stringify!($field), )*];

            /// `self` over `lower`: each setting `self` has wins.
            pub fn over(self, lower: Self) -> Self {
                Self { $( $field: self.$field.or(lower.$field), )* }
            }

            /// The settings named by `PHIVAULT_<KEY>` variables, as given by
            /// `lookup` (`std::env::var` in production, a map in tests).
            pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
                Ok(Self { $( $field: env_setting(&lookup, stringify!($field))?, )* })
            }
        }
    };
}

config_layer! {
    /// Address to listen on.
    listen: SocketAddr,
    /// TLS certificate chain (PEM).
    tls_cert: PathBuf,
    /// TLS private key (PEM).
    tls_key: PathBuf,
    /// Serve plain HTTP (no TLS).
    insecure_http: bool,
    /// Request body limit in bytes.
    body_limit_bytes: usize,
    /// Maximum records per batch.
    batch_max_records: usize,
    /// Requests per second per client IP.
    rate_per_ip: u32,
    /// Burst per client IP.
    rate_per_ip_burst: u32,
    /// Requests per second per principal.
    rate_per_principal: u32,
    /// Burst per principal.
    rate_per_principal_burst: u32,
    /// Request timeout.
    request_timeout: HumanDuration,
    /// Accepted Purpose-Of-Use codes.
    purpose_of_use: Vec<String>,
    /// JWT algorithm.
    jwt_algorithm: JwtAlgorithm,
    /// JWT public key file (EdDSA, RS256).
    jwt_public_key: PathBuf,
    /// JWT clock leeway in seconds.
    jwt_leeway_seconds: u64,
    /// Default policy id.
    default_policy: String,
    /// Purge interval.
    purge_every: HumanDuration,
}

fn env_setting<T: EnvValue>(
    lookup: &impl Fn(&str) -> Option<String>,
    key: &str,
) -> Result<Option<T>, ConfigError> {
    let var = format!("PHIVAULT_{}", key.to_ascii_uppercase());
    match lookup(&var) {
        None => Ok(None),
        Some(raw) => T::from_env_str(&raw)
            .map(Some)
            .map_err(|reason| ConfigError::Env { var, reason }),
    }
}

impl ConfigLayer {
    /// Reads a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// The process environment's `PHIVAULT_*` settings.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_env(|var| std::env::var(var).ok())
    }
}
