//! Policy evaluation: `policy::evaluate` of a complete record under the
//! embedded gdpr and hipaa policies (the plan only; no crypto).
//!
//! Run: `cargo bench --bench policy`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot set up should stop

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use phivault::domain::{Record, latest_civil_date};
use phivault::loadtest::document;
use phivault::policy::{PolicySet, evaluate};
use time::OffsetDateTime;

fn benches(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let record = Record::from_json(&document(1, 42), latest_civil_date(now)).unwrap();
    let policies = PolicySet::embedded().unwrap();
    let mut group = c.benchmark_group("policy_evaluate");
    for id in ["gdpr", "hipaa"] {
        let policy = policies.get(id).unwrap();
        group.bench_function(id, |b| {
            b.iter(|| black_box(evaluate(policy, black_box(&record), now)))
        });
    }
    group.finish();
}

criterion_group!(policy, benches);
criterion_main!(policy);
