//! Browser test of the HTML compliance report (SPEC §7): headless Debian
//! Chromium loads the page from a file, with the network off, and must show
//! the key figures, log nothing to the console, and paint a real page.
//!
//! Ignored by default: it needs `chromium` (`.ci/browser-deps.sh` installs
//! it). Run: `cargo test --test it report_html -- --ignored`. Set
//! `PHIVAULT_CHROMIUM` to use another binary, and
//! `PHIVAULT_REPORT_ARTIFACTS=DIR` to keep `report.html` and `report.png`.

// The helpers below are test code outside `#[test]` functions, where
// clippy.toml's test allowances do not reach: a failed unwrap here is a
// failed test, as in the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use phivault::domain::{RecordField, Role};
use phivault::policy::Action;
use phivault::report::*;
use time::macros::datetime;

/// What Chromium printed for one page.
struct Output {
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium on `url` with the flags of the brief plus
/// `extra`, a fresh profile under `work`, and the network switched off.
/// Kills it if it has not finished after two minutes (a hang guard, not a
/// timing assertion).
fn chromium(work: &Path, name: &str, extra: &[String], url: &str) -> Output {
    let binary = std::env::var("PHIVAULT_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    let profile = work.join(format!("profile-{name}"));
    let stdout_path = work.join(format!("{name}.stdout"));
    let stderr_path = work.join(format!("{name}.stderr"));
    let mut child = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary} (run .ci/browser-deps.sh): {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{binary} did not finish on {url}");
        }
        sleep(Duration::from_millis(100));
    };
    let output = Output {
        stdout: std::fs::read_to_string(&stdout_path).unwrap(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap(),
    };
    assert!(
        status.success(),
        "{binary} failed: {status}\n{}",
        output.stderr
    );
    output
}

/// The lines of Chromium's log that report a console message or an
/// uncaught error from the page at `url`.
fn console_messages<'a>(stderr: &'a str, url: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|line| {
            line.contains("Uncaught") || (line.contains("CONSOLE") && line.contains(url))
        })
        .collect()
}

/// `file://` URL of an absolute path.
fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The page's size, the count of its distinct colours, and how many pixels
/// have exactly each of `probes` (RGB).
fn analyse_png(path: &Path, probes: &[[u8; 3]]) -> ((u32, u32), usize, Vec<usize>) {
    let decoder = png::Decoder::new(BufReader::new(File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "unexpected PNG depth");
    let samples = info.color_type.samples();
    let mut colours = HashSet::new();
    let mut hits = vec![0usize; probes.len()];
    for row in buf[..info.buffer_size()].chunks(info.line_size) {
        for pixel in row[..info.width as usize * samples].chunks(samples) {
            let rgb = match samples {
                3 | 4 => [pixel[0], pixel[1], pixel[2]],
                _ => [pixel[0], pixel[0], pixel[0]],
            };
            colours.insert(rgb);
            for (hit, probe) in hits.iter_mut().zip(probes) {
                if rgb == *probe {
                    *hit += 1;
                }
            }
        }
    }
    ((info.width, info.height), colours.len(), hits)
}

/// A report as the lead's gathering code would hand it over for a small
/// hospital store: two policies, holds, purges, an erasure, two rotations.
fn hand_built_report() -> ComplianceReport {
    let gdpr = |field: RecordField| {
        use RecordField::*;
        let (action, indexed, source) = match field {
            SeriesInstanceUID | StudyInstanceUID => (
                Action::Pseudonymize,
                field == SeriesInstanceUID,
                "PS3.15 E.1-1 U; GDPR Art. 4(5)",
            ),
            PatientID => (Action::Encrypt, true, "PS3.15 E.1-1 Z; GDPR Art. 32(1)(a)"),
            PatientName | PatientBirthDate | AccessionNumber => {
                (Action::Encrypt, false, "PS3.15 E.1-1; GDPR Art. 25, 32")
            }
            StudyDate | StudyTime => (
                Action::Shift,
                false,
                "PS3.15 E.1-1 Retain Longitudinal Modified Dates",
            ),
            PatientAge => (
                Action::Generalize,
                false,
                "PS3.15 E.1-1 X; age over 89 to 90+",
            ),
            ReferringPhysicianName | InstitutionName => {
                (Action::Redact, false, "PS3.15 E.1-1 X/Z; GDPR Art. 5(1)(c)")
            }
            _ => (Action::Keep, false, "PS3.15 E.1-1 K"),
        };
        FieldRow::new(field, action, indexed, source)
    };
    let hipaa = |field: RecordField| {
        use RecordField::*;
        let (action, indexed, source) = match field {
            SeriesInstanceUID | StudyInstanceUID => (
                Action::Pseudonymize,
                field == SeriesInstanceUID,
                "45 CFR 164.514(b)(2)(i)(R)",
            ),
            PatientID | PatientName | AccessionNumber => (
                Action::Encrypt,
                field == PatientID,
                "45 CFR 164.514(b)(2)(i)(A),(H)",
            ),
            PatientBirthDate | StudyDate => (
                Action::Generalize,
                false,
                "45 CFR 164.514(b)(2)(i)(C): year only",
            ),
            PatientAge => (Action::Generalize, false, "45 CFR 164.514(b)(2)(i)(C): 90+"),
            StudyTime | ReferringPhysicianName | InstitutionName => {
                (Action::Redact, false, "45 CFR 164.514(b)(2)(i)")
            }
            _ => (Action::Keep, false, "not an identifier under 164.514(b)(2)"),
        };
        FieldRow::new(field, action, indexed, source)
    };
    let monthly = [
        12u64, 0, 31, 7, 44, 19, 3, 0, 58, 26, 9, 15, 22, 0, 5, 63, 11, 8, 30, 17, 2, 40, 6, 13,
    ];
    ComplianceReport {
        generated_at: datetime!(2026-12-04 15:37:07 UTC),
        data_dir: "/var/lib/phivault-data".to_owned(),
        period: ReportPeriod {
            from: datetime!(2026-09-01 00:00:00 UTC),
            to: datetime!(2026-12-04 15:37:07 UTC),
        },
        policies: vec![
            PolicySection {
                id: "gdpr".to_owned(),
                version: "2026.1".to_owned(),
                sha256: "3f8a9c0d1e2b4a5f6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d"
                    .to_owned(),
                retention: RetentionRule {
                    period: "P10Y".to_owned(),
                    anchor: RetentionAnchor::StudyDate,
                },
                fields: RecordField::ALL.into_iter().map(gdpr).collect(),
                record_count: 4812,
            },
            PolicySection {
                id: "hipaa".to_owned(),
                version: "2026.1".to_owned(),
                sha256: "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
                    .to_owned(),
                retention: RetentionRule {
                    period: "P6Y".to_owned(),
                    anchor: RetentionAnchor::Ingestion,
                },
                fields: RecordField::ALL.into_iter().map(hipaa).collect(),
                record_count: 1377,
            },
        ],
        retention: RetentionOutlook {
            due_30_days: 12,
            due_90_days: 43,
            due_365_days: 249,
            overdue: 38,
            holds: vec![
                HoldRow {
                    record_id: "0c9e4b1a-6d2f-4e7a-9b3c-5f8d1e2a7c40".to_owned(),
                    reason: "Litigation hold: case 2026-CV-0413 <do not purge> & \"keep\""
                        .to_owned(),
                    placed_by: "dpo".to_owned(),
                    placed_at: datetime!(2026-10-02 08:15:00 UTC),
                    retain_until: datetime!(2026-11-01 00:00:00 UTC),
                },
                HoldRow {
                    record_id: "7a1f3e5d-2b4c-4d6e-8f0a-1c3e5a7b9d2f".to_owned(),
                    reason: "Regulator inquiry".to_owned(),
                    placed_by: "admin-ops".to_owned(),
                    placed_at: datetime!(2026-11-12 13:40:00 UTC),
                    retain_until: datetime!(2027-02-15 00:00:00 UTC),
                },
            ],
            timeline: monthly
                .iter()
                .enumerate()
                .map(|(i, due)| {
                    // Months counted from 2026-12 (month index 11 of 2026).
                    let m = 11 + i;
                    TimelineBucket {
                        month: format!("{}-{:02}", 2026 + m / 12, m % 12 + 1),
                        due: *due,
                    }
                })
                .collect(),
        },
        history: History {
            purges: vec![
                PurgeRow {
                    at: datetime!(2026-10-01 02:00:00 UTC),
                    purged: 117,
                    held: 1,
                    audit_seq: 20311,
                },
                PurgeRow {
                    at: datetime!(2026-11-01 02:00:00 UTC),
                    purged: 96,
                    held: 1,
                    audit_seq: 24876,
                },
            ],
            erasures: vec![ErasureRow {
                at: datetime!(2026-10-20 10:05:00 UTC),
                subject_pseudonym: "b7e1c9a04f2d".to_owned(),
                records_removed: 9,
                key_destroyed: true,
                audit_seq: 22490,
                receipt_signature: "5d".repeat(64),
            }],
        },
        keys: KeyStatus {
            current_version: 3,
            versions: vec![
                KeyVersionRow {
                    version: 1,
                    deks_wrapped: 0,
                },
                KeyVersionRow {
                    version: 2,
                    deks_wrapped: 211,
                },
                KeyVersionRow {
                    version: 3,
                    deks_wrapped: 1904,
                },
            ],
        },
        audit: AuditStatus {
            entries: 27734,
            verified: true,
            first_bad_seq: None,
            reason: None,
            signed_head: Some(SignedHead {
                seq: 27733,
                hash: "a1".repeat(32),
                signature: "c3".repeat(64),
                public_key: "e5".repeat(32),
                signed_at: datetime!(2026-12-04 15:00:00 UTC),
            }),
        },
        access: vec![
            AccessRow {
                role: Role::Ingest,
                action: "record.create".to_owned(),
                allowed: 6189,
                denied: 0,
            },
            AccessRow {
                role: Role::Reader,
                action: "record.read".to_owned(),
                allowed: 1422,
                denied: 37,
            },
            AccessRow {
                role: Role::Reader,
                action: "subject.access".to_owned(),
                allowed: 12,
                denied: 1,
            },
            AccessRow {
                role: Role::Auditor,
                action: "report.read".to_owned(),
                allowed: 5,
                denied: 0,
            },
            AccessRow {
                role: Role::Admin,
                action: "subject.erasure".to_owned(),
                allowed: 1,
                denied: 2,
            },
        ],
    }
}

/// Copies the page and its screenshot where the caller asked, if it did.
fn keep_artifacts(html: &Path, png: &Path) {
    if let Some(dir) = std::env::var_os("PHIVAULT_REPORT_ARTIFACTS").map(PathBuf::from) {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(html, dir.join("report.html")).unwrap();
        std::fs::copy(png, dir.join("report.png")).unwrap();
    }
}

#[test]
#[ignore = "needs Debian chromium (.ci/browser-deps.sh); run by .ci/run with --ignored"]
fn chromium_renders_the_report_with_its_figures_and_no_console_errors() {
    let work = tempfile::tempdir().unwrap();
    let page = work.path().join("report.html");
    std::fs::write(&page, render_html(&hand_built_report())).unwrap();
    let url = file_url(&page);

    // The DOM as Chromium parsed it holds the figures, and the page logged
    // nothing (no script runs; a blocked load or a parse problem would).
    let dom = chromium(work.path(), "dom", &["--dump-dom".to_owned()], &url);
    for figure in [
        "Audit chain verified",
        "27734 entries checked",
        "entry #27733",
        ">6189<",  // records in total (4812 + 1377)
        ">4812<",  // gdpr records
        ">1377<",  // hipaa records
        ">38<",    // overdue
        ">12<",    // due in 30 days
        ">43<",    // due in 90 days
        ">249<",   // due in 365 days
        ">117<",   // first purge
        ">24876<", // second purge's audit entry
        ">b7e1c9a04f2d<",
        ">1904<", // DEKs under the current key
        ">1422<", // reader reads
        ">37<",   // reader refusals
        "/var/lib/phivault-data",
        "2026-12-04T15:37:07Z",
        "P10Y from StudyDate",
        "AES-256-GCM under per-subject DEK",
        "Litigation hold: case 2026-CV-0413 &lt;do not purge&gt; &amp; \"keep\"",
        "<title>overdue: 38</title>",
        "<title>2027-08: 58</title>",
    ] {
        assert!(
            dom.stdout.contains(figure),
            "the rendered DOM lacks {figure:?}"
        );
    }
    assert_eq!(dom.stdout.matches("<svg").count(), 2, "two charts");
    assert!(
        !dom.stdout.contains("<do not purge>"),
        "hold reason unescaped"
    );
    let messages = console_messages(&dom.stderr, &url);
    assert!(messages.is_empty(), "console messages: {messages:#?}");

    // The screenshot is a real page: large, many colours, and the chart
    // bars painted in their colours (overdue red, due blue).
    let png = work.path().join("report.png");
    let shot = chromium(
        work.path(),
        "shot",
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,2000".to_owned(),
            "--hide-scrollbars".to_owned(),
        ],
        &url,
    );
    let messages = console_messages(&shot.stderr, &url);
    assert!(messages.is_empty(), "console messages: {messages:#?}");
    keep_artifacts(&page, &png);
    let bytes = std::fs::metadata(&png).unwrap().len();
    assert!(bytes > 20 * 1024, "screenshot only {bytes} bytes");
    let (size, colours, hits) = analyse_png(&png, &[[0xb3, 0x26, 0x1e], [0x2f, 0x5d, 0x8a]]);
    eprintln!(
        "screenshot: {bytes} bytes, {colours} colours, {} red and {} blue pixels",
        hits[0], hits[1]
    );
    assert_eq!(size, (1200, 2000));
    assert!(colours > 10, "only {colours} colours: a blank page?");
    assert!(
        hits[0] > 100,
        "overdue bar not painted ({} red pixels)",
        hits[0]
    );
    assert!(
        hits[1] > 5_000,
        "chart bars not painted ({} blue pixels)",
        hits[1]
    );
}

#[test]
#[ignore = "needs Debian chromium (.ci/browser-deps.sh); run by .ci/run with --ignored"]
fn the_console_check_catches_a_page_that_logs() {
    // The control for the test above: a page whose script is blocked and
    // whose image is refused must show up in the console check, or that
    // check proves nothing.
    let work = tempfile::tempdir().unwrap();
    let page = work.path().join("noisy.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">\
         <title>noisy</title></head><body><p>noisy</p>\
         <script>console.error('boom')</script><img src=\"missing.png\" alt=\"\"></body></html>",
    )
    .unwrap();
    let url = file_url(&page);
    let dom = chromium(work.path(), "noisy", &["--dump-dom".to_owned()], &url);
    assert!(dom.stdout.contains("<p>noisy</p>"));
    assert!(
        !console_messages(&dom.stderr, &url).is_empty(),
        "{}",
        dom.stderr
    );
}
