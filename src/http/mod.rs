//! The HTTPS API. Invariant: only this module knows HTTP.
//!
//! Map: [`access`] is the route → role table; [`routes`] mounts handlers
//! (only routes in the table); [`auth`] enforces the table; [`extract`]
//! gives handlers the principal, the Purpose-Of-Use and JSON bodies;
//! [`error`] turns every failure into an RFC 9457 problem document;
//! [`limits`], [`metrics`], [`tls`] and [`server`] are the shell around them.

pub mod access;
pub mod admin;
mod auth;
mod error;
mod extract;
mod layers;
pub mod limits;
pub mod metrics;
mod openapi;
mod problem;
pub mod records;
pub mod report;
mod routes;
mod server;
mod state;
mod tls;
mod token;

pub use error::{ApiError, Cause, problem_response};
pub use extract::{ApiJson, PURPOSE_OF_USE_HEADER, Principal, PurposeOfUse};
pub use layers::app;
pub use openapi::document as openapi_document;
pub use problem::{FieldErrorDocument, PROBLEM_JSON, PROBLEM_TYPE_BASE, ProblemDocument};
pub use routes::{RouteError, RouteSet, product_routes};
pub use server::{ServeError, bind, serve};
pub use state::{AccessDenial, AccessDenialSink, AppState, DenialReason, LogDenials};
pub use tls::{
    SELF_SIGNED_NAMES, TlsError, create_self_signed_if_missing, install_crypto_provider,
    server_config,
};
pub use token::{Claims, JWT_SECRET_LEN, JwtKeyError, JwtSecret, TokenError, TokenVerifier, mint};
