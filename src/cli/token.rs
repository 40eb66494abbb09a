//! `phivault token issue --role ROLE --sub NAME [--ttl DURATION]`: mints an
//! HS256 bearer token with the data directory's secret and prints it alone
//! on stdout.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::config::{DataDir, HumanDuration};
use crate::domain::Role;
use crate::http::{JwtSecret, mint};

/// The longest token lifetime `token issue` grants: long-lived bearer
/// tokens are standing credentials (RFC 8725 §3.10 asks for short ones).
const MAX_TTL_SECONDS: u64 = 30 * 86_400;

/// Arguments of `phivault token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    action: TokenAction,
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Mint a token (HS256, signed with `<data-dir>/keys/jwt.secret`) and
    /// print it on stdout.
    Issue {
        /// The role: ingest, reader, auditor or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The principal's name (a person or system, never a patient).
        #[arg(long, value_parser = parse_sub)]
        sub: String,
        /// Lifetime, e.g. 30m, 1h, 8h (at most 30d).
        #[arg(long, default_value = "1h")]
        ttl: HumanDuration,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "ingest" => Ok(Role::Ingest),
        "reader" => Ok(Role::Reader),
        "auditor" => Ok(Role::Auditor),
        "admin" => Ok(Role::Admin),
        _ => Err("expected ingest, reader, auditor or admin".into()),
    }
}

fn parse_sub(s: &str) -> Result<String, String> {
    if s.is_empty() || s.chars().count() > 128 || s.chars().any(char::is_control) {
        Err("1-128 characters, no control characters".into())
    } else {
        Ok(s.to_owned())
    }
}

/// Runs `phivault token`.
pub fn run(data_dir: &Path, args: TokenArgs) -> anyhow::Result<()> {
    match args.action {
        TokenAction::Issue { role, sub, ttl } => {
            if ttl.get().as_secs() > MAX_TTL_SECONDS {
                anyhow::bail!("--ttl is at most 30d");
            }
            let data_dir = DataDir::new(data_dir);
            let path = data_dir.jwt_secret();
            if !path.exists() {
                anyhow::bail!(
                    "no JWT secret at {}: start `phivault --data-dir {} serve` once to create it",
                    path.display(),
                    data_dir.root().display()
                );
            }
            let secret = JwtSecret::read(&path)?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs();
            println!("{}", mint(&secret, &sub, role, now, ttl.get())?);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_subjects_are_checked() {
        assert_eq!(parse_role("admin"), Ok(Role::Admin));
        assert!(parse_role("root").is_err());
        assert!(parse_sub("").is_err());
        assert!(parse_sub("a\nb").is_err());
        assert_eq!(parse_sub("you"), Ok("you".into()));
    }
}
