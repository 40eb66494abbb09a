//! Integration tests.

mod record_table;
mod schemas;
