//! Sends records to `POST /v1/records/batch` over HTTPS and accounts for
//! each one: created (201), replaced (200), refused (4xx) or undelivered.
//!
//! TLS is rustls with the ring provider. With `ca_pem`, only those
//! certificates are trusted (`tls_certs_only`); without it, the operating
//! system's trust store is used through rustls-platform-verifier, and a host
//! without one fails every connection with a certificate error (pass
//! `--ca`). Plain `http://` needs an explicit opt-in.

use std::fmt;
use std::io::IsTerminal;
use std::time::Duration;

use rand_core::RngCore;
use serde_json::Value;

use super::answer::{ItemAnswer, ProblemAnswer, describe, refusals};
use super::files::{Inputs, SourcedRecord};
use super::retry::{RetryPolicy, StatusClass, classify_status, parse_retry_after};
use super::summary::{Refusal, Summary};

/// A bearer token. Its `Debug` hides it and it is wiped on drop.
#[derive(Clone)]
pub struct BearerToken(zeroize::Zeroizing<String>);

impl BearerToken {
    /// Wraps a token (a JWT from `phivault token issue`).
    pub fn new(token: String) -> Self {
        Self(zeroize::Zeroizing::new(token))
    }

    /// The token text, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<hidden>)")
    }
}

/// Everything `submit` needs to know.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// The server's base URL, e.g. `https://127.0.0.1:8443`.
    pub server: reqwest::Url,
    /// PEM certificates to trust instead of the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// The `ingest` token.
    pub token: BearerToken,
    /// Records per request (1–1000, the server's default limit).
    pub batch_size: usize,
    /// Retry bounds.
    pub retry: RetryPolicy,
    /// Allow an `http://` server URL (the token then travels in clear).
    pub allow_plain_http: bool,
    /// Print progress on stderr; the CLI sets it when stderr is a terminal.
    pub progress: bool,
    /// Time limit of one request, connection included.
    pub request_timeout: Duration,
}

impl SubmitOptions {
    /// Options with the defaults: 100 records per batch, the default retry
    /// policy, 60 s per request, no progress.
    pub fn new(server: reqwest::Url, token: BearerToken) -> Self {
        Self {
            server,
            ca_pem: None,
            token,
            batch_size: 100,
            retry: RetryPolicy::default(),
            allow_plain_http: false,
            progress: false,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// A failure before any record could be sent.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The server URL is not https (and plain HTTP was not allowed), or
    /// cannot hold a path.
    #[error("the server URL must be https://… (plain http needs --allow-plain-http)")]
    NotHttps,
    /// The URL cannot be a base for `/v1/records/batch`.
    #[error("the server URL cannot be used as a base URL")]
    BadUrl,
    /// The batch size is outside 1–1000.
    #[error("the batch size must be from 1 to 1000")]
    BatchSize,
    /// `--ca` holds no usable PEM certificate.
    #[error("the CA file holds no PEM certificate")]
    BadCa,
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTPS client: {0}")]
    Client(#[source] reqwest::Error),
}

/// The HTTPS client `submit` uses: rustls (ring), trusting `ca_pem` only
/// when given. Installs the ring provider as the process default if none is.
pub fn build_client(options: &SubmitOptions) -> Result<reqwest::Client, SubmitError> {
    // Installing fails only if a provider is already installed: fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(options.request_timeout)
        .connect_timeout(options.request_timeout.min(Duration::from_secs(10)))
        .https_only(!options.allow_plain_http)
        .user_agent(concat!("phivault/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = &options.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|_| SubmitError::BadCa)?;
        if certs.is_empty() {
            return Err(SubmitError::BadCa);
        }
        builder = builder.tls_certs_only(certs);
    }
    builder.build().map_err(SubmitError::Client)
}

/// The batch endpoint under the server's base URL (which may carry a path
/// prefix).
fn batch_url(server: &reqwest::Url) -> Result<reqwest::Url, SubmitError> {
    endpoint(server, "v1/records/batch")
}

/// `relative` (no leading slash) under the server's base URL, keeping a
/// path prefix the base URL carries.
pub(crate) fn endpoint(server: &reqwest::Url, relative: &str) -> Result<reqwest::Url, SubmitError> {
    let mut base = server.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(relative).map_err(|_| SubmitError::BadUrl)
}

/// The rustls error inside `err`, looking through `source()` links and
/// through `io::Error` wrappers, whose `source()` skips the wrapped error.
fn find_tls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    // Bounded: error chains are short; the bound guards against a cycle.
    for _ in 0..32 {
        let current = next?;
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => current.source(),
        };
    }
    None
}

/// Whether a transport error is worth retrying, and a reason without PHI.
pub(crate) fn transport_error(e: &reqwest::Error) -> (bool, String) {
    // A certificate the client does not trust, or a peer that does not
    // speak TLS, will not change by waiting: rustls errors are permanent.
    if let Some(tls) = find_tls_error(e) {
        return (
            false,
            format!("TLS failure: {tls} (is the URL right, and --ca the server's certificate?)"),
        );
    }
    if e.is_timeout() {
        (true, "the request timed out".into())
    } else if e.is_connect() {
        (true, "cannot connect to the server".into())
    } else if e.is_request() || e.is_body() {
        (true, "the connection failed during the request".into())
    } else {
        (false, "the request could not be made".into())
    }
}

/// What one batch came to.
enum BatchOutcome {
    /// The server answered per record.
    Answered(Vec<ItemAnswer>),
    /// The whole batch was refused (a 4xx other than 408/429); `fatal` when
    /// every later batch would be refused the same way (401, 403).
    Refused { reason: String, fatal: bool },
    /// Not delivered after every attempt, or not understood.
    Undelivered(String),
}

/// Sends one batch, retrying transient failures.
async fn send_batch(
    client: &reqwest::Client,
    url: &reqwest::Url,
    options: &SubmitOptions,
    batch: &[SourcedRecord],
) -> BatchOutcome {
    let body: Vec<&Value> = batch.iter().map(|r| &r.record).collect();
    let attempts = options.retry.max_attempts.max(1);
    let mut last = String::new();
    let mut retry_after: Option<Duration> = None;
    for attempt in 0..attempts {
        if attempt > 0 {
            // The server's Retry-After when it gave one, else full jitter.
            let wait =
                options
                    .retry
                    .delay(attempt - 1, retry_after.take(), rand_core::OsRng.next_u64());
            tokio::time::sleep(wait).await;
        }
        let sent = client
            .post(url.clone())
            .bearer_auth(options.token.0.as_str())
            .json(&body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                let (transient, reason) = transport_error(&e);
                if !transient {
                    return BatchOutcome::Undelivered(reason);
                }
                last = reason;
                continue;
            }
        };
        let status = response.status().as_u16();
        match classify_status(status) {
            StatusClass::Success => {
                return match response.json::<Vec<ItemAnswer>>().await {
                    Ok(items) if items.len() == batch.len() => BatchOutcome::Answered(items),
                    Ok(_) => BatchOutcome::Undelivered(
                        "the server's answer does not have one result per record".into(),
                    ),
                    Err(_) => BatchOutcome::Undelivered(
                        "the server's answer could not be read; the batch may be stored, submit again to be sure".into(),
                    ),
                };
            }
            StatusClass::Transient => {
                retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, time::OffsetDateTime::now_utc()));
                last = format!("server answered {status}");
            }
            StatusClass::Permanent => {
                let problem = response.json::<ProblemAnswer>().await.ok();
                return BatchOutcome::Refused {
                    reason: describe(status, problem.as_ref()),
                    fatal: matches!(status, 401 | 403),
                };
            }
        }
    }
    BatchOutcome::Undelivered(format!("gave up after {attempts} attempts: {last}"))
}

/// Sends every record of `inputs` in batches and returns the summary, which
/// also carries the refusals and skips found while reading the inputs.
/// Fails only when nothing can be sent at all (bad URL, CA or batch size).
pub async fn submit(options: &SubmitOptions, inputs: Inputs) -> Result<Summary, SubmitError> {
    if !(1..=1000).contains(&options.batch_size) {
        return Err(SubmitError::BatchSize);
    }
    match options.server.scheme() {
        "https" => {}
        "http" if options.allow_plain_http => {}
        _ => return Err(SubmitError::NotHttps),
    }
    let url = batch_url(&options.server)?;
    let client = build_client(options)?;
    let mut summary = Summary {
        refused: inputs.refused,
        skipped: inputs.skipped,
        ..Summary::default()
    };
    let total = inputs.records.len();
    let mut done = 0;
    let mut fatal: Option<String> = None;
    for batch in inputs.records.chunks(options.batch_size) {
        if let Some(reason) = &fatal {
            summary.refused.extend(batch.iter().map(|r| Refusal {
                source: r.source.clone(),
                pointer: None,
                reason: reason.clone(),
            }));
            continue;
        }
        match send_batch(&client, &url, options, batch).await {
            BatchOutcome::Answered(items) => {
                summary.sent += batch.len();
                for (record, item) in batch.iter().zip(items) {
                    match item.status {
                        201 => summary.created += 1,
                        200 => summary.replaced += 1,
                        s @ 400..=499 => {
                            summary
                                .refused
                                .extend(refusals(&record.source, s, item.problem))
                        }
                        s => summary.undelivered.push(Refusal {
                            source: record.source.clone(),
                            pointer: None,
                            reason: describe(s, item.problem.as_ref()),
                        }),
                    }
                }
            }
            BatchOutcome::Refused { reason, fatal: f } => {
                summary.refused.extend(batch.iter().map(|r| Refusal {
                    source: r.source.clone(),
                    pointer: None,
                    reason: reason.clone(),
                }));
                if f {
                    fatal = Some(reason);
                }
            }
            BatchOutcome::Undelivered(reason) => {
                summary.undelivered.extend(batch.iter().map(|r| Refusal {
                    source: r.source.clone(),
                    pointer: None,
                    reason: reason.clone(),
                }))
            }
        }
        done += batch.len();
        if options.progress {
            eprint!("\rphivault submit: {done}/{total} records");
        }
    }
    if options.progress && total > 0 {
        eprintln!();
    }
    Ok(summary)
}

/// Whether progress should be shown: only when stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_url_keeps_a_path_prefix() {
        let u = |s: &str| {
            batch_url(&reqwest::Url::parse(s).unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(
            u("https://127.0.0.1:8443"),
            "https://127.0.0.1:8443/v1/records/batch"
        );
        assert_eq!(
            u("https://h/phivault"),
            "https://h/phivault/v1/records/batch"
        );
        assert_eq!(
            u("https://h/phivault/"),
            "https://h/phivault/v1/records/batch"
        );
    }

    #[test]
    fn token_debug_is_hidden() {
        let t = BearerToken::new("eyJsecret".into());
        assert!(!format!("{t:?}").contains("secret"));
    }
}
