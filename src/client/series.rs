//! Groups DICOM instances into series and turns each series into one
//! record (SPEC §1), or a precise refusal. Used by `submit` (files) and by
//! the C-STORE listener (data sets received over the network).
//!
//! Invariant: a record leaves this module only after
//! [`Record::from_json_now`] accepted it; a series whose instances disagree
//! or whose values break a rule yields a [`SeriesProblem`], never a partial
//! record.

use std::collections::{BTreeMap, BTreeSet};

use dicom_object::InMemDicomObject;
use serde_json::{Map, Value};

use super::dicom_header::{HeaderError, InstanceHeader};
use crate::domain::{Record, RecordField, ValidationErrors};

/// Why a series produced no record. Carries field names and rules, never
/// values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesProblem {
    /// Instances of the series carry different values for these fields
    /// (patient, study and series attributes must agree, PS3.3 C.7).
    #[error("instances of this series disagree on {}", field_list(.0))]
    Conflict(Vec<RecordField>),
    /// The collected values break the record's rules.
    #[error("the series' values fail validation: {0}")]
    Invalid(ValidationErrors),
}

fn field_list(fields: &[RecordField]) -> String {
    fields
        .iter()
        .map(|f| f.keyword())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What one series came to: its record or the reason it has none.
#[derive(Debug, Clone)]
pub struct SeriesOutcome {
    /// A label naming where the series came from: its first source (a
    /// file path, or what the listener passes) and how many others.
    pub source: String,
    /// Number of distinct SOPInstanceUIDs collected.
    pub instances: usize,
    /// The validated record as JSON, or why there is none.
    pub result: Result<Value, SeriesProblem>,
}

/// What is known of one series so far.
#[derive(Debug, Default)]
struct SeriesState {
    sources: BTreeSet<String>,
    instances: BTreeSet<String>,
    values: BTreeMap<RecordField, String>,
    conflicts: BTreeSet<RecordField>,
}

/// Collects instance headers by SeriesInstanceUID. InstancesInSeries is the
/// number of distinct SOPInstanceUIDs seen, so the same instance received
/// or read twice counts once.
#[derive(Debug, Default)]
pub struct SeriesCollector {
    series: BTreeMap<String, SeriesState>,
}

/// Whether `add` saw a new instance or one already counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The SOPInstanceUID was new to its series.
    NewInstance,
    /// The SOPInstanceUID had already been collected for this series.
    Duplicate,
}

impl SeriesCollector {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one instance, read from `source` (a path or a network peer, used
    /// only to name the series in reports). A field another instance of the
    /// series carries with a different value marks a conflict; a field only
    /// some instances carry is taken from those that do.
    pub fn add(&mut self, source: impl Into<String>, header: &InstanceHeader) -> Added {
        let state = self
            .series
            .entry(header.series_instance_uid().to_owned())
            .or_default();
        state.sources.insert(source.into());
        for (field, value) in header.values() {
            match state.values.get(&field) {
                Some(existing) if existing != value => {
                    state.conflicts.insert(field);
                }
                Some(_) => {}
                None => {
                    state.values.insert(field, value.to_owned());
                }
            }
        }
        if state.instances.insert(header.sop_instance_uid().to_owned()) {
            Added::NewInstance
        } else {
            Added::Duplicate
        }
    }

    /// Extracts the header of a parsed data set and adds it.
    pub fn add_object(
        &mut self,
        source: impl Into<String>,
        object: &InMemDicomObject,
    ) -> Result<Added, HeaderError> {
        let header = InstanceHeader::from_object(object)?;
        Ok(self.add(source, &header))
    }

    /// Number of series collected.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series was collected.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The SeriesInstanceUIDs collected, in order.
    pub fn series_uids(&self) -> impl Iterator<Item = &str> {
        self.series.keys().map(String::as_str)
    }

    /// The current outcome of one series, leaving it collected (so a later
    /// instance updates it), or `None` if the series is unknown.
    pub fn outcome(&self, series_instance_uid: &str) -> Option<SeriesOutcome> {
        self.series.get(series_instance_uid).map(outcome_of)
    }

    /// Forgets one series.
    pub fn remove(&mut self, series_instance_uid: &str) -> bool {
        self.series.remove(series_instance_uid).is_some()
    }

    /// The outcome of every series, in SeriesInstanceUID order.
    pub fn finish(self) -> Vec<SeriesOutcome> {
        self.series.values().map(outcome_of).collect()
    }
}

/// Builds and validates the record of one series.
fn outcome_of(state: &SeriesState) -> SeriesOutcome {
    let mut sources = state.sources.iter();
    let first = sources.next().cloned().unwrap_or_default();
    let source = match sources.len() {
        0 => first,
        n => format!("{first} (+{n} more)"),
    };
    let instances = state.instances.len();
    let result = if state.conflicts.is_empty() {
        record_of(state)
    } else {
        Err(SeriesProblem::Conflict(
            state.conflicts.iter().copied().collect(),
        ))
    };
    SeriesOutcome {
        source,
        instances,
        result,
    }
}

fn record_of(state: &SeriesState) -> Result<Value, SeriesProblem> {
    let mut object = Map::new();
    for field in RecordField::ALL {
        if field == RecordField::InstancesInSeries {
            object.insert(field.keyword().to_owned(), state.instances.len().into());
        } else if let Some(v) = state.values.get(&field) {
            object.insert(field.keyword().to_owned(), Value::String(v.clone()));
        }
    }
    let record = Record::from_json_now(&Value::Object(object)).map_err(SeriesProblem::Invalid)?;
    // The record's own serialisation is the canonical form that was
    // validated; it cannot fail for a type made of strings and a number.
    serde_json::to_value(&record).map_err(|_| SeriesProblem::Invalid(ValidationErrors::default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, Tag, VR};
    use dicom_dictionary_std::tags;

    fn instance(series: &str, sop: &str, extra: &[(Tag, VR, &str)]) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        for (tag, vr, v) in [
            (tags::SOP_INSTANCE_UID, VR::UI, sop),
            (tags::SERIES_INSTANCE_UID, VR::UI, series),
            (tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3"),
            (tags::PATIENT_ID, VR::LO, "PID1"),
            (tags::PATIENT_NAME, VR::PN, "Doe^Jane"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            o.put(DataElement::new(tag, vr, v));
        }
        o
    }

    #[test]
    fn counts_distinct_instances_and_fills_optional_fields() {
        let mut c = SeriesCollector::new();
        c.add_object("a", &instance("1.2.3.4", "1.2.3.4.1", &[]))
            .unwrap();
        let dup = c
            .add_object("b", &instance("1.2.3.4", "1.2.3.4.1", &[]))
            .unwrap();
        assert_eq!(dup, Added::Duplicate);
        c.add_object(
            "c",
            &instance("1.2.3.4", "1.2.3.4.2", &[(tags::MODALITY, VR::CS, "MR")]),
        )
        .unwrap();
        let out = c.outcome("1.2.3.4").unwrap();
        assert_eq!(out.instances, 2);
        assert_eq!(out.source, "a (+2 more)");
        let rec = out.result.unwrap();
        assert_eq!(rec["InstancesInSeries"], 2);
        assert_eq!(rec["Modality"], "MR");
    }

    #[test]
    fn conflicting_values_refuse_the_series_without_values() {
        let mut c = SeriesCollector::new();
        c.add_object("a", &instance("1.2.3.4", "1.2.3.4.1", &[]))
            .unwrap();
        c.add_object(
            "b",
            &instance(
                "1.2.3.4",
                "1.2.3.4.2",
                &[(tags::PATIENT_ID, VR::LO, "OTHER-PATIENT")],
            ),
        )
        .unwrap();
        let out = c.finish().remove(0);
        let problem = out.result.unwrap_err();
        assert_eq!(
            problem,
            SeriesProblem::Conflict(vec![RecordField::PatientID])
        );
        assert!(!problem.to_string().contains("OTHER-PATIENT"));
    }

    #[test]
    fn invalid_values_refuse_the_series_with_pointers() {
        let mut c = SeriesCollector::new();
        c.add_object(
            "a",
            &instance("1.2.3.4", "1.2.3.4.1", &[(tags::MODALITY, VR::CS, "mr")]),
        )
        .unwrap();
        let Err(SeriesProblem::Invalid(e)) = c.finish().remove(0).result else {
            panic!("expected invalid");
        };
        assert_eq!(e.errors[0].pointer, "/Modality");
    }
}
