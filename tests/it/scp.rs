//! The C-STORE receiver, black-box: real associations over TCP on
//! 127.0.0.1:0, sent with dicom-ul's client side; the series tracker with an
//! injected clock; the outbox across restarts.
//!
//! The forwarder used here records what it is given in memory: it stands
//! for the HTTPS client, which is wired by the `listen` command.

// Helpers outside #[test] functions unwrap too: a failure is the point, and
// clippy.toml's test allowance covers only the test functions themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use dicom_ul::ClientAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use serde_json::{Value, json};

use phivault::scp::delivery::{
    ForwardError, ForwardOutcome, Forwarder, RetryPolicy, deliver_pending, run_delivery,
};
use phivault::scp::listener::{Listener, ListenerConfig, RecordNotBuilt, SeriesRecordBuilder};
use phivault::scp::outbox::Outbox;
use phivault::scp::quiet_period::{CompletedSeries, SeriesTracker, TrackerConfig, TrackingSink};
use phivault::scp::server::{ScpConfig, ScpServer};
use phivault::scp::{AeTitle, InstanceRefused, InstanceSink, ReceivedInstance};

pub(crate) const AE: &str = "PHIVAULT";

// ---------------------------------------------------------------- helpers

/// One CT instance with a small pixel data element.
pub(crate) fn instance(patient: &str, study: &str, series: &str, sop: &str) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
        ),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(sop)),
        DataElement::new(tags::STUDY_DATE, VR::DA, PrimitiveValue::from("20240102")),
        DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("CT")),
        DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from(format!("{patient}^Test")),
        ),
        DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from(patient)),
        DataElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(study),
        ),
        DataElement::new(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(series),
        ),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(4_u16)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(4_u16)),
        DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16_u16)),
        DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(vec![0x0F0F_u16; 16].into()),
        ),
    ])
}

pub(crate) fn encode(obj: &InMemDicomObject, ts_uid: &str) -> Vec<u8> {
    let ts = TransferSyntaxRegistry
        .get(ts_uid)
        .expect("known transfer syntax");
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, ts).expect("encode");
    out
}

fn command(elements: Vec<DataElement<InMemDicomObject>>) -> Vec<u8> {
    let obj = InMemDicomObject::command_from_element_iter(elements);
    encode(&obj, uids::IMPLICIT_VR_LITTLE_ENDIAN)
}

fn store_rq(message_id: u16, sop: &str) -> Vec<u8> {
    command(vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
        ),
        DataElement::new(
            tags::COMMAND_FIELD,
            VR::US,
            PrimitiveValue::from(0x0001_u16),
        ),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
        DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0_u16)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0x0000_u16),
        ),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop),
        ),
    ])
}

fn echo_rq(message_id: u16) -> Vec<u8> {
    command(vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::VERIFICATION),
        ),
        DataElement::new(
            tags::COMMAND_FIELD,
            VR::US,
            PrimitiveValue::from(0x0030_u16),
        ),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0x0101_u16),
        ),
    ])
}

/// Reads one response command set; returns (Command Field, Status).
fn read_response(pdu: Pdu) -> (u16, u16) {
    let Pdu::PData { data } = pdu else {
        panic!("expected P-DATA, got {pdu:?}");
    };
    let bytes: Vec<u8> = data.into_iter().flat_map(|v| v.data).collect();
    let ts = TransferSyntaxRegistry
        .get(uids::IMPLICIT_VR_LITTLE_ENDIAN)
        .unwrap();
    let obj = InMemDicomObject::read_dataset_with_ts(bytes.as_slice(), ts).unwrap();
    let int = |t| obj.element(t).unwrap().to_int::<u16>().unwrap();
    (int(tags::COMMAND_FIELD), int(tags::STATUS))
}

/// An SCU association proposing CT storage in `ts` (and Verification).
fn associate(
    addr: SocketAddr,
    called: &str,
    ts: &str,
) -> Result<dicom_ul::ClientAssociation<std::net::TcpStream>, dicom_ul::association::Error> {
    ClientAssociationOptions::new()
        .calling_ae_title("TEST-SCU")
        .called_ae_title(called)
        .max_pdu_length(16_384)
        .with_presentation_context(uids::CT_IMAGE_STORAGE, vec![ts])
        .with_presentation_context(uids::VERIFICATION, vec![uids::IMPLICIT_VR_LITTLE_ENDIAN])
        .establish(addr)
}

fn context_id(assoc: &dicom_ul::ClientAssociation<std::net::TcpStream>, class: &str) -> u8 {
    assoc
        .presentation_contexts()
        .iter()
        .find(|pc| {
            pc.abstract_syntax.trim_end_matches('\0') == class
                && pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance
        })
        .map(|pc| pc.id)
        .expect("context accepted")
}

/// Sends C-STORE-RQs for raw data sets; returns each status.
pub(crate) fn store_raw(addr: SocketAddr, ts: &str, sets: &[(String, Vec<u8>)]) -> Vec<u16> {
    let mut assoc = associate(addr, AE, ts).expect("association");
    let pc = context_id(&assoc, uids::CT_IMAGE_STORAGE);
    let mut statuses = Vec::new();
    for (i, (sop, bytes)) in sets.iter().enumerate() {
        assoc
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: store_rq(u16::try_from(i + 1).unwrap(), sop),
                }],
            })
            .unwrap();
        {
            // Split into as many P-DATA-TF PDUs as the peer's maximum asks.
            let mut writer = assoc.send_pdata(pc);
            std::io::Write::write_all(&mut writer, bytes).unwrap();
            writer.finish().unwrap();
        }
        let (field, status) = read_response(assoc.receive().unwrap());
        assert_eq!(field, 0x8001, "C-STORE-RSP");
        statuses.push(status);
    }
    assoc.release().unwrap();
    statuses
}

pub(crate) fn store(addr: SocketAddr, ts: &str, objects: &[InMemDicomObject]) -> Vec<u16> {
    let sets: Vec<(String, Vec<u8>)> = objects
        .iter()
        .map(|o| {
            let sop = o
                .element(tags::SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            (sop, encode(o, ts))
        })
        .collect();
    store_raw(addr, ts, &sets)
}

/// Keeps every instance it is given.
#[derive(Default)]
struct Recorder(Mutex<Vec<ReceivedInstance>>);

impl InstanceSink for Recorder {
    fn instance_received(&self, instance: ReceivedInstance) -> Result<(), InstanceRefused> {
        self.0.lock().unwrap().push(instance);
        Ok(())
    }
}

fn start(sink: Arc<dyn InstanceSink>, tweak: impl FnOnce(&mut ScpConfig)) -> ScpServer {
    let mut config = ScpConfig::new(AeTitle::parse(AE).unwrap());
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    ScpServer::start(listener, config, sink).unwrap()
}

pub(crate) fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

/// Waits (without asserting on time) until `done` holds, for at most 20 s.
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------ the network

#[test]
fn c_echo_is_answered_with_success() {
    let server = start(Arc::new(Recorder::default()), |_| {});
    let mut assoc = associate(server.local_addr(), AE, uids::EXPLICIT_VR_LITTLE_ENDIAN).unwrap();
    let pc = context_id(&assoc, uids::VERIFICATION);
    for id in 1..=2 {
        assoc
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: echo_rq(id),
                }],
            })
            .unwrap();
        assert_eq!(read_response(assoc.receive().unwrap()), (0x8030, 0x0000));
    }
    assoc.release().unwrap();
    server.shutdown();
}

#[test]
fn two_concurrent_associations_store_two_series_headers_only() {
    let recorder = Arc::new(Recorder::default());
    let server = start(recorder.clone(), |_| {});
    let addr = server.local_addr();
    let series_a: Vec<_> = (1..=3)
        .map(|i| {
            instance(
                "PAT-A",
                "1.2.826.0.1.1",
                "1.2.826.0.1.1.1",
                &format!("1.2.826.0.1.1.1.{i}"),
            )
        })
        .collect();
    let mut series_b: Vec<_> = (1..=4)
        .map(|i| {
            instance(
                "PAT-B",
                "1.2.826.0.1.2",
                "1.2.826.0.1.2.1",
                &format!("1.2.826.0.1.2.1.{i}"),
            )
        })
        .collect();
    // One instance with pixel data far larger than a PDU (about 1 MiB,
    // 64+ fragments), to show that it is dropped as it streams in.
    series_b[0].put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(vec![0xABCD_u16; 512 * 1024].into()),
    ));
    let a = std::thread::spawn(move || store(addr, uids::EXPLICIT_VR_LITTLE_ENDIAN, &series_a));
    let b = std::thread::spawn(move || store(addr, uids::IMPLICIT_VR_LITTLE_ENDIAN, &series_b));
    assert_eq!(a.join().unwrap(), vec![0; 3]);
    assert_eq!(b.join().unwrap(), vec![0; 4]);
    server.shutdown();

    let received = recorder.0.lock().unwrap();
    assert_eq!(received.len(), 7);
    let mut per_series: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for inst in received.iter() {
        let h = &inst.header;
        assert!(
            h.element_opt(tags::PIXEL_DATA).unwrap().is_none(),
            "pixel data kept"
        );
        assert_eq!(inst.sop_class_uid, uids::CT_IMAGE_STORAGE);
        assert_eq!(inst.calling_ae_title, "TEST-SCU");
        assert_eq!(inst.sop_instance_uid, text(h, tags::SOP_INSTANCE_UID));
        let patient = text(h, tags::PATIENT_ID);
        assert_eq!(text(h, tags::PATIENT_NAME), format!("{patient}^Test"));
        assert_eq!(text(h, tags::MODALITY), "CT");
        assert_eq!(h.element(tags::ROWS).unwrap().to_int::<u16>().unwrap(), 4);
        per_series
            .entry(text(h, tags::SERIES_INSTANCE_UID))
            .or_default()
            .push(patient);
    }
    assert_eq!(per_series["1.2.826.0.1.1.1"], vec!["PAT-A"; 3]);
    assert_eq!(per_series["1.2.826.0.1.2.1"], vec!["PAT-B"; 4]);
}

#[test]
#[allow(deprecated)] // Explicit VR Big Endian is retired but still sent.
fn big_endian_and_encapsulated_syntaxes_are_accepted() {
    let recorder = Arc::new(Recorder::default());
    let server = start(recorder.clone(), |_| {});
    let obj = instance("PAT-C", "1.2.3", "1.2.3.4", "1.2.3.4.5");
    assert_eq!(
        store(server.local_addr(), uids::EXPLICIT_VR_BIG_ENDIAN, &[obj]),
        vec![0]
    );
    // JPEG baseline: the data set is explicit VR little endian and the pixel
    // data encapsulated; the receiver never decodes it.
    let mut jpeg = instance("PAT-C", "1.2.3", "1.2.3.4", "1.2.3.4.6");
    jpeg.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        dicom_core::value::Value::from(dicom_core::value::PixelFragmentSequence::new(
            Vec::<u32>::new(),
            vec![vec![0xFF_u8, 0xD8, 0xFF, 0xD9]],
        )),
    ));
    assert_eq!(
        store(server.local_addr(), uids::JPEG_BASELINE8_BIT, &[jpeg]),
        vec![0]
    );
    server.shutdown();
    let received = recorder.0.lock().unwrap();
    assert_eq!(received.len(), 2);
    for inst in received.iter() {
        assert_eq!(text(&inst.header, tags::PATIENT_ID), "PAT-C");
        assert!(inst.header.element_opt(tags::PIXEL_DATA).unwrap().is_none());
    }
}

#[test]
fn unreadable_or_incomplete_data_sets_get_error_statuses() {
    let tracker = Arc::new(SeriesTracker::new(TrackerConfig::new(Duration::from_secs(
        5,
    ))));
    let sink = TrackingSink::new(tracker.clone(), |i: ReceivedInstance| i.sop_instance_uid);
    let server = start(Arc::new(sink), |_| {});
    let mut no_series = instance("PAT-D", "1.2.3", "1.2.3.9", "1.2.3.9.1");
    no_series.remove_element(tags::SERIES_INSTANCE_UID);
    let garbage = vec![0x08, 0x00, 0x20, 0x00, b'x', b'y', 0x02, 0x00, 0x41, 0x42];
    let statuses = store_raw(
        server.local_addr(),
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        &[
            ("1.2.3.9.9".into(), garbage),
            (
                "1.2.3.9.1".into(),
                encode(&no_series, uids::EXPLICIT_VR_LITTLE_ENDIAN),
            ),
            (
                "1.2.3.9.2".into(),
                encode(
                    &instance("PAT-D", "1.2.3", "1.2.3.9", "1.2.3.9.2"),
                    uids::EXPLICIT_VR_LITTLE_ENDIAN,
                ),
            ),
        ],
    );
    server.shutdown();
    // C000 cannot understand; A900 data set does not match SOP class
    // (SeriesInstanceUID missing); then the association still works.
    assert_eq!(statuses, vec![0xC000, 0xA900, 0x0000]);
    assert_eq!(tracker.collecting(), 1);
}

#[test]
fn the_called_ae_title_is_checked_unless_any_is_accepted() {
    let server = start(Arc::new(Recorder::default()), |_| {});
    let refused = associate(
        server.local_addr(),
        "SOMEONE-ELSE",
        uids::IMPLICIT_VR_LITTLE_ENDIAN,
    );
    assert!(
        matches!(refused, Err(dicom_ul::association::Error::Rejected { .. })),
        "{refused:?}"
    );
    associate(server.local_addr(), AE, uids::IMPLICIT_VR_LITTLE_ENDIAN)
        .unwrap()
        .release()
        .unwrap();
    server.shutdown();

    let any = start(Arc::new(Recorder::default()), |c| {
        c.accept_any_called_ae = true
    });
    associate(
        any.local_addr(),
        "SOMEONE-ELSE",
        uids::IMPLICIT_VR_LITTLE_ENDIAN,
    )
    .unwrap()
    .release()
    .unwrap();
    any.shutdown();
}

#[test]
fn associations_beyond_the_limit_are_rejected_as_transient() {
    let server = start(Arc::new(Recorder::default()), |c| c.max_associations = 1);
    let first = associate(server.local_addr(), AE, uids::IMPLICIT_VR_LITTLE_ENDIAN).unwrap();
    wait_until("the first association to be served", || {
        server.active_associations() == 1
    });
    match associate(server.local_addr(), AE, uids::IMPLICIT_VR_LITTLE_ENDIAN) {
        Err(dicom_ul::association::Error::Rejected { association_rj, .. }) => {
            assert_eq!(
                association_rj.result,
                dicom_ul::pdu::AssociationRJResult::Transient
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    first.release().unwrap();
    wait_until("the first association to end", || {
        server.active_associations() == 0
    });
    associate(server.local_addr(), AE, uids::IMPLICIT_VR_LITTLE_ENDIAN)
        .unwrap()
        .release()
        .unwrap();
    server.shutdown();
}

// ---------------------------------------------------------- quiet period

#[test]
fn series_are_emitted_once_after_the_quiet_period_and_again_when_updated() {
    let quiet = Duration::from_secs(5);
    let tracker = SeriesTracker::new(TrackerConfig::new(quiet));
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    tracker.add("S-A", "A1", "a1", at(0)).unwrap();
    tracker.add("S-B", "B1", "b1", at(0)).unwrap();
    tracker.add("S-A", "A2", "a2", at(2)).unwrap();

    let first = tracker.due(at(5));
    assert_eq!(first.len(), 1, "only S-B has been quiet for 5 s");
    assert_eq!(first[0].series_instance_uid, "S-B");
    let second = tracker.due(at(7));
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].series_instance_uid, "S-A");
    assert_eq!(second[0].items.len(), 2);
    assert_eq!(second[0].emission, 1);
    assert!(tracker.due(at(100)).is_empty(), "emitted once");

    // A late instance of S-A: collected again, re-emitted with all three.
    tracker.add("S-A", "A3", "a3", at(200)).unwrap();
    assert!(tracker.due(at(204)).is_empty());
    let updated = tracker.due(at(205));
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].emission, 2);
    let items: Vec<&str> = updated[0].items.iter().map(|i| **i).collect();
    assert_eq!(items, vec!["a1", "a2", "a3"]);
}

// ---------------------------------------------------------------- outbox

/// Stands for the HTTPS client: answers from a script, records what it got.
struct ScriptedForwarder {
    /// Answers to give, in order; once exhausted, success (201).
    script: Mutex<Vec<Result<ForwardOutcome, ForwardError>>>,
    received: Mutex<Vec<Value>>,
    calls: AtomicUsize,
}

impl ScriptedForwarder {
    fn new(script: Vec<Result<ForwardOutcome, ForwardError>>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.into_iter().rev().collect()),
            received: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
        })
    }
}

impl Forwarder for ScriptedForwarder {
    async fn forward(&self, record: &Value) -> Result<ForwardOutcome, ForwardError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop()
            .unwrap_or(Ok(ForwardOutcome { status: 201 }));
        if answer.is_ok() {
            self.received.lock().unwrap().push(record.clone());
        }
        answer
    }
}

fn transient() -> Result<ForwardOutcome, ForwardError> {
    Err(ForwardError::Transient {
        reason: "connection refused".into(),
        retry_after: None,
    })
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_outbox_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("outbox");
    {
        let outbox = Outbox::open(&dir).unwrap();
        outbox
            .enqueue(
                "S1",
                &json!({"SeriesInstanceUID": "S1", "InstancesInSeries": 3}),
            )
            .unwrap();
        // Dropped without delivery: the process "stops" here.
    }
    let outbox = Outbox::open(&dir).unwrap();
    assert_eq!(outbox.pending_count(), 1);
    let forwarder = ScriptedForwarder::new(vec![]);
    let report = runtime()
        .block_on(deliver_pending(&outbox, &forwarder))
        .unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(
        forwarder.received.lock().unwrap().as_slice(),
        &[json!({"SeriesInstanceUID": "S1", "InstancesInSeries": 3})]
    );
    assert_eq!(outbox.pending_count(), 0);
    assert_eq!(files_in(&dir), vec!["rejected"]);
    assert_eq!(Outbox::open(&dir).unwrap().pending_count(), 0);
}

#[test]
fn a_permanently_refused_record_moves_to_rejected_with_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&tmp.path().join("outbox")).unwrap();
    let bad = outbox
        .enqueue("S1", &json!({"SeriesInstanceUID": "S1"}))
        .unwrap();
    outbox
        .enqueue("S2", &json!({"SeriesInstanceUID": "S2"}))
        .unwrap();
    let problem = json!({"type": "about:blank", "title": "invalid record", "status": 422});
    let forwarder = ScriptedForwarder::new(vec![Err(ForwardError::Permanent {
        status: 422,
        problem: problem.clone(),
    })]);
    let report = runtime()
        .block_on(deliver_pending(&outbox, &forwarder))
        .unwrap();
    assert_eq!(
        (report.rejected, report.sent),
        (1, 1),
        "the next record still goes"
    );
    assert_eq!(outbox.pending_count(), 0);
    let rejected = outbox.rejected_dir();
    let names = files_in(rejected);
    assert_eq!(names.len(), 2, "{names:?}");
    let kept: Value =
        serde_json::from_slice(&std::fs::read(rejected.join(&names[0])).unwrap()).unwrap();
    assert_eq!(kept["record"]["SeriesInstanceUID"], "S1");
    let answer: Value =
        serde_json::from_slice(&std::fs::read(rejected.join(&names[1])).unwrap()).unwrap();
    assert_eq!(answer, json!({"status": 422, "problem": problem}));
    assert!(
        names[0].starts_with(&format!("{:020}", 0)),
        "{bad:?} {names:?}"
    );
    assert_eq!(outbox.rejected_count().unwrap(), 1);
}

#[test]
fn transient_failures_are_retried_until_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Outbox::open(&tmp.path().join("outbox")).unwrap());
    outbox.enqueue("S1", &json!({"n": 1})).unwrap();
    outbox.enqueue("S2", &json!({"n": 2})).unwrap();
    let forwarder = ScriptedForwarder::new(vec![transient(), transient(), transient()]);
    let rt = runtime();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(run_delivery(
        Arc::clone(&outbox),
        Arc::clone(&forwarder),
        RetryPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(20),
        },
        async move {
            let _ = stopped.await;
        },
    ));
    wait_until("both records to be delivered", || {
        outbox.pending_count() == 0
    });
    stop.send(()).unwrap();
    rt.block_on(task).unwrap();
    assert_eq!(
        forwarder.calls.load(Ordering::SeqCst),
        5,
        "3 failures, 2 successes"
    );
    assert_eq!(
        forwarder.received.lock().unwrap().as_slice(),
        &[json!({"n": 1}), json!({"n": 2})],
        "order kept"
    );
}

// ------------------------------------------------------ the whole pipeline

/// A stand-in record: the series and its instance count.
struct CountingBuilder;

impl SeriesRecordBuilder for CountingBuilder {
    fn build(&self, series: &CompletedSeries<InMemDicomObject>) -> Result<Value, RecordNotBuilt> {
        let patient = text(&series.items[0], tags::PATIENT_ID);
        Ok(json!({
            "SeriesInstanceUID": series.series_instance_uid,
            "PatientID": patient,
            "InstancesInSeries": series.items.len(),
        }))
    }
}

fn listener_config(outbox: &Path, quiet: Duration) -> ListenerConfig {
    ListenerConfig {
        scp: ScpConfig::new(AeTitle::parse(AE).unwrap()),
        tracker: TrackerConfig::new(quiet),
        outbox_dir: outbox.to_owned(),
        retry: RetryPolicy {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(50),
        },
    }
}

fn counts(forwarder: &ScriptedForwarder) -> Vec<(String, u64)> {
    forwarder
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["SeriesInstanceUID"].as_str().unwrap().to_string(),
                r["InstancesInSeries"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn listen_forwards_one_record_per_series_then_the_updated_one() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = runtime();
    // The server is down at first: two transient failures.
    let forwarder = ScriptedForwarder::new(vec![transient(), transient()]);
    let listener = Listener::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        listener_config(&tmp.path().join("outbox"), Duration::from_millis(300)),
        CountingBuilder,
        Arc::clone(&forwarder),
        rt.handle(),
    )
    .unwrap();
    let addr = listener.local_addr();
    let a: Vec<_> = (1..=3)
        .map(|i| instance("PAT-A", "1.2.9.1", "1.2.9.1.1", &format!("1.2.9.1.1.{i}")))
        .collect();
    let b: Vec<_> = (1..=2)
        .map(|i| instance("PAT-B", "1.2.9.2", "1.2.9.2.1", &format!("1.2.9.2.1.{i}")))
        .collect();
    let ta = std::thread::spawn(move || store(addr, uids::EXPLICIT_VR_LITTLE_ENDIAN, &a));
    let tb = std::thread::spawn(move || store(addr, uids::IMPLICIT_VR_LITTLE_ENDIAN, &b));
    assert_eq!(ta.join().unwrap(), vec![0; 3]);
    assert_eq!(tb.join().unwrap(), vec![0; 2]);

    wait_until("both series to be forwarded", || {
        forwarder.received.lock().unwrap().len() == 2
    });
    let mut got = counts(&forwarder);
    got.sort();
    assert_eq!(got, vec![("1.2.9.1.1".into(), 3), ("1.2.9.2.1".into(), 2)]);

    // A late instance of series A: the record is sent again, with 4.
    let late = instance("PAT-A", "1.2.9.1", "1.2.9.1.1", "1.2.9.1.1.4");
    assert_eq!(
        store(addr, uids::EXPLICIT_VR_LITTLE_ENDIAN, &[late]),
        vec![0]
    );
    wait_until("the updated series", || {
        forwarder.received.lock().unwrap().len() == 3
    });
    assert_eq!(counts(&forwarder)[2], ("1.2.9.1.1".into(), 4));

    rt.block_on(listener.shutdown()).unwrap();
    assert_eq!(files_in(&tmp.path().join("outbox")), vec!["rejected"]);
}

#[test]
fn shutdown_keeps_collecting_series_in_the_outbox_for_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let outbox_dir = tmp.path().join("outbox");
    let rt = runtime();
    // The server stays down for the whole first run.
    let down = ScriptedForwarder::new(vec![transient(); 10_000]);
    let listener = Listener::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        // A quiet period longer than the test: only shutdown emits.
        listener_config(&outbox_dir, Duration::from_secs(3600)),
        CountingBuilder,
        Arc::clone(&down),
        rt.handle(),
    )
    .unwrap();
    let objects: Vec<_> = (1..=2)
        .map(|i| instance("PAT-E", "1.2.7", "1.2.7.1", &format!("1.2.7.1.{i}")))
        .collect();
    assert_eq!(
        store(
            listener.local_addr(),
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            &objects
        ),
        vec![0, 0]
    );
    assert_eq!(listener.collecting(), 1);
    rt.block_on(listener.shutdown()).unwrap();
    assert!(down.received.lock().unwrap().is_empty());
    assert_eq!(Outbox::open(&outbox_dir).unwrap().pending_count(), 1);

    // Next start, server up: the pending record is delivered.
    let up = ScriptedForwarder::new(vec![]);
    let listener = Listener::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        listener_config(&outbox_dir, Duration::from_secs(3600)),
        CountingBuilder,
        Arc::clone(&up),
        rt.handle(),
    )
    .unwrap();
    wait_until("the resumed delivery", || {
        up.received.lock().unwrap().len() == 1
    });
    assert_eq!(counts(&up), vec![("1.2.7.1".into(), 2)]);
    rt.block_on(listener.shutdown()).unwrap();
}

// ------------------------------------------------- interop with dcmtk

/// Writes `objects` as DICOM Part 10 files into `dir`.
pub(crate) fn write_files(dir: &Path, objects: &[InMemDicomObject]) -> Vec<std::path::PathBuf> {
    objects
        .iter()
        .map(|o| {
            let sop = text(o, tags::SOP_INSTANCE_UID);
            let meta = dicom_object::FileMetaTableBuilder::new()
                .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(sop.as_str())
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .build()
                .unwrap();
            let path = dir.join(format!("{sop}.dcm"));
            o.clone()
                .with_exact_meta(meta)
                .write_to_file(&path)
                .unwrap();
            path
        })
        .collect()
}

pub(crate) fn run_tool(tool: &str, args: &[String]) -> std::process::Output {
    let out = std::process::Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} not runnable ({e}); run .ci/dicom-deps.sh"));
    assert!(
        out.status.success(),
        "{tool} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
#[ignore = "needs Debian's dcmtk (echoscu, storescu): .ci/dicom-deps.sh"]
fn dcmtk_echoscu_and_storescu_interoperate() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = runtime();
    let forwarder = ScriptedForwarder::new(vec![]);
    let listener = Listener::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        listener_config(&tmp.path().join("outbox"), Duration::from_millis(500)),
        CountingBuilder,
        Arc::clone(&forwarder),
        rt.handle(),
    )
    .unwrap();
    let port = listener.local_addr().port().to_string();
    run_tool(
        "echoscu",
        &["-aec".into(), AE.into(), "127.0.0.1".into(), port.clone()],
    );

    let files_dir = tmp.path().join("files");
    std::fs::create_dir(&files_dir).unwrap();
    let mut objects: Vec<_> = (1..=3)
        .map(|i| instance("PAT-F", "1.2.5", "1.2.5.1", &format!("1.2.5.1.{i}")))
        .collect();
    objects.extend((1..=2).map(|i| instance("PAT-G", "1.2.6", "1.2.6.1", &format!("1.2.6.1.{i}"))));
    let files = write_files(&files_dir, &objects);
    // Series F as explicit VR little endian (storescu's default), series G
    // re-encoded by storescu as deflated (-xd), then series F again as big
    // endian (-xb): a resend that replaces instances, not adds to them.
    let send = |extra: &[&str], files: &[std::path::PathBuf]| {
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.extend(["-aec".into(), AE.into(), "127.0.0.1".into(), port.clone()]);
        args.extend(files.iter().map(|f| f.display().to_string()));
        run_tool("storescu", &args)
    };
    // With -d, storescu prints the negotiation: every storage class it
    // proposes by default must be accepted.
    let out = send(&["-d"], &files[..3]);
    let log = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("(Accepted)"), "{log}");
    assert!(!log.contains("Abstract Syntax Not Supported"), "{log}");
    send(&["-xd"], &files[3..]);

    wait_until("both series from storescu", || {
        forwarder.received.lock().unwrap().len() == 2
    });
    let mut got = counts(&forwarder);
    got.sort();
    assert_eq!(got, vec![("1.2.5.1".into(), 3), ("1.2.6.1".into(), 2)]);

    send(&["-xb"], &files[..3]);
    wait_until("series F again", || {
        forwarder.received.lock().unwrap().len() == 3
    });
    assert_eq!(counts(&forwarder)[2], ("1.2.5.1".into(), 3));
    rt.block_on(listener.shutdown()).unwrap();
}

// ------------------------------------------------------------ the command

#[test]
fn listen_refuses_a_bad_ae_title_with_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_phivault"))
        .args(["--data-dir", &tmp.path().display().to_string()])
        .args([
            "listen",
            "--port",
            "0",
            "--ae-title",
            "A\\B",
            "--server",
            "https://localhost:8443",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--ae-title"), "{stderr}");
    assert!(out.stdout.is_empty());
}
