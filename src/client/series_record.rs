//! The listener's [`SeriesRecordBuilder`]: the headers of one completed
//! series, as received over C-STORE, become one SPEC §1 record through the
//! same [`SeriesCollector`] `submit` uses for files, so a series sent by
//! network or read from disk yields the same record.
//!
//! An instance whose header lacks a required tag (PatientID, …) is left out
//! and counted in a warning, exactly as `submit` skips such a file; a
//! series left with no usable instance, or whose instances disagree, or
//! whose values break a rule, yields [`RecordNotBuilt`] naming the fields,
//! never their values.

use dicom_object::InMemDicomObject;
use serde_json::Value;

use super::series::{SeriesCollector, SeriesProblem};
use crate::scp::listener::{RecordNotBuilt, SeriesRecordBuilder};
use crate::scp::quiet_period::CompletedSeries;

/// Builds series records with a [`SeriesCollector`]; `InstancesInSeries`
/// is the number of distinct SOPInstanceUIDs among the usable instances.
#[derive(Debug, Clone, Copy, Default)]
pub struct CollectorRecordBuilder;

impl SeriesRecordBuilder for CollectorRecordBuilder {
    fn build(&self, series: &CompletedSeries<InMemDicomObject>) -> Result<Value, RecordNotBuilt> {
        let mut collector = SeriesCollector::new();
        let mut unusable = 0_usize;
        let mut first_problem = None;
        for item in &series.items {
            match collector.add_object("association", item) {
                Ok(_) => {}
                Err(e) => {
                    unusable += 1;
                    first_problem.get_or_insert_with(|| e.to_string());
                }
            }
        }
        if unusable > 0 {
            tracing::warn!(
                unusable,
                instances = series.items.len(),
                problem = first_problem.as_deref().unwrap_or_default(),
                "instances left out of their series record"
            );
        }
        // The tracker grouped the items by this UID, and the collector by the
        // normalised one: they are the same series.
        let mut outcomes = collector.finish();
        match (outcomes.pop(), outcomes.is_empty()) {
            (Some(outcome), true) => outcome.result.map_err(|problem| RecordNotBuilt {
                reason: describe(&problem),
            }),
            (None, _) => Err(RecordNotBuilt {
                reason: first_problem.unwrap_or_else(|| "the series has no usable instance".into()),
            }),
            (Some(_), false) => Err(RecordNotBuilt {
                reason: "the instances name more than one SeriesInstanceUID".into(),
            }),
        }
    }
}

/// The problem with each failing field's pointer and rule (no values).
fn describe(problem: &SeriesProblem) -> String {
    match problem {
        SeriesProblem::Conflict(_) => problem.to_string(),
        SeriesProblem::Invalid(errors) => {
            let fields: Vec<String> = errors
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.pointer, e.reason))
                .collect();
            format!("the series' values fail validation ({})", fields.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;

    use super::*;

    fn instance(sop: &str, patient_id: Option<&str>, modality: &str) -> Arc<InMemDicomObject> {
        let mut o = InMemDicomObject::new_empty();
        o.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, sop));
        o.put(DataElement::new(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            "1.2.3.4",
        ));
        o.put(DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3"));
        o.put(DataElement::new(tags::PATIENT_NAME, VR::PN, "Doe^Jane"));
        o.put(DataElement::new(tags::MODALITY, VR::CS, modality));
        if let Some(id) = patient_id {
            o.put(DataElement::new(tags::PATIENT_ID, VR::LO, id));
        }
        Arc::new(o)
    }

    fn series(items: Vec<Arc<InMemDicomObject>>) -> CompletedSeries<InMemDicomObject> {
        CompletedSeries {
            series_instance_uid: "1.2.3.4".into(),
            items,
            emission: 1,
        }
    }

    #[test]
    fn a_series_becomes_one_record_counting_its_usable_instances() {
        let record = CollectorRecordBuilder
            .build(&series(vec![
                instance("1.2.3.4.1", Some("PID-1"), "MR"),
                instance("1.2.3.4.2", Some("PID-1"), "MR"),
                instance("1.2.3.4.3", None, "MR"),
            ]))
            .unwrap();
        assert_eq!(record["InstancesInSeries"], 2);
        assert_eq!(record["PatientID"], "PID-1");
        assert_eq!(record["SeriesInstanceUID"], "1.2.3.4");
    }

    #[test]
    fn refusals_name_fields_not_values() {
        let err = CollectorRecordBuilder
            .build(&series(vec![instance("1.2.3.4.1", None, "MR")]))
            .unwrap_err();
        assert!(err.reason.contains("PatientID"), "{err}");
        let err = CollectorRecordBuilder
            .build(&series(vec![
                instance("1.2.3.4.1", Some("PID-1"), "MR"),
                instance("1.2.3.4.2", Some("PID-SECRET"), "MR"),
            ]))
            .unwrap_err();
        assert!(err.reason.contains("PatientID"), "{err}");
        assert!(!err.reason.contains("SECRET"), "{err}");
        let err = CollectorRecordBuilder
            .build(&series(vec![instance("1.2.3.4.1", Some("PID-1"), "lower")]))
            .unwrap_err();
        assert!(err.reason.contains("Modality"), "{err}");
        assert!(!err.reason.contains("lower"), "{err}");
    }
}
