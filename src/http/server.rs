//! Launching: bind a listener, serve the app over TLS (or plain HTTP when
//! configured), and on the shutdown signal stop accepting, drain in-flight
//! requests, then return so the caller can flush the store.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;

use super::layers::app;
use super::limits::forget_idle_ips;
use super::routes::RouteSet;
use super::state::AppState;

/// Extra time, beyond the request timeout, that in-flight requests get to
/// finish after the shutdown signal.
const DRAIN_MARGIN: Duration = Duration::from_secs(5);

/// How often limiter memory is trimmed and metrics histograms are upkept.
const UPKEEP_EVERY: Duration = Duration::from_secs(10);

/// A failure to bind or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `addr`; port 0 picks a free port, which `local_addr()` reports.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })
}

/// Serves `routes` with `state` on `listener`, over TLS with `tls` or plain
/// HTTP with `None`, until `shutdown` completes. Then it stops accepting,
/// lets in-flight requests finish (up to the request timeout plus a margin)
/// and returns: when it returns, no request is running, so the caller may
/// flush and close the store.
pub async fn serve<F>(
    state: AppState,
    routes: RouteSet,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: F,
) -> Result<(), ServeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let grace = state.config.request_timeout + DRAIN_MARGIN;
    let upkeep = {
        let metrics = state.metrics.clone();
        let principals = state.principal_limiter.clone();
        let ips = state.ip_limit.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tick.tick().await;
                metrics.run_upkeep();
                principals.forget_idle();
                forget_idle_ips(&ips);
            }
        })
    };
    let handle = axum_server::Handle::<SocketAddr>::new();
    let signal = {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested: draining in-flight requests");
            handle.graceful_shutdown(Some(grace));
        })
    };
    let make_service = app(state, routes).into_make_service_with_connect_info::<SocketAddr>();
    let result = match tls {
        Some(config) => {
            axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(config))?
                .handle(handle)
                .serve(make_service)
                .await
        }
        None => {
            axum_server::from_tcp(listener)?
                .handle(handle)
                .serve(make_service)
                .await
        }
    };
    upkeep.abort();
    signal.abort();
    tracing::info!("server stopped");
    Ok(result?)
}
