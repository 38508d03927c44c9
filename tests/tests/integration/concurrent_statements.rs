//! SQL UPDATE and DELETE act on the current version of each row. The bug this guards
//! against: an UPDATE read its rows from a snapshot and later wrote `Update(new)` computed
//! from that copy, so two concurrent `n = n + 1` statements both wrote the same value (4
//! Flight SQL clients x 50 increments ended at n = 61), and two workers running
//! `UPDATE jobs SET status = 'running' WHERE ... AND status = 'queued'` both took one job.
//! Now a row that changed between the read and the write is re-read under its lock and its
//! WHERE re-checked: statements behave as if run one after the other on each row.

use std::sync::Arc;

use datafusion::arrow::array::{Array, UInt64Array};
use providers::Quiver;
use quiver_tests::TempDb;

async fn changed(q: &Quiver, sql: &str) -> u64 {
    let batches = q.sql(sql).await.unwrap().collect().await.unwrap();
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap()
        .value(0)
}

/// The same through one prepared statement, which runs on the plan cache's fast path: it
/// writes through the same re-checking `DmlExec`, so no increment is lost either.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prepared_increments_on_the_fast_path_are_never_lost() {
    use datafusion::common::ScalarValue;
    let db = TempDb::new();
    db.query("CREATE TABLE counters (id TEXT PRIMARY KEY, n BIGINT NOT NULL)")
        .await
        .unwrap();
    db.query("INSERT INTO counters VALUES ('a', 0)")
        .await
        .unwrap();
    let bump = db
        .quiver
        .prepare("UPDATE counters SET n = n + $1 WHERE id = $2")
        .await
        .unwrap();
    assert!(bump.uses_fast_path());
    let mut handles = Vec::new();
    for _ in 0..16 {
        let bump = bump.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..25 {
                bump.query(vec![ScalarValue::Int64(Some(1)), ScalarValue::from("a")])
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(db.rows("SELECT n FROM counters").await.unwrap(), [["400"]]);
    db.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_are_never_lost() {
    let db = TempDb::new();
    db.query("CREATE TABLE counters (id TEXT PRIMARY KEY, n BIGINT)")
        .await
        .unwrap();
    db.query("INSERT INTO counters VALUES ('a', 0), ('b', 0)")
        .await
        .unwrap();
    let (tasks, each) = (16, 25);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let q = db.quiver.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..each {
                let n = changed(&q, "UPDATE counters SET n = n + 1 WHERE id = 'a'").await;
                assert_eq!(n, 1);
                // Both rows in one statement, from half of the tasks.
                if t % 2 == 0 {
                    assert_eq!(changed(&q, "UPDATE counters SET n = n + 1").await, 2);
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let total = tasks * each;
    assert_eq!(
        db.rows("SELECT id, n FROM counters ORDER BY id")
            .await
            .unwrap(),
        vec![
            vec!["a".to_string(), (total + total / 2).to_string()],
            vec!["b".to_string(), (total / 2).to_string()],
        ]
    );
    db.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_take_each_row_exactly_once() {
    let db = TempDb::new();
    db.query("CREATE TABLE work (id BIGINT PRIMARY KEY, status TEXT, owner TEXT)")
        .await
        .unwrap();
    db.query("CREATE INDEX work_status ON work (status)")
        .await
        .unwrap();
    let rows: Vec<String> = (0..300).map(|i| format!("({i}, 'queued', NULL)")).collect();
    db.query(&format!("INSERT INTO work VALUES {}", rows.join(",")))
        .await
        .unwrap();
    let workers = 8;
    let mut handles = Vec::new();
    for w in 0..workers {
        let q = db.quiver.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..300 {
                // Every worker tries every row, in a different order.
                let id = (i * 7 + w * 37) % 300;
                let sql = format!(
                    "UPDATE work SET status = 'running', owner = 'w{w}' WHERE id = {id} AND status = 'queued'"
                );
                if changed(&q, &sql).await == 1 {
                    mine.push(id);
                }
            }
            (w, mine)
        }));
    }
    let mut claimed = Vec::new();
    for h in handles {
        let (w, mine) = h.await.unwrap();
        for id in &mine {
            // The row says the same worker won.
            assert_eq!(
                db.rows(&format!("SELECT owner FROM work WHERE id = {id}"))
                    .await
                    .unwrap(),
                vec![vec![format!("w{w}")]]
            );
        }
        claimed.extend(mine);
    }
    claimed.sort();
    assert_eq!(
        claimed,
        (0..300).collect::<Vec<_>>(),
        "each row claimed once"
    );
    assert_eq!(
        db.rows("SELECT count(*) FROM work WHERE status = 'queued'")
            .await
            .unwrap(),
        vec![vec!["0".to_string()]]
    );
    db.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_changed_since_the_scan_is_rechecked() {
    let db = TempDb::new();
    db.query("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT)")
        .await
        .unwrap();
    let rows: Vec<String> = (0..2000).map(|i| format!("({i}, 0)")).collect();
    db.query(&format!("INSERT INTO t VALUES {}", rows.join(",")))
        .await
        .unwrap();
    // One task deletes rows whose v is 0 while others move rows to v = 1: a row is either
    // deleted (while still 0) or kept with v = 1, never deleted after it became 1.
    let q = Arc::new(db.quiver.clone());
    let movers: Vec<_> = (0..4)
        .map(|k| {
            let q = q.clone();
            tokio::spawn(async move {
                let mut moved = 0;
                for i in (k..2000).step_by(4) {
                    moved +=
                        changed(&q, &format!("UPDATE t SET v = 1 WHERE id = {i} AND v = 0")).await;
                }
                moved
            })
        })
        .collect();
    let deleter = {
        let q = q.clone();
        tokio::spawn(async move { changed(&q, "DELETE FROM t WHERE v = 0").await })
    };
    let mut moved = 0;
    for m in movers {
        moved += m.await.unwrap();
    }
    let deleted = deleter.await.unwrap();
    let left = db.rows("SELECT count(*) FROM t WHERE v = 1").await.unwrap();
    assert_eq!(left, vec![vec![moved.to_string()]]);
    assert_eq!(moved + deleted, 2000, "moved {moved}, deleted {deleted}");
    let zeros = db.rows("SELECT count(*) FROM t WHERE v = 0").await.unwrap();
    assert_eq!(zeros, vec![vec!["0".to_string()]]);
    db.assert_verified();
}
