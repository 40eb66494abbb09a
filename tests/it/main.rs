//! Integration tests: one binary, one module per area.
// Helper functions outside #[test] functions are not covered by clippy.toml's
// test allowances; in tests a failed unwrap is a failed test, which is the
// point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod crypto;
mod dicom_files;
mod http_shell;
mod loadtest_smoke;
mod policy;
mod record_props;
mod record_table;
mod records_api;
mod report_html;
mod schemas;
mod scp;
mod store;
mod support;
