//! Integration tests: one binary, one module per area.
// Helper functions outside #[test] functions are not covered by clippy.toml's
// test allowances; in tests a failed unwrap is a failed test, which is the
// point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_cli;
mod audit_log;
mod client_e2e;
mod crash;
mod crypto;
mod dicom_files;
mod erasure;
mod http_shell;
mod listen_e2e;
mod loadtest_smoke;
mod no_phi;
mod policy;
mod record_props;
mod record_table;
mod records_api;
mod report_gather;
mod report_html;
mod retention;
mod schemas;
mod scp;
mod store;
mod support;
mod vault;
