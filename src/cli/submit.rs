//! `phivault submit --server URL [--ca FILE] [--token T] [--batch-size N]
//! PATH…`: sends JSON records, or DICOM files grouped into series, to the
//! server, and prints a JSON summary on stdout.

use std::fmt;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::client::{BearerToken, RetryPolicy, SubmitOptions, collect_inputs, sender, submit};

/// Arguments of `phivault submit`.
#[derive(Args)]
#[command(after_help = "\
Inputs: JSON files (one record or an array of records), NDJSON files \
(.ndjson, .jsonl: one record per line), DICOM Part 10 files, and directories \
of any of these (read recursively). A file is DICOM when it has the DICM \
marker at byte 128, whatever its name. DICOM files are grouped by \
SeriesInstanceUID into one record per series; only their headers are read.

Output: a JSON summary on stdout: {sent, created, replaced, refused: \
[{source, pointer?, reason}], skipped: [{path, reason}], undelivered: \
[{source, reason}]}. The exit status is non-zero when a record was refused \
or undelivered. Progress goes to stderr when it is a terminal.

TLS: --ca trusts only the given certificate(s), e.g. the server's \
tls/cert.pem. Without --ca the system's trust store is used; on a host \
without one, every connection fails with a certificate error.")]
pub struct SubmitArgs {
    /// Base URL of the phivault server, e.g. https://127.0.0.1:8443.
    #[arg(long, value_name = "URL")]
    server: reqwest::Url,
    /// PEM file with the certificate(s) to trust instead of the system's.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Bearer token with the `ingest` role (prefer the environment variable:
    /// command lines are visible to other local users).
    #[arg(long, value_name = "T", env = "PHIVAULT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Records per request.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    batch_size: u16,
    /// Attempts per batch, the first included, before a batch is reported
    /// undelivered (transient failures only: connection errors, 408, 429,
    /// 5xx).
    #[arg(long, value_name = "N", default_value_t = 6,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    max_attempts: u32,
    /// Allow an http:// server URL (the token then travels unencrypted).
    #[arg(long)]
    allow_plain_http: bool,
    /// Files or directories to send.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

impl fmt::Debug for SubmitArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a credential: never printed.
        f.debug_struct("SubmitArgs")
            .field("server", &self.server.as_str())
            .field("ca", &self.ca)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("batch_size", &self.batch_size)
            .field("max_attempts", &self.max_attempts)
            .field("allow_plain_http", &self.allow_plain_http)
            .field("paths", &self.paths)
            .finish()
    }
}

/// Runs `submit`: reads the inputs, sends them, prints the summary.
pub fn run(args: SubmitArgs) -> anyhow::Result<()> {
    let token = args
        .token
        .context("a bearer token is required: --token T or PHIVAULT_TOKEN")?;
    let ca_pem = match &args.ca {
        Some(path) => Some(
            std::fs::read(path).with_context(|| format!("cannot read --ca {}", path.display()))?,
        ),
        None => None,
    };
    let mut options = SubmitOptions::new(args.server, BearerToken::new(token));
    options.ca_pem = ca_pem;
    options.batch_size = usize::from(args.batch_size);
    options.retry = RetryPolicy {
        max_attempts: args.max_attempts,
        ..RetryPolicy::default()
    };
    options.allow_plain_http = args.allow_plain_http;
    options.progress = sender::stderr_is_terminal();

    let inputs = collect_inputs(&args.paths);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let summary = runtime.block_on(submit(&options, inputs))?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if summary.all_stored() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} record(s) refused, {} undelivered (see the summary on stdout)",
            summary.refused.len(),
            summary.undelivered.len()
        )
    }
}
