//! `phivault keys rotate` and `phivault keys status`: a new master key
//! version with every data key re-wrapped, and the key versions with their
//! data-key counts (no key material). Local or through the server.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use time::OffsetDateTime;

use super::remote::{self, LOCAL_OPERATOR, Target};
use crate::domain::{Actor, Role};

/// Arguments of `phivault keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    action: KeysAction,
    /// Directory of compliance policies (when opening the database here).
    #[arg(long, global = true, env = "PHIVAULT_POLICY_DIR")]
    policy_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Make a new master key version current and re-wrap every data key;
    /// prints the JSON summary.
    Rotate,
    /// Print the key versions and how many data keys each wraps (JSON).
    Status,
}

/// Runs `phivault keys`.
pub fn run(data_dir: &Path, args: KeysArgs) -> anyhow::Result<()> {
    let target = remote::open(data_dir, args.policy_dir.as_deref(), Role::Admin)?;
    let out = match (args.action, target) {
        (KeysAction::Rotate, Target::Local(vault)) => {
            let actor = Actor {
                sub: LOCAL_OPERATOR.into(),
                role: Role::Admin,
            };
            let show = remote::show_progress();
            let summary = vault.rotate_keys(&actor, OffsetDateTime::now_utc(), &mut |n| {
                if show {
                    eprint!("\rphivault: re-wrapped {n} data keys");
                }
            })?;
            if show {
                eprintln!();
            }
            serde_json::to_value(summary)?
        }
        (KeysAction::Rotate, Target::Server(server)) => {
            server.post("/v1/admin/keys/rotate", &json!({}))?
        }
        (KeysAction::Status, Target::Local(vault)) => serde_json::to_value(vault.key_status()?)?,
        (KeysAction::Status, Target::Server(server)) => server.get("/v1/admin/keys")?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
