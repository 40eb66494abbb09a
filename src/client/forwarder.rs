//! The HTTPS [`Forwarder`] of `phivault listen`: posts one series record to
//! `POST /v1/records` and says whether the server stored it, whether to try
//! again later, or whether the record itself was refused.
//!
//! | answer | outcome |
//! |---|---|
//! | 2xx (201 created, 200 replaced) | delivered: the server stored it durably (SPEC §4) |
//! | 408, 429, 5xx, no connection, timeout | transient, with the server's `Retry-After` (RFC 9110 §10.2.3) |
//! | 401, 403 | transient: the token, not the record, is wrong; the record stays pending until the listener runs with a valid token |
//! | any other 4xx | permanent, with the problem document (RFC 9457) |
//! | TLS failure (untrusted certificate, not TLS) | transient: a configuration error, logged; nothing is set aside |
//!
//! Holding records on 401/403 and TLS failures is deliberate: moving them
//! to `rejected/` would need a person to resubmit each one, while the cause
//! is fixed once by restarting with the right `--token` or `--ca`.
//!
//! Invariant: no reason or log line carries a record value; the problem
//! document is the server's own (field pointers and rules, no values).

use std::time::Duration;

use serde_json::Value;

use super::retry::{StatusClass, classify_status, parse_retry_after};
use super::sender::{BearerToken, SubmitError, SubmitOptions, build_client, endpoint};
use crate::scp::delivery::{ForwardError, ForwardOutcome, Forwarder};

/// Posts records to one phivault server over HTTPS (rustls, ring).
#[derive(Debug, Clone)]
pub struct HttpsForwarder {
    client: reqwest::Client,
    url: reqwest::Url,
    token: BearerToken,
}

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct ForwarderOptions {
    /// The server's base URL, e.g. `https://127.0.0.1:8443` (a path prefix
    /// is kept).
    pub server: reqwest::Url,
    /// PEM certificates to trust instead of the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// The `ingest` token.
    pub token: BearerToken,
    /// Allow an `http://` URL (the token then travels in clear).
    pub allow_plain_http: bool,
    /// Time limit of one request, connection included.
    pub request_timeout: Duration,
}

impl ForwarderOptions {
    /// Options trusting the system roots, https only, 30 s per request.
    pub fn new(server: reqwest::Url, token: BearerToken) -> Self {
        Self {
            server,
            ca_pem: None,
            token,
            allow_plain_http: false,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl HttpsForwarder {
    /// Builds the client: `ca_pem` only is trusted when given; an `http://`
    /// URL is refused unless `allow_plain_http`.
    pub fn new(options: ForwarderOptions) -> Result<Self, SubmitError> {
        match options.server.scheme() {
            "https" => {}
            "http" if options.allow_plain_http => {}
            _ => return Err(SubmitError::NotHttps),
        }
        let url = endpoint(&options.server, "v1/records")?;
        let mut client_options = SubmitOptions::new(options.server, options.token.clone());
        client_options.ca_pem = options.ca_pem;
        client_options.allow_plain_http = options.allow_plain_http;
        client_options.request_timeout = options.request_timeout;
        let client = build_client(&client_options)?;
        Ok(Self {
            client,
            url,
            token: options.token,
        })
    }

    /// The endpoint records are posted to.
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    async fn post(&self, record: &Value) -> Result<ForwardOutcome, ForwardError> {
        let response = self
            .client
            .post(self.url.clone())
            .bearer_auth(self.token.expose())
            .json(record)
            .send()
            .await
            .map_err(|e| ForwardError::Transient {
                reason: super::sender::transport_error(&e).1,
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        match classify_status(status) {
            StatusClass::Success => Ok(ForwardOutcome { status }),
            StatusClass::Transient => Err(ForwardError::Transient {
                reason: format!("server answered {status}"),
                retry_after: retry_after(&response),
            }),
            StatusClass::Permanent if matches!(status, 401 | 403) => {
                tracing::error!(
                    status,
                    "the server refuses the token (expired, or without the ingest role); \
                     records stay in the outbox until the listener runs with a valid --token"
                );
                Err(ForwardError::Transient {
                    reason: format!("server answered {status}: the token is refused"),
                    retry_after: None,
                })
            }
            StatusClass::Permanent => {
                let problem = response.json::<Value>().await.unwrap_or(Value::Null);
                Err(ForwardError::Permanent { status, problem })
            }
        }
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, time::OffsetDateTime::now_utc()))
}

impl Forwarder for HttpsForwarder {
    /// `Ok` only on a 2xx answer: the record is stored on the server.
    fn forward(
        &self,
        record: &Value,
    ) -> impl std::future::Future<Output = Result<ForwardOutcome, ForwardError>> + Send {
        self.post(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> BearerToken {
        BearerToken::new("eyJsecret".into())
    }

    #[test]
    fn plain_http_needs_the_opt_in_and_the_path_prefix_is_kept() {
        let url = reqwest::Url::parse("http://127.0.0.1:1/prefix").unwrap();
        let refused = HttpsForwarder::new(ForwarderOptions::new(url.clone(), token()));
        assert!(matches!(refused, Err(SubmitError::NotHttps)));
        let mut options = ForwarderOptions::new(url, token());
        options.allow_plain_http = true;
        let f = HttpsForwarder::new(options).unwrap();
        assert_eq!(f.url().as_str(), "http://127.0.0.1:1/prefix/v1/records");
        assert!(!format!("{f:?}").contains("secret"));
    }

    #[test]
    fn a_ca_without_certificates_is_refused() {
        let url = reqwest::Url::parse("https://127.0.0.1:1").unwrap();
        let mut options = ForwarderOptions::new(url, token());
        options.ca_pem = Some(b"no certificate here".to_vec());
        assert!(matches!(
            HttpsForwarder::new(options),
            Err(SubmitError::BadCa)
        ));
    }

    #[tokio::test]
    async fn no_server_is_transient() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = reqwest::Url::parse(&format!("https://127.0.0.1:{port}")).unwrap();
        let f = HttpsForwarder::new(ForwarderOptions::new(url, token())).unwrap();
        let err = f.forward(&serde_json::json!({})).await.unwrap_err();
        assert!(matches!(err, ForwardError::Transient { .. }), "{err:?}");
    }
}
