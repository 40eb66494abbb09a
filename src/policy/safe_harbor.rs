//! The HIPAA Safe Harbor clear view (45 CFR 164.514(b)(2)(i)): which
//! actions may leave a field readable without decryption in a policy that
//! declares `safe_harbor = true`.
//!
//! `keep`, `generalize` and `shift` leave a value in the clear; `encrypt`,
//! `pseudonymize` and `redact` do not. The evaluator's generalisations
//! (year only, `90+`) are what make `generalize` acceptable for dates and
//! ages; `shift` keeps a full (moved) date, which clause (C) does not allow.

use super::plan::Action;
use crate::domain::RecordField;

/// Why a rule breaks the Safe Harbor clear view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// What the clear value would reveal.
    pub what: &'static str,
    /// The identifier clause of 164.514(b)(2)(i), `A` to `R`.
    pub clause: &'static str,
    /// The actions that would be accepted.
    pub allowed: &'static str,
}

const SEALED: &str = "encrypt, pseudonymize or redact";
const DATE_OK: &str = "generalize (year only), encrypt, pseudonymize or redact";

/// Whether `action` on `field` leaves a Safe Harbor identifier readable in
/// the clear, and which one.
pub fn clear_view_violation(field: RecordField, action: Action) -> Option<Violation> {
    use RecordField as F;
    let in_clear = matches!(action, Action::Keep | Action::Generalize | Action::Shift);
    if !in_clear {
        return None;
    }
    let v = |what, clause, allowed| {
        Some(Violation {
            what,
            clause,
            allowed,
        })
    };
    match field {
        F::PatientName => v("the patient's name", "A", SEALED),
        // Not the individual's own name, but a person's name in free text,
        // which PS3.15 removes (Z) and which can lead back to the patient.
        F::ReferringPhysicianName => v("a person's name", "A", SEALED),
        F::PatientID => v("a medical record number", "H", SEALED),
        F::AccessionNumber => v("a unique identifying number", "R", SEALED),
        F::SeriesInstanceUID | F::StudyInstanceUID => {
            v("a unique identifying number (a UID)", "R", SEALED)
        }
        F::InstitutionName => v(
            "the institution, a geographic subdivision smaller than a state",
            "B",
            SEALED,
        ),
        F::StudyDescription | F::SeriesDescription => {
            v("free text, which may hold any identifier", "R", SEALED)
        }
        F::PatientBirthDate | F::StudyDate if action != Action::Generalize => {
            v("a date element other than the year", "C", DATE_OK)
        }
        F::StudyTime => v("a time of day, an element of a date", "C", SEALED),
        F::PatientAge if action == Action::Keep => v(
            "an age over 89",
            "C",
            "generalize (90+), encrypt, pseudonymize or redact",
        ),
        F::PatientBirthDate
        | F::StudyDate
        | F::PatientAge
        | F::InstancesInSeries
        | F::PatientSex
        | F::Modality
        | F::BodyPartExamined => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_actions_never_violate() {
        for f in RecordField::ALL {
            for a in [Action::Encrypt, Action::Pseudonymize, Action::Redact] {
                assert_eq!(clear_view_violation(f, a), None, "{f} {a:?}");
            }
        }
    }

    #[test]
    fn identifiers_may_not_stay_in_the_clear() {
        for f in [
            RecordField::PatientName,
            RecordField::PatientID,
            RecordField::SeriesInstanceUID,
            RecordField::StudyInstanceUID,
            RecordField::AccessionNumber,
            RecordField::ReferringPhysicianName,
            RecordField::InstitutionName,
            RecordField::StudyDescription,
            RecordField::SeriesDescription,
            RecordField::StudyTime,
        ] {
            assert!(clear_view_violation(f, Action::Keep).is_some(), "{f}");
        }
        for f in [RecordField::PatientBirthDate, RecordField::StudyDate] {
            assert!(clear_view_violation(f, Action::Keep).is_some());
            assert!(clear_view_violation(f, Action::Shift).is_some());
            assert!(clear_view_violation(f, Action::Generalize).is_none());
        }
        assert!(clear_view_violation(RecordField::PatientAge, Action::Keep).is_some());
        assert!(clear_view_violation(RecordField::PatientAge, Action::Generalize).is_none());
        assert!(clear_view_violation(RecordField::Modality, Action::Keep).is_none());
    }
}
