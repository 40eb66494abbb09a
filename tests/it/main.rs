//! Integration tests.
mod scp;
