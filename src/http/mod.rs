//! The HTTPS API. Invariant: only this module knows HTTP.

mod problem;

pub use problem::ProblemDocument;
