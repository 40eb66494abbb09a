//! The record of SPEC §1: one DICOM series, parsed whole or refused with
//! every failing field.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use validator::Validate;

use super::{
    AgeString, CodeString, DicomDate, DicomTime, DicomUid, LongString, PatientId, PatientSex,
    PersonName, RecordField, RuleViolation, ShortString, ValidationErrors,
};

/// One series' metadata, every value validated. Built only by
/// [`Record::from_json`] (or deserialisation, which calls it), so a `Record`
/// that exists satisfies SPEC §1; code that builds one field by field must
/// call [`Validate::validate`] before using it.
#[derive(Clone, PartialEq, Eq, Serialize, JsonSchema, Validate)]
#[schemars(
    deny_unknown_fields,
    title = "Record",
    description = "Metadata of one DICOM series (phivault SPEC §1). Keys are DICOM keywords. Optional keys are omitted when unknown; null is refused."
)]
pub struct Record {
    /// (0020,000E) UI: identifies the record; resubmission replaces.
    #[serde(rename = "SeriesInstanceUID")]
    pub series_instance_uid: DicomUid,
    /// (0020,000D) UI.
    #[serde(rename = "StudyInstanceUID")]
    pub study_instance_uid: DicomUid,
    /// (0010,0020) LO: names the data subject.
    #[serde(rename = "PatientID")]
    pub patient_id: PatientId,
    /// (0010,0010) PN.
    #[serde(rename = "PatientName")]
    pub patient_name: PersonName,
    /// Number of instances received for the series, 1–100000.
    #[serde(rename = "InstancesInSeries")]
    #[validate(range(min = 1, max = 100_000))]
    pub instances_in_series: u32,
    /// (0010,0030) DA, not after the day of submission.
    #[serde(
        rename = "PatientBirthDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "DicomDate")]
    pub patient_birth_date: Option<DicomDate>,
    /// (0010,0040) CS: M, F or O.
    #[serde(
        rename = "PatientSex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "PatientSex")]
    pub patient_sex: Option<PatientSex>,
    /// (0010,1010) AS.
    #[serde(
        rename = "PatientAge",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "AgeString")]
    pub patient_age: Option<AgeString>,
    /// (0008,0020) DA, not after the day of submission.
    #[serde(rename = "StudyDate", default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "DicomDate")]
    pub study_date: Option<DicomDate>,
    /// (0008,0030) TM.
    #[serde(rename = "StudyTime", default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "DicomTime")]
    pub study_time: Option<DicomTime>,
    /// (0008,0050) SH.
    #[serde(
        rename = "AccessionNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "ShortString")]
    pub accession_number: Option<ShortString>,
    /// (0008,0060) CS.
    #[serde(rename = "Modality", default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "CodeString")]
    pub modality: Option<CodeString>,
    /// (0008,0090) PN.
    #[serde(
        rename = "ReferringPhysicianName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "PersonName")]
    pub referring_physician_name: Option<PersonName>,
    /// (0008,0080) LO.
    #[serde(
        rename = "InstitutionName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "LongString")]
    pub institution_name: Option<LongString>,
    /// (0008,1030) LO.
    #[serde(
        rename = "StudyDescription",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "LongString")]
    pub study_description: Option<LongString>,
    /// (0008,103E) LO.
    #[serde(
        rename = "SeriesDescription",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "LongString")]
    pub series_description: Option<LongString>,
    /// (0018,0015) CS.
    #[serde(
        rename = "BodyPartExamined",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "CodeString")]
    pub body_part_examined: Option<CodeString>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A record is PHI: Debug shows only which fields are present.
        let present: Vec<&str> = RecordField::ALL
            .iter()
            .filter(|field| self.get(**field).is_some())
            .map(|field| field.keyword())
            .collect();
        f.debug_struct("Record").field("present", &present).finish()
    }
}

/// A batch of records, as `POST /v1/records/batch` takes it. Each element is
/// validated and answered on its own.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(
    title = "RecordBatch",
    description = "An array of records; each is validated and stored or refused on its own."
)]
pub struct RecordBatch(#[schemars(length(min = 1, max = 1000))] pub Vec<Record>);

/// RFC 6901 escaping of one reference token.
fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The JSON type name of a value, for error messages (not the value).
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads the fields of one object, accumulating every failure.
struct FieldReader<'a> {
    object: &'a Map<String, Value>,
    errors: ValidationErrors,
}

impl FieldReader<'_> {
    /// Parses an optional string field; absent gives `None`, anything else
    /// that fails is recorded.
    fn optional<T>(
        &mut self,
        field: RecordField,
        parse: impl Fn(&str) -> Result<T, RuleViolation>,
    ) -> Option<T> {
        let key = field.keyword();
        let value = self.object.get(key)?;
        let pointer = format!("/{key}");
        match value {
            Value::String(s) => match parse(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.errors.push(pointer, e.reason());
                    None
                }
            },
            other => {
                // Omitting is the way to say "unknown" only for an optional
                // field; a required one must carry a value.
                let hint = match (other.is_null(), field.required()) {
                    (true, false) => "; omit the key when the value is unknown",
                    (true, true) => "; it is required and cannot be unknown",
                    (false, _) => "",
                };
                self.errors.push(
                    pointer,
                    format!("{key} must be a string, not {}{hint}", json_type(other)),
                );
                None
            }
        }
    }

    /// Parses a required string field; absence is recorded.
    fn required<T>(
        &mut self,
        field: RecordField,
        parse: impl Fn(&str) -> Result<T, RuleViolation>,
    ) -> Option<T> {
        if !self.object.contains_key(field.keyword()) {
            self.errors.push(
                format!("/{}", field.keyword()),
                format!("{} is required", field.keyword()),
            );
            return None;
        }
        self.optional(field, parse)
    }

    /// Parses InstancesInSeries: an integer (a number with no fractional
    /// part, as JSON Schema defines it) from 1 to 100000.
    fn instance_count(&mut self) -> Option<u32> {
        let key = RecordField::InstancesInSeries.keyword();
        let pointer = format!("/{key}");
        let Some(value) = self.object.get(key) else {
            self.errors.push(pointer, format!("{key} is required"));
            return None;
        };
        let number = value.as_u64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 1e9)
                .map(|f| f as u64)
        });
        match (value, number) {
            (_, Some(n)) if (1..=100_000).contains(&n) => u32::try_from(n).ok(),
            (Value::Number(_), _) => {
                self.errors
                    .push(pointer, format!("{key} is a whole number from 1 to 100000"));
                None
            }
            (other, _) => {
                self.errors.push(
                    pointer,
                    format!("{key} must be an integer, not {}", json_type(other)),
                );
                None
            }
        }
    }
}

/// The latest calendar day anywhere on Earth at `now` (UTC+14, Line
/// Islands), so that a date that is "today" for the sending site is never
/// refused as future.
pub fn latest_civil_date(now: time::OffsetDateTime) -> time::Date {
    (now + time::Duration::hours(14)).date()
}

impl Record {
    /// Parses a JSON document into a record, refusing unknown keys, nulls,
    /// wrong types and every PS3.5 violation, and refusing a birth or study
    /// date after `today`. On failure, every failing field is reported.
    pub fn from_json(value: &Value, today: time::Date) -> Result<Record, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let Some(object) = value.as_object() else {
            errors.push(
                "",
                format!("a record is a JSON object, not {}", json_type(value)),
            );
            return Err(errors);
        };
        for key in object.keys() {
            if key.parse::<RecordField>().is_err() {
                errors.push(
                    format!("/{}", pointer_token(key)),
                    "unknown field: a record holds only the DICOM keywords of SPEC §1",
                );
            }
        }
        let mut r = FieldReader { object, errors };
        let not_future = |what: &'static str| {
            move |s: &str| {
                let d = DicomDate::parse(s)?;
                if d.to_date() > today {
                    return Err(RuleViolation::new(format!(
                        "{what} must not be in the future"
                    )));
                }
                Ok(d)
            }
        };
        use RecordField as F;
        let series_instance_uid = r.required(F::SeriesInstanceUID, DicomUid::parse);
        let study_instance_uid = r.required(F::StudyInstanceUID, DicomUid::parse);
        let patient_id = r.required(F::PatientID, PatientId::parse);
        let patient_name = r.required(F::PatientName, PersonName::parse);
        let instances_in_series = r.instance_count();
        let patient_birth_date = r.optional(F::PatientBirthDate, not_future("PatientBirthDate"));
        let patient_sex = r.optional(F::PatientSex, PatientSex::parse);
        let patient_age = r.optional(F::PatientAge, AgeString::parse);
        let study_date = r.optional(F::StudyDate, not_future("StudyDate"));
        let study_time = r.optional(F::StudyTime, DicomTime::parse);
        let accession_number = r.optional(F::AccessionNumber, ShortString::parse);
        let modality = r.optional(F::Modality, CodeString::parse);
        let referring_physician_name = r.optional(F::ReferringPhysicianName, PersonName::parse);
        let institution_name = r.optional(F::InstitutionName, LongString::parse);
        let study_description = r.optional(F::StudyDescription, LongString::parse);
        let series_description = r.optional(F::SeriesDescription, LongString::parse);
        let body_part_examined = r.optional(F::BodyPartExamined, CodeString::parse);

        // Errors come out unknown keys first, then in the order of SPEC §1.
        let mut errors = r.errors;
        let (
            Some(series_instance_uid),
            Some(study_instance_uid),
            Some(patient_id),
            Some(patient_name),
            Some(instances_in_series),
            true,
        ) = (
            series_instance_uid,
            study_instance_uid,
            patient_id,
            patient_name,
            instances_in_series,
            errors.is_empty(),
        )
        else {
            return Err(errors);
        };
        let record = Record {
            series_instance_uid,
            study_instance_uid,
            patient_id,
            patient_name,
            instances_in_series,
            patient_birth_date,
            patient_sex,
            patient_age,
            study_date,
            study_time,
            accession_number,
            modality,
            referring_physician_name,
            institution_name,
            study_description,
            series_description,
            body_part_examined,
        };
        // The validator derive carries the numeric range into the schema and
        // re-checks it here, so the two cannot drift apart.
        if record.validate().is_err() {
            errors.push(
                "/InstancesInSeries",
                "InstancesInSeries is a whole number from 1 to 100000",
            );
            return Err(errors);
        }
        Ok(record)
    }

    /// [`Record::from_json`] against the latest civil date on Earth now.
    pub fn from_json_now(value: &Value) -> Result<Record, ValidationErrors> {
        Self::from_json(value, latest_civil_date(time::OffsetDateTime::now_utc()))
    }

    /// The value of `field` in its DICOM string form (the count in decimal),
    /// or `None` when the record does not carry it.
    pub fn get(&self, field: RecordField) -> Option<String> {
        use RecordField as F;
        match field {
            F::SeriesInstanceUID => Some(self.series_instance_uid.to_string()),
            F::StudyInstanceUID => Some(self.study_instance_uid.to_string()),
            F::PatientID => Some(self.patient_id.to_string()),
            F::PatientName => Some(self.patient_name.to_string()),
            F::InstancesInSeries => Some(self.instances_in_series.to_string()),
            F::PatientBirthDate => self.patient_birth_date.as_ref().map(ToString::to_string),
            F::PatientSex => self.patient_sex.map(|x| x.as_str().to_owned()),
            F::PatientAge => self.patient_age.as_ref().map(ToString::to_string),
            F::StudyDate => self.study_date.as_ref().map(ToString::to_string),
            F::StudyTime => self.study_time.as_ref().map(ToString::to_string),
            F::AccessionNumber => self.accession_number.as_ref().map(ToString::to_string),
            F::Modality => self.modality.as_ref().map(ToString::to_string),
            F::ReferringPhysicianName => self
                .referring_physician_name
                .as_ref()
                .map(ToString::to_string),
            F::InstitutionName => self.institution_name.as_ref().map(ToString::to_string),
            F::StudyDescription => self.study_description.as_ref().map(ToString::to_string),
            F::SeriesDescription => self.series_description.as_ref().map(ToString::to_string),
            F::BodyPartExamined => self.body_part_examined.as_ref().map(ToString::to_string),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Record::from_json_now(&value).map_err(|e| {
            let first = e
                .errors
                .first()
                .map(|f| format!("{}: {}", f.pointer, f.reason))
                .unwrap_or_default();
            serde::de::Error::custom(format!("invalid record ({e}); first: {first}"))
        })
    }
}
