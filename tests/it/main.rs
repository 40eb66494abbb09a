//! Integration tests.

mod record_props;
mod record_table;
mod schemas;
