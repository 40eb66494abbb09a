//! phivault: a compliance-aware vault for medical-imaging metadata.
//!
//! The crate is the whole product; `src/main.rs` only parses the command
//! line and calls [`cli::run`]. See `ARCHITECTURE.md` for the map.
#![forbid(unsafe_code)]

pub mod audit;
pub mod cli;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod policy;
pub mod schema;
pub mod store;
