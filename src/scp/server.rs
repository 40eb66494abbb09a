//! The TCP side of the receiver: accepts connections, negotiates each
//! association (PS3.8 §7.1) for the configured AE title, and serves it on
//! its own thread, so several senders can store at once.
//!
//! Called AE title: by default an association whose called AE title is not
//! this receiver's is rejected (A-ASSOCIATE-RJ, "called AE title not
//! recognized", PS3.8 §9.3.4); [`ScpConfig::accept_any_called_ae`] accepts
//! any. The calling AE title is never checked (a PACS is identified by
//! network placement, not by a self-declared name).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use dicom_ul::ServerAssociationOptions;
use dicom_ul::association::Association;
use dicom_ul::association::server::AccessControl;
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJServiceUserReason, AssociationRJSource, Pdu, UserIdentity,
};

use super::ae_title::AeTitle;
use super::instance::InstanceSink;
use super::receive;
use super::syntaxes::{STORAGE_SOP_CLASSES, TRANSFER_SYNTAXES, VERIFICATION};

/// How the receiver behaves on the network.
#[derive(Debug, Clone)]
pub struct ScpConfig {
    /// This receiver's AE title.
    pub ae_title: AeTitle,
    /// Accept associations whatever called AE title they name.
    pub accept_any_called_ae: bool,
    /// Associations served at once; one more is rejected as transient
    /// ("local limit exceeded", PS3.8 §9.3.4), so the sender retries later.
    pub max_associations: usize,
    /// An association with no PDU for this long is dropped (the sender's
    /// unanswered instance is then not acknowledged, so it is resent).
    pub idle_timeout: Duration,
    /// Largest data set header kept in memory for one instance (the pixel
    /// data is never kept); a larger header is refused with status A700.
    pub max_header_bytes: usize,
    /// Largest PDU this receiver accepts (PS3.8 D.1), announced in the
    /// A-ASSOCIATE-AC; a larger PDU ends the association.
    pub max_pdu_length: u32,
}

impl ScpConfig {
    /// The defaults: called AE title checked, 16 associations, 60 s idle
    /// timeout, 64 MiB headers, 64 KiB PDUs.
    pub fn new(ae_title: AeTitle) -> Self {
        Self {
            ae_title,
            accept_any_called_ae: false,
            max_associations: 16,
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024 * 1024,
            max_pdu_length: 65_536,
        }
    }
}

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScpError {
    /// The listener's address could not be read.
    #[error("cannot read the listening address")]
    LocalAddr(#[source] std::io::Error),
    /// A thread could not be started.
    #[error("cannot start the receiver thread")]
    Spawn(#[source] std::io::Error),
}

/// The running receiver. Dropping it without [`ScpServer::shutdown`] leaves
/// the threads running until the process ends.
pub struct ScpServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: JoinHandle<()>,
}

struct Shared {
    config: ScpConfig,
    sink: Arc<dyn InstanceSink>,
    stopping: AtomicBool,
    active: AtomicUsize,
    next_id: AtomicUsize,
    /// Live association sockets (to close them on shutdown) and threads.
    live: Mutex<Vec<(usize, TcpStream)>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Accepts an association if its called AE title names this receiver (or
/// any, when so configured).
struct CalledAe(Option<AeTitle>);

impl AccessControl for CalledAe {
    fn check_access(
        &self,
        _this_ae_title: &str,
        _calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        match &self.0 {
            Some(expected) if !expected.matches(called_ae_title) => {
                Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized)
            }
            _ => Ok(()),
        }
    }
}

impl ScpServer {
    /// Starts serving on `listener` (bound by the caller, so tests can use
    /// port 0). Each accepted instance goes to `sink`.
    pub fn start(
        listener: TcpListener,
        config: ScpConfig,
        sink: Arc<dyn InstanceSink>,
    ) -> Result<Self, ScpError> {
        let local_addr = listener.local_addr().map_err(ScpError::LocalAddr)?;
        let shared = Arc::new(Shared {
            config,
            sink,
            stopping: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            next_id: AtomicUsize::new(0),
            live: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = std::thread::Builder::new()
            .name("scp-accept".into())
            .spawn(move || accept_loop(&listener, &accept_shared))
            .map_err(ScpError::Spawn)?;
        tracing::info!(addr = %local_addr, ae_title = %shared.config.ae_title, "DICOM receiver listening");
        Ok(Self {
            local_addr,
            shared,
            accept_thread,
        })
    }

    /// The address the receiver listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Associations being served now.
    pub fn active_associations(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Stops accepting, closes the associations in progress (a sender whose
    /// instance was not yet answered will resend it), and waits for every
    /// thread to end. Every instance answered with success has been handed
    /// to the sink when this returns.
    pub fn shutdown(self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        let _ = self.accept_thread.join();
        for (_, socket) in lock(&self.shared.live).iter() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let threads = std::mem::take(&mut *lock(&self.shared.threads));
        for thread in threads {
            let _ = thread.join();
        }
        tracing::info!("DICOM receiver stopped");
    }
}

/// Locks a mutex; a poisoned lock still holds consistent data here (a
/// vector of handles), so it is used as is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                // Out of file descriptors and the like: do not spin.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.live).push((id, clone));
        }
        let thread_shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name(format!("scp-assoc-{id}"))
            .spawn(move || {
                serve_connection(stream, &thread_shared);
                lock(&thread_shared.live).retain(|(i, _)| *i != id);
            });
        let mut threads = lock(&shared.threads);
        threads.retain(|t| !t.is_finished());
        match spawned {
            Ok(handle) => threads.push(handle),
            Err(e) => tracing::warn!(error = %e, "cannot start an association thread"),
        }
    }
}

/// Decrements the active count when an association ends, however it ends.
struct ActiveGuard<'a>(&'a AtomicUsize);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "unknown".to_owned(), |a| a.to_string());
    let config = &shared.config;
    let previous = shared.active.fetch_add(1, Ordering::SeqCst);
    let _guard = ActiveGuard(&shared.active);
    if previous >= config.max_associations {
        tracing::warn!(%peer, "association rejected: too many at once");
        reject_busy(stream, config.max_pdu_length);
        return;
    }
    let mut options = ServerAssociationOptions::new()
        .ae_access_control(CalledAe(
            (!config.accept_any_called_ae).then(|| config.ae_title.clone()),
        ))
        .ae_title(config.ae_title.as_str().to_owned())
        .max_pdu_length(config.max_pdu_length)
        .read_timeout(config.idle_timeout)
        .write_timeout(config.idle_timeout)
        .with_abstract_syntax(VERIFICATION);
    for class in STORAGE_SOP_CLASSES {
        options = options.with_abstract_syntax(*class);
    }
    for ts in TRANSFER_SYNTAXES {
        options = options.with_transfer_syntax(*ts);
    }
    let association = match options.establish(stream) {
        Ok(a) => a,
        Err(e) => {
            // dicom-ul's messages name AE titles and PDU kinds, no PHI.
            tracing::warn!(%peer, error = %e, "association not established");
            return;
        }
    };
    let calling = association.peer_ae_title().trim().to_owned();
    tracing::info!(%peer, calling_ae = %calling, "association established");
    match receive::serve(association, shared.sink.as_ref(), config.max_header_bytes) {
        Ok(s) => tracing::info!(
            %peer,
            calling_ae = %calling,
            echoes = s.echoes,
            stored = s.stored,
            failed = s.failed,
            "association ended"
        ),
        Err(e) => tracing::warn!(%peer, calling_ae = %calling, error = %e, "association aborted"),
    }
}

/// Answers an association request with A-ASSOCIATE-RJ, transient, "local
/// limit exceeded" (PS3.8 §9.3.4), after reading the request so that the
/// peer receives the answer rather than a reset connection.
fn reject_busy(mut stream: TcpStream, max_pdu_length: u32) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    // PS3.8 §9.3.1: a PDU is a 6-byte header (type, reserved, length).
    let mut head = [0_u8; 6];
    if stream.read_exact(&mut head).is_err() {
        return;
    }
    let len = u64::from(u32::from_be_bytes([head[2], head[3], head[4], head[5]]));
    if len > u64::from(max_pdu_length) {
        return;
    }
    if std::io::copy(&mut (&mut stream).take(len), &mut std::io::sink()).is_err() {
        return;
    }
    let rj = Pdu::AssociationRJ(AssociationRJ {
        result: AssociationRJResult::Transient,
        source: AssociationRJSource::ServiceProviderPresentation(
            AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
        ),
    });
    let mut out = Vec::with_capacity(16);
    if dicom_ul::write_pdu(&mut out, &rj).is_ok() {
        let _ = stream.write_all(&out);
    }
    let _ = stream.shutdown(Shutdown::Both);
}
