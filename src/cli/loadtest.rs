//! `phivault loadtest`: the side-by-side load test of the real server
//! against a parse-only baseline (see `crate::loadtest` and BENCHMARKS.md).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::DataDir;
use crate::http;
use crate::loadtest::{self, LoadOptions};

/// Arguments of `phivault loadtest`.
#[derive(Debug, Args)]
pub struct LoadtestArgs {
    /// Concurrent keep-alive connections per level, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    connections: Vec<usize>,
    /// Measured requests per level and server.
    #[arg(long, default_value_t = 3000)]
    requests: usize,
    /// Where the two servers keep their data (default: a new directory in
    /// the system temporary directory, removed afterwards). The global
    /// --data-dir is not used.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Internal: run as the baseline server on 127.0.0.1:0 with the
    /// certificate of --data-dir (what the load test starts).
    #[arg(long, hide = true)]
    serve_baseline: bool,
}

/// Runs the load test, or the baseline server.
pub fn run(data_dir: &std::path::Path, args: LoadtestArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if args.serve_baseline {
        return runtime.block_on(serve_baseline(data_dir));
    }
    let (work_dir, temporary) = match args.work_dir {
        Some(dir) => (dir, false),
        None => (
            std::env::temp_dir().join(format!("phivault-loadtest-{}", std::process::id())),
            true,
        ),
    };
    let options = LoadOptions {
        binary: std::env::current_exe().context("cannot find this program's path")?,
        work_dir: work_dir.clone(),
        connections: args.connections,
        requests: args.requests,
    };
    eprintln!(
        "phivault loadtest: {} measured requests per level and server, HTTP/1.1 keep-alive, durable acks; data in {}",
        options.requests,
        work_dir.display()
    );
    let result = runtime.block_on(loadtest::run(&options));
    if temporary {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    print!("{}", loadtest::render(&result?));
    Ok(())
}

async fn serve_baseline(data_dir: &std::path::Path) -> anyhow::Result<()> {
    http::install_crypto_provider();
    let dir = DataDir::new(data_dir);
    dir.prepare(true)
        .context("cannot prepare the baseline's directory")?;
    let tls = http::server_config(&dir.tls_cert(), &dir.tls_key())?;
    let listener = http::bind("127.0.0.1:0".parse()?)?;
    eprintln!("baseline: listening on https://{}", listener.local_addr()?);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    loadtest::serve_baseline(listener, tls, stop).await?;
    Ok(())
}
