//! Generated record documents for load runs: all 17 fields, realistic
//! lengths, a unique SeriesInstanceUID each, a few series per patient (as
//! in a study). Deterministic: the same `(seed, count)` gives the same
//! documents, so the product and the baseline get identical bodies.

use serde_json::{Value, json};

/// A small deterministic generator (xorshift64*), enough to vary values.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        let n = from.len() as u64;
        from[(self.next() % n) as usize]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FAMILY: &[&str] = &[
    "Mustermann",
    "Dupont-Lefebvre",
    "García Márquez",
    "Nakamura",
    "O'Connor",
    "Kowalczyk",
    "Van der Berg",
    "Øvergaard",
];
const GIVEN: &[&str] = &[
    "Max",
    "Zoë",
    "Jean^Pierre",
    "Aiko",
    "Seán",
    "Małgorzata",
    "Pieter",
    "Ingrid",
];
const INSTITUTIONS: &[&str] = &[
    "Hôpital Européen Georges-Pompidou",
    "Universitätsklinikum Hamburg-Eppendorf",
    "St Thomas' Hospital, Radiology Department",
    "Karolinska Universitetssjukhuset Solna",
];
const STUDIES: &[&str] = &[
    "MRT Schädel nativ und nach KM",
    "CT THORAX ABDOMEN BECKEN MIT KM",
    "IRM genou droit",
    "Mammography bilateral screening",
];
const SERIES: &[&str] = &[
    "t2_tse_tra 5mm",
    "t1_mprage_sag_p2_iso",
    "Thorax 1.0 B70f",
    "ep2d_diff_3scan_trace",
];
const MODALITY_PART: &[(&str, &str)] = &[
    ("MR", "HEAD"),
    ("CT", "CHEST"),
    ("MR", "KNEE"),
    ("MG", "BREAST"),
];

/// How many consecutive series share a patient (a study's series).
pub const SERIES_PER_PATIENT: u64 = 4;

/// Record document `index` of run `seed`: valid under SPEC's record table,
/// with every field present. The SeriesInstanceUID is unique per
/// `(seed, index)`.
pub fn document(seed: u64, index: u64) -> Value {
    let patient = index / SERIES_PER_PATIENT;
    let mut m = Mix((seed << 40) ^ patient ^ 0x9E37_79B9_7F4A_7C15);
    let family = m.pick(FAMILY);
    let given = m.pick(GIVEN);
    let birth_year = 1935 + m.below(85);
    let birth = format!("{birth_year}{:02}{:02}", 1 + m.below(12), 1 + m.below(28));
    let sex = m.pick(&["M", "F", "O"]);
    let institution = m.pick(INSTITUTIONS);
    let study_desc = m.pick(STUDIES);
    let (modality, part) = MODALITY_PART[(m.below(4)) as usize];
    let study_day = format!("2025{:02}{:02}", 1 + m.below(12), 1 + m.below(28));
    let age = 2025u64.saturating_sub(birth_year).min(999);
    let mut s = Mix(seed ^ index.wrapping_mul(0x9E37_79B9) ^ 0xD1B5_4A32_D192_ED03);
    json!({
        "SeriesInstanceUID": format!("1.2.826.0.1.3680043.8.498.{}.{}.{}", seed, index, 1 + s.below(1_000_000_000)),
        "StudyInstanceUID": format!("1.2.826.0.1.3680043.8.498.{}.{}", seed, 900_000_000 + patient),
        "PatientID": format!("MRN-{seed}-{patient:08}"),
        "PatientName": format!("{family}^{given}"),
        "InstancesInSeries": 1 + s.below(400),
        "PatientBirthDate": birth,
        "PatientSex": sex,
        "PatientAge": format!("{age:03}Y"),
        "StudyDate": study_day,
        "StudyTime": format!("{:02}{:02}{:02}.{:06}", s.below(24), s.below(60), s.below(60), s.below(1_000_000)),
        "AccessionNumber": format!("ACC{:013}", patient),
        "Modality": modality,
        "ReferringPhysicianName": format!("{}^{}^^Dr", m.pick(FAMILY), m.pick(GIVEN)),
        "InstitutionName": institution,
        "StudyDescription": study_desc,
        "SeriesDescription": s.pick(SERIES),
        "BodyPartExamined": part,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Record;

    #[test]
    fn generated_documents_are_valid_complete_and_unique_per_series() {
        let mut uids = std::collections::BTreeSet::new();
        for i in 0..200 {
            let doc = document(7, i);
            assert_eq!(doc.as_object().unwrap().len(), 17);
            Record::from_json_now(&doc).unwrap_or_else(|e| panic!("{i}: {e:?}"));
            assert!(uids.insert(doc["SeriesInstanceUID"].to_string()));
        }
        assert_eq!(document(7, 3), document(7, 3));
    }
}
