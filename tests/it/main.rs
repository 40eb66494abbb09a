//! Integration tests.
mod crypto;
