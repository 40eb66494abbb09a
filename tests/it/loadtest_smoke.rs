//! The load test end to end at a small size: both servers start from the
//! built binary, every request is answered 201 (the run fails otherwise),
//! and the report is complete. No timing is asserted.

use phivault::loadtest::{self, LoadOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_load_run_checks_every_answer_and_reports_each_level() {
    let work = tempfile::tempdir().unwrap();
    let options = LoadOptions {
        binary: env!("CARGO_BIN_EXE_phivault").into(),
        work_dir: work.path().to_path_buf(),
        connections: vec![1, 4],
        requests: 100,
    };
    let report = loadtest::run(&options).await.unwrap();
    assert_eq!(report.levels.len(), 2);
    for ((product, baseline), connections) in report.levels.iter().zip([1, 4]) {
        for r in [product, baseline] {
            assert_eq!(r.connections, connections);
            assert_eq!(r.requests, 100);
            assert!(r.p50 <= r.p99 && r.p99 <= r.p999);
            assert!(r.throughput() > 0.0);
        }
    }
    // The product really stored them: 2 levels x (warm-up + measured).
    let stored =
        phivault::store::SledStore::open(phivault::vault::db_path(&work.path().join("product")))
            .unwrap();
    use phivault::store::Store;
    assert_eq!(stored.record_count().unwrap(), (2 + 100) + (8 + 100));
    let text = loadtest::render(&report);
    assert!(text.contains("ratio product/baseline"));
}
