//! The client side: reading JSON and DICOM inputs, grouping DICOM instances
//! into series, and sending records to the server over HTTPS.
//!
//! Invariant: only validated records are sent (each passed
//! [`crate::domain::Record::from_json_now`]), and no report, error or log
//! line here contains a record value; pixel data is never read.

mod answer;
pub mod dicom_header;
pub mod files;
pub mod forwarder;
pub mod retry;
pub mod sender;
pub mod series;
pub mod series_record;
pub mod summary;

pub use dicom_header::{HeaderError, InstanceHeader, read_header_file};
pub use files::{Inputs, SourcedRecord, collect_inputs};
pub use forwarder::{ForwarderOptions, HttpsForwarder};
pub use retry::{RetryPolicy, StatusClass, classify_status};
pub use sender::{BearerToken, SubmitError, SubmitOptions, submit};
pub use series::{Added, SeriesCollector, SeriesOutcome, SeriesProblem};
pub use series_record::CollectorRecordBuilder;
pub use summary::{Refusal, Skip, Summary};
