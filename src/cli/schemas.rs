//! `phivault schemas export [--out DIR]`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Arguments of `phivault schemas`.
#[derive(Debug, Args)]
pub struct SchemasArgs {
    #[command(subcommand)]
    action: SchemasAction,
}

#[derive(Debug, Subcommand)]
enum SchemasAction {
    /// Write the JSON Schema (draft 2020-12) of every input and output
    /// document, one `<name>.schema.json` file each.
    Export {
        /// Directory to write into.
        #[arg(long, default_value = "schemas")]
        out: PathBuf,
    },
}

/// Runs `schemas export`, printing the written paths as JSON on stdout.
pub fn run(args: SchemasArgs) -> anyhow::Result<()> {
    match args.action {
        SchemasAction::Export { out } => {
            let written = crate::schema::export(&out)?;
            println!("{}", serde_json::json!({ "written": written }));
            Ok(())
        }
    }
}
