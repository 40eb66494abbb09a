//! Record parse + validate: `Record::from_json` on a complete 17-field
//! document (the load test's generator) and on the original 5-key payload.
//!
//! Run: `cargo bench --bench record`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot set up should stop

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use phivault::domain::{Record, latest_civil_date};
use phivault::loadtest::document;
use serde_json::json;
use time::OffsetDateTime;

fn benches(c: &mut Criterion) {
    let today = latest_civil_date(OffsetDateTime::now_utc());
    let full = document(1, 42);
    let full_text = full.to_string();
    let minimal = json!({
        "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.2",
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1",
        "PatientID": "FLOY-PID-7731",
        "PatientName": "Zyxwabc^Floyina",
        "InstancesInSeries": 12
    });
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(1));
    group.bench_function("from_json_17_fields", |b| {
        b.iter(|| black_box(Record::from_json(black_box(&full), today).unwrap()))
    });
    group.bench_function("from_json_5_fields", |b| {
        b.iter(|| black_box(Record::from_json(black_box(&minimal), today).unwrap()))
    });
    group.bench_function("parse_bytes_and_validate_17_fields", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_str(black_box(&full_text)).unwrap();
            black_box(Record::from_json(&v, today).unwrap())
        })
    });
    group.finish();
}

criterion_group!(record, benches);
criterion_main!(record);
