//! The side-by-side load test (`phivault loadtest`): the real server and a
//! parse-only baseline server, both as child processes of the built binary
//! over the same TLS stack, driven with the same generated records at each
//! concurrency level; every response is checked (201 expected).
//!
//! The client uses HTTP/1.1 with keep-alive: one pooled connection per
//! concurrent worker, so "connections" is the number of workers.

mod baseline;
mod child;
mod records;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use baseline::serve_baseline;
pub use child::rss_kib;
pub use records::{SERIES_PER_PATIENT, document};

use crate::config::DataDir;
use crate::domain::Role;
use crate::http::{self, JwtSecret};

/// What went wrong in a load run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A server process could not be started.
    #[error("cannot start the {0} server: {1}")]
    Spawn(&'static str, std::io::Error),
    /// A server never said where it listens.
    #[error("the {0} server did not announce its address")]
    NoAddress(&'static str),
    /// The work directory, secret or certificate could not be used.
    #[error("setup: {0}")]
    Setup(String),
    /// A request failed or was not answered 201.
    #[error("{server}: {failures} of {requests} requests were not answered 201 (first: {first})")]
    BadResponses {
        /// Which server.
        server: &'static str,
        /// How many failed.
        failures: u64,
        /// How many were sent.
        requests: usize,
        /// The first failure.
        first: String,
    },
}

/// How to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The `phivault` binary to start the servers from.
    pub binary: PathBuf,
    /// A directory for the two servers' data (made if missing).
    pub work_dir: PathBuf,
    /// The concurrency levels (connections), in order.
    pub connections: Vec<usize>,
    /// Measured requests per level and server.
    pub requests: usize,
}

/// One server at one level.
#[derive(Debug, Clone)]
pub struct LevelResult {
    /// Connections (concurrent workers).
    pub connections: usize,
    /// Requests measured (all answered 201).
    pub requests: usize,
    /// Wall time of the measured requests.
    pub elapsed: Duration,
    /// Latency percentiles: p50, p99, p99.9 (nearest rank).
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest resident set sampled during the level, KiB.
    pub max_rss_kib: Option<u64>,
}

impl LevelResult {
    /// Requests per second.
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Per level: (product, baseline).
    pub levels: Vec<(LevelResult, LevelResult)>,
    /// The product server's peak resident set over the run (VmHWM), KiB.
    pub product_peak_rss_kib: Option<u64>,
    /// The baseline server's peak resident set over the run, KiB.
    pub baseline_peak_rss_kib: Option<u64>,
}

/// Runs the load test: starts both servers, and at each level drives the
/// baseline, then the product, with the same records.
pub async fn run(options: &LoadOptions) -> Result<LoadReport, LoadError> {
    http::install_crypto_provider();
    let setup = |e: &dyn std::fmt::Display| LoadError::Setup(e.to_string());
    let product_dir = options.work_dir.join("product");
    let baseline_dir = options.work_dir.join("baseline");
    std::fs::create_dir_all(&options.work_dir).map_err(|e| setup(&e))?;

    let unlimited = "1000000000";
    let mut product_cmd = Command::new(&options.binary);
    product_cmd
        .arg("--data-dir")
        .arg(&product_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--rate-per-ip", unlimited, "--rate-per-ip-burst", unlimited])
        .args(["--rate-per-principal", unlimited])
        .args(["--rate-per-principal-burst", unlimited]);
    let product = child::ChildServer::start(product_cmd, "product")?;
    let mut baseline_cmd = Command::new(&options.binary);
    baseline_cmd
        .arg("--data-dir")
        .arg(&baseline_dir)
        .args(["loadtest", "--serve-baseline"]);
    let baseline = child::ChildServer::start(baseline_cmd, "baseline")?;

    let product_data = DataDir::new(&product_dir);
    let secret = JwtSecret::read(&product_data.jwt_secret()).map_err(|e| setup(&e))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| setup(&e))?
        .as_secs();
    let token = http::mint(
        &secret,
        "loadtest",
        Role::Ingest,
        now,
        Duration::from_secs(3600),
    )
    .map_err(|e| setup(&e))?;

    let mut levels = Vec::new();
    let mut offset = 0u64;
    let seed = now;
    for &connections in &options.connections {
        let warmup = (connections * 2) as u64;
        let batch = Batch {
            seed,
            first: offset,
            warmup,
            count: options.requests as u64,
        };
        offset += warmup + options.requests as u64;
        let base = drive(
            "baseline",
            &client_for(&DataDir::new(&baseline_dir).tls_cert(), connections)?,
            &url(baseline.addr),
            &token,
            connections,
            &batch,
            baseline.pid(),
        )
        .await?;
        let prod = drive(
            "product",
            &client_for(&product_data.tls_cert(), connections)?,
            &url(product.addr),
            &token,
            connections,
            &batch,
            product.pid(),
        )
        .await?;
        levels.push((prod, base));
    }
    let report = LoadReport {
        levels,
        product_peak_rss_kib: rss_kib(product.pid()).map(|r| r.1),
        baseline_peak_rss_kib: rss_kib(baseline.pid()).map(|r| r.1),
    };
    product.stop();
    baseline.stop();
    Ok(report)
}

fn url(addr: std::net::SocketAddr) -> String {
    format!("https://127.0.0.1:{}/v1/records", addr.port())
}

fn client_for(cert: &Path, connections: usize) -> Result<reqwest::Client, LoadError> {
    let pem = std::fs::read(cert).map_err(|e| LoadError::Setup(e.to_string()))?;
    let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| LoadError::Setup(e.to_string()))?;
    reqwest::Client::builder()
        .tls_certs_only([cert])
        .http1_only()
        .pool_max_idle_per_host(connections)
        .build()
        .map_err(|e| LoadError::Setup(e.to_string()))
}

/// Which records one level sends: documents `first..first+warmup` unmeasured,
/// then `count` measured.
struct Batch {
    seed: u64,
    first: u64,
    warmup: u64,
    count: u64,
}

/// Sends the batch with `connections` concurrent workers, checking every
/// answer, sampling the server's RSS meanwhile.
async fn drive(
    server: &'static str,
    client: &reqwest::Client,
    url: &str,
    token: &str,
    connections: usize,
    batch: &Batch,
    pid: u32,
) -> Result<LevelResult, LoadError> {
    // Bodies are made before timing, identical for both servers.
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (batch.first..batch.first + batch.warmup + batch.count)
            .map(|i| document(batch.seed, i).to_string().into_bytes())
            .collect(),
    );
    let failures = Arc::new(AtomicU64::new(0));
    let first_failure = Arc::new(std::sync::Mutex::new(None::<String>));
    let run_phase = |range: std::ops::Range<usize>| {
        let next = Arc::new(AtomicUsize::new(range.start));
        let end = range.end;
        let mut workers = Vec::new();
        for _ in 0..connections {
            let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
            let (bodies, next) = (Arc::clone(&bodies), Arc::clone(&next));
            let (failures, first_failure) = (Arc::clone(&failures), Arc::clone(&first_failure));
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        break;
                    }
                    let body = bodies[i].clone();
                    let started = Instant::now();
                    let answer = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    let failure = match answer {
                        Ok(r) if r.status() == reqwest::StatusCode::CREATED => {
                            // Read the body so the connection is reused.
                            match r.bytes().await {
                                Ok(_) => None,
                                Err(e) => Some(format!("body: {e}")),
                            }
                        }
                        Ok(r) => Some(format!("status {}", r.status())),
                        Err(e) => Some(format!("request: {e}")),
                    };
                    latencies.push(started.elapsed());
                    if let Some(f) = failure {
                        failures.fetch_add(1, Ordering::Relaxed);
                        let mut first = first_failure.lock().unwrap_or_else(|e| e.into_inner());
                        first.get_or_insert(f);
                    }
                }
                latencies
            }));
        }
        workers
    };

    let warmup_end = batch.warmup as usize;
    for w in run_phase(0..warmup_end) {
        let _ = w.await;
    }
    let sampling = Arc::new(AtomicBool::new(true));
    let max_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, max_rss) = (Arc::clone(&sampling), Arc::clone(&max_rss));
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some((rss, _)) = rss_kib(pid) {
                    max_rss.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(batch.count as usize);
    for w in run_phase(warmup_end..bodies.len()) {
        if let Ok(l) = w.await {
            latencies.extend(l);
        }
    }
    let elapsed = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;

    let failed = failures.load(Ordering::Relaxed);
    let requests = bodies.len() - warmup_end;
    if failed > 0 || latencies.len() != requests {
        let first = first_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "a worker stopped".into());
        return Err(LoadError::BadResponses {
            server,
            failures: failed.max(1),
            requests,
            first,
        });
    }
    latencies.sort_unstable();
    let max_rss = max_rss.load(Ordering::Relaxed);
    Ok(LevelResult {
        connections,
        requests,
        elapsed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        p999: percentile(&latencies, 0.999),
        max_rss_kib: (max_rss > 0).then_some(max_rss),
    })
}

/// Nearest-rank percentile of sorted samples (zero for none).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The report as a text table (what `phivault loadtest` prints).
pub fn render(report: &LoadReport) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut out =
        String::from("conns  server    req/s     p50 ms   p99 ms   p99.9 ms  max RSS MiB\n");
    for (prod, base) in &report.levels {
        for (name, r) in [("product", prod), ("baseline", base)] {
            out += &format!(
                "{:>5}  {:<8} {:>8.0} {:>9.2} {:>8.2} {:>10.2} {:>12}\n",
                r.connections,
                name,
                r.throughput(),
                ms(r.p50),
                ms(r.p99),
                ms(r.p999),
                r.max_rss_kib
                    .map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            );
        }
        out += &format!(
            "{:>5}  ratio product/baseline throughput: {:.3}\n",
            prod.connections,
            prod.throughput() / base.throughput().max(1e-9)
        );
    }
    let mib = |k: Option<u64>| k.map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0));
    out += &format!(
        "peak RSS (VmHWM) MiB: product {}, baseline {}\n",
        mib(report.product_peak_rss_kib),
        mib(report.baseline_peak_rss_kib)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<_> = (1..=1000).map(Duration::from_micros).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_micros(500));
        assert_eq!(percentile(&v, 0.99), Duration::from_micros(990));
        assert_eq!(percentile(&v, 0.999), Duration::from_micros(999));
        assert_eq!(percentile(&v[..1], 0.999), Duration::from_micros(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
