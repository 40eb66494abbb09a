//! Integration tests: one binary, one module per area.
// Helper functions outside #[test] functions are not covered by clippy.toml's
// test allowances; in tests a failed unwrap is a failed test, which is the
// point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod policy;
mod report_html;
