//! The retention outlook: what falls due for purge, what is overdue, what
//! is held (SPEC §2, §7; GDPR Art. 5(1)(e)).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Rfc3339;

/// Records falling due for purge, counted from the report's generation time.
///
/// Guarantees stated by whoever gathers it: held records are left out of
/// every count here (a hold suspends purge) and listed in `holds`, so
/// `overdue` is exactly what a purge at generation time would delete and is
/// zero right after one; the windows nest (`due_30_days <= due_90_days <=
/// due_365_days`) and none counts an overdue record.
///
/// Precision: a stored `retain_until` is the end of the retention period
/// rounded up to the next 1 January 00:00 UTC (an exact one would reveal
/// the StudyDate), so records fall due on 1 January only: the windows count
/// the 1 Januaries inside them and only January buckets of the timeline are
/// non-zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionOutlook {
    /// Records whose `retain_until` falls in the next 30 days.
    pub due_30_days: u64,
    /// Records whose `retain_until` falls in the next 90 days.
    pub due_90_days: u64,
    /// Records whose `retain_until` falls in the next 365 days.
    pub due_365_days: u64,
    /// Records whose `retain_until` has passed and that no hold keeps.
    pub overdue: u64,
    /// Every record under legal hold, with the reason.
    pub holds: Vec<HoldRow>,
    /// Records falling due per calendar month (UTC), from the month of
    /// generation onwards, in order: the data of the outlook chart.
    pub timeline: Vec<TimelineBucket>,
}

/// A record under legal hold (SPEC §2: a hold suspends purge and erasure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRow {
    /// The record's opaque id.
    pub record_id: String,
    /// Why the hold was placed, as the administrator gave it.
    pub reason: String,
    /// The `sub` of the administrator who placed it.
    pub placed_by: String,
    /// When the hold was placed.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub placed_at: OffsetDateTime,
    /// When the record would have been purged without the hold: its stored
    /// `retain_until`, a 1 January 00:00 UTC (the end of its retention
    /// period rounded up to the year; the latest representable instant
    /// where that overflows).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "Rfc3339")]
    pub retain_until: OffsetDateTime,
}

/// The records falling due in one calendar month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineBucket {
    /// The month, `YYYY-MM` (UTC).
    #[schemars(pattern(r"^[0-9]{4}-(0[1-9]|1[0-2])$"))]
    pub month: String,
    /// Records (not held) whose `retain_until` falls in that month.
    pub due: u64,
}
