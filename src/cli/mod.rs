//! The command line: clap parses what the user typed, each submodule turns
//! it into a validated command and runs it.

mod audit;
mod inspect;
mod keys;
pub mod listen;
mod loadtest;
mod policy;
mod purge;
pub mod remote;
mod report;
mod schemas;
mod serve;
pub mod submit;
mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// phivault: a compliance-aware vault for medical-imaging metadata.
#[derive(Debug, Parser)]
#[command(name = "phivault", version, about, long_about = None)]
pub struct Cli {
    /// The data directory (database, keys, certificate).
    #[arg(
        long,
        global = true,
        env = "PHIVAULT_DATA_DIR",
        default_value = "./phivault-data"
    )]
    pub data_dir: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with the published JSON Schemas.
    Schemas(schemas::SchemasArgs),
    /// Show the compliance policies, or check policy files.
    Policy(policy::PolicyArgs),
    /// Send JSON records, or DICOM files grouped into series, to a server.
    Submit(submit::SubmitArgs),
    /// The HTTPS service (default https://127.0.0.1:8443).
    ///
    /// Settings come from built-in defaults, then a TOML file, then
    /// `PHIVAULT_*` environment variables, then flags: a later source wins.
    /// On first start the data directory gets a JWT secret and a self-signed
    /// certificate (files 0600), and their paths are printed on stderr.
    Serve(Box<serve::ServeArgs>),
    /// Mint bearer tokens.
    Token(token::TokenArgs),
    /// DICOM C-STORE receiver: collects each series and forwards its record.
    Listen(listen::ListenArgs),
    /// The auditors' compliance report (JSON, or one self-contained HTML
    /// page), from the data directory or the server that holds it.
    Report(report::ReportArgs),
    /// Delete every record whose retention ended, unless held (JSON summary).
    Purge(purge::PurgeArgs),
    /// Verify, export or sign the audit log; print its public key.
    Audit(audit::AuditArgs),
    /// Rotate the master key, or show key versions.
    Keys(keys::KeysArgs),
    /// Print a record exactly as stored (nothing decrypted).
    Inspect(inspect::InspectArgs),
    /// Load test: the real server against a parse-only baseline, side by
    /// side at several concurrency levels (see BENCHMARKS.md).
    Loadtest(loadtest::LoadtestArgs),
}

/// Runs the parsed command line. Machine-readable results go to stdout as
/// JSON; progress and logs go to stderr.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Schemas(args) => schemas::run(args),
        Command::Policy(args) => policy::run(args),
        Command::Submit(args) => submit::run(args),
        Command::Serve(args) => serve::run(&cli.data_dir, *args),
        Command::Token(args) => token::run(&cli.data_dir, args),
        Command::Listen(args) => listen::run(args, &cli.data_dir),
        Command::Report(args) => report::run(&cli.data_dir, args),
        Command::Purge(args) => purge::run(&cli.data_dir, args),
        Command::Audit(args) => audit::run(&cli.data_dir, args),
        Command::Keys(args) => keys::run(&cli.data_dir, args),
        Command::Inspect(args) => inspect::run(&cli.data_dir, args),
        Command::Loadtest(args) => loadtest::run(&cli.data_dir, args),
    }
}
