//! Compliance policies: the model, the fail-closed loader and the pure
//! evaluator that turns a validated record into a [`Plan`] (SPEC §2).
//!
//! Invariant: nothing in this module does I/O except [`PolicySet`] reading
//! policy files, and nothing reads a clock: time comes in as an argument.
//!
//! Entry points: [`PolicySet::embedded`] / [`PolicySet::load_dir`] to load,
//! [`PolicySet::get`] to pick a policy, [`evaluate`] to plan a record.

mod duration;
mod error;
mod evaluate;
mod loader;
mod model;
mod plan;
mod safe_harbor;
mod set;

pub use duration::{DurationError, IsoDuration};
pub use error::{Location, PolicyError, PolicyErrors};
pub use evaluate::{
    AGE_90_OR_OLDER, age_in_years, can_generalize, evaluate, generalize, generalize_age,
    generalize_birth_date, hour_of, is_90_or_older, year_of,
};
pub use model::{FieldRule, Policy, Retention, RetentionAnchor};
pub use plan::{Action, FieldPlan, Plan, PolicyStamp};
pub use safe_harbor::{Violation as SafeHarborViolation, clear_view_violation};
pub use set::PolicySet;
