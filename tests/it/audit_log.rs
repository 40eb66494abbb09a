//! The audit log against tampering: altering, deleting, reordering or
//! truncating an entry in the database is found by `phivault audit verify`
//! (the built binary) at the right entry; and an independent verifier,
//! written from docs/FORMAT.md alone with its own SHA-256 and Ed25519 code
//! path, verifies the exported chain and its signed head.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use time::Duration;

use crate::retention::{ingest_actor, open_vault, purge, record};
use crate::support::binary;

const T0: time::OffsetDateTime = time::macros::datetime!(2026-02-01 09:00:00 UTC);

/// A data directory whose log holds 4 `record_created`, 4 `record_purged`,
/// one `purge_run` and one `chain_head_signed` (seq 10, signed), with no
/// process holding it.
async fn sealed_log(dir: &Path) {
    let vault = open_vault(dir);
    for n in 0..4 {
        vault
            .ingest(
                &record(&format!("PID-{n}"), n + 1, T0),
                "research",
                &ingest_actor(),
                T0,
            )
            .await
            .unwrap();
    }
    let summary = purge(&vault, T0 + Duration::days(3 * 366), false).await;
    assert_eq!(summary.purged, 4);
    assert_eq!(summary.signed_head.as_ref().unwrap().seq, 10);
    drop(vault);
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Runs `audit verify` and returns (exit success, first_bad_seq, stderr).
fn verify(dir: &Path) -> (bool, Option<u64>, String) {
    let out = run(dir, &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("stdout not JSON; stderr: {stderr}"));
    assert_eq!(json["verified"], out.status.success(), "{json}");
    (out.status.success(), json["first_bad_seq"].as_u64(), stderr)
}

/// The store keeps every table in one sled tree, each under a one-byte
/// prefix (docs/FORMAT.md, "Stored record"): `a` audit entries by seq, `H`
/// signed heads by seq, `m` meta.
const TREE: &str = "phivault";

fn key(seq: u64) -> Vec<u8> {
    prefixed(b'a', &seq.to_be_bytes())
}

fn head_key(seq: u64) -> Vec<u8> {
    prefixed(b'H', &seq.to_be_bytes())
}

fn prefixed(prefix: u8, key: &[u8]) -> Vec<u8> {
    let mut out = vec![prefix];
    out.extend_from_slice(key);
    out
}

/// Edits the `audit` tree (and others) with sled directly, as an attacker
/// with file access would.
fn tamper(dir: &Path, edit: impl FnOnce(&sled::Db)) {
    let db = crate::support::open_raw_db(&dir.join("db"));
    edit(&db);
    db.flush().unwrap();
}

async fn tampered(edit: impl FnOnce(&sled::Db)) -> (tempfile::TempDir, bool, Option<u64>, String) {
    let dir = tempfile::tempdir().unwrap();
    sealed_log(dir.path()).await;
    assert!(verify(dir.path()).0, "intact log must verify");
    tamper(dir.path(), edit);
    let (ok, bad, stderr) = verify(dir.path());
    (dir, ok, bad, stderr)
}

#[tokio::test]
async fn an_intact_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    sealed_log(dir.path()).await;
    let (ok, bad, _) = verify(dir.path());
    assert!(ok);
    assert_eq!(bad, None);
}

#[tokio::test]
async fn an_altered_entry_is_found() {
    let (_d, ok, bad, stderr) = tampered(|db| {
        let audit = db.open_tree(TREE).unwrap();
        let old = audit.get(key(3)).unwrap().unwrap();
        let text = String::from_utf8(old.to_vec()).unwrap();
        // Still canonical JSON, another actor: only the hash can tell.
        let new = text.replace("\"sub\":\"modality\"", "\"sub\":\"mallory\"");
        assert_ne!(new, text);
        audit.insert(key(3), new.as_bytes()).unwrap();
    })
    .await;
    assert!(!ok);
    assert_eq!(bad, Some(3));
    assert!(stderr.contains("entry 3"), "{stderr}");
}

#[tokio::test]
async fn an_entry_made_non_canonical_is_found() {
    let (_d, ok, bad, _) = tampered(|db| {
        let audit = db.open_tree(TREE).unwrap();
        let old = audit.get(key(5)).unwrap().unwrap();
        let mut new = b" ".to_vec();
        new.extend_from_slice(&old);
        audit.insert(key(5), new).unwrap();
    })
    .await;
    assert!(!ok);
    assert_eq!(bad, Some(5));
}

#[tokio::test]
async fn a_deleted_entry_is_found() {
    let (_d, ok, bad, stderr) = tampered(|db| {
        db.open_tree(TREE).unwrap().remove(key(4)).unwrap();
    })
    .await;
    assert!(!ok);
    assert_eq!(bad, Some(4));
    assert!(stderr.contains("entry 4"), "{stderr}");
}

#[tokio::test]
async fn reordered_entries_are_found() {
    let (_d, ok, bad, _) = tampered(|db| {
        let audit = db.open_tree(TREE).unwrap();
        let a = audit.get(key(6)).unwrap().unwrap();
        let b = audit.get(key(7)).unwrap().unwrap();
        audit.insert(key(6), b).unwrap();
        audit.insert(key(7), a).unwrap();
    })
    .await;
    assert!(!ok);
    assert_eq!(bad, Some(6));
}

#[tokio::test]
async fn truncation_is_found_even_with_the_recorded_head_rewritten() {
    let (_d, ok, bad, stderr) = tampered(|db| {
        let audit = db.open_tree(TREE).unwrap();
        let eight = audit.get(key(8)).unwrap().unwrap();
        audit.remove(key(9)).unwrap();
        audit.remove(key(10)).unwrap();
        // Make the store's own record of the head agree with the cut log:
        // only the signed head (seq 10) can tell now.
        let entry: Value = serde_json::from_slice(&eight).unwrap();
        let mut head = 8u64.to_be_bytes().to_vec();
        head.extend(hex::decode(entry["hash"].as_str().unwrap()).unwrap());
        db.open_tree(TREE)
            .unwrap()
            .insert(prefixed(b'm', b"audit/head"), head)
            .unwrap();
    })
    .await;
    assert!(!ok);
    assert_eq!(bad, Some(9));
    assert!(stderr.contains("entry 9"), "{stderr}");
}

#[tokio::test]
async fn truncation_after_the_signed_head_is_found() {
    let (_d, ok, bad, _) = tampered(|db| {
        // One more entry after the signed head, then cut it: the store's
        // recorded head still names it.
        let audit = db.open_tree(TREE).unwrap();
        let meta = db.open_tree(TREE).unwrap();
        let ten = audit.get(key(10)).unwrap().unwrap();
        let mut head = 11u64.to_be_bytes().to_vec();
        let entry: Value = serde_json::from_slice(&ten).unwrap();
        head.extend(hex::decode(entry["hash"].as_str().unwrap()).unwrap());
        meta.insert(prefixed(b'm', b"audit/head"), head).unwrap();
    })
    .await;
    assert!(!ok);
    assert_eq!(bad, Some(11));
}

#[tokio::test]
async fn a_forged_head_signature_is_found() {
    let (_d, ok, bad, stderr) = tampered(|db| {
        let heads = db.open_tree(TREE).unwrap();
        let old = heads.get(head_key(10)).unwrap().unwrap();
        let mut head: Value = serde_json::from_slice(&old).unwrap();
        let sig = head["signature"].as_str().unwrap().to_owned();
        let flipped = if sig.starts_with('A') {
            sig.replacen('A', "B", 1)
        } else {
            format!("A{}", &sig[1..])
        };
        head["signature"] = Value::String(flipped);
        heads
            .insert(head_key(10), serde_json::to_vec(&head).unwrap())
            .unwrap();
    })
    .await;
    assert!(!ok);
    assert_eq!(bad, Some(10));
    assert!(stderr.contains("signed head"), "{stderr}");
}

// ---- The independent verifier: FORMAT.md §10 and "Signed chain head" only.

/// RFC 8785 canonical JSON for the values an audit entry holds (objects,
/// arrays, strings, integers, booleans, null), written from FORMAT.md.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let i = n
                .as_i64()
                .map(|i| i.to_string())
                .or_else(|| n.as_u64().map(|u| u.to_string()));
            out.push_str(&i.expect("integers only"));
        }
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\u{8}' => out.push_str("\\b"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\u{c}' => out.push_str("\\f"),
                    '\r' => out.push_str("\\r"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut names: Vec<&String> = map.keys().collect();
            names.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, name) in names.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(&Value::String(name.clone()), out);
                out.push(':');
                canonical(&map[name], out);
            }
            out.push('}');
        }
    }
}

fn unhex32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

#[tokio::test]
async fn an_independent_verifier_checks_the_exported_chain_and_signed_head() {
    let dir = tempfile::tempdir().unwrap();
    sealed_log(dir.path()).await;
    // One more entry after the signed head, signed on demand.
    let signed = run(dir.path(), &["audit", "sign"]);
    assert!(signed.status.success());
    let head: Value = serde_json::from_slice(&signed.stdout).unwrap();
    let export = run(dir.path(), &["audit", "export"]);
    assert!(export.status.success());
    let public = run(dir.path(), &["audit", "public-key"]);
    let public = hex::decode(String::from_utf8(public.stdout).unwrap().trim()).unwrap();
    assert_eq!(public.len(), 32);

    let mut expected_seq = 1u64;
    let mut expected_prev = [0u8; 32];
    let mut hashes = std::collections::BTreeMap::new();
    for line in String::from_utf8(export.stdout).unwrap().lines() {
        let mut entry: Value = serde_json::from_str(line).unwrap();
        // The export is the stored canonical form.
        let mut again = String::new();
        canonical(&entry, &mut again);
        assert_eq!(again, line);
        assert_eq!(entry["seq"].as_u64().unwrap(), expected_seq);
        assert_eq!(unhex32(entry["prev_hash"].as_str().unwrap()), expected_prev);
        let claimed = unhex32(entry["hash"].as_str().unwrap());
        entry.as_object_mut().unwrap().remove("hash");
        let mut body = String::new();
        canonical(&entry, &mut body);
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&expected_prev);
        ctx.update(body.as_bytes());
        let computed: [u8; 32] = ctx.finish().as_ref().try_into().unwrap();
        assert_eq!(computed, claimed, "entry {expected_seq}");
        hashes.insert(expected_seq, claimed);
        expected_prev = claimed;
        expected_seq += 1;
    }
    assert_eq!(
        expected_seq - 1,
        11,
        "the sealed log and one more chain_head_signed"
    );

    // The signed head: label ‖ u64_be(seq) ‖ hash, Ed25519.
    let seq = head["seq"].as_u64().unwrap();
    let hash = unhex32(head["hash"].as_str().unwrap());
    assert_eq!(hashes[&seq], hash);
    let mut msg = b"phivault/audit-head/v1\n".to_vec();
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(&hash);
    let sig = hex::decode(head["signature"].as_str().unwrap()).unwrap();
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &public);
    key.verify(&msg, &sig).unwrap();
    msg[30] ^= 1;
    assert!(key.verify(&msg, &sig).is_err());
}
