//! The whole receiving pipeline of `phivault listen`, assembled:
//!
//! ```text
//! C-STORE ─▶ ScpServer ─▶ TrackingSink ─▶ SeriesTracker ─(quiet)─▶ SeriesRecordBuilder
//!                                                                   │
//!            server ◀─ Forwarder ◀─ run_delivery ◀─ Outbox (durable) ◀┘
//! ```
//!
//! What is acknowledged to the sender (C-STORE success) lives in memory
//! until its series is quiet; then its record is written to the outbox
//! before any send is tried. A graceful [`Listener::shutdown`] writes every
//! series still collecting to the outbox first, so only a crash (or
//! `kill -9`) within the quiet period can lose acknowledged instances; the
//! outbox itself survives both.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dicom_object::InMemDicomObject;
use serde_json::Value;

use super::delivery::{Forwarder, RetryPolicy, run_delivery};
use super::outbox::{Outbox, OutboxError};
use super::quiet_period::{
    CompletedSeries, SeriesTicker, SeriesTracker, TrackerConfig, TrackingSink,
};
use super::server::{ScpConfig, ScpError, ScpServer};

/// Why a series produced no record. The reason must carry no PHI (name the
/// missing or invalid attribute by keyword, never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no record for this series: {reason}")]
pub struct RecordNotBuilt {
    /// What is wrong, without values.
    pub reason: String,
}

/// Turns a completed series (the headers of its instances, pixel data
/// removed) into the record forwarded to the server (SPEC §1).
pub trait SeriesRecordBuilder: Send + Sync + 'static {
    /// Builds the record; `InstancesInSeries` is the number of items.
    fn build(&self, series: &CompletedSeries<InMemDicomObject>) -> Result<Value, RecordNotBuilt>;
}

/// Everything the listener needs besides the builder and the forwarder.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// The DICOM side.
    pub scp: ScpConfig,
    /// When a series is complete, and how long it is remembered.
    pub tracker: TrackerConfig,
    /// The outbox directory (`<data-dir>/outbox` by default).
    pub outbox_dir: PathBuf,
    /// Backoff after transient forwarding failures.
    pub retry: RetryPolicy,
}

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// The outbox could not be opened.
    #[error("cannot open the outbox")]
    Outbox(#[from] OutboxError),
    /// The DICOM receiver could not start.
    #[error("cannot start the DICOM receiver")]
    Scp(#[from] ScpError),
    /// The series ticker thread could not start.
    #[error("cannot start the series ticker")]
    Ticker(#[source] std::io::Error),
}

/// The running pipeline.
pub struct Listener {
    server: ScpServer,
    ticker: SeriesTicker,
    outbox: Arc<Outbox>,
    tracker: Arc<SeriesTracker<InMemDicomObject>>,
    stop_delivery: tokio::sync::oneshot::Sender<()>,
    delivery: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Opens the outbox (resuming whatever is pending in it), starts
    /// delivery on `runtime`, then starts accepting associations on
    /// `listener`.
    pub fn start<B, F>(
        listener: TcpListener,
        config: ListenerConfig,
        builder: B,
        forwarder: F,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Self, ListenerError>
    where
        B: SeriesRecordBuilder,
        F: Forwarder + 'static,
    {
        let outbox = Arc::new(Outbox::open(&config.outbox_dir)?);
        if outbox.pending_count() > 0 {
            tracing::info!(pending = outbox.pending_count(), "resuming outbox delivery");
        }
        let (stop_delivery, stopped) = tokio::sync::oneshot::channel::<()>();
        let delivery = runtime.spawn(run_delivery(
            Arc::clone(&outbox),
            forwarder,
            config.retry,
            async move {
                let _ = stopped.await;
            },
        ));

        let tracker = Arc::new(SeriesTracker::new(config.tracker));
        // Poll often enough that a series is emitted at most a quarter of
        // the quiet period (and never more than a second) late.
        let interval = (config.tracker.quiet_period / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let ticker_outbox = Arc::clone(&outbox);
        let ticker = SeriesTicker::start(Arc::clone(&tracker), interval, move |series| {
            enqueue_series(&builder, &ticker_outbox, &series);
        })
        .map_err(ListenerError::Ticker)?;

        let sink = TrackingSink::new(Arc::clone(&tracker), |instance| instance.header);
        let server = match ScpServer::start(listener, config.scp, Arc::new(sink)) {
            Ok(server) => server,
            Err(e) => {
                ticker.stop();
                let _ = stop_delivery.send(());
                return Err(e.into());
            }
        };
        Ok(Self {
            server,
            ticker,
            outbox,
            tracker,
            stop_delivery,
            delivery,
        })
    }

    /// The DICOM address listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The outbox (to watch what is pending).
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Series with instances not yet turned into a record.
    pub fn collecting(&self) -> usize {
        self.tracker.collecting()
    }

    /// Stops in order: no new associations (those in progress are closed),
    /// every series still collecting goes to the outbox, then delivery
    /// stops. Returns the delivery task, finished or about to be; what is
    /// still pending is delivered after the next start.
    pub fn shutdown(self) -> tokio::task::JoinHandle<()> {
        self.server.shutdown();
        self.ticker.stop();
        let _ = self.stop_delivery.send(());
        self.delivery
    }
}

fn enqueue_series<B: SeriesRecordBuilder>(
    builder: &B,
    outbox: &Outbox,
    series: &CompletedSeries<InMemDicomObject>,
) {
    let instances = series.items.len();
    match builder.build(series) {
        Ok(record) => match outbox.enqueue(&series.series_instance_uid, &record) {
            Ok(id) => tracing::info!(
                instances,
                emission = series.emission,
                entry = ?id,
                "series complete; record queued"
            ),
            // The instances were acknowledged to the sender: say loudly
            // that this series' record is lost (no value in the message).
            Err(e) => tracing::error!(
                instances,
                error = %e,
                "series complete but its record could not be stored in the outbox"
            ),
        },
        Err(e) => tracing::warn!(instances, error = %e, "series complete but no record built"),
    }
}
