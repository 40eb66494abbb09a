//! The DICOM side of `phivault listen`: a C-STORE receiver (SCP) that keeps
//! only the header of each received instance, a tracker that decides when a
//! series is complete (a quiet period without new instances), and a durable
//! outbox from which finished series records are forwarded to the server.
//!
//! The pieces meet through small interfaces so that each can be tested on
//! its own and wired to the record builder and the HTTPS client elsewhere:
//!
//! - [`server::ScpServer`] accepts associations and hands every received
//!   instance (header only, pixel data dropped) to an [`InstanceSink`];
//! - [`quiet_period::SeriesTracker`] is such a sink's core: it groups items
//!   by SeriesInstanceUID and emits a series once it has been quiet;
//! - [`outbox::Outbox`] stores pending records durably, and
//!   [`delivery`] drains it through a [`delivery::Forwarder`].
//!
//! **Invariant:** no received instance, and no pixel data, is ever written
//! to disk by this module; only finished series records reach the outbox.
//! **Invariant:** no log line or error message carries a value read from a
//! data set (UIDs, names and dates are PHI).

pub mod ae_title;
pub mod delivery;
mod dimse;
mod header_buffer;
mod header_scan;
pub mod instance;
pub mod listener;
pub mod outbox;
pub mod quiet_period;
mod receive;
pub mod server;
pub mod syntaxes;

pub use ae_title::AeTitle;
pub use instance::{InstanceRefused, InstanceSink, ReceivedInstance};
