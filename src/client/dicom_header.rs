//! Reads the SPEC §1 fields of one DICOM instance from its header, never its
//! pixel data, and normalises them towards the record's rules.
//!
//! Invariant: an [`InstanceHeader`] always carries the five tags the
//! collector needs (SOPInstanceUID and the four required record fields),
//! each non-empty after normalisation; no error here contains a value.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};

use crate::domain::RecordField;

/// The byte offset of the `DICM` marker after the 128-byte preamble
/// (PS3.10 §7.1).
const DICM_OFFSET: usize = 128;

/// Media Storage Directory Storage (PS3.4 annex F): a DICOMDIR, which lists
/// files and is not itself an instance of a series.
const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";

/// The record fields an instance must carry to be counted (SPEC §1,
/// required and carried by a tag).
const REQUIRED_TAGGED: [RecordField; 4] = [
    RecordField::SeriesInstanceUID,
    RecordField::StudyInstanceUID,
    RecordField::PatientID,
    RecordField::PatientName,
];

/// Why an instance's header could not be used. Messages name tags and
/// rules, never values (the values are PHI).
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The file has no `DICM` marker at byte 128 (PS3.10 §7.1).
    #[error("not a DICOM Part 10 file (no DICM marker at byte 128)")]
    NotDicom,
    /// The file could not be read at all.
    #[error("cannot read the file: {0}")]
    Io(#[source] std::io::Error),
    /// dicom-rs could not parse the meta group or the header elements.
    #[error("cannot parse the DICOM header ({0})")]
    Unparsable(String),
    /// The file is a DICOMDIR, an index of other files.
    #[error("a DICOMDIR lists other files and belongs to no series")]
    Dicomdir,
    /// A tag the record needs is absent or empty.
    #[error("required tag {keyword} ({group:04X},{element:04X}) is missing or empty")]
    MissingRequired {
        /// The DICOM keyword.
        keyword: &'static str,
        /// Tag group.
        group: u16,
        /// Tag element.
        element: u16,
    },
    /// A tag holds a sequence or binary value where text was expected.
    #[error("tag {keyword} ({group:04X},{element:04X}) does not hold a text value")]
    NotText {
        /// The DICOM keyword.
        keyword: &'static str,
        /// Tag group.
        group: u16,
        /// Tag element.
        element: u16,
    },
}

/// The SPEC §1 values of one instance, normalised (see [`normalise`]), plus
/// its SOPInstanceUID. Built only by [`InstanceHeader::from_object`] or
/// [`read_header_file`]. Its `Debug` shows which fields are present, never
/// their values.
#[derive(Clone, PartialEq, Eq)]
pub struct InstanceHeader {
    sop_instance_uid: String,
    values: BTreeMap<RecordField, String>,
}

impl fmt::Debug for InstanceHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present: Vec<&str> = self.values.keys().map(|k| k.keyword()).collect();
        f.debug_struct("InstanceHeader")
            .field("present", &present)
            .finish()
    }
}

/// The first value of a text element, with DICOM padding (trailing or
/// leading spaces, trailing NULs; PS3.5 §6.2) removed; `None` when absent
/// or empty.
fn first_text(
    object: &InMemDicomObject,
    tag: Tag,
    keyword: &'static str,
) -> Result<Option<String>, HeaderError> {
    let Ok(Some(element)) = object.element_opt(tag) else {
        return Ok(None);
    };
    let values = element.to_multi_str().map_err(|_| HeaderError::NotText {
        keyword,
        group: tag.group(),
        element: tag.element(),
    })?;
    // A value read from a file arrives split at the backslash (PS3.5 §6.4);
    // one built in memory may still hold the delimiter, so split again.
    Ok(values
        .first()
        .and_then(|v| v.split('\\').next())
        .map(|v| v.trim_matches(|c: char| c == ' ' || c == '\0').to_owned())
        .filter(|v| !v.is_empty()))
}

/// Brings one DICOM value to the record's form where the mapping is
/// unambiguous; returns `None` when the value must be dropped. Values that
/// still break a rule are kept so that validation reports them.
///
/// - PatientSex: only M, F and O are record values (PS3.3 C.7.1.1); other
///   codes are dropped rather than guessed.
/// - DA: the retired ACR-NEMA form `YYYY.MM.DD` becomes `YYYYMMDD`
///   (PS3.5 table 6.2-1, DA note).
/// - TM: the retired form `HH:MM:SS` becomes `HHMMSS` (PS3.5 table 6.2-1,
///   TM note).
/// - AS: a count written with fewer than three digits is zero-padded
///   (`45Y` → `045Y`), the fixed width of PS3.5 table 6.2-1.
pub fn normalise(field: RecordField, value: String) -> Option<String> {
    use RecordField as F;
    match field {
        F::PatientSex => matches!(value.as_str(), "M" | "F" | "O").then_some(value),
        F::PatientBirthDate | F::StudyDate => {
            let b = value.as_bytes();
            if b.len() == 10 && b[4] == b'.' && b[7] == b'.' {
                Some(value.replace('.', ""))
            } else {
                Some(value)
            }
        }
        F::StudyTime if value.contains(':') => Some(value.replace(':', "")),
        F::PatientAge => {
            let digits = value.len().saturating_sub(1);
            let unit_ok = value.ends_with(['D', 'W', 'M', 'Y']);
            if unit_ok
                && (1..3).contains(&digits)
                && value[..digits].bytes().all(|b| b.is_ascii_digit())
            {
                Some(format!("{value:0>4}"))
            } else {
                Some(value)
            }
        }
        _ => Some(value),
    }
}

impl InstanceHeader {
    /// Extracts the SPEC §1 fields of a parsed data set (a file's or one
    /// received over the network), by their PS3.6 tags.
    pub fn from_object(object: &InMemDicomObject) -> Result<Self, HeaderError> {
        let sop_instance_uid = first_text(object, tags::SOP_INSTANCE_UID, "SOPInstanceUID")?
            .ok_or(HeaderError::MissingRequired {
                keyword: "SOPInstanceUID",
                group: tags::SOP_INSTANCE_UID.group(),
                element: tags::SOP_INSTANCE_UID.element(),
            })?;
        let mut values = BTreeMap::new();
        for field in RecordField::ALL {
            let Some((group, element)) = field.tag() else {
                continue;
            };
            let raw = first_text(object, Tag(group, element), field.keyword())?;
            if let Some(value) = raw.and_then(|v| normalise(field, v)) {
                values.insert(field, value);
            }
        }
        for field in REQUIRED_TAGGED {
            if !values.contains_key(&field) {
                let (group, element) = field.tag().unwrap_or_default();
                return Err(HeaderError::MissingRequired {
                    keyword: field.keyword(),
                    group,
                    element,
                });
            }
        }
        Ok(Self {
            sop_instance_uid,
            values,
        })
    }

    /// The SOPInstanceUID (0008,0018), which identifies the instance.
    pub fn sop_instance_uid(&self) -> &str {
        &self.sop_instance_uid
    }

    /// The SeriesInstanceUID (0020,000E) the instance belongs to.
    pub fn series_instance_uid(&self) -> &str {
        self.values
            .get(&RecordField::SeriesInstanceUID)
            .map_or("", String::as_str)
    }

    /// The normalised value of `field`, if the instance carries one.
    pub fn get(&self, field: RecordField) -> Option<&str> {
        self.values.get(&field).map(String::as_str)
    }

    /// Every present field and its normalised value.
    pub fn values(&self) -> impl Iterator<Item = (RecordField, &str)> {
        self.values.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

/// Whether the file at `path` starts like a DICOM Part 10 file: a 128-byte
/// preamble then `DICM` (PS3.10 §7.1). Reads 132 bytes at most.
pub fn has_dicm_marker(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; DICM_OFFSET + 4];
    let mut file = std::fs::File::open(path)?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..])? {
            0 => return Ok(false),
            n => filled += n,
        }
    }
    Ok(&head[DICM_OFFSET..] == b"DICM")
}

/// Reads the header of the DICOM Part 10 file at `path`, stopping before
/// the Pixel Data element (7FE0,0010) so that pixel data is never parsed,
/// and extracts its fields. A DICOMDIR is refused.
pub fn read_header_file(path: &Path) -> Result<InstanceHeader, HeaderError> {
    if !has_dicm_marker(path).map_err(HeaderError::Io)? {
        return Err(HeaderError::NotDicom);
    }
    let object = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        // The top-level message names the failing step (meta group, data
        // set token…), not an element value.
        .map_err(|e| HeaderError::Unparsable(e.to_string()))?;
    if object.meta().media_storage_sop_class_uid() == DICOMDIR_SOP_CLASS {
        return Err(HeaderError::Dicomdir);
    }
    InstanceHeader::from_object(&object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, VR};

    fn object(pairs: &[(Tag, VR, &str)]) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        for (tag, vr, v) in pairs {
            o.put(DataElement::new(*tag, *vr, *v));
        }
        o
    }

    fn minimal() -> Vec<(Tag, VR, &'static str)> {
        vec![
            (tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.1\0"),
            (tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.4\0"),
            (tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3"),
            (tags::PATIENT_ID, VR::LO, " PID7 "),
            (tags::PATIENT_NAME, VR::PN, "Doe^Jane\\Roe^Jane"),
        ]
    }

    #[test]
    fn padding_is_trimmed_and_the_first_value_taken() {
        let h = InstanceHeader::from_object(&object(&minimal())).unwrap();
        assert_eq!(h.sop_instance_uid(), "1.2.3.4.1");
        assert_eq!(h.series_instance_uid(), "1.2.3.4");
        assert_eq!(h.get(RecordField::PatientID), Some("PID7"));
        assert_eq!(h.get(RecordField::PatientName), Some("Doe^Jane"));
        assert_eq!(h.get(RecordField::PatientSex), None);
        assert!(!format!("{h:?}").contains("Doe"));
    }

    #[test]
    fn each_required_tag_is_required_and_empty_counts_as_missing() {
        for i in 0..5 {
            let mut pairs = minimal();
            pairs.remove(i);
            let err = InstanceHeader::from_object(&object(&pairs)).unwrap_err();
            assert!(matches!(err, HeaderError::MissingRequired { .. }), "{err}");
            let mut pairs = minimal();
            pairs[i].2 = "  ";
            assert!(InstanceHeader::from_object(&object(&pairs)).is_err());
        }
        let mut pairs = minimal();
        pairs.remove(1);
        let err = InstanceHeader::from_object(&object(&pairs)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "required tag SeriesInstanceUID (0020,000E) is missing or empty"
        );
    }

    #[test]
    fn normalisation_rules() {
        use RecordField as F;
        assert_eq!(normalise(F::PatientSex, "U".into()), None);
        assert_eq!(normalise(F::PatientSex, "F".into()), Some("F".into()));
        assert_eq!(
            normalise(F::StudyDate, "2024.02.29".into()),
            Some("20240229".into())
        );
        assert_eq!(
            normalise(F::StudyTime, "07:30:15".into()),
            Some("073015".into())
        );
        assert_eq!(normalise(F::PatientAge, "45Y".into()), Some("045Y".into()));
        assert_eq!(normalise(F::PatientAge, "5D".into()), Some("005D".into()));
        assert_eq!(normalise(F::PatientAge, "045Y".into()), Some("045Y".into()));
        assert_eq!(normalise(F::PatientAge, "4Y5".into()), Some("4Y5".into()));
        assert_eq!(normalise(F::Modality, "MR".into()), Some("MR".into()));
    }
}
