//! Keeps the header of a data set as its fragments arrive: buffers the
//! bytes only up to the start of the pixel data (found by
//! [`super::header_scan`]), drops every later fragment on arrival, then
//! parses the header and removes any pixel data left inside it.

use dicom_core::{DataElement, Length, header::Header, value::Value};
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};

use super::header_scan::{Encoding, PixelDataScanner, Scan};

/// Buffers one data set up to its pixel data.
pub(crate) struct DataSetBuffer {
    bytes: Vec<u8>,
    scanner: Option<PixelDataScanner>,
    header_complete: bool,
    too_large: bool,
    max_bytes: usize,
}

/// What became of a data set.
pub(crate) enum DataSetOutcome {
    Header(InMemDicomObject),
    TooLarge,
    Unparsable,
}

impl DataSetBuffer {
    pub(crate) fn new(transfer_syntax: &str, max_bytes: usize) -> Self {
        Self {
            bytes: Vec::new(),
            scanner: Encoding::of_transfer_syntax(transfer_syntax).map(PixelDataScanner::new),
            header_complete: false,
            too_large: false,
            max_bytes,
        }
    }

    pub(crate) fn push(&mut self, fragment: &[u8]) {
        if self.header_complete || self.too_large {
            // Pixel data (or an oversized header): dropped on arrival.
            return;
        }
        self.bytes.extend_from_slice(fragment);
        if let Some(scanner) = &mut self.scanner {
            match scanner.advance(&self.bytes) {
                Scan::PixelDataAt(at) => {
                    self.bytes.truncate(at);
                    self.bytes.shrink_to_fit();
                    self.header_complete = true;
                }
                Scan::NotYet => {}
                // Let the parser judge the whole data set.
                Scan::Malformed => self.scanner = None,
            }
        }
        if !self.header_complete && self.bytes.len() > self.max_bytes {
            self.too_large = true;
            self.bytes = Vec::new();
        }
    }

    pub(crate) fn finish(self, transfer_syntax: &str) -> DataSetOutcome {
        if self.too_large {
            return DataSetOutcome::TooLarge;
        }
        let Some(ts) = TransferSyntaxRegistry.get(transfer_syntax) else {
            return DataSetOutcome::Unparsable;
        };
        match InMemDicomObject::read_dataset_with_ts(self.bytes.as_slice(), ts) {
            Ok(obj) => DataSetOutcome::Header(strip_pixel_data(obj)),
            Err(_) => DataSetOutcome::Unparsable,
        }
    }
}

/// Removes every element of group 7FE0 or above, at any depth (an icon
/// image sequence, PS3.3 C.7.6.1, nests its own Pixel Data).
pub(crate) fn strip_pixel_data(obj: InMemDicomObject) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(obj.into_iter().filter_map(|element| {
        let tag = element.tag();
        if tag.group() >= 0x7FE0 {
            return None;
        }
        let vr = element.vr();
        match element.into_value() {
            Value::Sequence(seq) => {
                let items: Vec<InMemDicomObject> =
                    seq.into_items().into_iter().map(strip_pixel_data).collect();
                Some(DataElement::new(
                    tag,
                    vr,
                    Value::new_sequence(items, Length::UNDEFINED),
                ))
            }
            other => Some(DataElement::new(tag, vr, other)),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{PrimitiveValue, VR, value::DataSetSequence};
    use dicom_dictionary_std::{tags, uids};

    #[test]
    fn strips_pixel_data_at_every_depth() {
        let icon = InMemDicomObject::from_element_iter([
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(1_u16)),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                PrimitiveValue::from(vec![1_u8, 2]),
            ),
        ]);
        let obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("P1")),
            DataElement::new(
                tags::ICON_IMAGE_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(vec![icon]),
            ),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                PrimitiveValue::from(vec![9_u8, 9]),
            ),
            DataElement::new(
                tags::DATA_SET_TRAILING_PADDING,
                VR::OB,
                PrimitiveValue::from(vec![0_u8, 0]),
            ),
        ]);
        let stripped = strip_pixel_data(obj);
        assert!(stripped.element_opt(tags::PIXEL_DATA).unwrap().is_none());
        assert!(
            stripped
                .element_opt(tags::DATA_SET_TRAILING_PADDING)
                .unwrap()
                .is_none()
        );
        let seq = stripped.element(tags::ICON_IMAGE_SEQUENCE).unwrap();
        let item = &seq.items().unwrap()[0];
        assert!(item.element_opt(tags::PIXEL_DATA).unwrap().is_none());
        assert!(item.element(tags::ROWS).is_ok());
        assert_eq!(
            stripped
                .element(tags::PATIENT_ID)
                .unwrap()
                .to_str()
                .unwrap(),
            "P1"
        );
    }

    #[test]
    fn the_buffer_stops_growing_at_pixel_data() {
        let obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("P1")),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16(vec![0x5555_u16; 50_000].into()),
            ),
        ]);
        let ts = TransferSyntaxRegistry
            .get(uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .unwrap();
        let mut bytes = Vec::new();
        obj.write_dataset_with_ts(&mut bytes, ts).unwrap();
        let mut buffer = DataSetBuffer::new(uids::EXPLICIT_VR_LITTLE_ENDIAN, 1 << 20);
        for chunk in bytes.chunks(1000) {
            buffer.push(chunk);
            assert!(buffer.bytes.len() < 2000);
        }
        let DataSetOutcome::Header(header) = buffer.finish(uids::EXPLICIT_VR_LITTLE_ENDIAN) else {
            panic!("header expected");
        };
        assert!(header.element_opt(tags::PIXEL_DATA).unwrap().is_none());
        assert_eq!(
            header.element(tags::PATIENT_ID).unwrap().to_str().unwrap(),
            "P1"
        );
    }

    #[test]
    fn an_oversized_header_is_refused_not_buffered() {
        let mut buffer = DataSetBuffer::new(uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, 100);
        buffer.push(&[0_u8; 80]);
        buffer.push(&[0_u8; 80]);
        assert!(buffer.bytes.is_empty());
        assert!(matches!(
            buffer.finish(uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN),
            DataSetOutcome::TooLarge
        ));
    }
}
