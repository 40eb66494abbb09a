//! phivault: a compliance-aware vault for medical-imaging metadata.
//!
//! The crate is the whole product; `src/main.rs` only parses the command
//! line and calls [`cli::run`]. See `ARCHITECTURE.md` for the map.
#![forbid(unsafe_code)]

pub mod audit;
pub mod cli;
pub mod client;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod loadtest;
pub mod policy;
pub mod report;
pub mod schema;
pub mod scp;
pub mod store;
pub mod vault;
