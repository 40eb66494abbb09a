//! The `phivault` binary: parses the command line and hands it to the
//! library. Everything else lives in the library crate.
#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc instead of the system allocator: measured under the load test,
/// glibc malloc and free took ~18% of the server's CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
