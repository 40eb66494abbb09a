//! `phivault inspect RECORD_ID`: the record exactly as stored (ciphertexts,
//! nonces, key ids, pseudonyms), nothing decrypted; the layout is in
//! docs/FORMAT.md, "Stored record". Local or through the server (auditor).

use std::path::{Path, PathBuf};

use clap::Args;

use super::remote::{self, Target};
use crate::domain::Role;
use crate::store::RecordId;

/// Arguments of `phivault inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The record id (hyphenated UUID).
    #[arg(value_parser = parse_id)]
    record_id: RecordId,
    /// Directory of compliance policies (when opening the database here).
    #[arg(long, env = "PHIVAULT_POLICY_DIR")]
    policy_dir: Option<PathBuf>,
}

fn parse_id(s: &str) -> Result<RecordId, String> {
    s.parse()
        .map_err(|_| "expected a record id (hyphenated UUID)".to_owned())
}

/// Runs `phivault inspect`.
pub fn run(data_dir: &Path, args: InspectArgs) -> anyhow::Result<()> {
    let id = args.record_id;
    let stored = match remote::open(data_dir, args.policy_dir.as_deref(), Role::Auditor)? {
        Target::Local(vault) => match vault.store().get_record(&id)? {
            Some(record) => serde_json::to_value(record)?,
            None => anyhow::bail!("no record {id}"),
        },
        Target::Server(server) => server.get(&format!("/v1/admin/records/{id}/stored"))?,
    };
    println!("{}", serde_json::to_string_pretty(&stored)?);
    Ok(())
}
