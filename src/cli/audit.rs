//! `phivault audit verify | public-key | export | sign`: checks the whole
//! audit chain and its signatures (exit 0 only if intact), prints the audit
//! public key for auditors, exports the entries as JSON lines in their
//! stored canonical form (for an independent verifier, docs/FORMAT.md), and
//! signs the chain head on demand. Local or through the server.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::remote::{self, LOCAL_OPERATOR, Target};
use crate::audit::AuditEntry;
use crate::crypto::KeyRing;
use crate::domain::{Actor, Role};
use crate::vault::{AUDIT_PAGE_MAX, AuditVerification, keys_path};

/// Arguments of `phivault audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    action: AuditAction,
    /// Directory of compliance policies (when opening the database here).
    #[arg(long, global = true, env = "PHIVAULT_POLICY_DIR")]
    policy_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Check every entry's link and hash and every signed head's signature;
    /// prints the result as JSON; exit 0 only if the log is intact,
    /// otherwise names the first bad entry and exits 1.
    Verify,
    /// Print the audit public key (Ed25519, 32 bytes, hex) that verifies
    /// signed chain heads and erasure receipts.
    PublicKey,
    /// Print audit entries as JSON lines, exactly in their stored canonical
    /// form.
    Export {
        /// The first seq.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// At most this many entries (default: all).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Sign the chain head now; prints the signed head (JSON).
    Sign,
}

/// Runs `phivault audit`.
pub fn run(data_dir: &Path, args: AuditArgs) -> anyhow::Result<()> {
    let policy_dir = args.policy_dir.as_deref();
    match args.action {
        AuditAction::PublicKey => {
            // Only the key directory is needed, never the database.
            let keys = KeyRing::open(&keys_path(data_dir))?;
            println!("{}", hex::encode(keys.audit_signer().public_key()));
            Ok(())
        }
        AuditAction::Verify => {
            let result: AuditVerification = match remote::open(data_dir, policy_dir, Role::Auditor)?
            {
                Target::Local(vault) => vault.verify_audit()?,
                Target::Server(server) => {
                    serde_json::from_value(server.post("/v1/audit/verify", &json!({}))?)
                        .context("the server's verification answer is not readable")?
                }
            };
            println!("{}", serde_json::to_string_pretty(&result)?);
            if result.verified {
                return Ok(());
            }
            anyhow::bail!(
                "audit chain broken at entry {}: {}",
                result.first_bad_seq.unwrap_or(0),
                result.reason.as_deref().unwrap_or("unknown")
            )
        }
        AuditAction::Export { from, limit } => {
            export(data_dir, policy_dir, from, limit.unwrap_or(u64::MAX))
        }
        AuditAction::Sign => {
            let head = match remote::open(data_dir, policy_dir, Role::Admin)? {
                Target::Local(vault) => {
                    let actor = Actor {
                        sub: LOCAL_OPERATOR.into(),
                        role: Role::Admin,
                    };
                    serde_json::to_value(vault.sign_chain_head(&actor, OffsetDateTime::now_utc())?)?
                }
                Target::Server(server) => server.post("/v1/audit/sign", &json!({}))?,
            };
            println!("{}", serde_json::to_string_pretty(&head)?);
            Ok(())
        }
    }
}

/// Writes entries from `from` on, at most `limit`, one canonical JSON per line.
fn export(
    data_dir: &Path,
    policy_dir: Option<&Path>,
    mut from: u64,
    limit: u64,
) -> anyhow::Result<()> {
    let target = remote::open(data_dir, policy_dir, Role::Auditor)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut left = limit;
    while left > 0 {
        let want = usize::try_from(left.min(AUDIT_PAGE_MAX as u64)).unwrap_or(AUDIT_PAGE_MAX);
        let (entries, next) = match &target {
            Target::Local(vault) => {
                let page = vault.audit_page(from, want)?;
                (page.entries, page.next)
            }
            Target::Server(server) => {
                let page = server.get(&format!("/v1/audit?from={from}&limit={want}"))?;
                let entries: Vec<AuditEntry> =
                    serde_json::from_value(page.get("entries").cloned().unwrap_or(Value::Null))
                        .context("the server's audit page is not readable")?;
                (entries, page.get("next").and_then(Value::as_u64))
            }
        };
        for entry in &entries {
            // The canonical form is exactly the stored bytes (the store
            // refuses anything else), so this is what the store holds.
            out.write_all(&entry.to_stored_bytes()?)?;
            out.write_all(b"\n")?;
        }
        left = left.saturating_sub(entries.len() as u64);
        match next {
            Some(n) => from = n,
            None => break,
        }
    }
    out.flush()?;
    Ok(())
}
