//! What the receiver hands on: one received instance's header, and the
//! sink interface that takes it.

use std::fmt;

use dicom_object::InMemDicomObject;

/// One instance received by C-STORE: its data set without pixel data.
///
/// Guarantees: `header` holds no element of group 7FE0 at any depth (Pixel
/// Data, Float/Double Float Pixel Data, offset tables), and nothing after
/// it. `Debug` prints no value from the data set (it is PHI).
pub struct ReceivedInstance {
    /// Affected SOP Class UID of the C-STORE-RQ (PS3.7 §9.1.1.1).
    pub sop_class_uid: String,
    /// Affected SOP Instance UID of the C-STORE-RQ, which identifies the
    /// instance (a resent instance carries the same UID).
    pub sop_instance_uid: String,
    /// The calling AE title of the association that carried it.
    pub calling_ae_title: String,
    /// The data set header.
    pub header: InMemDicomObject,
}

impl fmt::Debug for ReceivedInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceivedInstance")
            .field("sop_class_uid", &self.sop_class_uid)
            .field("calling_ae_title", &self.calling_ae_title)
            .field("elements", &self.header.iter().count())
            .finish_non_exhaustive()
    }
}

/// Why a sink did not take an instance; the receiver answers the C-STORE
/// with the matching failure status, so the sender knows it was not kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceRefused {
    /// A Type 1 attribute the sink needs is absent or empty (named by its
    /// DICOM keyword, never by value). Answered with status A900.
    #[error("the data set lacks {0}")]
    MissingAttribute(&'static str),
    /// The sink cannot hold more. Answered with status A700.
    #[error("the receiver is out of resources")]
    OutOfResources,
}

/// Takes each instance the receiver accepted. Called from the association
/// threads, possibly concurrently; must not block for long (the sender
/// waits for the C-STORE-RSP meanwhile).
pub trait InstanceSink: Send + Sync {
    /// Takes one instance. `Ok` means the receiver answers success.
    fn instance_received(&self, instance: ReceivedInstance) -> Result<(), InstanceRefused>;
}
