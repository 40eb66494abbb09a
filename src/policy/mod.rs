//! Compliance policies: the model, the fail-closed loader and the pure
//! evaluator that turns a validated record into a [`Plan`].
//!
//! Invariant: nothing in this module does I/O except the loader reading
//! policy files, and nothing reads a clock: time comes in as an argument.

mod plan;

pub use plan::{Action, FieldPlan, Plan, PolicyStamp};
