//! Integration tests.
mod policy;
