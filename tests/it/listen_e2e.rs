//! `listen` end to end: DICOM instances sent over C-STORE (dicom-ul's SCU,
//! and dcmtk's storescu in the ignored interop tests) to the listener
//! wired as `phivault listen` wires it, forwarding over HTTPS to a real
//! phivault server; records read back as a reader. Also a server outage
//! (the outbox holds the record until the server is back) and the built
//! binary's graceful shutdown.

use std::io::BufRead;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dicom_dictionary_std::uids;
use dicom_object::InMemDicomObject;
use phivault::cli::listen::{ListenArgs, ListenSettings, start};
use phivault::domain::Role;
use phivault::scp::delivery::RetryPolicy;
use phivault::scp::listener::Listener;
use serde_json::Value;

use crate::client_e2e::{stored_records, value};
use crate::scp::{AE, instance, runtime, store, wait_until};
use crate::support::TestServer;

/// Settings as `phivault listen` would build them from its flags, with a
/// short quiet period and a short retry backoff for the test.
fn settings(server: &TestServer, port: u16, outbox: &Path, quiet: Duration) -> ListenSettings {
    let args = ListenArgs {
        port: 0,
        ae_title: AE.into(),
        accept_any_ae: false,
        server: format!("https://127.0.0.1:{port}"),
        ca: Some(server.data_dir().tls_cert()),
        allow_plain_http: false,
        token: Some(server.token(Role::Ingest, "listener-e2e").parse().unwrap()),
        quiet_period: quiet,
        outbox: Some(outbox.to_owned()),
        bind: "127.0.0.1".parse().unwrap(),
        max_associations: 4,
    };
    let mut s = ListenSettings::from_args(args, outbox).unwrap();
    s.listener.retry = RetryPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
    };
    s
}

fn start_listener(settings: ListenSettings, rt: &tokio::runtime::Runtime) -> Listener {
    start(
        settings,
        TcpListener::bind("127.0.0.1:0").unwrap(),
        rt.handle(),
    )
    .unwrap()
}

fn series(
    patient: &str,
    series: &str,
    range: std::ops::RangeInclusive<u32>,
) -> Vec<InMemDicomObject> {
    let study = series.rsplit_once('.').unwrap().0;
    range
        .map(|i| instance(patient, study, series, &format!("{series}.{i}")))
        .collect()
}

/// (PatientID, PatientName, InstancesInSeries, id) of every stored record.
fn summary_of(
    rt: &tokio::runtime::Runtime,
    server: &TestServer,
) -> Vec<(String, String, String, String, String)> {
    rt.block_on(stored_records(server))
        .into_iter()
        .map(|(series, view)| {
            (
                series,
                value(&view, "PatientID").to_owned(),
                value(&view, "PatientName").to_owned(),
                value(&view, "InstancesInSeries").to_owned(),
                view["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn counts(rows: &[(String, String, String, String, String)]) -> Vec<(&str, &str, &str, &str)> {
    rows.iter()
        .map(|(s, pid, name, n, _)| (s.as_str(), pid.as_str(), name.as_str(), n.as_str()))
        .collect()
}

#[test]
fn each_series_becomes_one_stored_record_and_a_late_instance_updates_it() {
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    let tmp = tempfile::tempdir().unwrap();
    let listener = start_listener(
        settings(
            &server,
            server.addr.port(),
            &tmp.path().join("outbox"),
            Duration::from_millis(300),
        ),
        &rt,
    );
    let addr = listener.local_addr();
    // Two associations at once, two patients, three series.
    let a = series("PAT-A", "1.2.9.1.1", 1..=3);
    let mut b = series("PAT-B", "1.2.9.2.1", 1..=2);
    b.extend(series("PAT-B", "1.2.9.2.2", 1..=1));
    let ta = std::thread::spawn(move || store(addr, uids::EXPLICIT_VR_LITTLE_ENDIAN, &a));
    let tb = std::thread::spawn(move || store(addr, uids::IMPLICIT_VR_LITTLE_ENDIAN, &b));
    assert_eq!(ta.join().unwrap(), vec![0; 3]);
    assert_eq!(tb.join().unwrap(), vec![0; 3]);

    wait_until("three records on the server", || {
        server.vault.store().record_count().unwrap() == 3 && listener.outbox().pending_count() == 0
    });
    let first = summary_of(&rt, &server);
    assert_eq!(
        counts(&first),
        vec![
            ("1.2.9.1.1", "PAT-A", "PAT-A^Test", "3"),
            ("1.2.9.2.1", "PAT-B", "PAT-B^Test", "2"),
            ("1.2.9.2.2", "PAT-B", "PAT-B^Test", "1"),
        ]
    );

    // A late instance of series A: the record is re-sent, same id, count 4.
    let late = series("PAT-A", "1.2.9.1.1", 4..=4);
    assert_eq!(store(addr, uids::EXPLICIT_VR_LITTLE_ENDIAN, &late), vec![0]);
    wait_until("the updated record", || {
        summary_of(&rt, &server)[0].3 == "4"
    });
    let second = summary_of(&rt, &server);
    assert_eq!(second[0].4, first[0].4, "same record id");
    assert_eq!(server.vault.store().record_count().unwrap(), 3);

    rt.block_on(listener.shutdown()).unwrap();
    // Delivered entries leave the outbox; nothing was rejected.
    let outbox = tmp.path().join("outbox");
    assert_eq!(crate::scp::files_in(&outbox), vec!["rejected"]);
    assert!(crate::scp::files_in(&outbox.join("rejected")).is_empty());
}

#[test]
fn a_series_sent_while_the_server_is_down_arrives_once_it_is_back() {
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    let tmp = tempfile::tempdir().unwrap();
    let outbox = tmp.path().join("outbox");
    let settings = settings(
        &server,
        server.addr.port(),
        &outbox,
        Duration::from_millis(300),
    );
    let (data, port) = rt.block_on(server.stop_keeping_data());
    let listener = start_listener(settings, &rt);

    let objects = series("PAT-C", "1.2.9.3.1", 1..=2);
    assert_eq!(
        store(
            listener.local_addr(),
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            &objects
        ),
        vec![0, 0]
    );
    // The series completes and waits in the outbox, on disk, private.
    wait_until("the record in the outbox", || {
        listener.outbox().pending_count() == 1 && listener.collecting() == 0
    });
    let pending: Vec<PathBuf> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(pending.len(), 1);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&outbox), mode(&pending[0])), (0o700, 0o600));

    let server = rt.block_on(TestServer::start_in(data, port));
    wait_until("delivery after the restart", || {
        server.vault.store().record_count().unwrap() == 1 && listener.outbox().pending_count() == 0
    });
    assert_eq!(
        counts(&summary_of(&rt, &server)),
        vec![("1.2.9.3.1", "PAT-C", "PAT-C^Test", "2")]
    );
    rt.block_on(listener.shutdown()).unwrap();
}

// ------------------------------------------------------- the binary

/// A running `phivault listen` and the address it announced.
struct ListenProcess {
    child: Child,
    addr: std::net::SocketAddr,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl ListenProcess {
    fn spawn(server: &TestServer, data_dir: &Path, quiet: &str) -> Self {
        let mut child = Command::new(crate::support::binary())
            .args(["--data-dir", &data_dir.display().to_string()])
            .args(["listen", "--port", "0", "--bind", "127.0.0.1"])
            .args(["--ae-title", AE, "--quiet-period", quiet])
            .args(["--server", &server.url("")])
            .args(["--ca", &server.data_dir().tls_cert().display().to_string()])
            .env("PHIVAULT_TOKEN", server.token(Role::Ingest, "listener-bin"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let announced: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let addr = announced["listening"].as_str().unwrap().parse().unwrap();
        Self {
            child,
            addr,
            stdout,
        }
    }

    /// SIGTERM, then the process's last line and exit status.
    fn terminate(mut self) -> (Value, std::process::ExitStatus) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        (serde_json::from_str(&line).unwrap_or(Value::Null), status)
    }
}

#[test]
fn the_listen_binary_forwards_and_on_sigterm_keeps_collecting_series_for_the_next_start() {
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    let tmp = tempfile::tempdir().unwrap();

    // A quiet period long enough that only SIGTERM ends the collection.
    let first = ListenProcess::spawn(&server, tmp.path(), "1h");
    assert_eq!(
        store(
            first.addr,
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            &series("PAT-D", "1.2.9.4.1", 1..=3)
        ),
        vec![0; 3]
    );
    let (stopped, status) = first.terminate();
    assert!(status.success(), "{status}");
    assert_eq!(stopped, serde_json::json!({"stopped": true, "pending": 1}));
    assert_eq!(server.vault.store().record_count().unwrap(), 0);

    // The next start delivers what was pending, and forwards new series.
    let second = ListenProcess::spawn(&server, tmp.path(), "300ms");
    wait_until("the pending record", || {
        server.vault.store().record_count().unwrap() == 1
    });
    assert_eq!(
        store(
            second.addr,
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            &series("PAT-E", "1.2.9.5.1", 1..=2)
        ),
        vec![0; 2]
    );
    wait_until("the new series", || {
        server.vault.store().record_count().unwrap() == 2
    });
    assert_eq!(
        counts(&summary_of(&rt, &server)),
        vec![
            ("1.2.9.4.1", "PAT-D", "PAT-D^Test", "3"),
            ("1.2.9.5.1", "PAT-E", "PAT-E^Test", "2"),
        ]
    );
    let (stopped, status) = second.terminate();
    assert!(status.success());
    assert_eq!(stopped, serde_json::json!({"stopped": true, "pending": 0}));
}

#[test]
fn listen_without_a_token_says_so_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(crate::support::binary())
        .args(["--data-dir", &tmp.path().display().to_string()])
        .args([
            "listen",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--ae-title",
            AE,
        ])
        .args(["--server", "https://127.0.0.1:1"])
        .env_remove("PHIVAULT_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bearer token"), "{stderr}");
    assert!(out.stdout.is_empty());
}

// ------------------------------------------------- interop with dcmtk

/// storescu sends `files` to the listener at `addr`.
fn storescu(addr: std::net::SocketAddr, extra: &[&str], files: &[PathBuf]) {
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.extend([
        "-aec".into(),
        AE.into(),
        addr.ip().to_string(),
        addr.port().to_string(),
    ]);
    args.extend(files.iter().map(|f| f.display().to_string()));
    crate::scp::run_tool("storescu", &args);
}

/// Pending entries in an outbox directory.
fn pending_in(outbox: &Path) -> usize {
    std::fs::read_dir(outbox)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
            })
            .count()
        })
        .unwrap_or(0)
}

#[test]
#[ignore = "needs Debian's dcmtk (echoscu, storescu): .ci/dicom-deps.sh"]
fn dcmtk_storescu_to_listen_to_server_one_record_per_series() {
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    let tmp = tempfile::tempdir().unwrap();
    let files_dir = tmp.path().join("files");
    std::fs::create_dir(&files_dir).unwrap();
    let listen = ListenProcess::spawn(&server, &tmp.path().join("data"), "500ms");
    crate::scp::run_tool(
        "echoscu",
        &[
            "-aec".into(),
            AE.into(),
            "127.0.0.1".into(),
            listen.addr.port().to_string(),
        ],
    );
    let mut objects = series("PAT-F", "1.2.5.1", 1..=3);
    objects.extend(series("PAT-G", "1.2.6.1", 1..=2));
    let files = crate::scp::write_files(&files_dir, &objects);
    storescu(listen.addr, &[], &files[..3]);
    storescu(listen.addr, &["-xd"], &files[3..]);
    wait_until("both series on the server", || {
        server.vault.store().record_count().unwrap() == 2
    });
    let first = summary_of(&rt, &server);
    assert_eq!(
        counts(&first),
        vec![
            ("1.2.5.1", "PAT-F", "PAT-F^Test", "3"),
            ("1.2.6.1", "PAT-G", "PAT-G^Test", "2"),
        ]
    );
    // Series F again, big endian: the same instances, so the same count;
    // then one more instance of F: the stored record grows, same id.
    storescu(listen.addr, &["-xb"], &files[..3]);
    let late = crate::scp::write_files(&files_dir, &series("PAT-F", "1.2.5.1", 4..=4));
    storescu(listen.addr, &[], &late);
    wait_until("series F with four instances", || {
        summary_of(&rt, &server)[0].3 == "4"
    });
    let after = summary_of(&rt, &server);
    assert_eq!(after[0].4, first[0].4);
    assert_eq!(after[1], first[1]);
    let (stopped, status) = listen.terminate();
    assert!(status.success());
    assert_eq!(stopped["pending"], 0);
}

#[test]
#[ignore = "needs Debian's dcmtk (echoscu, storescu): .ci/dicom-deps.sh"]
fn dcmtk_a_server_stopped_during_the_send_and_started_again_ends_with_every_record() {
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    let tmp = tempfile::tempdir().unwrap();
    let files_dir = tmp.path().join("files");
    std::fs::create_dir(&files_dir).unwrap();
    let data_dir = tmp.path().join("data");
    let listen = ListenProcess::spawn(&server, &data_dir, "300ms");
    let mut objects = series("PAT-H", "1.2.4.1", 1..=3);
    objects.extend(series("PAT-I", "1.2.4.2", 1..=2));
    objects.extend(series("PAT-J", "1.2.4.3", 1..=4));
    let files = crate::scp::write_files(&files_dir, &objects);

    // Series H while the server is up.
    storescu(listen.addr, &[], &files[..3]);
    wait_until("series H on the server", || {
        server.vault.store().record_count().unwrap() == 1
    });
    // The server stops; series I and J arrive meanwhile and wait in the
    // outbox (storescu is answered success: the listener holds them).
    let (data, port) = rt.block_on(server.stop_keeping_data());
    storescu(listen.addr, &[], &files[3..5]);
    storescu(listen.addr, &["-xi"], &files[5..]);
    wait_until("series I and J in the outbox", || {
        pending_in(&data_dir.join("outbox")) == 2
    });
    // Back up on the same port and data: every record arrives.
    let server = rt.block_on(TestServer::start_in(data, port));
    wait_until("every record on the server", || {
        server.vault.store().record_count().unwrap() == 3
            && pending_in(&data_dir.join("outbox")) == 0
    });
    assert_eq!(
        counts(&summary_of(&rt, &server)),
        vec![
            ("1.2.4.1", "PAT-H", "PAT-H^Test", "3"),
            ("1.2.4.2", "PAT-I", "PAT-I^Test", "2"),
            ("1.2.4.3", "PAT-J", "PAT-J^Test", "4"),
        ]
    );
    let (stopped, status) = listen.terminate();
    assert!(status.success());
    assert_eq!(stopped["pending"], 0);
}

// ------------------------------------------------- the forwarder alone

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forwarder_delivers_holds_on_a_refused_token_and_rejects_a_bad_record() {
    use phivault::client::{BearerToken, ForwarderOptions, HttpsForwarder};
    use phivault::scp::delivery::{ForwardError, Forwarder};

    let server = TestServer::start().await;
    let forwarder = |role: Role| {
        let mut o = ForwarderOptions::new(
            server.url("").parse().unwrap(),
            BearerToken::new(server.token(role, "fwd")),
        );
        o.ca_pem = Some(std::fs::read(server.data_dir().tls_cert()).unwrap());
        HttpsForwarder::new(o).unwrap()
    };
    let record = serde_json::json!({
        "SeriesInstanceUID": "1.2.9.6.1", "StudyInstanceUID": "1.2.9.6",
        "PatientID": "PAT-K", "PatientName": "Kay^K", "InstancesInSeries": 2
    });
    let ingest = forwarder(Role::Ingest);
    assert_eq!(ingest.forward(&record).await.unwrap().status, 201);
    assert_eq!(ingest.forward(&record).await.unwrap().status, 200);

    // A reader's token: held as transient (the token is wrong, not the
    // record), so the outbox keeps the record instead of rejecting it.
    let err = forwarder(Role::Reader).forward(&record).await.unwrap_err();
    assert!(
        matches!(&err, ForwardError::Transient { reason, .. } if reason.contains("403")),
        "{err:?}"
    );

    // A record the server refuses: permanent, with its problem document,
    // which names the field and carries no value.
    let mut bad = record.clone();
    bad["StudyDate"] = serde_json::json!("20230229");
    match ingest.forward(&bad).await.unwrap_err() {
        ForwardError::Permanent { status, problem } => {
            assert_eq!(status, 422);
            assert_eq!(problem["errors"][0]["pointer"], "/StudyDate", "{problem}");
            assert!(!problem.to_string().contains("PAT-K"));
        }
        other => panic!("{other:?}"),
    }

    // A certificate the forwarder does not trust: transient, nothing sent.
    let untrusting = HttpsForwarder::new(ForwarderOptions::new(
        server.url("").parse().unwrap(),
        BearerToken::new(server.token(Role::Ingest, "fwd")),
    ))
    .unwrap();
    let err = untrusting.forward(&record).await.unwrap_err();
    assert!(
        matches!(&err, ForwardError::Transient { reason, .. } if reason.contains("TLS")),
        "{err:?}"
    );
    assert_eq!(server.vault.store().record_count().unwrap(), 1);
}

#[test]
fn listen_help_says_the_outbox_is_plaintext_phi() {
    let out = Command::new(crate::support::binary())
        .args(["listen", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "PLAINTEXT",
        "0700",
        "0600",
        "--quiet-period",
        "PHIVAULT_TOKEN",
        "rejected/",
    ] {
        assert!(help.contains(needle), "{needle} missing from listen --help");
    }
}
