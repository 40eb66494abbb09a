//! `phivault listen`: a DICOM C-STORE receiver that collects each series
//! and forwards its record to the server (SPEC §5).
//!
//! Stage one turns what the user typed into [`ListenSettings`] (validated
//! AE title, durations, paths, URL); stage two starts the
//! [`crate::scp::listener::Listener`] and runs until Ctrl-C / SIGTERM.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::client::{BearerToken, CollectorRecordBuilder, ForwarderOptions, HttpsForwarder};
use crate::scp::AeTitle;
use crate::scp::delivery::RetryPolicy;
use crate::scp::listener::{Listener, ListenerConfig};
use crate::scp::quiet_period::TrackerConfig;
use crate::scp::server::ScpConfig;

/// Arguments of `phivault listen`.
#[derive(Debug, Args)]
#[command(after_help = "\
Each received instance is kept in memory, header only (pixel data is never \
written anywhere). A series is complete once no instance of it has arrived \
for --quiet-period; its record (one per series, InstancesInSeries = distinct \
SOPInstanceUIDs) is then written to the outbox and posted to \
<server>/v1/records. A later instance of the same series re-sends the updated \
record, which replaces the stored one.

Outbox: records wait there until the server stored them (2xx), so a server \
outage loses nothing; delivery retries with backoff (1 s doubling to 5 min, \
jittered, Retry-After honoured). A record the server refuses (4xx other than \
401/403) moves to <outbox>/rejected/ with the server's problem document. \
401/403 and TLS failures keep records pending: fix --token or --ca and restart.

PHI AT REST: outbox files are the records in PLAINTEXT JSON (patient names, \
IDs, dates, UIDs), protected by file permissions only: the directory is 0700 \
and must not be open to other users (listen refuses it otherwise), files are \
0600. They are deleted once delivered; rejected/ keeps refused ones until \
removed by hand. Put the outbox on an encrypted volume of the modality host.

Stopping: Ctrl-C or SIGTERM stops accepting associations, writes every series \
still collecting to the outbox and exits; pending records are sent after the \
next start. stdout: one JSON line when listening, one when stopped.

TLS: --ca trusts only the given certificate(s), e.g. the server's \
tls/cert.pem; without it the system's trust store is used.")]
pub struct ListenArgs {
    /// TCP port to receive DICOM associations on.
    #[arg(long)]
    pub port: u16,
    /// This receiver's AE title (1–16 characters). Associations calling
    /// another title are rejected unless --accept-any-ae is given.
    #[arg(long)]
    pub ae_title: String,
    /// Accept associations whatever called AE title they name.
    #[arg(long)]
    pub accept_any_ae: bool,
    /// The phivault server's base URL (https://host:8443).
    #[arg(long)]
    pub server: String,
    /// PEM file of the CA to trust for the server (default: system roots).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Allow an http:// server URL (the token and records then travel
    /// unencrypted).
    #[arg(long)]
    pub allow_plain_http: bool,
    /// Bearer token with the `ingest` role (prefer the environment
    /// variable: command lines are visible to other local users).
    #[arg(long, env = "PHIVAULT_TOKEN", hide_env_values = true)]
    pub token: Option<Token>,
    /// A series is complete after this long without a new instance
    /// (e.g. 5s, 500ms, 2m).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub quiet_period: Duration,
    /// Directory of records waiting to be sent [default: <data-dir>/outbox].
    /// Holds PHI: created 0700, files 0600.
    #[arg(long)]
    pub outbox: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// Associations served at once; more are rejected as transient.
    #[arg(long, default_value_t = 16)]
    pub max_associations: usize,
}

/// A bearer token: kept out of `Debug` output and logs.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The token text, for the Authorization header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl std::str::FromStr for Token {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("the token is empty".into());
        }
        Ok(Self(s.to_owned()))
    }
}

/// Parses `500ms`, `5s`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 5s or 500ms"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("`{text}`: unit must be ms, s, m or h")),
    };
    if d.is_zero() {
        return Err("the duration must be positive".into());
    }
    Ok(d)
}

/// Validated settings of `listen`.
#[derive(Debug, Clone)]
pub struct ListenSettings {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The pipeline's configuration.
    pub listener: ListenerConfig,
    /// The server's base URL.
    pub server: reqwest::Url,
    /// CA file to trust for the server.
    pub ca: Option<PathBuf>,
    /// Bearer token.
    pub token: Option<Token>,
    /// Whether an `http://` server URL was allowed.
    pub allow_plain_http: bool,
}

impl ListenSettings {
    /// Checks the arguments; `data_dir` gives the default outbox.
    pub fn from_args(args: ListenArgs, data_dir: &Path) -> anyhow::Result<Self> {
        let ae_title = AeTitle::parse(&args.ae_title).context("--ae-title")?;
        let server =
            reqwest::Url::parse(&args.server).map_err(|e| anyhow::anyhow!("--server: {e}"))?;
        match server.scheme() {
            "https" => {}
            "http" if args.allow_plain_http => {}
            _ => anyhow::bail!(
                "--server: the URL must be https:// (http:// needs --allow-plain-http)"
            ),
        }
        if args.max_associations == 0 {
            anyhow::bail!("--max-associations must be at least 1");
        }
        let mut scp = ScpConfig::new(ae_title);
        scp.accept_any_called_ae = args.accept_any_ae;
        scp.max_associations = args.max_associations;
        Ok(Self {
            addr: SocketAddr::new(args.bind, args.port),
            listener: ListenerConfig {
                scp,
                tracker: TrackerConfig::new(args.quiet_period),
                outbox_dir: args.outbox.unwrap_or_else(|| data_dir.join("outbox")),
                retry: RetryPolicy::default(),
            },
            server,
            ca: args.ca,
            token: args.token,
            allow_plain_http: args.allow_plain_http,
        })
    }
}

/// Runs `phivault listen` until interrupted.
pub fn run(args: ListenArgs, data_dir: &Path) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let settings = ListenSettings::from_args(args, data_dir)?;
    serve(settings)
}

/// The record builder and the HTTPS forwarder for `settings`: records are
/// built by the same collector as `submit`'s, and posted one per request to
/// `POST /v1/records`, trusting `--ca` only when given.
pub fn wiring(
    settings: &ListenSettings,
) -> anyhow::Result<(CollectorRecordBuilder, HttpsForwarder)> {
    let token = settings
        .token
        .as_ref()
        .context("a bearer token with the ingest role is required: --token T or PHIVAULT_TOKEN")?;
    let mut options = ForwarderOptions::new(
        settings.server.clone(),
        BearerToken::new(token.expose().to_owned()),
    );
    if let Some(path) = &settings.ca {
        options.ca_pem = Some(
            std::fs::read(path).with_context(|| format!("cannot read --ca {}", path.display()))?,
        );
    }
    options.allow_plain_http = settings.allow_plain_http;
    let forwarder = HttpsForwarder::new(options).context("--server / --ca")?;
    Ok((CollectorRecordBuilder, forwarder))
}

/// Starts the whole pipeline of `settings` on `runtime`, listening on
/// `socket`: what `phivault listen` runs, for embedding and tests.
pub fn start(
    settings: ListenSettings,
    socket: TcpListener,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<Listener> {
    let (builder, forwarder) = wiring(&settings)?;
    Ok(Listener::start(
        socket,
        settings.listener,
        builder,
        forwarder,
        runtime,
    )?)
}

/// Starts the pipeline and runs it until Ctrl-C or SIGTERM.
fn serve(settings: ListenSettings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let socket = TcpListener::bind(settings.addr)
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    let outbox_dir = settings.listener.outbox_dir.clone();
    let listener = start(settings, socket, runtime.handle())?;
    println!(
        "{}",
        serde_json::json!({
            "listening": listener.local_addr().to_string(),
            "outbox": outbox_dir,
            "pending": listener.outbox().pending_count(),
        })
    );
    runtime.block_on(wait_for_stop_signal())?;
    tracing::info!("stopping: collecting series go to the outbox first");
    let outbox = std::sync::Arc::clone(listener.outbox());
    let delivery = listener.shutdown();
    let _ = runtime.block_on(delivery);
    println!(
        "{}",
        serde_json::json!({ "stopped": true, "pending": outbox.pending_count() })
    );
    Ok(())
}

async fn wait_for_stop_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot watch Ctrl-C"),
        _ = term.recv() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }

    fn args(server: &str, allow_plain_http: bool) -> ListenArgs {
        ListenArgs {
            port: 11112,
            ae_title: "PHIVAULT".into(),
            accept_any_ae: false,
            server: server.into(),
            ca: None,
            allow_plain_http,
            token: Some("t".parse().unwrap()),
            quiet_period: Duration::from_secs(5),
            outbox: None,
            bind: "127.0.0.1".parse().unwrap(),
            max_associations: 16,
        }
    }

    #[test]
    fn plain_http_needs_the_flag_and_the_outbox_defaults_under_the_data_dir() {
        let dir = Path::new("/data");
        let err = ListenSettings::from_args(args("http://h:8080", false), dir).unwrap_err();
        assert!(err.to_string().contains("--allow-plain-http"), "{err}");
        let s = ListenSettings::from_args(args("http://h:8080", true), dir).unwrap();
        assert!(wiring(&s).is_ok());
        let s = ListenSettings::from_args(args("https://h:8443", false), dir).unwrap();
        assert_eq!(s.listener.outbox_dir, Path::new("/data/outbox"));
        assert!(ListenSettings::from_args(args("ftp://h", true), dir).is_err());
        let mut no_token = s;
        no_token.token = None;
        let err = wiring(&no_token).unwrap_err();
        assert!(err.to_string().contains("bearer token"), "{err}");
    }

    #[test]
    fn the_token_never_prints() {
        let t: Token = "secret-value".parse().unwrap();
        assert!(!format!("{t:?}").contains("secret"));
    }
}
