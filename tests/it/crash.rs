//! Durable acks under `kill -9`: the built binary serves concurrent ingest
//! and is killed with SIGKILL at a pseudo-random moment, 20 times on one
//! data directory. After each kill every acknowledged record is present and
//! opens, the audit chain verifies, and a record whose POST got no answer is
//! either whole (opens, right values) or absent.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use phivault::audit::{AuditAction, AuditEntry, verify_chain};
use phivault::domain::{Actor, PatientId, RecordField, Role};
use phivault::http::{self, JwtSecret};
use phivault::policy::PolicySet;
use phivault::store::RecordId;
use phivault::vault::Vault;
use serde_json::{Value, json};

use crate::support::{binary, client_trusting, now};

/// The built binary serving a data directory, as a child process. Killed
/// (SIGKILL) on drop if still running, so a failed test leaves nothing
/// behind.
pub struct ChildServer {
    /// The child.
    pub child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Every byte of stderr so far (the reader thread appends to it).
    pub stderr: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ChildServer {
    /// Starts `phivault --data-dir <data> serve --listen 127.0.0.1:0` with
    /// `RUST_LOG=<log>` and generous rate limits, and waits for its
    /// `listening on https://ADDR` line.
    pub fn start(data: &Path, log: &str, stdout: Stdio) -> Self {
        let mut child = Command::new(binary())
            .arg("--data-dir")
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", log)
            .env("PHIVAULT_RATE_PER_IP", "100000")
            .env("PHIVAULT_RATE_PER_IP_BURST", "100000")
            .env("PHIVAULT_RATE_PER_PRINCIPAL", "100000")
            .env("PHIVAULT_RATE_PER_PRINCIPAL_BURST", "100000")
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let lines = Arc::clone(&stderr);
        // Raw bytes, not `lines()`: a line that is not UTF-8 must still be
        // captured (and scanned), not end the capture.
        let reader = std::thread::spawn(move || {
            let mut pipe = BufReader::new(pipe);
            let mut line = Vec::new();
            while pipe.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                let text = String::from_utf8_lossy(&line);
                if let Some(addr) = text
                    .trim_end()
                    .strip_prefix("phivault: listening on https://")
                {
                    let _ = tx.send(addr.to_owned());
                }
                lines.lock().unwrap().extend_from_slice(&line);
                line.clear();
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "no listening line; stderr: {}",
                    String::from_utf8_lossy(&stderr.lock().unwrap())
                );
            }
        };
        Self {
            child,
            addr,
            stderr,
            reader: Some(reader),
        }
    }

    /// `https://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// SIGKILL, then reap the child.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.join_reader();
    }

    /// SIGTERM (graceful stop), then waits for the exit and returns whether
    /// it was successful.
    pub fn terminate(mut self) -> bool {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        self.join_reader();
        exit.success()
    }

    /// Waits for the stderr reader, which ends at EOF (the child exited).
    fn join_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A token for `role` from the data directory's JWT secret.
pub fn token(data: &Path, role: Role, sub: &str) -> String {
    let secret = JwtSecret::read(&data.join("keys/jwt.secret")).unwrap();
    http::mint(&secret, sub, role, now(), Duration::from_secs(3600)).unwrap()
}

/// SplitMix64: a tiny deterministic generator, seeded per round so that a
/// failing round can be replayed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// One submitted record: its PatientID and PatientName are unique to it.
#[derive(Debug, Clone)]
struct Sent {
    pid: String,
    name: String,
}

/// What the ingest tasks of one round saw.
#[derive(Default)]
struct RoundOutcome {
    /// Acknowledged (2xx): the record id and what was sent.
    acked: Vec<(RecordId, Sent)>,
    /// Sent, no answer (the server died first).
    unanswered: Vec<Sent>,
    /// Answers that are neither 2xx nor a dead connection.
    unexpected: Vec<String>,
}

const ROUNDS: u64 = 20;
const TASKS: usize = 8;

fn record(round: u64, task: usize, n: usize) -> (Value, Sent) {
    let sent = Sent {
        pid: format!("CR-{round}-{task}-{n}"),
        name: format!("Crash^R{round}T{task}N{n}"),
    };
    let doc = json!({
        "SeriesInstanceUID": format!("1.2.826.0.1.3680043.8.498.7.{round}.{task}.{n}"),
        "StudyInstanceUID": format!("1.2.826.0.1.3680043.8.498.8.{round}.{task}"),
        "PatientID": sent.pid,
        "PatientName": sent.name,
        "InstancesInSeries": n + 1,
        "StudyDate": "20240511",
        "Modality": "CT",
    });
    (doc, sent)
}

/// Posts distinct records back to back until the server stops answering.
async fn ingest_until_dead(
    client: reqwest::Client,
    url: String,
    token: String,
    round: u64,
    task: usize,
    out: Arc<Mutex<RoundOutcome>>,
) {
    for n in 0.. {
        let (doc, sent) = record(round, task, n);
        match client
            .post(&url)
            .bearer_auth(&token)
            .json(&doc)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                Ok(v) => {
                    let id: RecordId = v["id"].as_str().unwrap().parse().unwrap();
                    out.lock().unwrap().acked.push((id, sent));
                }
                // The status arrived, the body did not: not an answer.
                Err(_) => {
                    out.lock().unwrap().unanswered.push(sent);
                    return;
                }
            },
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                out.lock()
                    .unwrap()
                    .unexpected
                    .push(format!("{status}: {body}"));
                return;
            }
            Err(_) => {
                out.lock().unwrap().unanswered.push(sent);
                return;
            }
        }
    }
}

/// Every audit entry, oldest first.
fn whole_audit_log(vault: &Vault) -> Vec<AuditEntry> {
    let mut log = Vec::new();
    loop {
        let page = vault
            .store()
            .audit_range(log.len() as u64 + 1, 1000)
            .unwrap();
        if page.is_empty() {
            return log;
        }
        log.extend(page);
    }
}

/// What a verified record looked like in the store: its stored form and
/// its subject's wrapped key.
type Snapshot = (phivault::store::StoredRecord, Vec<u8>);

/// Opens the data directory in-process (the child is dead) and checks every
/// guarantee. Records acknowledged in earlier rounds were opened then: they
/// must still be stored byte for byte as they were (record and subject key),
/// so they still open. Records acknowledged in this round are opened now.
/// Returns how many unanswered records turned out stored.
async fn check_after_kill(
    data: &Path,
    verified: &mut BTreeMap<RecordId, Snapshot>,
    new_acked: &[(RecordId, Sent)],
    unanswered: &[Sent],
    earlier_present: usize,
) -> usize {
    let (vault, created) = Vault::open(data, PolicySet::embedded().unwrap()).unwrap();
    assert!(created.is_empty(), "keys were recreated: {created:?}");
    let store = vault.store();
    let actor = Actor {
        sub: "crash-test".into(),
        role: Role::Reader,
    };
    let t = time::OffsetDateTime::now_utc();

    // The log before our reads: every acked record's write is in it, and it
    // verifies.
    let log = whole_audit_log(&vault);
    verify_chain(&log).unwrap();
    let written: std::collections::BTreeSet<RecordId> = log
        .iter()
        .filter(|e| e.action == AuditAction::RecordCreated)
        .filter_map(|e| e.record)
        .collect();
    for id in verified.keys().chain(new_acked.iter().map(|(id, _)| id)) {
        assert!(written.contains(id), "no record_created entry for {id}");
    }

    // Earlier acknowledged records: unchanged.
    for (id, (record, key)) in verified.iter() {
        let now_stored = store
            .get_record(id)
            .unwrap()
            .unwrap_or_else(|| panic!("acked record {id} lost"));
        assert_eq!(&now_stored, record, "{id} changed");
        assert_eq!(
            store.subject_key(&record.subject).unwrap().as_ref(),
            Some(key),
            "{id}: subject key changed or lost"
        );
    }

    // This round's acknowledged records open with their values
    // (concurrently, so the audited reads share flushes).
    let reads = futures_util::future::join_all(
        new_acked
            .iter()
            .map(|(id, _)| vault.read(id, &actor, "TREAT", t)),
    )
    .await;
    for ((id, sent), view) in new_acked.iter().zip(reads) {
        let view = view.unwrap_or_else(|e| panic!("acked record {id} lost or unopenable: {e}"));
        assert_eq!(view.fields[&RecordField::PatientID].value, sent.pid);
        assert_eq!(view.fields[&RecordField::PatientName].value, sent.name);
        let record = store.get_record(id).unwrap().unwrap();
        let key = store.subject_key(&record.subject).unwrap().unwrap();
        verified.insert(*id, (record, key));
    }

    // An unanswered record is whole or absent.
    let accesses = futures_util::future::join_all(unanswered.iter().map(|sent| {
        let pid = PatientId::parse(&sent.pid).unwrap();
        let (vault, actor) = (&vault, &actor);
        async move { vault.subject_access(&pid, actor, "TREAT", t).await }
    }))
    .await;
    let mut present = 0;
    for (sent, views) in unanswered.iter().zip(accesses) {
        let views = views.unwrap_or_else(|e| panic!("unanswered {} half-stored: {e}", sent.pid));
        assert!(views.len() <= 1, "{}: {} records", sent.pid, views.len());
        if let Some(view) = views.first() {
            assert_eq!(view.fields[&RecordField::PatientID].value, sent.pid);
            assert_eq!(view.fields[&RecordField::PatientName].value, sent.name);
            present += 1;
        }
    }
    assert_eq!(
        store.record_count().unwrap(),
        (verified.len() + earlier_present + present) as u64,
        "records stored beyond the acked and the whole unanswered ones"
    );
    verify_chain(&whole_audit_log(&vault)).unwrap();
    present
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_records_survive_sigkill_under_concurrent_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let data: PathBuf = tmp.path().join("phivault-data");
    let mut verified: BTreeMap<RecordId, Snapshot> = BTreeMap::new();
    let mut last_round_acked: Vec<(RecordId, Sent)> = Vec::new();
    let mut unanswered_total = Vec::new();
    let mut present_unanswered = 0;
    let mut tokens = None;

    for round in 0..ROUNDS {
        let server = ChildServer::start(&data, "warn", Stdio::null());
        let (ingest, reader) = tokens
            .get_or_insert_with(|| {
                (
                    token(&data, Role::Ingest, "modality-crash"),
                    token(&data, Role::Reader, "dr-crash"),
                )
            })
            .clone();
        let client = client_trusting(&data.join("tls/cert.pem"));

        // The restarted server serves what the previous round acknowledged.
        for (id, sent) in &last_round_acked {
            let r = client
                .get(server.url(&format!("/v1/records/{id}")))
                .bearer_auth(&reader)
                .header("Purpose-Of-Use", "TREAT")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "round {round}: {id}");
            let view: Value = r.json().await.unwrap();
            assert_eq!(view["fields"]["PatientName"]["value"], sent.name.as_str());
        }

        let out = Arc::new(Mutex::new(RoundOutcome::default()));
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                tokio::spawn(ingest_until_dead(
                    client.clone(),
                    server.url("/v1/records"),
                    ingest.clone(),
                    round,
                    task,
                    Arc::clone(&out),
                ))
            })
            .collect();
        let mut rng = SplitMix64(round.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED);
        let delay = 20 + rng.next() % 230;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        tokio::task::spawn_blocking(move || server.kill())
            .await
            .unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        let out = std::mem::take(&mut *out.lock().unwrap());
        assert!(
            out.unexpected.is_empty(),
            "round {round}: {:?}",
            out.unexpected
        );
        assert!(
            out.unanswered.len() <= TASKS,
            "each task stops at its first unanswered request"
        );
        for (id, _) in &out.acked {
            assert!(!verified.contains_key(id), "id reused: {id}");
        }
        present_unanswered += check_after_kill(
            &data,
            &mut verified,
            &out.acked,
            &out.unanswered,
            present_unanswered,
        )
        .await;
        unanswered_total.extend(out.unanswered);
        last_round_acked = out.acked;
    }
    assert!(
        verified.len() >= ROUNDS as usize,
        "the test must acknowledge records to prove anything: {}",
        verified.len()
    );
    eprintln!(
        "crash test: {} rounds, {} acknowledged, {} unanswered ({} of them stored whole)",
        ROUNDS,
        verified.len(),
        unanswered_total.len(),
        present_unanswered
    );
}
