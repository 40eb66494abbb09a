//! Local or server (SPEC §5): with `phivault serve` (the built binary) on
//! the data directory, `purge`, `audit verify`, `keys status` and `inspect`
//! ask it over HTTPS; without it they open the database themselves.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use phivault::domain::Role;
use phivault::http::{JwtSecret, mint};
use serde_json::{Value, json};

use crate::support::{binary, now};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

fn run_ok(dir: &Path, args: &[&str]) -> Value {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Starts the binary's server and waits until it announces itself in
/// `serve.json` (a server that never does is stopped and waited for).
fn start(dir: &Path, log: &Path, extra: &[&str]) -> Child {
    let mut child = Command::new(binary())
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !dir.join("serve.json").exists() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// The announcement, checked: private file, our child's pid.
fn announced(dir: &Path, child: &Child, log: &Path) -> Value {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("serve.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "server did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    });
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "serve.json is private");
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(value["pid"], child.id());
    value
}

/// Stops our server child by its pid (SIGTERM) and waits for it.
fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

/// Submits one record on a runtime of its own, dropped afterwards so that no
/// connection stays open to delay the server's drain.
fn submit(dir: &Path, base: &str, policy: &str, series: u64) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(submit_async(dir, base, policy, series))
}

async fn submit_async(dir: &Path, base: &str, policy: &str, series: u64) -> String {
    let secret = JwtSecret::read(&dir.join("keys/jwt.secret")).unwrap();
    let token = mint(
        &secret,
        "modality",
        Role::Ingest,
        now(),
        Duration::from_secs(300),
    )
    .unwrap();
    // No idle connection kept: the server's shutdown drains open ones.
    phivault::http::install_crypto_provider();
    let pem = std::fs::read(dir.join("tls/cert.pem")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let response = client
        .post(format!("{base}/v1/records"))
        .bearer_auth(token)
        .header("Compliance-Policy", policy)
        .json(&json!({
            "SeriesInstanceUID": format!("1.2.826.0.1.3680043.8.498.{series}"),
            "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1",
            "PatientID": format!("CLI-{series}"),
            "PatientName": "Zyxwabc^Floyina",
            "InstancesInSeries": 4
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

#[test]
fn commands_go_through_the_server_when_it_holds_the_database_and_direct_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let log = tmp.path().join("serve.log");
    let child = start(&dir, &log, &[]);
    let announced = announced(&dir, &child, &log);
    let base = announced["url"].as_str().unwrap().to_owned();
    assert!(base.starts_with("https://127.0.0.1:"));
    let short = submit(&dir, &base, "research", 1);
    let long = submit(&dir, &base, "gdpr", 2);

    // Through the server.
    let stored = run_ok(&dir, &["inspect", &long]);
    assert_eq!(stored["id"], long.as_str());
    assert_eq!(stored["fields"]["PatientName"]["action"], "encrypt");
    assert!(!stored.to_string().contains("Zyxwabc"));
    let status = run_ok(&dir, &["keys", "status"]);
    assert_eq!(status["current_version"], 1);
    assert_eq!(status["versions"][0]["deks_wrapped"], 2, "{status}");
    let in_three_years = (time::OffsetDateTime::now_utc() + time::Duration::days(3 * 366))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let dry = run_ok(&dir, &["purge", "--dry-run", "--as-of", &in_three_years]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["purged"], 1, "{dry}");
    let real = run_ok(&dir, &["purge", "--as-of", &in_three_years]);
    assert_eq!(real["purged"], 1);
    assert!(real["signed_head"]["signature"].is_string());
    let verified = run_ok(&dir, &["audit", "verify"]);
    assert_eq!(verified["verified"], true, "{verified}");
    // The report too comes from the server (which audits producing it).
    let report = run_ok(&dir, &["report"]);
    assert_eq!(report["audit"]["verified"], true, "{report}");
    let gdpr = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "gdpr")
        .unwrap()
        .clone();
    assert_eq!(gdpr["record_count"], 1, "{gdpr}");
    // The purged subject's key was shredded.
    let status = run_ok(&dir, &["keys", "status"]);
    assert_eq!(status["versions"][0]["deks_wrapped"], 1, "{status}");
    let gone = run(&dir, &["inspect", &short]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("404"));
    stop(child);
    assert!(!dir.join("serve.json").exists(), "serve.json withdrawn");

    // Direct: the same answers from the database itself.
    let direct = run_ok(&dir, &["inspect", &long]);
    assert_eq!(direct, stored);
    assert_eq!(run_ok(&dir, &["keys", "status"]), status);
    let dry = run_ok(&dir, &["purge", "--dry-run", "--as-of", &in_three_years]);
    assert_eq!(dry["purged"], 0);
    let verified = run_ok(&dir, &["audit", "verify"]);
    assert_eq!(verified["verified"], true);
    // The purge through the server was audited as the command's principal.
    let export = run(&dir, &["audit", "export"]);
    let lines = String::from_utf8(export.stdout).unwrap();
    assert!(
        lines
            .lines()
            .any(|l| l.contains("\"action\":\"purge_run\"") && l.contains("phivault-cli"))
    );
    let rotated = run_ok(&dir, &["keys", "rotate"]);
    assert_eq!(rotated["current_version"], 2);
    assert_eq!(rotated["rewrapped"], 1);
}

#[test]
fn commands_refuse_a_directory_without_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["purge", "--dry-run"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database"));
    assert!(!tmp.path().join("keys").exists(), "nothing created");
}

#[test]
fn serve_purges_on_its_schedule_as_the_scheduler() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let log = tmp.path().join("serve.log");
    let child = start(&dir, &log, &["--purge-every", "1s"]);
    announced(&dir, &child, &log);
    let started = Instant::now();
    let mut seen = false;
    while !seen && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
        // Through the server (it holds the database).
        let out = run(&dir, &["audit", "export"]);
        seen = String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.contains("\"action\":\"purge_run\"") && l.contains("\"sub\":\"scheduler\""));
    }
    stop(child);
    assert!(
        seen,
        "no scheduled purge_run: {}",
        std::fs::read_to_string(&log).unwrap()
    );
    let verified = run_ok(&dir, &["audit", "verify"]);
    assert_eq!(verified["verified"], true);
    assert!(verified["signed_head"]["seq"].as_u64().unwrap() >= 2);
}
