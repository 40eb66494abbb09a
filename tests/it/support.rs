//! Test helpers: start the real server in-process on 127.0.0.1:0 over real
//! TLS with a temporary data directory, mint tokens from its secret, and a
//! reqwest client that trusts only that server's self-signed certificate.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use base64::Engine;
use phivault::config::{Config, ConfigLayer, DataDir};
use phivault::domain::{Actor, Role};
use phivault::http::access::{ROUTES, RouteRule};
use phivault::http::{
    self, AccessDenial, AccessDenialSink, ApiJson, AppState, JwtSecret, Principal, PurposeOfUse,
    RouteSet, ServeError,
};
use phivault::policy::PolicySet;
use phivault::vault::Vault;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A stand-in for a route the lead has not mounted yet (test binary only):
/// answers who the principal is, so tests can prove authorization.
async fn stub(principal: Principal) -> Json<Actor> {
    Json(principal.actor)
}

/// A stand-in for a PHI-returning route: needs a Purpose-Of-Use.
async fn stub_phi(principal: Principal, purpose: PurposeOfUse) -> Json<Value> {
    Json(json!({ "sub": principal.actor.sub, "purpose": purpose.as_str() }))
}

/// A stand-in for a route with a JSON body.
async fn stub_body(principal: Principal, ApiJson(body): ApiJson<Value>) -> Json<Value> {
    Json(json!({ "sub": principal.actor.sub, "members": body.as_object().map_or(0, |o| o.len()) }))
}

/// Mounts a stand-in on every table route `routes` lacks.
pub fn with_stubs(mut routes: RouteSet) -> RouteSet {
    for rule in ROUTES {
        if routes.is_mounted(rule.method, rule.path) {
            continue;
        }
        routes = if rule.purpose_of_use {
            routes.mount(rule.method, rule.path, stub_phi)
        } else if rule.request_schema.is_some() {
            routes.mount(rule.method, rule.path, stub_body)
        } else {
            routes.mount(rule.method, rule.path, stub)
        }
        .unwrap();
    }
    routes
}

/// Access denials collected in memory, to check the audit hook.
#[derive(Default)]
pub struct CollectedDenials(pub Mutex<Vec<AccessDenial>>);

impl AccessDenialSink for CollectedDenials {
    fn access_denied(&self, denial: &AccessDenial) {
        self.0.lock().unwrap().push(denial.clone());
    }
}

/// How to start a test server.
pub struct Options {
    /// Settings on top of the defaults (listen is forced to 127.0.0.1:0).
    pub flags: ConfigLayer,
    /// Extra routes mounted before the stand-ins fill the rest.
    pub routes: Box<dyn FnOnce(RouteSet) -> RouteSet>,
    /// Where access denials go.
    pub denials: Option<Arc<dyn AccessDenialSink>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            flags: ConfigLayer::default(),
            routes: Box::new(|r| r),
            denials: None,
        }
    }
}

/// A running in-process server.
pub struct TestServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// A client trusting only this server's certificate.
    pub client: reqwest::Client,
    /// The data directory (removed on drop).
    pub data: TempDir,
    /// The server's vault (the database is held by the server; tests read
    /// it through this handle).
    pub vault: Arc<Vault>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    /// A server with every default setting.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// A server with `options`.
    pub async fn start_with(options: Options) -> Self {
        Self::start_on(tempfile::tempdir().unwrap(), 0, options).await
    }

    /// A server on `data`, the directory an earlier server kept
    /// ([`TestServer::stop_keeping_data`]), listening on `port` again.
    pub async fn start_in(data: TempDir, port: u16) -> Self {
        Self::start_on(data, port, Options::default()).await
    }

    /// Stops the server, waits until it has drained and its database is
    /// closed, and hands back its data directory for [`TestServer::start_in`].
    pub async fn stop_keeping_data(mut self) -> (TempDir, u16) {
        let port = self.addr.port();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().unwrap().await.unwrap().unwrap();
        let data = std::mem::replace(&mut self.data, tempfile::tempdir().unwrap());
        drop(self);
        (data, port)
    }

    async fn start_on(data: TempDir, port: u16, options: Options) -> Self {
        http::install_crypto_provider();
        let dir = DataDir::new(data.path().join("phivault-data"));
        dir.prepare(true).unwrap();
        let flags = ConfigLayer {
            listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
            ..options.flags
        };
        let config =
            Config::resolve(ConfigLayer::default(), ConfigLayer::default(), flags).unwrap();
        let verifier = http::TokenVerifier::new(&config.jwt, &dir.jwt_secret()).unwrap();
        let metrics = http::metrics::install_recorder().unwrap();
        let vault = Arc::new(reopen_vault(dir.root()));
        let mut state =
            AppState::new(config, verifier, metrics, Arc::clone(&vault)).with_data_dir(dir.root());
        if let Some(sink) = options.denials {
            state = state.with_denials(sink);
        }
        let routes = with_stubs((options.routes)(http::product_routes().unwrap()));
        let tls = http::server_config(&dir.tls_cert(), &dir.tls_key()).unwrap();
        let listener = http::bind(state.config.listen).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(http::serve(
            state,
            routes,
            listener,
            Some(tls),
            async move {
                let _ = rx.await;
            },
        ));
        let client = client_trusting(&dir.tls_cert());
        Self {
            addr,
            client,
            data,
            vault,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> DataDir {
        DataDir::new(self.data.path().join("phivault-data"))
    }

    /// `https://127.0.0.1:<port><path>` (the certificate covers 127.0.0.1).
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    /// A valid token for `sub` in `role`, from the data directory's secret.
    pub fn token(&self, role: Role, sub: &str) -> String {
        let secret = JwtSecret::read(&self.data_dir().jwt_secret()).unwrap();
        http::mint(&secret, sub, role, now(), Duration::from_secs(600)).unwrap()
    }

    /// A correctly signed token that expired an hour ago.
    pub fn expired_token(&self, role: Role) -> String {
        let secret = JwtSecret::read(&self.data_dir().jwt_secret()).unwrap();
        http::mint(
            &secret,
            "late",
            role,
            now() - 7200,
            Duration::from_secs(3600),
        )
        .unwrap()
    }

    /// Asks the server to stop and waits until it has drained.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A reqwest client that trusts only the certificate in `cert_pem`.
pub fn client_trusting(cert_pem: &std::path::Path) -> reqwest::Client {
    http::install_crypto_provider();
    let pem = std::fs::read(cert_pem).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

/// A token with `alg: none` and no signature (RFC 7519 §6 unsecured JWT).
pub fn alg_none_token(role: Role) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(json!({"sub": "mallory", "role": role.as_str(), "exp": now() + 600}))
    )
}

/// A well-formed HS256 token signed with a key that is not the server's.
pub fn wrong_key_token(role: Role) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.secret");
    JwtSecret::create_if_missing(&path).unwrap();
    let secret = JwtSecret::read(&path).unwrap();
    http::mint(&secret, "mallory", role, now(), Duration::from_secs(600)).unwrap()
}

/// A concrete path for a rule's template.
pub fn concrete_path(rule: &RouteRule) -> String {
    rule.path
        .replace("{id}", "0b7f6a3e-5f8e-4b7e-9d6f-2a1c3e4d5f60")
        .replace("{name}", "record")
}

/// The request for `rule`, with what a well-behaved client sends besides the token.
pub fn request_for(server: &TestServer, rule: &RouteRule) -> reqwest::RequestBuilder {
    let method = reqwest::Method::from_bytes(rule.method.as_str().as_bytes()).unwrap();
    let mut req = server
        .client
        .request(method, server.url(&concrete_path(rule)));
    if rule.purpose_of_use {
        req = req.header("Purpose-Of-Use", "TREAT");
    }
    if rule.request_schema.is_some() {
        req = req.json(&json!({}));
    }
    req
}

/// Asserts a response is an RFC 9457 problem document with `status`; returns it.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "media type"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );
    body
}

/// The built binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_phivault"))
}

/// Runs `attempt` until it gives `Some`, for up to 10 s: a database that
/// this process closed a moment ago can still be locked while sled's own
/// threads wind down. A hang guard, not a timing assertion.
pub fn retry_while_locked<T>(mut attempt: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = attempt() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database stayed locked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens the vault of `dir`, waiting out a just-released lock.
pub fn reopen_vault(dir: &std::path::Path) -> Vault {
    retry_while_locked(|| match Vault::open(dir, PolicySet::embedded().unwrap()) {
        Err(phivault::vault::VaultError::Store(phivault::store::StoreError::Locked { .. })) => None,
        other => Some(other.unwrap().0),
    })
}

/// Opens a sled database directly (as an attacker with the disk would),
/// waiting out a just-released lock.
pub fn open_raw_db(path: &std::path::Path) -> sled::Db {
    retry_while_locked(|| match sled::open(path) {
        Ok(db) => Some(db),
        Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => None,
        Err(e) => panic!("{e}"),
    })
}
