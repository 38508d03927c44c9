//! A full scan split into key ranges reads every range from one snapshot.
//!
//! The story: a full scan is split into one key range per core, each read by its own task,
//! and each task used to take its own snapshot when it started. Those instants are
//! microseconds apart, and a write landing between them was seen by some ranges and not by
//! others. Here a writer moves balance between a row near the start of the table and one
//! near its end, one atomic UPDATE at a time, so the total never changes; a split
//! `SELECT sum(balance)` that read its two ranges at different instants saw the debit
//! without the credit, or the credit twice. Now the partitions of one execution share the
//! snapshot the first of them took.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use quiver_tests::TempDb;

const ROWS: i64 = 20_000;
const TOTAL: i64 = ROWS * 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn split_full_scans_see_one_point_in_time() {
    let db = TempDb::new();
    db.query("SET datafusion.execution.target_partitions = 4")
        .await
        .unwrap();
    db.query("CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)")
        .await
        .unwrap();
    db.query(&format!(
        "INSERT INTO accounts SELECT value, 100 FROM generate_series(0, {})",
        ROWS - 1
    ))
    .await
    .unwrap();
    let sum = "SELECT sum(balance) FROM accounts";
    let plan = db.physical_plan(sum).await.unwrap();
    assert!(plan.contains("partitions=4"), "not split: {plan}");

    let stop = Arc::new(AtomicBool::new(false));
    let transfers = Arc::new(AtomicU64::new(0));
    let writer = {
        let (q, stop, transfers) = (db.quiver.clone(), stop.clone(), transfers.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                // From a row in the first range to one in the last, and back.
                let (from, to) = (i % 1000, ROWS - 1 - i % 1000);
                let (from, to) = if i % 2 == 0 { (from, to) } else { (to, from) };
                let sql = format!(
                    "UPDATE accounts SET balance = balance + CASE WHEN id = {from} THEN -7 \
                     ELSE 7 END WHERE id IN ({from}, {to})"
                );
                q.sql(&sql).await.unwrap().collect().await.unwrap();
                transfers.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };

    let mut overlapped = 0;
    for _ in 0..150 {
        let before = transfers.load(Ordering::Relaxed);
        assert_eq!(db.rows(sum).await.unwrap(), [[TOTAL.to_string()]]);
        if transfers.load(Ordering::Relaxed) > before {
            overlapped += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(
        overlapped >= 50,
        "only {overlapped} of 150 scans ran while transfers committed"
    );
    assert_eq!(db.rows(sum).await.unwrap(), [[TOTAL.to_string()]]);
    db.assert_verified();
}
