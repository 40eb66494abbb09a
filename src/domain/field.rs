//! The closed set of record fields (SPEC §1), with their DICOM tags and VRs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One key of a record. The set is closed: a policy must give each of these
/// an action, and a record may hold no other key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[allow(missing_docs)] // Each variant is the DICOM keyword it is named after.
pub enum RecordField {
    SeriesInstanceUID,
    StudyInstanceUID,
    PatientID,
    PatientName,
    InstancesInSeries,
    PatientBirthDate,
    PatientSex,
    PatientAge,
    StudyDate,
    StudyTime,
    AccessionNumber,
    Modality,
    ReferringPhysicianName,
    InstitutionName,
    StudyDescription,
    SeriesDescription,
    BodyPartExamined,
}

impl RecordField {
    /// Every field, in the order of SPEC §1.
    pub const ALL: [RecordField; 17] = [
        Self::SeriesInstanceUID,
        Self::StudyInstanceUID,
        Self::PatientID,
        Self::PatientName,
        Self::InstancesInSeries,
        Self::PatientBirthDate,
        Self::PatientSex,
        Self::PatientAge,
        Self::StudyDate,
        Self::StudyTime,
        Self::AccessionNumber,
        Self::Modality,
        Self::ReferringPhysicianName,
        Self::InstitutionName,
        Self::StudyDescription,
        Self::SeriesDescription,
        Self::BodyPartExamined,
    ];

    /// The DICOM keyword, which is also the record's JSON key.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::SeriesInstanceUID => "SeriesInstanceUID",
            Self::StudyInstanceUID => "StudyInstanceUID",
            Self::PatientID => "PatientID",
            Self::PatientName => "PatientName",
            Self::InstancesInSeries => "InstancesInSeries",
            Self::PatientBirthDate => "PatientBirthDate",
            Self::PatientSex => "PatientSex",
            Self::PatientAge => "PatientAge",
            Self::StudyDate => "StudyDate",
            Self::StudyTime => "StudyTime",
            Self::AccessionNumber => "AccessionNumber",
            Self::Modality => "Modality",
            Self::ReferringPhysicianName => "ReferringPhysicianName",
            Self::InstitutionName => "InstitutionName",
            Self::StudyDescription => "StudyDescription",
            Self::SeriesDescription => "SeriesDescription",
            Self::BodyPartExamined => "BodyPartExamined",
        }
    }

    /// The DICOM tag `(gggg,eeee)` per PS3.6, or `None` for
    /// InstancesInSeries, which the client counts and no tag carries.
    pub fn tag(self) -> Option<(u16, u16)> {
        Some(match self {
            Self::SeriesInstanceUID => (0x0020, 0x000E),
            Self::StudyInstanceUID => (0x0020, 0x000D),
            Self::PatientID => (0x0010, 0x0020),
            Self::PatientName => (0x0010, 0x0010),
            Self::InstancesInSeries => return None,
            Self::PatientBirthDate => (0x0010, 0x0030),
            Self::PatientSex => (0x0010, 0x0040),
            Self::PatientAge => (0x0010, 0x1010),
            Self::StudyDate => (0x0008, 0x0020),
            Self::StudyTime => (0x0008, 0x0030),
            Self::AccessionNumber => (0x0008, 0x0050),
            Self::Modality => (0x0008, 0x0060),
            Self::ReferringPhysicianName => (0x0008, 0x0090),
            Self::InstitutionName => (0x0008, 0x0080),
            Self::StudyDescription => (0x0008, 0x1030),
            Self::SeriesDescription => (0x0008, 0x103E),
            Self::BodyPartExamined => (0x0018, 0x0015),
        })
    }

    /// The value representation (PS3.5 §6.2), or `int` for the count.
    pub fn vr(self) -> &'static str {
        match self {
            Self::SeriesInstanceUID | Self::StudyInstanceUID => "UI",
            Self::PatientID
            | Self::InstitutionName
            | Self::StudyDescription
            | Self::SeriesDescription => "LO",
            Self::PatientName | Self::ReferringPhysicianName => "PN",
            Self::InstancesInSeries => "int",
            Self::PatientBirthDate | Self::StudyDate => "DA",
            Self::PatientSex | Self::Modality | Self::BodyPartExamined => "CS",
            Self::PatientAge => "AS",
            Self::StudyTime => "TM",
            Self::AccessionNumber => "SH",
        }
    }

    /// Whether every record must carry this field (SPEC §1).
    pub fn required(self) -> bool {
        matches!(
            self,
            Self::SeriesInstanceUID
                | Self::StudyInstanceUID
                | Self::PatientID
                | Self::PatientName
                | Self::InstancesInSeries
        )
    }
}

impl fmt::Display for RecordField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The keyword named no record field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a record field")]
pub struct UnknownField;

impl FromStr for RecordField {
    type Err = UnknownField;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.keyword() == s)
            .ok_or(UnknownField)
    }
}
