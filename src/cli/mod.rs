//! The command line: clap parses what the user typed, each submodule turns
//! it into a validated command and runs it.

mod listen;
mod schemas;

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
    /// DICOM C-STORE receiver: collects each series and forwards its record.
    Listen(listen::ListenArgs),
}

/// Runs the parsed command line. Machine-readable results go to stdout as
/// JSON; progress and logs go to stderr.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Schemas(args) => schemas::run(args),
        Command::Listen(args) => listen::run(args, &cli.data_dir),
    }
}
