//! `phivault policy show [NAME] [--json] [--policy-dir DIR]` and
//! `phivault policy check DIR`: the compliance officer's view of the
//! policies, with exactly the loader's errors.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};

use crate::policy::{Policy, PolicySet};

/// Arguments of `phivault policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    action: PolicyAction,
}

#[derive(Debug, Subcommand)]
enum PolicyAction {
    /// Print the field → action → indexed → source table and the retention
    /// rule of one policy, or of every policy.
    Show {
        /// The policy id (e.g. `gdpr`, `hipaa`); all policies when omitted.
        name: Option<String>,
        /// Print JSON on stdout instead of aligned text.
        #[arg(long)]
        json: bool,
        /// Read policies from this directory instead of the ones shipped in
        /// the binary (every `*.toml` in it; it replaces the shipped set).
        #[arg(long, env = "PHIVAULT_POLICY_DIR")]
        policy_dir: Option<PathBuf>,
    },
    /// Validate every `*.toml` policy file in DIR with the server's own
    /// loader: one line per error and a non-zero exit, or a JSON summary.
    Check {
        /// The directory to check.
        dir: PathBuf,
    },
}

/// Runs `phivault policy …`.
pub fn run(args: PolicyArgs) -> anyhow::Result<()> {
    match args.action {
        PolicyAction::Show {
            name,
            json,
            policy_dir,
        } => show(name.as_deref(), json, policy_dir),
        PolicyAction::Check { dir } => check(dir),
    }
}

fn show(name: Option<&str>, json: bool, policy_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let set = match &policy_dir {
        Some(dir) => PolicySet::load_dir(dir)?,
        None => PolicySet::embedded().context("the policies shipped in the binary")?,
    };
    let chosen: Vec<&Policy> = match name {
        Some(id) => vec![set.get(id).ok_or_else(|| {
            let known: Vec<&str> = set.ids().collect();
            anyhow!("no policy `{id}` (known: {})", known.join(", "))
        })?],
        None => set.iter().collect(),
    };
    if json {
        let out = match name {
            Some(_) => serde_json::to_string_pretty(&chosen[0])?,
            None => serde_json::to_string_pretty(&serde_json::json!({ "policies": chosen }))?,
        };
        println!("{out}");
    } else {
        let text: Vec<String> = chosen.iter().map(|p| render_table(p)).collect();
        print!("{}", text.join("\n"));
    }
    Ok(())
}

/// The aligned text table of one policy.
pub fn render_table(policy: &Policy) -> String {
    let mut out = String::new();
    let stamp = policy.stamp();
    let retention = policy.retention();
    let _ = writeln!(
        out,
        "policy {} version {} ({})",
        stamp.id,
        stamp.version,
        policy.origin()
    );
    let _ = writeln!(out, "sha256 {}", stamp.sha256);
    if let Some(d) = policy.description() {
        let _ = writeln!(out, "{d}");
    }
    let _ = writeln!(
        out,
        "retention: {} from {}",
        retention.period,
        retention.anchor.as_str()
    );
    let _ = writeln!(
        out,
        "safe harbor clear view: {}",
        if policy.safe_harbor() {
            "enforced by the loader"
        } else {
            "not required"
        }
    );
    out.push('\n');
    let rows: Vec<[String; 5]> = policy
        .rules()
        .map(|(field, rule)| {
            [
                field.keyword().to_owned(),
                field
                    .tag()
                    .map_or_else(|| "-".to_owned(), |(g, e)| format!("({g:04X},{e:04X})")),
                rule.action.as_str().to_owned(),
                if rule.indexed { "yes" } else { "no" }.to_owned(),
                rule.source.clone(),
            ]
        })
        .collect();
    let header = ["field", "tag", "action", "indexed", "source"].map(str::to_owned);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
    }
    out
}

fn check(dir: PathBuf) -> anyhow::Result<()> {
    match PolicySet::check_dir(&dir) {
        Ok(set) => {
            let policies: Vec<_> = set
                .iter()
                .map(|p| {
                    let s = p.stamp();
                    serde_json::json!({
                        "id": s.id,
                        "version": s.version,
                        "sha256": s.sha256,
                        "file": p.origin(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({ "ok": true, "dir": dir.display().to_string(), "policies": policies })
            );
            Ok(())
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            Err(anyhow!(
                "{} error(s) in {}; no policy was accepted",
                errors.0.len(),
                dir.display()
            ))
        }
    }
}
