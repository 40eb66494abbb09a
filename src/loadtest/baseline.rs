//! The baseline server: the same TLS stack as the product (axum +
//! axum-server + rustls with the ring provider, the same certificate
//! loader), one route whose handler only parses the JSON body and answers
//! 201. What the product costs beyond it is the product's own work.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum_server::tls_rustls::RustlsConfig;

/// Parses the body as JSON: 201 if it is, 400 if not.
async fn parse_only(body: Bytes) -> StatusCode {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => StatusCode::CREATED,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

/// Serves `POST /v1/records` (parse only) over TLS on `listener` until
/// `shutdown` resolves.
pub async fn serve_baseline(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route("/v1/records", post(parse_only));
    let handle = axum_server::Handle::<std::net::SocketAddr>::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
    });
    axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(tls))?
        .handle(handle)
        .serve(app.into_make_service())
        .await
}
