//! `phivault purge [--dry-run] [--as-of RFC3339]`: deletes every record
//! whose retention ended, unless held; prints the JSON summary on stdout and
//! progress on stderr when it is a terminal. Runs locally, or through the
//! server holding the database (SPEC §5).

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::remote::{self, LOCAL_OPERATOR, Target};
use crate::domain::{Actor, Role};

/// Arguments of `phivault purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Count what would be purged; change nothing (no audit entry either).
    #[arg(long)]
    dry_run: bool,
    /// Purge as of this time (RFC 3339, e.g. 2030-01-01T00:00:00Z) instead
    /// of now: a record is due when its retain_until <= this time.
    #[arg(long, value_parser = parse_time)]
    as_of: Option<OffsetDateTime>,
    /// Directory of compliance policies (when opening the database here).
    #[arg(long, env = "PHIVAULT_POLICY_DIR")]
    policy_dir: Option<PathBuf>,
}

/// Parses an RFC 3339 time.
pub(super) fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| "expected an RFC 3339 time".to_owned())
}

/// Runs `phivault purge`.
pub fn run(data_dir: &Path, args: PurgeArgs) -> anyhow::Result<()> {
    let as_of = args.as_of.unwrap_or_else(OffsetDateTime::now_utc);
    let summary = match remote::open(data_dir, args.policy_dir.as_deref(), Role::Admin)? {
        Target::Local(vault) => {
            let actor = Actor {
                sub: LOCAL_OPERATOR.into(),
                role: Role::Admin,
            };
            let show = remote::show_progress();
            let summary = vault.purge(as_of, args.dry_run, &actor, &mut |done, due| {
                if show {
                    eprint!("\rphivault: purge {done}/{due}");
                }
            })?;
            if show {
                eprintln!();
            }
            serde_json::to_value(summary)?
        }
        Target::Server(server) => server.post(
            "/v1/admin/purge",
            &json!({
                "as_of": as_of.format(&Rfc3339)?,
                "dry_run": args.dry_run,
            }),
        )?,
    };
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
