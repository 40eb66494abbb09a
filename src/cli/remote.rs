//! Local or server (SPEC §5): commands that need the database open it
//! directly when no process holds it, and otherwise ask the server that
//! does, over its HTTPS admin API, with a short-lived token minted from the
//! data directory's JWT secret and the data directory's certificate as the
//! only trusted root. Two processes never open one database.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{DataDir, write_private_file};
use crate::domain::Role;
use crate::http::{JwtSecret, mint};
use crate::policy::PolicySet;
use crate::store::StoreError;
use crate::vault::{Vault, VaultError, db_path};

/// The file `serve` writes once listening, in the data directory.
pub const SERVE_FILE: &str = "serve.json";

/// Lifetime of the token a command mints to ask the server.
const TOKEN_TTL: Duration = Duration::from_secs(300);

/// The `sub` of tokens minted by commands (audit entries name it).
pub const LOCAL_OPERATOR: &str = "phivault-cli";

/// What `serve` announces in `<data-dir>/serve.json` (mode 0600).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeAnnouncement {
    /// The base URL, e.g. `https://127.0.0.1:8443`.
    pub url: String,
    /// The server's process id.
    pub pid: u32,
}

/// Path of the announcement file.
pub fn serve_file(data_dir: &Path) -> PathBuf {
    data_dir.join(SERVE_FILE)
}

/// Writes the announcement (0600), replacing an older one.
pub fn announce(data_dir: &Path, announcement: &ServeAnnouncement) -> std::io::Result<()> {
    // A stale file from a killed server is replaced (atomically).
    let path = serve_file(data_dir);
    let bytes = serde_json::to_vec(announcement).map_err(std::io::Error::other)?;
    write_private_file(&path, &bytes)
}

/// Removes the announcement (on clean shutdown).
pub fn withdraw(data_dir: &Path) {
    let _ = std::fs::remove_file(serve_file(data_dir));
}

/// Where a command runs.
#[derive(Debug)]
pub enum Target {
    /// No server holds the database: the command opened it.
    Local(Box<Vault>),
    /// A server holds it: the command asks it.
    Server(Remote),
}

/// Opens the data directory's vault, or connects to the server holding it.
/// `role` is the role of the token minted for the server.
pub fn open(data_dir: &Path, policy_dir: Option<&Path>, role: Role) -> anyhow::Result<Target> {
    if !db_path(data_dir).is_dir() {
        anyhow::bail!(
            "no database in {}: start `phivault --data-dir {} serve` once to create it",
            data_dir.display(),
            data_dir.display()
        );
    }
    let policies = match policy_dir {
        Some(dir) => PolicySet::load_dir(dir)?,
        None => PolicySet::embedded()?,
    };
    match Vault::open(data_dir, policies) {
        Ok((vault, _)) => Ok(Target::Local(Box::new(vault))),
        Err(VaultError::Store(StoreError::Locked { .. })) => {
            Ok(Target::Server(Remote::connect(data_dir, role)?))
        }
        Err(e) => Err(e.into()),
    }
}

/// A connection to the server holding a data directory's database.
pub struct Remote {
    base: String,
    token: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never shown.
        f.debug_struct("Remote")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// Reads `serve.json`, mints a token for `role` and builds a client
    /// that trusts only `<data-dir>/tls/cert.pem`.
    pub fn connect(data_dir: &Path, role: Role) -> anyhow::Result<Self> {
        crate::http::install_crypto_provider();
        let dir = DataDir::new(data_dir);
        let announced = std::fs::read(serve_file(data_dir)).with_context(|| {
            format!(
                "the database is held by another process, but {} says where no server is",
                serve_file(data_dir).display()
            )
        })?;
        let announced: ServeAnnouncement =
            serde_json::from_slice(&announced).context("serve.json is not readable")?;
        let secret = JwtSecret::read(&dir.jwt_secret())?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_secs();
        let token = mint(&secret, LOCAL_OPERATOR, role, now, TOKEN_TTL)?;
        let mut builder = reqwest::Client::builder();
        if announced.url.starts_with("https://") {
            let pem = std::fs::read(dir.tls_cert())
                .with_context(|| format!("cannot read {}", dir.tls_cert().display()))?;
            builder = builder.tls_certs_only([reqwest::Certificate::from_pem(&pem)?]);
        }
        let client = builder.build()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            base: announced.url.trim_end_matches('/').to_owned(),
            token,
            client,
            runtime,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`, the JSON answer; a non-2xx answer is an error naming
    /// the status and the problem's detail.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.client.get(format!("{}{path}", self.base)))
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.client.post(format!("{}{path}", self.base)).json(body))
    }

    fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let request = request.bearer_auth(&self.token);
        self.runtime.block_on(async move {
            let response = request
                .send()
                .await
                .context("cannot reach the server holding the database")?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                let detail = body
                    .get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or("no detail");
                anyhow::bail!("the server answered {status}: {detail}");
            }
            Ok(body)
        })
    }
}

/// Whether progress should be drawn (stderr is a terminal).
pub fn show_progress() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}
