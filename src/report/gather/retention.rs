//! The retention outlook from the retention queue and the holds (SPEC §2,
//! §7): overdue records, records due in 30/90/365 days, one bucket per UTC
//! month, and the legal holds with their reasons.
//!
//! Reads: the queue keys of overdue records (one count), the queue keys of
//! records due up to the horizon (one ordered pass), every hold and the
//! record of each held one. Records due after the horizon are never read.

use std::collections::HashSet;

use time::{Date, Duration, Month, OffsetDateTime, Time, UtcOffset};

use super::ReportError;
use crate::report::model::{HoldRow, RetentionOutlook, TimelineBucket};
use crate::store::{RecordId, RetentionEntry, Store};

/// Months in the outlook's timeline, the generation month included: two
/// years, so the chart covers the 365-day window with room after it.
pub const TIMELINE_MONTHS: u32 = 24;

/// Queue entries and holds are read this many at a time.
const PAGE: usize = 1024;

/// The outlook as of `now` (UTC).
pub(super) fn outlook(
    store: &dyn Store,
    now: OffsetDateTime,
) -> Result<RetentionOutlook, ReportError> {
    let holds = holds(store)?;
    let held: HashSet<RecordId> = holds.iter().map(|(id, _)| *id).collect();
    // A hold suspends purge: held records are counted nowhere but in holds.
    let held_overdue = holds
        .iter()
        .filter(|(_, row)| row.retain_until <= now)
        .count() as u64;
    let overdue = store.count_due_by(now)?.saturating_sub(held_overdue);

    let month_starts = month_starts(now)?;
    let timeline_end = month_starts
        .last()
        .copied()
        .ok_or(ReportError::TimeOutOfRange)?;
    let days = |n: i64| {
        now.checked_add(Duration::days(n))
            .ok_or(ReportError::TimeOutOfRange)
    };
    let (in_30, in_90, in_365) = (days(30)?, days(90)?, days(365)?);
    // Every instant counted is <= horizon; a bucket ends just before the
    // next month's first instant.
    let horizon = timeline_end
        .checked_sub(Duration::NANOSECOND)
        .ok_or(ReportError::TimeOutOfRange)?
        .max(in_365);

    let mut due = [0u64; 3];
    let mut buckets = vec![0u64; month_starts.len().saturating_sub(1)];
    // Start just after every entry due at `now` (those are overdue): the
    // greatest id sorts last among entries of one instant.
    let mut after = Some(RetentionEntry {
        retain_until: now,
        id: RecordId::from_bytes([0xff; 16]),
    });
    loop {
        let page = store.due_by(horizon, after.as_ref(), PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(*last);
        for entry in page.iter().filter(|e| !held.contains(&e.id)) {
            let r = entry.retain_until;
            for (count, end) in due.iter_mut().zip([in_30, in_90, in_365]) {
                if r <= end {
                    *count += 1;
                }
            }
            // Month starts ascend; the entry's bucket is the last start <= r.
            let bucket = month_starts.partition_point(|start| *start <= r);
            if let Some(count) = bucket.checked_sub(1).and_then(|i| buckets.get_mut(i)) {
                *count += 1;
            }
        }
        if page.len() < PAGE {
            break;
        }
    }

    let timeline = month_starts
        .iter()
        .zip(buckets)
        .map(|(start, due)| TimelineBucket {
            month: format!("{:04}-{:02}", start.year(), u8::from(start.month())),
            due,
        })
        .collect();
    let [due_30_days, due_90_days, due_365_days] = due;
    Ok(RetentionOutlook {
        due_30_days,
        due_90_days,
        due_365_days,
        overdue,
        holds: holds.into_iter().map(|(_, row)| row).collect(),
        timeline,
    })
}

/// The first instant (UTC) of the generation month and of each month after
/// it: `TIMELINE_MONTHS + 1` instants bounding `TIMELINE_MONTHS` buckets.
fn month_starts(now: OffsetDateTime) -> Result<Vec<OffsetDateTime>, ReportError> {
    let first = i64::from(now.year()) * 12 + i64::from(u8::from(now.month())) - 1;
    (0..=i64::from(TIMELINE_MONTHS))
        .map(|i| {
            let index = first + i;
            let year =
                i32::try_from(index.div_euclid(12)).map_err(|_| ReportError::TimeOutOfRange)?;
            let month = u8::try_from(index.rem_euclid(12) + 1)
                .ok()
                .and_then(|m| Month::try_from(m).ok())
                .ok_or(ReportError::TimeOutOfRange)?;
            let date = Date::from_calendar_date(year, month, 1)
                .map_err(|_| ReportError::TimeOutOfRange)?;
            Ok(date.with_time(Time::MIDNIGHT).assume_offset(UtcOffset::UTC))
        })
        .collect()
}

/// Every hold, by record id, with the held record's `retain_until`. Cost:
/// one read per hold, bounded by the number of holds.
fn holds(store: &dyn Store) -> Result<Vec<(RecordId, HoldRow)>, ReportError> {
    let mut out = Vec::new();
    let mut after: Option<RecordId> = None;
    loop {
        let page = store.holds(after.as_ref(), PAGE)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        let full = page.len() == PAGE;
        for (id, hold) in page {
            // The store refuses to delete a held record, so a hold always
            // has its record; one without is skipped rather than failing
            // the whole report, and logged.
            let Some(record) = store.get_record(&id)? else {
                tracing::warn!(record = %id, "legal hold on a record that is not stored");
                continue;
            };
            out.push((
                id,
                HoldRow {
                    record_id: id.to_string(),
                    reason: hold.reason,
                    placed_by: hold.placed_by,
                    placed_at: hold.placed_at,
                    retain_until: record.retain_until,
                },
            ));
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn month_starts_cross_the_year_and_begin_with_the_generation_month() {
        let starts = month_starts(datetime!(2026-11-17 08:00 UTC)).unwrap();
        assert_eq!(starts.len(), TIMELINE_MONTHS as usize + 1);
        assert_eq!(starts[0], datetime!(2026-11-01 00:00 UTC));
        assert_eq!(starts[1], datetime!(2026-12-01 00:00 UTC));
        assert_eq!(starts[2], datetime!(2027-01-01 00:00 UTC));
        assert_eq!(starts[24], datetime!(2028-11-01 00:00 UTC));
    }
}
