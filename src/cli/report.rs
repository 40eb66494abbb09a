//! `phivault report [--format json|html] [--out FILE]`: the auditors'
//! compliance report (SPEC §7) over the data directory, opened directly, or
//! asked of the server that holds it.
//! JSON or the self-contained HTML page on stdout, or into FILE (mode 0644:
//! the report holds no PHI). Producing it is audited (`report_produced`,
//! actor `local:<user>` in the auditor role).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use time::OffsetDateTime;

use crate::domain::{Actor, Role};
use crate::policy::PolicySet;
use crate::report::{ComplianceReport, produce, render_html};
use crate::store::StoreError;
use crate::vault::{self, Vault, VaultError};

/// Arguments of `phivault report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Write the report to this file (created or replaced, mode 0644)
    /// instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Read policies from this directory instead of the ones shipped in the
    /// binary (as `serve --policy-dir`).
    #[arg(long, env = "PHIVAULT_POLICY_DIR")]
    policy_dir: Option<PathBuf>,
}

/// The report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The JSON document (schema `compliance-report`).
    Json,
    /// One self-contained HTML page.
    Html,
}

/// Runs `phivault report`.
pub fn run(data_dir: &Path, args: ReportArgs) -> anyhow::Result<()> {
    if !vault::db_path(data_dir).is_dir() {
        bail!(
            "no phivault database in {} (start `phivault serve` there first, or pass --data-dir)",
            data_dir.display()
        );
    }
    let policies = match &args.policy_dir {
        Some(dir) => PolicySet::load_dir(dir)?,
        None => PolicySet::embedded().context("the policies shipped in the binary")?,
    };
    let vault = match Vault::open(data_dir, policies) {
        Ok((vault, _)) => vault,
        Err(VaultError::Store(StoreError::Locked { .. })) => {
            return from_server(data_dir, args.format, args.out.as_deref());
        }
        Err(e) => return Err(e.into()),
    };
    let report = produce(
        &vault,
        &data_dir.display().to_string(),
        &local_actor(),
        OffsetDateTime::now_utc(),
        None,
    )?;
    // The report_produced entry is durable before the report is handed out.
    vault.flush_blocking()?;
    write(&report, args.format, args.out.as_deref())
}

/// The database is held by a running server (sled allows one process):
/// ask it for the report (`GET /v1/reports/compliance`) with a locally
/// minted auditor token, trusting only the data directory's certificate,
/// and render the answer here. The server audits the production.
fn from_server(data_dir: &Path, format: Format, out: Option<&Path>) -> anyhow::Result<()> {
    let remote = super::remote::Remote::connect(data_dir, Role::Auditor).with_context(|| {
        format!(
            "the database in {} is held by another process",
            data_dir.display()
        )
    })?;
    let answer = remote.get("/v1/reports/compliance")?;
    let report: ComplianceReport =
        serde_json::from_value(answer).context("the server's report does not match the schema")?;
    write(&report, format, out)
}

/// The principal a report made on the host is attributed to.
fn local_actor() -> Actor {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty() && u.len() <= 64)
        .unwrap_or_else(|| "operator".to_owned());
    Actor {
        sub: format!("local:{user}"),
        role: Role::Auditor,
    }
}

/// Prints or writes the report in `format`.
fn write(report: &ComplianceReport, format: Format, out: Option<&Path>) -> anyhow::Result<()> {
    let mut bytes = match format {
        Format::Json => serde_json::to_vec_pretty(report)?,
        Format::Html => render_html(report).into_bytes(),
    };
    if format == Format::Json {
        bytes.push(b'\n');
    }
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&bytes)?;
            stdout.flush()?;
        }
        Some(path) => {
            std::fs::write(path, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            // Readable by anyone: the report holds no PHI (SPEC §7).
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
                .with_context(|| format!("cannot set the mode of {}", path.display()))?;
            eprintln!("phivault: report written to {}", path.display());
        }
    }
    Ok(())
}
