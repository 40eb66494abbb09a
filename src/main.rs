//! The `phivault` binary: parses the command line and hands it to the
//! library. Everything else lives in the library crate.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = phivault::cli::Cli::parse();
    match phivault::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One clear line; causes are chained without values (no PHI).
            eprintln!("phivault: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
