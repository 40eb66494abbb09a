//! The evaluator: a pure function from a validated record, a policy and the
//! ingestion instant to a [`Plan`]. No I/O, no clock, no keys: what needs a
//! key (sealing, pseudonyms, shifts, blind indexes) is left to the vault.
//!
//! Generalisations implement HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)(C):
//! "All elements of dates (except year) for dates directly related to an
//! individual … and all ages over 89 and all elements of dates (including
//! year) indicative of such age, except that such ages and elements may be
//! aggregated into a single category of age 90 or older."

use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::model::{Policy, RetentionAnchor};
use super::plan::{Action, FieldPlan, Plan};
use crate::domain::{AgeString, DicomDate, DicomTime, Record, RecordField};

/// The category Safe Harbor allows for every age over 89.
pub const AGE_90_OR_OLDER: &str = "90+";

/// Whether `generalize` is defined for `field`: the DA dates (to the year),
/// PatientAge (`90+` above 89) and StudyTime (to the hour).
pub fn can_generalize(field: RecordField) -> bool {
    matches!(
        field,
        RecordField::PatientBirthDate
            | RecordField::StudyDate
            | RecordField::PatientAge
            | RecordField::StudyTime
    )
}

/// Applies `policy` to `record` ingested at `ingested_at`.
///
/// Guarantees: one [`FieldPlan`] per field the record carries, in
/// `RecordField::ALL` order, with the policy's action and `indexed` flag;
/// `clear` is `Some` exactly for `keep` (the value as submitted) and
/// `generalize` (the coarser value, see [`generalize`]). `retain_until` is
/// the retention period added (calendar rule of [`super::IsoDuration`]) to
/// the StudyDate at 00:00:00 UTC when the policy counts from StudyDate and
/// the record has one, else to `ingested_at`; it is expressed in UTC and
/// saturates at the last instant `time` can represent (year 9999).
pub fn evaluate(policy: &Policy, record: &Record, ingested_at: OffsetDateTime) -> Plan {
    let ingested_at = ingested_at.to_offset(UtcOffset::UTC);
    let ingestion_date = ingested_at.date();
    let fields = RecordField::ALL
        .into_iter()
        .filter_map(|field| {
            let original = record.get(field)?;
            let rule = policy.rule(field);
            let (action, clear) = match rule.action {
                Action::Keep => (Action::Keep, Some(original.clone())),
                Action::Generalize => match generalize(record, field, ingestion_date) {
                    Some(v) => (Action::Generalize, Some(v)),
                    // Unreachable: the loader refuses generalize on a field
                    // without a generalisation. Dropping is the fail-closed
                    // answer if it ever happened.
                    None => (Action::Redact, None),
                },
                other => (other, None),
            };
            Some(FieldPlan {
                field,
                action,
                indexed: rule.indexed,
                original,
                clear,
            })
        })
        .collect();
    Plan {
        policy: policy.stamp(),
        retain_until: retain_until(policy, record, ingested_at),
        fields,
    }
}

/// The instant a record must be purged (see [`evaluate`]): the exact end
/// of its retention period, rounded up to a year boundary.
fn retain_until(policy: &Policy, record: &Record, ingested_at: OffsetDateTime) -> OffsetDateTime {
    round_up_to_year(retention_end(policy, record, ingested_at))
}

/// The exact end of the retention period: the period added to its anchor.
pub(crate) fn retention_end(
    policy: &Policy,
    record: &Record,
    ingested_at: OffsetDateTime,
) -> OffsetDateTime {
    let retention = policy.retention();
    let anchor = match (retention.anchor, &record.study_date) {
        (RetentionAnchor::StudyDate, Some(study)) => study.to_date().midnight().assume_utc(),
        (RetentionAnchor::StudyDate, None) | (RetentionAnchor::Ingestion, _) => ingested_at,
    };
    retention
        .period
        .checked_add_to(anchor)
        .unwrap_or_else(|| PrimitiveDateTime::MAX.assume_utc())
}

/// The first instant of the next UTC year after `t` (or `t` itself when it
/// is one).
///
/// Why: `retain_until` is stored and shown in the clear, and an exact one
/// would give away the StudyDate it was counted from: under HIPAA a full
/// date element (45 CFR 164.514(b)(2)(i)(C) allows only the year), under
/// GDPR the date-shift offset (undoing PS3.15 "Modified Dates" for every
/// date of the subject). Rounding up reveals only the year and never keeps
/// a record shorter than its period; it keeps it at most one year longer.
pub fn round_up_to_year(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    let start_of_year = |year: i32| {
        Date::from_calendar_date(year, time::Month::January, 1).map(|d| d.midnight().assume_utc())
    };
    match start_of_year(t.year()) {
        Ok(start) if start == t => t,
        _ => start_of_year(t.year() + 1).unwrap_or_else(|_| PrimitiveDateTime::MAX.assume_utc()),
    }
}

/// The generalised value of `field` in `record`, or `None` when the record
/// lacks the field or `field` has no generalisation:
/// - a DA date → its year `YYYY`; PatientBirthDate → `90+` instead when
///   the patient is 90 or older on `ingestion_date` ([`is_90_or_older`]);
/// - PatientAge → unchanged up to 89 whole years, else `90+`;
/// - StudyTime → the hour `HH`.
pub fn generalize(record: &Record, field: RecordField, ingestion_date: Date) -> Option<String> {
    match field {
        RecordField::PatientBirthDate => record
            .patient_birth_date
            .as_ref()
            .map(|birth| generalize_birth_date(birth, ingestion_date)),
        RecordField::StudyDate => record.study_date.as_ref().map(year_of),
        RecordField::PatientAge => record.patient_age.as_ref().map(generalize_age),
        RecordField::StudyTime => record.study_time.as_ref().map(hour_of),
        _ => None,
    }
}

/// A date's year, `YYYY` (Safe Harbor keeps the year, clause (C)).
pub fn year_of(date: &DicomDate) -> String {
    format!("{:04}", date.year())
}

/// The year of birth, or `90+` when the patient is 90 or older on
/// `ingestion_date`: the birth year is then a date element "indicative of"
/// an age over 89, clause (C).
pub fn generalize_birth_date(birth: &DicomDate, ingestion_date: Date) -> String {
    if is_90_or_older(birth.to_date(), ingestion_date) {
        AGE_90_OR_OLDER.to_owned()
    } else {
        year_of(birth)
    }
}

/// An age unchanged when at most 89 whole years, else `90+` (clause (C)).
pub fn generalize_age(age: &AgeString) -> String {
    if age.whole_years() > 89 {
        AGE_90_OR_OLDER.to_owned()
    } else {
        age.to_string()
    }
}

/// A time's hour, `HH` (PS3.5 TM always starts with two hour digits).
pub fn hour_of(time: &DicomTime) -> String {
    time.as_str().chars().take(2).collect()
}

/// Whole years from `birth` to `on`. A 29 February birthday falls on
/// 28 February in common years, the same clamp as retention arithmetic;
/// it is also the cautious choice for the 90-year rule, since it reaches
/// 90 a day earlier than a 1 March convention would.
pub fn age_in_years(birth: Date, on: Date) -> i32 {
    let years = on.year() - birth.year();
    let day = birth.day().min(birth.month().length(on.year()));
    match Date::from_calendar_date(on.year(), birth.month(), day) {
        Ok(birthday) if birthday > on => years - 1,
        _ => years,
    }
}

/// Whether a patient born on `birth` is 90 or older on `on`.
pub fn is_90_or_older(birth: Date, on: Date) -> bool {
    age_in_years(birth, on) >= 90
}

#[cfg(test)]
mod tests;
