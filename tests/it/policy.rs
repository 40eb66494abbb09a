//! `phivault policy show` and `phivault policy check`, run as the built
//! binary.

// Helpers outside `#[test]` functions are not covered by clippy.toml's
// test exemption; a failed unwrap here is a failed test, as intended.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn phivault(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phivault"))
        .args(args)
        .output()
        .expect("run phivault")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/compliance");

#[test]
fn show_prints_an_aligned_table_with_retention() {
    let o = phivault(&["policy", "show", "hipaa"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("retention: P6Y from StudyDate"), "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("PatientID "))
        .expect("a PatientID row");
    assert!(
        row.contains("encrypt") && row.contains("yes") && row.contains("(H)"),
        "{row}"
    );
    // Every field appears once.
    assert_eq!(
        out.lines().filter(|l| l.starts_with("StudyDate ")).count(),
        1
    );
}

#[test]
fn show_json_lists_every_policy_and_field() {
    let o = phivault(&["policy", "show", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let policies = v["policies"].as_array().unwrap();
    let ids: Vec<&str> = policies.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["gdpr", "hipaa", "research"]);
    for p in policies {
        assert_eq!(p["fields"].as_array().unwrap().len(), 17);
        assert_eq!(p["sha256"].as_str().unwrap().len(), 64);
    }
    assert_eq!(policies[0]["retention"]["period"], "P10Y");
    assert_eq!(policies[0]["retention"]["from"], "StudyDate");
}

#[test]
fn show_unknown_policy_fails_with_one_line() {
    let o = phivault(&["policy", "show", "nope"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("gdpr, hipaa, research"), "{err}");
}

#[test]
fn check_accepts_the_shipped_policies_with_a_json_summary() {
    let o = phivault(&["policy", "check", SHIPPED]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["policies"].as_array().unwrap().len(), 3);
}

#[test]
fn check_and_show_refuse_a_broken_directory_with_the_loader_errors() {
    let dir = tempfile::tempdir().unwrap();
    let gdpr = std::fs::read_to_string(format!("{SHIPPED}/gdpr.toml")).unwrap();
    let broken = gdpr
        .replacen("period = \"P10Y\"", "period = \"ten years\"", 1)
        .replacen("action = \"shift\"", "action = \"blur\"", 1);
    let file = dir.path().join("gdpr.toml");
    std::fs::write(&file, broken).unwrap();
    let d = dir.path().to_str().unwrap();

    let o = phivault(&["policy", "check", d]);
    assert!(!o.status.success());
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    let f = file.display().to_string();
    assert!(
        lines[0].starts_with(&format!("{f}:")) && lines[0].contains("[retention]"),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!("{f}:")) && lines[1].contains("field StudyDate"),
        "{err}"
    );
    assert!(lines[2].contains("2 error(s)"), "{err}");

    // The server's path (show --policy-dir) refuses with the first error.
    let o = phivault(&["policy", "show", "--policy-dir", d]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("[retention]"), "{}", stderr(&o));
}

#[test]
fn every_policy_subcommand_has_help() {
    for args in [
        &["policy", "--help"][..],
        &["policy", "show", "--help"],
        &["policy", "check", "--help"],
    ] {
        let o = phivault(args);
        assert!(o.status.success(), "{args:?}");
        assert!(stdout(&o).contains("Usage"), "{args:?}");
    }
}
