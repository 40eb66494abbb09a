//! One association, from A-ASSOCIATE-AC to release: reassembles the P-DATA
//! fragments (PS3.8 §9.3.5, Annex E) of each DIMSE message into its command
//! set and data set, answers C-ECHO and C-STORE, and hands each stored
//! instance's header to the sink.
//!
//! Memory per association is bounded: a data set is kept only up to the
//! start of its pixel data ([`super::header_buffer`]). Nothing is written to
//! disk.

use std::io::{Read, Write};

use dicom_dictionary_std::tags;
use dicom_ul::ServerAssociation;
use dicom_ul::association::{Association, CloseSocket};
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};

use super::dimse::{self, Command, Status, command_field};
use super::header_buffer::{DataSetBuffer, DataSetOutcome};
use super::instance::{InstanceRefused, InstanceSink, ReceivedInstance};

/// Command sets are a few hundred bytes (PS3.7 §9.3); more is an attack.
const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// How an association ended. Counts only: no value from a data set.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AssociationSummary {
    pub(crate) echoes: u32,
    pub(crate) stored: u32,
    pub(crate) failed: u32,
}

/// Why an association was cut short (after an A-ABORT, or a dropped link).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AssociationError {
    /// The peer broke the P-DATA rules (PS3.8 §9.3.5.1): fragments of two
    /// messages interleaved, a data set without a command, an oversized
    /// command set, or a command set that cannot be read.
    #[error("the peer broke the DIMSE message rules: {0}")]
    Protocol(&'static str),
    /// Reading or writing a PDU failed (timeout, closed connection, bad PDU).
    #[error("the upper layer failed")]
    UpperLayer(#[source] dicom_ul::association::Error),
}

enum Phase {
    Idle,
    Command {
        context: u8,
        bytes: Vec<u8>,
    },
    DataSet {
        context: u8,
        command: Command,
        buffer: DataSetBuffer,
    },
}

/// Serves one established association until it is released or aborted.
pub(crate) fn serve<S>(
    mut association: ServerAssociation<S>,
    sink: &dyn InstanceSink,
    max_header_bytes: usize,
) -> Result<AssociationSummary, AssociationError>
where
    S: Read + Write + CloseSocket,
{
    let calling = association.peer_ae_title().trim().to_owned();
    let mut summary = AssociationSummary::default();
    let mut phase = Phase::Idle;
    loop {
        let pdu = association
            .receive()
            .map_err(AssociationError::UpperLayer)?;
        match pdu {
            Pdu::PData { data } => {
                for value in data {
                    let step = on_value(&mut association, &mut phase, value, max_header_bytes)
                        .and_then(|done| match done {
                            Some((command, context, outcome)) => answer(
                                &mut association,
                                sink,
                                &calling,
                                command,
                                context,
                                outcome,
                                &mut summary,
                            ),
                            None => Ok(()),
                        });
                    if let Err(e) = step {
                        if matches!(e, AssociationError::Protocol(_)) {
                            // PS3.8 §9.3.8: A-ABORT on a protocol error.
                            let _ = association.abort();
                        }
                        return Err(e);
                    }
                }
            }
            Pdu::ReleaseRQ => {
                // PS3.8 §7.2: answer A-RELEASE-RQ with A-RELEASE-RP.
                let _ = association.send(&Pdu::ReleaseRP);
                return Ok(summary);
            }
            Pdu::AbortRQ { .. } => return Ok(summary),
            _ => {
                let _ = association.abort();
                return Err(AssociationError::Protocol("unexpected PDU"));
            }
        }
    }
}

/// A message whose last fragment just arrived, ready to be answered.
type Complete = (Command, u8, Option<DataSetOutcome>);

fn on_value<S>(
    association: &mut ServerAssociation<S>,
    phase: &mut Phase,
    value: PDataValue,
    max_header_bytes: usize,
) -> Result<Option<Complete>, AssociationError>
where
    S: Read + Write + CloseSocket,
{
    let PDataValue {
        presentation_context_id: context,
        value_type,
        is_last,
        data,
    } = value;
    match (std::mem::replace(phase, Phase::Idle), value_type) {
        (Phase::Idle, PDataValueType::Command) => {
            *phase = Phase::Command {
                context,
                bytes: Vec::new(),
            };
            on_command_fragment(association, phase, context, is_last, data, max_header_bytes)
        }
        (
            Phase::Command {
                context: expected,
                bytes,
            },
            PDataValueType::Command,
        ) if expected == context => {
            *phase = Phase::Command { context, bytes };
            on_command_fragment(association, phase, context, is_last, data, max_header_bytes)
        }
        (
            Phase::DataSet {
                context: expected,
                command,
                mut buffer,
            },
            PDataValueType::Data,
        ) if expected == context => {
            buffer.push(&data);
            if is_last {
                let ts = transfer_syntax_of(association, context)
                    .ok_or(AssociationError::Protocol("unknown presentation context"))?;
                Ok(Some((command, context, Some(buffer.finish(&ts)))))
            } else {
                *phase = Phase::DataSet {
                    context,
                    command,
                    buffer,
                };
                Ok(None)
            }
        }
        (Phase::Idle, PDataValueType::Data) => Err(AssociationError::Protocol(
            "a data set came without a command",
        )),
        _ => Err(AssociationError::Protocol(
            "fragments of two messages were interleaved",
        )),
    }
}

fn on_command_fragment<S>(
    association: &mut ServerAssociation<S>,
    phase: &mut Phase,
    context: u8,
    is_last: bool,
    data: Vec<u8>,
    max_header_bytes: usize,
) -> Result<Option<Complete>, AssociationError>
where
    S: Read + Write + CloseSocket,
{
    let Phase::Command { bytes, .. } = phase else {
        return Err(AssociationError::Protocol("command state lost"));
    };
    bytes.extend_from_slice(&data);
    if bytes.len() > MAX_COMMAND_BYTES {
        return Err(AssociationError::Protocol("the command set is too large"));
    }
    if !is_last {
        return Ok(None);
    }
    let bytes = std::mem::take(bytes);
    let command = Command::parse(&bytes)
        .map_err(|_| AssociationError::Protocol("the command set cannot be read"))?;
    if command.has_data_set {
        let ts = transfer_syntax_of(association, context)
            .ok_or(AssociationError::Protocol("unknown presentation context"))?;
        *phase = Phase::DataSet {
            context,
            command,
            buffer: DataSetBuffer::new(&ts, max_header_bytes),
        };
        Ok(None)
    } else {
        *phase = Phase::Idle;
        Ok(Some((command, context, None)))
    }
}

/// The transfer syntax accepted for a presentation context.
fn transfer_syntax_of<S>(association: &ServerAssociation<S>, context: u8) -> Option<String>
where
    S: Read + Write + CloseSocket,
{
    association
        .presentation_contexts()
        .iter()
        .find(|pc| {
            pc.id == context
                && pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance
        })
        .map(|pc| pc.transfer_syntax.trim_end_matches(['\0', ' ']).to_owned())
}

fn answer<S>(
    association: &mut ServerAssociation<S>,
    sink: &dyn InstanceSink,
    calling: &str,
    command: Command,
    context: u8,
    data_set: Option<DataSetOutcome>,
    summary: &mut AssociationSummary,
) -> Result<(), AssociationError>
where
    S: Read + Write + CloseSocket,
{
    let status = match (command.field, data_set) {
        (command_field::C_ECHO_RQ, None) => {
            summary.echoes += 1;
            Status::Success
        }
        (command_field::C_STORE_RQ, Some(outcome)) => {
            let status = store(sink, calling, &command, outcome);
            if status == Status::Success {
                summary.stored += 1;
            } else {
                summary.failed += 1;
                tracing::warn!(status = format!("{:04X}", status.code()), "C-STORE refused");
            }
            status
        }
        // C-CANCEL is never answered (PS3.7 §9.3.2.3), nor are responses.
        (command_field::C_CANCEL_RQ, _) => return Ok(()),
        (field, _) if field & command_field::RESPONSE_BIT != 0 => return Ok(()),
        _ => Status::UnrecognizedOperation,
    };
    let bytes = dimse::response(&command, status);
    association
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: context,
                value_type: PDataValueType::Command,
                is_last: true,
                data: bytes,
            }],
        })
        .map_err(AssociationError::UpperLayer)
}

fn store(
    sink: &dyn InstanceSink,
    calling: &str,
    command: &Command,
    outcome: DataSetOutcome,
) -> Status {
    let header = match outcome {
        DataSetOutcome::Header(header) => header,
        DataSetOutcome::TooLarge => return Status::OutOfResources,
        DataSetOutcome::Unparsable => return Status::CannotUnderstand,
    };
    let from_data_set = |tag| {
        header
            .element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
            .filter(|s| !s.is_empty())
    };
    let Some(sop_instance_uid) = command
        .affected_sop_instance
        .clone()
        .or_else(|| from_data_set(tags::SOP_INSTANCE_UID))
    else {
        return Status::DataSetDoesNotMatchSopClass;
    };
    let sop_class_uid = command
        .affected_sop_class
        .clone()
        .or_else(|| from_data_set(tags::SOP_CLASS_UID))
        .unwrap_or_default();
    let instance = ReceivedInstance {
        sop_class_uid,
        sop_instance_uid,
        calling_ae_title: calling.to_owned(),
        header,
    };
    match sink.instance_received(instance) {
        Ok(()) => Status::Success,
        Err(InstanceRefused::MissingAttribute(_)) => Status::DataSetDoesNotMatchSopClass,
        Err(InstanceRefused::OutOfResources) => Status::OutOfResources,
    }
}
