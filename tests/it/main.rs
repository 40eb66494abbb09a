//! Integration tests.

mod dicom_files;
mod record_props;
mod record_table;
mod schemas;
