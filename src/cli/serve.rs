//! `phivault serve`: the HTTPS service. Reads the configuration (file <
//! environment < flags), prepares the data directory on first start, says
//! where the certificate is and how to mint a first admin token, and serves
//! until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::config::{Config, ConfigLayer, DataDir, HumanDuration, JwtAlgorithm, Transport};
use crate::http;
use crate::policy::PolicySet;
use crate::vault::Vault;

/// Arguments of `phivault serve`. Each setting can also come from the TOML
/// file (key in brackets) or a `PHIVAULT_*` environment variable; flags win
/// over the environment, which wins over the file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML, the keys named [toml: …] below). Default:
    /// `<data-dir>/phivault.toml` when it exists.
    #[arg(long, env = "PHIVAULT_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of compliance policies (`*.toml`) replacing the embedded
    /// ones; every file must load or the server does not start.
    #[arg(long, env = "PHIVAULT_POLICY_DIR")]
    policy_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (printed on stderr).
    /// [toml: listen] [env: PHIVAULT_LISTEN] [default: 127.0.0.1:8443]
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM), instead of the self-signed one. Needs
    /// --tls-key. [toml: tls_cert] [env: PHIVAULT_TLS_CERT]
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM). [toml: tls_key] [env: PHIVAULT_TLS_KEY]
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP without TLS: only behind a TLS-terminating proxy on
    /// the same host. Tokens and PHI cross the wire in clear otherwise.
    /// [toml: insecure_http] [env: PHIVAULT_INSECURE_HTTP]
    #[arg(long)]
    insecure_http: bool,
    /// Largest request body in bytes; larger bodies get 413.
    /// [toml: body_limit_bytes] [env: PHIVAULT_BODY_LIMIT_BYTES] [default: 1048576]
    #[arg(long)]
    body_limit_bytes: Option<usize>,
    /// Most records in one batch. [toml: batch_max_records]
    /// [env: PHIVAULT_BATCH_MAX_RECORDS] [default: 1000]
    #[arg(long)]
    batch_max_records: Option<usize>,
    /// Requests per second per client IP. [toml: rate_per_ip]
    /// [env: PHIVAULT_RATE_PER_IP] [default: 100]
    #[arg(long)]
    rate_per_ip: Option<u32>,
    /// Burst per client IP. [toml: rate_per_ip_burst]
    /// [env: PHIVAULT_RATE_PER_IP_BURST] [default: 200]
    #[arg(long)]
    rate_per_ip_burst: Option<u32>,
    /// Requests per second per principal (token `sub`).
    /// [toml: rate_per_principal] [env: PHIVAULT_RATE_PER_PRINCIPAL] [default: 50]
    #[arg(long)]
    rate_per_principal: Option<u32>,
    /// Burst per principal. [toml: rate_per_principal_burst]
    /// [env: PHIVAULT_RATE_PER_PRINCIPAL_BURST] [default: 100]
    #[arg(long)]
    rate_per_principal_burst: Option<u32>,
    /// Time a request may take before it is answered 408 (e.g. 30s, 2m).
    /// [toml: request_timeout] [env: PHIVAULT_REQUEST_TIMEOUT] [default: 30s]
    #[arg(long)]
    request_timeout: Option<HumanDuration>,
    /// Accepted Purpose-Of-Use codes, comma-separated (HL7 v3 PurposeOfUse).
    /// [toml: purpose_of_use] [env: PHIVAULT_PURPOSE_OF_USE]
    /// [default: TREAT,ETREAT,CAREMGT,HPAYMT,HOPERAT,HQUALIMP,RECORDMGT,HLEGAL,HRESCH,CLINTRCH,PUBHLTH,PATRQT,FAMRQT,PWATRNY]
    #[arg(long, value_delimiter = ',')]
    purpose_of_use: Option<Vec<String>>,
    /// JWT algorithm: HS256 (tokens from `phivault token issue`), or EdDSA /
    /// RS256 for an identity provider's tokens (needs --jwt-public-key).
    /// [toml: jwt_algorithm] [env: PHIVAULT_JWT_ALGORITHM] [default: HS256]
    #[arg(long)]
    jwt_algorithm: Option<JwtAlgorithm>,
    /// The identity provider's public key for EdDSA or RS256: a JWK file (as
    /// in its JWKS), or for EdDSA an Ed25519 `PUBLIC KEY` PEM (RFC 8410).
    /// [toml: jwt_public_key] [env: PHIVAULT_JWT_PUBLIC_KEY]
    #[arg(long)]
    jwt_public_key: Option<PathBuf>,
    /// Clock leeway for token expiry, 0–30 seconds.
    /// [toml: jwt_leeway_seconds] [env: PHIVAULT_JWT_LEEWAY_SECONDS] [default: 5]
    #[arg(long)]
    jwt_leeway_seconds: Option<u64>,
    /// Policy applied when none is named. [toml: default_policy]
    /// [env: PHIVAULT_DEFAULT_POLICY] [default: gdpr]
    #[arg(long)]
    default_policy: Option<String>,
    /// Purge expired records on this schedule (e.g. 1h, 1d); off by default.
    /// [toml: purge_every] [env: PHIVAULT_PURGE_EVERY]
    #[arg(long)]
    purge_every: Option<HumanDuration>,
}

impl ServeArgs {
    /// The settings given as flags.
    fn flag_layer(&self) -> ConfigLayer {
        ConfigLayer {
            listen: self.listen,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            insecure_http: self.insecure_http.then_some(true),
            body_limit_bytes: self.body_limit_bytes,
            batch_max_records: self.batch_max_records,
            rate_per_ip: self.rate_per_ip,
            rate_per_ip_burst: self.rate_per_ip_burst,
            rate_per_principal: self.rate_per_principal,
            rate_per_principal_burst: self.rate_per_principal_burst,
            request_timeout: self.request_timeout,
            purpose_of_use: self.purpose_of_use.clone(),
            jwt_algorithm: self.jwt_algorithm,
            jwt_public_key: self.jwt_public_key.clone(),
            jwt_leeway_seconds: self.jwt_leeway_seconds,
            default_policy: self.default_policy.clone(),
            purge_every: self.purge_every,
        }
    }

    /// The resolved configuration: defaults < file < environment < flags.
    fn resolve(&self, data_dir: &DataDir) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => ConfigLayer::from_file(path)?,
            None if data_dir.config_file().is_file() => {
                ConfigLayer::from_file(&data_dir.config_file())?
            }
            None => ConfigLayer::default(),
        };
        Ok(Config::resolve(
            file,
            ConfigLayer::from_process_env()?,
            self.flag_layer(),
        )?)
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Err only if a subscriber is already set, which is fine.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not for log files and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Registers for SIGINT (Ctrl-C) and SIGTERM now, so a signal that arrives
/// as soon as the server says it is listening is already handled, and
/// returns a future that completes on the first of them.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Purges every `every` (first run one period after start) as the actor
/// `{sub: "scheduler", role: admin}`, on the blocking pool. A failed run is
/// logged and the schedule continues.
async fn scheduled_purge(vault: Arc<Vault>, every: std::time::Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let vault = Arc::clone(&vault);
        let run = tokio::task::spawn_blocking(move || {
            let actor = crate::domain::Actor {
                sub: "scheduler".into(),
                role: crate::domain::Role::Admin,
            };
            vault.purge(
                time::OffsetDateTime::now_utc(),
                false,
                &actor,
                &mut |_, _| {},
            )
        })
        .await;
        match run {
            Ok(Ok(summary)) => tracing::info!(
                purged = summary.purged,
                held = summary.held,
                keys_destroyed = summary.keys_destroyed,
                "scheduled purge"
            ),
            Ok(Err(e)) => tracing::error!(error = %e, "scheduled purge failed"),
            Err(e) => tracing::error!(error = %e, "scheduled purge task failed"),
        }
    }
}

/// Runs `phivault serve`.
pub fn run(data_dir: &Path, args: ServeArgs) -> anyhow::Result<()> {
    http::install_crypto_provider();
    init_tracing();
    let data_dir = DataDir::new(data_dir);
    let config = args.resolve(&data_dir)?;
    let prepared = data_dir
        .prepare(config.transport == Transport::SelfSignedTls)
        .context("cannot prepare the data directory")?;
    for (path, what) in &prepared.created {
        eprintln!("phivault: created {} ({what})", path.display());
    }
    let policies = match &args.policy_dir {
        Some(dir) => PolicySet::load_dir(dir)?,
        None => PolicySet::embedded()?,
    };
    if policies.get(&config.default_policy).is_none() {
        anyhow::bail!(
            "the default policy {:?} is not among the policies in force ({})",
            config.default_policy,
            policies.ids().collect::<Vec<_>>().join(", ")
        );
    }
    let (vault, created_keys) = Vault::open(data_dir.root(), policies)?;
    for path in &created_keys {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let what = if name.starts_with("kek-") {
            "master key (KEK) wrapping the per-subject data keys"
        } else if name.starts_with("derive") {
            "derivation root of the pseudonym, blind-index and date-shift keys"
        } else if name.starts_with("audit") {
            "Ed25519 audit signing key"
        } else {
            "key"
        };
        eprintln!("phivault: created {} ({what})", path.display());
    }
    let vault = Arc::new(vault);
    let tls = match &config.transport {
        Transport::SelfSignedTls => Some(http::server_config(
            &data_dir.tls_cert(),
            &data_dir.tls_key(),
        )?),
        Transport::Tls { cert, key } => Some(http::server_config(cert, key)?),
        Transport::InsecureHttp => {
            tracing::warn!(
                "!!! --insecure-http: serving PLAIN HTTP; bearer tokens and PHI cross the network unencrypted. Use only behind a TLS-terminating proxy on this host. !!!"
            );
            None
        }
    };
    let verifier = http::TokenVerifier::new(&config.jwt, &data_dir.jwt_secret())?;
    let metrics = http::metrics::install_recorder()?;
    let listener = http::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if config.transport == Transport::SelfSignedTls {
        eprintln!(
            "phivault: TLS certificate (what clients trust): {}",
            data_dir.tls_cert().display()
        );
        eprintln!(
            "phivault: try: curl --cacert {} https://localhost:{}/healthz",
            data_dir.tls_cert().display(),
            addr.port()
        );
    }
    if config.jwt.algorithm == JwtAlgorithm::HS256 {
        eprintln!(
            "phivault: JWT secret: {}; first admin token: phivault --data-dir {} token issue --role admin --sub you",
            data_dir.jwt_secret().display(),
            data_dir.root().display()
        );
    }
    let state = http::AppState::new(config, verifier, metrics, Arc::clone(&vault))
        .with_data_dir(data_dir.root());
    let routes = http::product_routes()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let purge_every = state.config.purge_every;
    let purge_vault = Arc::clone(&vault);
    let root = data_dir.root().to_path_buf();
    runtime.block_on(async move {
        let shutdown = shutdown_signal().context("cannot handle SIGINT/SIGTERM")?;
        eprintln!("phivault: listening on {scheme}://{addr}");
        // Commands find the server here (SPEC §5: they ask it instead of
        // opening the database).
        let announcement = super::remote::ServeAnnouncement {
            url: format!("{scheme}://{addr}"),
            pid: std::process::id(),
        };
        super::remote::announce(&root, &announcement).with_context(|| {
            format!(
                "cannot write {}",
                super::remote::serve_file(&root).display()
            )
        })?;
        let scheduler = purge_every.map(|every| tokio::spawn(scheduled_purge(purge_vault, every)));
        let served = http::serve(state, routes, listener, tls, shutdown).await;
        if let Some(task) = scheduler {
            task.abort();
        }
        super::remote::withdraw(&root);
        served?;
        anyhow::Ok(())
    })?;
    // Every request has finished: make everything durable before exiting.
    vault.flush_blocking()?;
    eprintln!("phivault: stopped");
    Ok(())
}
