//! Finds where the pixel data of a data set begins, from its encoded bytes,
//! so that the receiver can stop buffering there: only the header is kept,
//! and the (possibly very large) pixel data is discarded as it arrives.
//!
//! The scanner walks the top-level data elements (PS3.5 §7.1): it skips
//! each value by its length, and walks sequences of undefined length item by
//! item (PS3.5 §7.5), without interpreting any value. It stops at the first
//! top-level element of group 7FE0 (Pixel Data, Float and Double Float Pixel
//! Data, Extended Offset Table; PS3.6) or above (nothing after it belongs to
//! a record). It never decodes a value, so it never sees PHI as text.

/// How a data set is encoded (the part of the transfer syntax that matters
/// to element headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Implicit VR Little Endian (PS3.5 A.1).
    ImplicitLittle,
    /// Explicit VR Little Endian (PS3.5 A.2), also the data set encoding of
    /// every encapsulated transfer syntax (PS3.5 A.4).
    ExplicitLittle,
    /// Explicit VR Big Endian (PS3.5 A.3, retired).
    ExplicitBig,
}

impl Encoding {
    /// The data set encoding of a transfer syntax that the receiver accepts,
    /// or `None` when its bytes cannot be scanned (a deflated data set).
    // Explicit VR Big Endian is retired (PS3.5 A.3) but still sent.
    #[allow(deprecated)]
    pub(crate) fn of_transfer_syntax(uid: &str) -> Option<Self> {
        use dicom_dictionary_std::uids;
        match uid {
            uids::IMPLICIT_VR_LITTLE_ENDIAN => Some(Self::ImplicitLittle),
            uids::EXPLICIT_VR_BIG_ENDIAN => Some(Self::ExplicitBig),
            uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
            | uids::JPIP_REFERENCED_DEFLATE
            | uids::JPIPHTJ2K_REFERENCED_DEFLATE => None,
            // PS3.5 §10: every other standard transfer syntax encodes the
            // data set in explicit VR little endian.
            _ => Some(Self::ExplicitLittle),
        }
    }

    fn u16_at(self, b: &[u8]) -> u16 {
        match self {
            Self::ExplicitBig => u16::from_be_bytes([b[0], b[1]]),
            _ => u16::from_le_bytes([b[0], b[1]]),
        }
    }

    fn u32_at(self, b: &[u8]) -> u32 {
        match self {
            Self::ExplicitBig => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }
    }
}

/// What the scanner has learned so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The header ends (and the pixel data group begins) at this offset.
    PixelDataAt(usize),
    /// Every complete element seen so far belongs to the header.
    NotYet,
    /// The bytes do not follow the encoding; the caller must fall back to
    /// buffering the whole data set and let the parser judge it.
    Malformed,
}

/// Undefined length (PS3.5 §7.1.1).
const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Item, Item Delimitation and Sequence Delimitation tags (PS3.5 §7.5).
const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_END: (u16, u16) = (0xFFFE, 0xE00D);
const SEQUENCE_END: (u16, u16) = (0xFFFE, 0xE0DD);
/// First group that is not part of the header.
const PIXEL_GROUP: u16 = 0x7FE0;
/// Sequences nested deeper than this are treated as malformed, so that a
/// hostile data set cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

/// Incremental scanner over a growing buffer: call [`Self::advance`] with
/// the whole buffer each time it grows; work already done is not repeated
/// at the top level.
#[derive(Debug)]
pub(crate) struct PixelDataScanner {
    encoding: Encoding,
    /// Offset of the next top-level element header.
    next: usize,
}

struct Header {
    tag: (u16, u16),
    /// Explicit VR, if the encoding carries one and this is not an item tag.
    vr: Option<[u8; 2]>,
    len: u32,
    size: usize,
}

impl PixelDataScanner {
    pub(crate) fn new(encoding: Encoding) -> Self {
        Self { encoding, next: 0 }
    }

    /// Scans `buf` (everything received so far) from where the last call
    /// stopped.
    pub(crate) fn advance(&mut self, buf: &[u8]) -> Scan {
        loop {
            let header = match read_header(buf, self.next, self.encoding) {
                Err(()) => return Scan::Malformed,
                Ok(None) => return Scan::NotYet,
                Ok(Some(h)) => h,
            };
            if header.tag.0 >= PIXEL_GROUP {
                if header.tag.0 == 0xFFFE {
                    // An item tag outside a sequence.
                    return Scan::Malformed;
                }
                return Scan::PixelDataAt(self.next);
            }
            let value_start = self.next + header.size;
            match skip_value(buf, value_start, &header, self.encoding, 0) {
                Err(()) => return Scan::Malformed,
                Ok(None) => return Scan::NotYet,
                Ok(Some(end)) => self.next = end,
            }
        }
    }
}

/// VRs with a 4-byte length after two reserved bytes (PS3.5 Table 7.1-1).
fn has_long_length(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

/// Reads the element header at `pos`: `Ok(None)` if more bytes are needed,
/// `Err(())` if the bytes cannot be a header in this encoding.
fn read_header(buf: &[u8], pos: usize, enc: Encoding) -> Result<Option<Header>, ()> {
    let Some(head) = buf.get(pos..pos.saturating_add(8)) else {
        return Ok(None);
    };
    let tag = (enc.u16_at(&head[0..2]), enc.u16_at(&head[2..4]));
    // Item and delimitation tags never carry a VR (PS3.5 §7.5).
    if tag.0 == 0xFFFE || enc == Encoding::ImplicitLittle {
        return Ok(Some(Header {
            tag,
            vr: None,
            len: enc.u32_at(&head[4..8]),
            size: 8,
        }));
    }
    let vr = [head[4], head[5]];
    if !vr.iter().all(u8::is_ascii_uppercase) {
        return Err(());
    }
    if has_long_length(vr) {
        let Some(long) = buf.get(pos..pos.saturating_add(12)) else {
            return Ok(None);
        };
        Ok(Some(Header {
            tag,
            vr: Some(vr),
            len: enc.u32_at(&long[8..12]),
            size: 12,
        }))
    } else {
        Ok(Some(Header {
            tag,
            vr: Some(vr),
            len: u32::from(enc.u16_at(&head[6..8])),
            size: 8,
        }))
    }
}

/// Skips the value that starts at `start`; returns the offset just after it.
fn skip_value(
    buf: &[u8],
    start: usize,
    header: &Header,
    enc: Encoding,
    depth: usize,
) -> Result<Option<usize>, ()> {
    if header.len != UNDEFINED {
        let end = start.checked_add(header.len as usize).ok_or(())?;
        return Ok((end <= buf.len()).then_some(end));
    }
    if depth >= MAX_DEPTH {
        return Err(());
    }
    // PS3.5 §6.2.2 Note: a UN value of undefined length holds a sequence
    // encoded in implicit VR little endian.
    let inner = match header.vr {
        Some(vr) if &vr == b"UN" => Encoding::ImplicitLittle,
        Some(vr) if &vr == b"SQ" => enc,
        // Undefined length is otherwise only allowed for encapsulated pixel
        // data (OB/OW), whose fragments are items too (PS3.5 A.4).
        Some(vr) if &vr == b"OB" || &vr == b"OW" => enc,
        Some(_) => return Err(()),
        None => enc,
    };
    skip_sequence(buf, start, inner, depth + 1)
}

/// Walks items until the Sequence Delimitation Item.
fn skip_sequence(
    buf: &[u8],
    mut pos: usize,
    enc: Encoding,
    depth: usize,
) -> Result<Option<usize>, ()> {
    loop {
        let Some(h) = read_header(buf, pos, enc)? else {
            return Ok(None);
        };
        pos += h.size;
        match h.tag {
            SEQUENCE_END => return Ok(Some(pos)),
            ITEM if h.len != UNDEFINED => {
                pos = pos.checked_add(h.len as usize).ok_or(())?;
                if pos > buf.len() {
                    return Ok(None);
                }
            }
            ITEM => match skip_item(buf, pos, enc, depth)? {
                Some(end) => pos = end,
                None => return Ok(None),
            },
            _ => return Err(()),
        }
    }
}

/// Walks the elements of an item of undefined length until its Item
/// Delimitation Item.
fn skip_item(buf: &[u8], mut pos: usize, enc: Encoding, depth: usize) -> Result<Option<usize>, ()> {
    loop {
        let Some(h) = read_header(buf, pos, enc)? else {
            return Ok(None);
        };
        if h.tag == ITEM_END {
            return Ok(Some(pos + h.size));
        }
        if h.tag.0 == 0xFFFE {
            return Err(());
        }
        match skip_value(buf, pos + h.size, &h, enc, depth)? {
            Some(end) => pos = end,
            None => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR, value::DataSetSequence};
    use dicom_dictionary_std::{tags, uids};
    use dicom_object::InMemDicomObject;
    use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};

    fn sample() -> InMemDicomObject {
        let item = InMemDicomObject::from_element_iter([DataElement::new(
            tags::CODE_VALUE,
            VR::SH,
            PrimitiveValue::from("T-1"),
        )]);
        InMemDicomObject::from_element_iter([
            DataElement::new(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from("1.2.3"),
            ),
            DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from("Doe^J")),
            DataElement::new(
                tags::ANATOMIC_REGION_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(vec![item.clone(), item]),
            ),
            DataElement::new(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from("1.2.4"),
            ),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(2_u16)),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16(vec![7_u16; 8].into()),
            ),
        ])
    }

    fn encode(obj: &InMemDicomObject, uid: &str) -> Vec<u8> {
        let ts = TransferSyntaxRegistry.get(uid).unwrap();
        let mut out = Vec::new();
        obj.write_dataset_with_ts(&mut out, ts).unwrap();
        out
    }

    #[test]
    #[allow(deprecated)] // Explicit VR Big Endian is retired, still tested.
    fn finds_pixel_data_in_every_encoding_and_the_prefix_parses() {
        for uid in [
            uids::IMPLICIT_VR_LITTLE_ENDIAN,
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            uids::EXPLICIT_VR_BIG_ENDIAN,
        ] {
            let bytes = encode(&sample(), uid);
            let enc = Encoding::of_transfer_syntax(uid).unwrap();
            let Scan::PixelDataAt(at) = PixelDataScanner::new(enc).advance(&bytes) else {
                panic!("no pixel data found in {uid}");
            };
            // The pixel data is the last 8 u16 values plus its header.
            assert!(at < bytes.len() - 16, "{uid}");
            let ts = TransferSyntaxRegistry.get(uid).unwrap();
            let header = InMemDicomObject::read_dataset_with_ts(&bytes[..at], ts).unwrap();
            assert!(header.element_opt(tags::PIXEL_DATA).unwrap().is_none());
            assert_eq!(
                header.element(tags::ROWS).unwrap().to_int::<u16>().unwrap(),
                2
            );
            assert!(header.element(tags::ANATOMIC_REGION_SEQUENCE).is_ok());
        }
    }

    #[test]
    fn works_incrementally_byte_by_byte() {
        let bytes = encode(&sample(), uids::EXPLICIT_VR_LITTLE_ENDIAN);
        let whole = PixelDataScanner::new(Encoding::ExplicitLittle).advance(&bytes);
        let mut scanner = PixelDataScanner::new(Encoding::ExplicitLittle);
        let mut found = None;
        for n in 0..=bytes.len() {
            match scanner.advance(&bytes[..n]) {
                Scan::NotYet => {}
                other => {
                    found = Some(other);
                    break;
                }
            }
        }
        assert_eq!(found, Some(whole));
    }

    #[test]
    fn undefined_length_sequences_are_walked() {
        // Implicit VR, hand-encoded: (0008,1115) SQ undefined length, one
        // item of undefined length holding (0008,0100) "AB", then pixel data.
        let mut b = Vec::new();
        let el = |b: &mut Vec<u8>, g: u16, e: u16, len: u32| {
            b.extend_from_slice(&g.to_le_bytes());
            b.extend_from_slice(&e.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
        };
        el(&mut b, 0x0008, 0x1115, UNDEFINED);
        el(&mut b, 0xFFFE, 0xE000, UNDEFINED);
        el(&mut b, 0x0008, 0x0100, 2);
        b.extend_from_slice(b"AB");
        el(&mut b, 0xFFFE, 0xE00D, 0);
        el(&mut b, 0xFFFE, 0xE0DD, 0);
        let header_end = b.len();
        el(&mut b, 0x7FE0, 0x0010, 4);
        b.extend_from_slice(&[1, 2, 3, 4]);
        let mut s = PixelDataScanner::new(Encoding::ImplicitLittle);
        assert_eq!(s.advance(&b[..header_end - 3]), Scan::NotYet);
        assert_eq!(s.advance(&b), Scan::PixelDataAt(header_end));
    }

    #[test]
    fn a_data_set_without_pixel_data_is_never_cut() {
        let mut obj = sample();
        obj.remove_element(tags::PIXEL_DATA);
        let bytes = encode(&obj, uids::EXPLICIT_VR_LITTLE_ENDIAN);
        let mut s = PixelDataScanner::new(Encoding::ExplicitLittle);
        assert_eq!(s.advance(&bytes), Scan::NotYet);
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let mut s = PixelDataScanner::new(Encoding::ExplicitLittle);
        assert_eq!(
            s.advance(&[0x08, 0, 0x20, 0, b'x', b'y', 0, 0]),
            Scan::Malformed
        );
        // An item tag at the top level.
        let mut s = PixelDataScanner::new(Encoding::ImplicitLittle);
        assert_eq!(
            s.advance(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]),
            Scan::Malformed
        );
        // Deep nesting is refused rather than recursed into.
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, 0xFF, 0xFF, 0xFF, 0xFF]);
            deep.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let mut s = PixelDataScanner::new(Encoding::ImplicitLittle);
        assert_eq!(s.advance(&deep), Scan::Malformed);
    }
}
