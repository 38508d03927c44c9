//! A long walk of index entries that hold every column a query reads (a covered walk: a
//! tag filter answered from the tags index) is split into key ranges, one per core, like a
//! full scan. The pieces must together answer exactly what one walk would, through the
//! planner and through a prepared statement's fast path, with a residual filter too, and
//! read under one snapshot while rows move in and out of the walked range. A short walk is
//! not split: handing it to other threads would cost more than it saves.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::common::ScalarValue;
use quiver_tests::{render, TempDb};

const ROWS: i64 = 60_000;
/// Ids like the reference workload's (`acc-00000042`): every key of a tag's walk shares
/// its first bytes after the tag, which is what split points must see past.
const ID: &str = "concat('acc-', lpad(CAST(value AS TEXT), 8, '0'))";
const HOT: usize = 20_000;

/// Rows sorted, so that answers read in pieces compare with answers read in one walk.
fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

/// `t` with 20,000 'hot', 39,900 'cold' and 100 'rare' rows, each with a random token the
/// tag index covers, flushed and compacted so RocksDB's size estimates see it.
async fn loaded() -> TempDb {
    let db = TempDb::new();
    db.query("SET datafusion.execution.target_partitions = 2")
        .await
        .unwrap();
    db.query("CREATE TABLE t (id TEXT PRIMARY KEY, tag TEXT NOT NULL, token TEXT)")
        .await
        .unwrap();
    db.query("CREATE INDEX t_tag ON t (tag) INCLUDE (token)")
        .await
        .unwrap();
    db.query(&format!(
        "INSERT INTO t SELECT {ID}, CASE WHEN value % 3 = 0 THEN 'hot' \
         WHEN value % 600 = 1 THEN 'rare' ELSE 'cold' END, uuid() \
         FROM generate_series(0, {})",
        ROWS - 1,
    ))
    .await
    .unwrap();
    let database = db.quiver.database();
    database.flush().unwrap();
    database.compact().unwrap();
    db
}

/// Entries each partition of the query's scan read, from EXPLAIN ANALYZE VERBOSE.
async fn pieces_read(db: &TempDb, sql: &str) -> Vec<usize> {
    let plan = db
        .rows(&format!("EXPLAIN ANALYZE VERBOSE {sql}"))
        .await
        .unwrap()
        .concat()
        .join("\n");
    let mut read = Vec::new();
    for partition in 0.. {
        let label = format!("rows_read{{partition={partition}}}=");
        let Some(at) = plan.find(&label) else { break };
        // DataFusion prints counts past 1,000 rounded: `6.7 K`.
        let shown: String = plan[at + label.len()..]
            .chars()
            .take_while(|c| *c != ',' && *c != ']')
            .collect();
        read.push(match shown.trim().strip_suffix('K') {
            Some(k) => (k.trim().parse::<f64>().unwrap() * 1000.0) as usize,
            None => shown.trim().parse().unwrap(),
        });
    }
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_covered_walks_split_and_answer_what_one_walk_would() {
    let db = loaded().await;
    let hot = "SELECT id, token FROM t WHERE tag = 'hot'";
    let plan = db.physical_plan(hot).await.unwrap();
    assert!(
        plan.contains("covered=true") && plan.contains("partitions=2"),
        "{plan}"
    );
    // The same rows through a filter no index answers: a walk of the records.
    let unindexed = "SELECT id, token FROM t WHERE concat(tag, '') = 'hot'";
    assert!(!db.physical_plan(unindexed).await.unwrap().contains("t_tag"));
    let expected = sorted(db.rows(unindexed).await.unwrap());
    assert_eq!(expected.len(), HOT);
    assert_eq!(sorted(db.rows(hot).await.unwrap()), expected);
    // Each piece reads a fair share, not one piece all of it.
    let read = pieces_read(&db, hot).await;
    assert!(
        read.len() == 2 && read.iter().all(|&n| n >= HOT / 4),
        "entries read per piece: {read:?}"
    );

    let prepared = db
        .quiver
        .prepare("SELECT id, token FROM t WHERE tag = $1")
        .await
        .unwrap();
    assert!(prepared.uses_fast_path());
    let batches = prepared
        .query(vec![ScalarValue::from("hot")])
        .await
        .unwrap();
    assert_eq!(sorted(render(&batches)), expected);

    // A residual filter, checked batch by batch in each piece.
    let residual = "SELECT id, token FROM t WHERE tag = 'hot' AND token LIKE '%a%'";
    assert!(db
        .physical_plan(residual)
        .await
        .unwrap()
        .contains("partitions=2"));
    let expected = sorted(
        db.rows("SELECT id, token FROM t WHERE concat(tag, '') = 'hot' AND token LIKE '%a%'")
            .await
            .unwrap(),
    );
    assert!(!expected.is_empty() && expected.len() < HOT);
    assert_eq!(sorted(db.rows(residual).await.unwrap()), expected);

    // 100 entries: one walk.
    let rare = "SELECT id, token FROM t WHERE tag = 'rare'";
    let plan = db.physical_plan(rare).await.unwrap();
    assert!(
        plan.contains("covered=true") && !plan.contains("partitions="),
        "{plan}"
    );
    assert_eq!(db.rows(rare).await.unwrap().len(), 100);
}

/// A writer swaps the tags of a 'hot' row near the start of the walk and a 'cold' row near
/// its end in one statement, so 'hot' always has 20,000 rows; a split walk that read its
/// pieces at different instants would find 19,999 or 20,001.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn split_covered_walks_read_one_snapshot() {
    let db = loaded().await;
    let hot = "SELECT id, token FROM t WHERE tag = 'hot'";
    assert!(db
        .physical_plan(hot)
        .await
        .unwrap()
        .contains("partitions=2"));
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let writer = {
        let (q, stop, swaps) = (db.quiver.clone(), stop.clone(), swaps.clone());
        tokio::spawn(async move {
            let mut i: i64 = 0;
            while !stop.load(Ordering::Relaxed) {
                // Ids 0..300 (step 3) start 'hot'; ids near the end start 'cold' (never 'rare').
                let (low, high) = ((i % 100) * 3, ROWS - 2 - (i % 100) * 3);
                let sql = format!(
                    "UPDATE t SET tag = CASE WHEN tag = 'hot' THEN 'cold' ELSE 'hot' END \
                     WHERE id IN ('acc-{low:08}', 'acc-{high:08}')"
                );
                q.sql(&sql).await.unwrap().collect().await.unwrap();
                swaps.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    let mut overlapped = 0;
    for _ in 0..40 {
        let before = swaps.load(Ordering::Relaxed);
        assert_eq!(db.rows(hot).await.unwrap().len(), HOT);
        if swaps.load(Ordering::Relaxed) > before {
            overlapped += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(
        overlapped >= 10,
        "only {overlapped} of 40 walks overlapped a swap"
    );
    db.assert_verified();
}
