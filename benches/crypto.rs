//! Per-field crypto cost: `seal_field` + `open_field` against raw
//! `aes_gcm::Aes256Gcm` on the same bytes, HMAC pseudonyms, DEK unwrap.
//!
//! Run: `cargo bench --bench crypto -- --warm-up-time 1 --measurement-time 3`.
//! Before the timings it prints the stored size overhead of one field.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot set up should stop

use std::hint::black_box;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use criterion::{Criterion, criterion_group, criterion_main};
use phivault::crypto::{FieldAad, KeyRing, WrappedDek, open_field, seal_field};

const RECORD: [u8; 16] = [0x11; 16];

fn report_overhead(ring: &KeyRing) {
    let (dek, wrapped) = ring.new_dek().unwrap();
    for len in [0usize, 8, 32, 64] {
        let plaintext = vec![b'x'; len];
        let sealed = seal_field(
            &dek,
            &FieldAad::for_sealing(RECORD, "PatientName", &dek),
            &plaintext,
        )
        .unwrap();
        let json = serde_json::to_string(&sealed).unwrap();
        eprintln!(
            "field overhead: plaintext {len:>2} B -> raw nonce+ct+tag {} B (+{}), JSON {} B (+{})",
            sealed.nonce.len() + sealed.ciphertext.len(),
            sealed.nonce.len() + sealed.ciphertext.len() - len,
            json.len(),
            json.len() - len,
        );
    }
    eprintln!("wrapped DEK: {} B", wrapped.to_bytes().len());
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (ring, _) = KeyRing::open_or_create(&dir.path().join("keys")).unwrap();
    report_overhead(&ring);
    let (dek, wrapped) = ring.new_dek().unwrap();
    let wrapped_bytes = wrapped.to_bytes();

    let raw = Aes256Gcm::new(&Key::<Aes256Gcm>::from([7u8; 32]));
    let raw_nonce = Nonce::from([9u8; 12]);

    for len in [32usize, 64] {
        let plaintext = vec![0x42u8; len];
        let mut group = c.benchmark_group(format!("field_{len}B"));
        group.bench_function("phivault_seal_open", |b| {
            b.iter(|| {
                let aad = FieldAad::for_sealing(RECORD, "PatientName", &dek);
                let sealed = seal_field(&dek, &aad, black_box(&plaintext)).unwrap();
                let aad = FieldAad::for_opening(RECORD, "PatientName", &sealed);
                black_box(open_field(&dek, &aad, &sealed).unwrap())
            })
        });
        group.bench_function("phivault_seal", |b| {
            b.iter(|| {
                let aad = FieldAad::for_sealing(RECORD, "PatientName", &dek);
                black_box(seal_field(&dek, &aad, black_box(&plaintext)).unwrap())
            })
        });
        let sealed = seal_field(
            &dek,
            &FieldAad::for_sealing(RECORD, "PatientName", &dek),
            &plaintext,
        )
        .unwrap();
        group.bench_function("phivault_open", |b| {
            b.iter(|| {
                let aad = FieldAad::for_opening(RECORD, "PatientName", &sealed);
                black_box(open_field(&dek, &aad, black_box(&sealed)).unwrap())
            })
        });
        group.bench_function("raw_aes_gcm_encrypt_decrypt", |b| {
            b.iter(|| {
                let ct = raw
                    .encrypt(
                        &raw_nonce,
                        Payload {
                            msg: black_box(&plaintext),
                            aad: b"",
                        },
                    )
                    .unwrap();
                black_box(
                    raw.decrypt(&raw_nonce, Payload { msg: &ct, aad: b"" })
                        .unwrap(),
                )
            })
        });
        // The same raw calls with the product's associated data (84 bytes
        // for `PatientName`), to separate GHASH-over-AAD from our overhead.
        let aad_bytes = FieldAad::for_opening(RECORD, "PatientName", &sealed).encode();
        group.bench_function("raw_aes_gcm_encrypt_decrypt_same_aad", |b| {
            b.iter(|| {
                let ct = raw
                    .encrypt(
                        &raw_nonce,
                        Payload {
                            msg: black_box(&plaintext),
                            aad: &aad_bytes,
                        },
                    )
                    .unwrap();
                black_box(
                    raw.decrypt(
                        &raw_nonce,
                        Payload {
                            msg: &ct,
                            aad: &aad_bytes,
                        },
                    )
                    .unwrap(),
                )
            })
        });
        group.finish();
    }

    let mut group = c.benchmark_group("keyed");
    // What one OS random draw costs here: seal_field makes one per field.
    group.bench_function("os_random_12_bytes", |b| {
        let rng = ring::rand::SystemRandom::new();
        b.iter(|| {
            let mut nonce = [0u8; 12];
            ring::rand::SecureRandom::fill(&rng, &mut nonce).unwrap();
            black_box(nonce)
        })
    });
    group.bench_function("pseudonym_hmac", |b| {
        b.iter(|| black_box(ring.pseudonym("PatientID", black_box("PAT-000123"))))
    });
    group.bench_function("uid_pseudonym", |b| {
        b.iter(|| black_box(ring.uid_pseudonym(black_box("1.2.840.113619.2.55.3.604688119"))))
    });
    group.bench_function("blind_index", |b| {
        b.iter(|| black_box(ring.blind_index("PatientID", black_box("PAT-000123"))))
    });
    group.bench_function("dek_unwrap_from_bytes", |b| {
        b.iter(|| {
            let w = WrappedDek::from_bytes(black_box(&wrapped_bytes)).unwrap();
            black_box(ring.unwrap_dek(&w).unwrap())
        })
    });
    group.finish();
}

criterion_group!(crypto, benches);
criterion_main!(crypto);
