//! DIMSE command sets (PS3.7 §9 and §E): reading a request's command set
//! and writing the C-ECHO-RSP and C-STORE-RSP that answer it.
//!
//! Command sets are always encoded in Implicit VR Little Endian (PS3.7
//! §6.3.1), whatever transfer syntax the presentation context negotiated.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// Command Field values (PS3.7 Table E.1-1 and §9.3).
pub(crate) mod command_field {
    /// C-STORE-RQ.
    pub const C_STORE_RQ: u16 = 0x0001;
    /// C-ECHO-RQ.
    pub const C_ECHO_RQ: u16 = 0x0030;
    /// C-CANCEL-RQ, which is never answered.
    pub const C_CANCEL_RQ: u16 = 0x0FFF;
    /// Set on every response's Command Field.
    pub const RESPONSE_BIT: u16 = 0x8000;
}

/// Command Data Set Type value meaning "no data set follows" (PS3.7 E.1).
const NO_DATA_SET: u16 = 0x0101;

/// Status codes this receiver answers with (PS3.7 Annex C, PS3.4 B.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// 0000: Success.
    Success,
    /// A700: Refused, out of resources (the header is larger than the
    /// receiver keeps, PS3.4 B.2.3).
    OutOfResources,
    /// A900: Error, data set does not match SOP class (a required attribute
    /// is missing, PS3.4 B.2.3).
    DataSetDoesNotMatchSopClass,
    /// C000: Error, cannot understand (the data set cannot be parsed,
    /// PS3.4 B.2.3).
    CannotUnderstand,
    /// 0211: Unrecognized operation (PS3.7 C.5.4).
    UnrecognizedOperation,
}

impl Status {
    pub(crate) fn code(self) -> u16 {
        match self {
            Self::Success => 0x0000,
            Self::OutOfResources => 0xA700,
            Self::DataSetDoesNotMatchSopClass => 0xA900,
            Self::CannotUnderstand => 0xC000,
            Self::UnrecognizedOperation => 0x0211,
        }
    }
}

/// Why a command set was not usable. Carries no value from it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    /// The bytes are not an Implicit VR Little Endian data set.
    #[error("the command set cannot be parsed")]
    Unparsable,
    /// A mandatory command element is missing or has the wrong type.
    #[error("the command set lacks a usable {0}")]
    Missing(&'static str),
}

/// The parts of a request command set the receiver acts on.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub(crate) field: u16,
    pub(crate) message_id: u16,
    pub(crate) has_data_set: bool,
    /// Affected SOP Class UID (C-STORE-RQ, C-ECHO-RQ).
    pub(crate) affected_sop_class: Option<String>,
    /// Affected SOP Instance UID (C-STORE-RQ). A UID: never logged.
    pub(crate) affected_sop_instance: Option<String>,
}

fn implicit_le() -> dicom_transfer_syntax_registry::TransferSyntax {
    dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased()
}

fn trimmed_uid(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let text = obj.element_opt(tag).ok().flatten()?.to_str().ok()?;
    // PS3.5 §9.1: UIDs are padded to even length with a NUL.
    let uid = text.trim_end_matches(['\0', ' ']);
    (!uid.is_empty()).then(|| uid.to_owned())
}

impl Command {
    /// Parses a reassembled command set.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, CommandError> {
        let obj = InMemDicomObject::read_dataset_with_ts(bytes, &implicit_le())
            .map_err(|_| CommandError::Unparsable)?;
        let u16_of = |tag, name| {
            obj.element(tag)
                .ok()
                .and_then(|e| e.to_int::<u16>().ok())
                .ok_or(CommandError::Missing(name))
        };
        let field = u16_of(tags::COMMAND_FIELD, "Command Field")?;
        // C-CANCEL-RQ carries Message ID Being Responded To instead.
        let message_id = if field == command_field::C_CANCEL_RQ {
            u16_of(
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                "Message ID Being Responded To",
            )?
        } else {
            u16_of(tags::MESSAGE_ID, "Message ID")?
        };
        let data_set_type = u16_of(tags::COMMAND_DATA_SET_TYPE, "Command Data Set Type")?;
        Ok(Self {
            field,
            message_id,
            has_data_set: data_set_type != NO_DATA_SET,
            affected_sop_class: trimmed_uid(&obj, tags::AFFECTED_SOP_CLASS_UID),
            affected_sop_instance: trimmed_uid(&obj, tags::AFFECTED_SOP_INSTANCE_UID),
        })
    }
}

/// Builds and encodes the response to `request` with `status`
/// (PS3.7 §9.3.1.2 C-STORE-RSP, §9.3.5.2 C-ECHO-RSP, C.5.4 for others).
pub(crate) fn response(request: &Command, status: Status) -> Vec<u8> {
    let mut elements = vec![
        DataElement::new(
            tags::COMMAND_FIELD,
            VR::US,
            PrimitiveValue::from(request.field | command_field::RESPONSE_BIT),
        ),
        DataElement::new(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            VR::US,
            PrimitiveValue::from(request.message_id),
        ),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(NO_DATA_SET),
        ),
        DataElement::new(tags::STATUS, VR::US, PrimitiveValue::from(status.code())),
    ];
    if let Some(class) = &request.affected_sop_class {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(class.as_str()),
        ));
    }
    if let Some(instance) = &request.affected_sop_instance {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(instance.as_str()),
        ));
    }
    let obj = InMemDicomObject::command_from_element_iter(elements);
    let mut out = Vec::with_capacity(128);
    // Writing a handful of well-formed elements to memory cannot fail; an
    // empty answer would make the peer abort, which is the safe outcome.
    if obj.write_dataset_with_ts(&mut out, &implicit_le()).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::uids;

    fn store_rq() -> Vec<u8> {
        let obj = InMemDicomObject::command_from_element_iter([
            DataElement::new(
                tags::AFFECTED_SOP_CLASS_UID,
                VR::UI,
                PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
            ),
            DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(1_u16)),
            DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(7_u16)),
            DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0_u16)),
            DataElement::new(
                tags::COMMAND_DATA_SET_TYPE,
                VR::US,
                PrimitiveValue::from(0_u16),
            ),
            DataElement::new(
                tags::AFFECTED_SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from("1.2.3.4\0"),
            ),
        ]);
        let mut out = Vec::new();
        obj.write_dataset_with_ts(&mut out, &implicit_le()).unwrap();
        out
    }

    #[test]
    fn parses_a_store_request_and_answers_it() {
        let cmd = Command::parse(&store_rq()).unwrap();
        assert_eq!(cmd.field, command_field::C_STORE_RQ);
        assert_eq!(cmd.message_id, 7);
        assert!(cmd.has_data_set);
        assert_eq!(cmd.affected_sop_instance.as_deref(), Some("1.2.3.4"));

        let rsp = response(&cmd, Status::CannotUnderstand);
        let obj = InMemDicomObject::read_dataset_with_ts(rsp.as_slice(), &implicit_le()).unwrap();
        let int = |t| obj.element(t).unwrap().to_int::<u16>().unwrap();
        assert_eq!(int(tags::COMMAND_FIELD), 0x8001);
        assert_eq!(int(tags::MESSAGE_ID_BEING_RESPONDED_TO), 7);
        assert_eq!(int(tags::STATUS), 0xC000);
        assert_eq!(int(tags::COMMAND_DATA_SET_TYPE), 0x0101);
        // Command Group Length is present and counts the rest of the set.
        let len = obj
            .element(tags::COMMAND_GROUP_LENGTH)
            .unwrap()
            .to_int::<u32>()
            .unwrap();
        assert_eq!(len as usize, rsp.len() - 12);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Command::parse(&[1, 2, 3]).is_err());
        assert!(Command::parse(&[]).is_err());
    }
}
