//! Integration tests.
mod report_html;
