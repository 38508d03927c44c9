//! The plan cache keeps what may be kept and nothing stale: DDL moves the catalog version
//! on and every plan of an older version is dropped (a prepared statement re-plans itself);
//! one cached statement runs from many tasks at once; the counters say what happened.

use datafusion::common::ScalarValue;
use quiver_tests::{render, TempDb};

async fn table(db: &TempDb, rows: usize) {
    db.query("CREATE TABLE t (id BIGINT PRIMARY KEY, status TEXT NOT NULL, n BIGINT)")
        .await
        .unwrap();
    let values: Vec<String> = (0..rows)
        .map(|i| format!("({i}, '{}', {})", ["a", "b", "c"][i % 3], i * 10))
        .collect();
    db.query(&format!("INSERT INTO t VALUES {}", values.join(", ")))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_repeated_text_hits_and_ddl_drops_every_plan() {
    let db = TempDb::new();
    table(&db, 30).await;
    let sql = "SELECT n FROM t WHERE id = 7";
    let before = db.quiver.plan_cache().stats();
    for _ in 0..3 {
        assert_eq!(render(&db.quiver.query(sql).await.unwrap()), [["70"]]);
    }
    let stats = db.quiver.plan_cache().stats();
    assert_eq!(
        (stats.misses - before.misses, stats.hits - before.hits),
        (1, 2),
        "{stats:?}"
    );
    assert_eq!(stats.fast_runs - before.fast_runs, 3, "{stats:?}");

    // The same name, other columns and other rows: the cached plan must not run.
    db.query("DROP TABLE t").await.unwrap();
    db.query("CREATE TABLE t (id BIGINT PRIMARY KEY, n TEXT)")
        .await
        .unwrap();
    db.query("INSERT INTO t VALUES (7, 'seven')").await.unwrap();
    assert_eq!(render(&db.quiver.query(sql).await.unwrap()), [["seven"]]);
    let stats = db.quiver.plan_cache().stats();
    assert!(stats.invalidations >= 1, "{stats:?}");
    assert!(stats.misses >= before.misses + 2, "{stats:?}");
}

#[tokio::test]
async fn a_prepared_statement_plans_again_after_ddl() {
    let db = TempDb::new();
    table(&db, 30).await;
    let by_id = db
        .quiver
        .prepare("SELECT * FROM t WHERE id = $1")
        .await
        .unwrap();
    let row_4 = || async {
        render(
            &by_id
                .query(vec![ScalarValue::Int64(Some(4))])
                .await
                .unwrap(),
        )
    };
    assert_eq!(row_4().await, [["4", "b", "40"]]);
    db.query("DROP TABLE t").await.unwrap();
    db.query("CREATE TABLE t (id BIGINT PRIMARY KEY, status TEXT NOT NULL, n BIGINT)")
        .await
        .unwrap();
    db.query("INSERT INTO t VALUES (4, 'new', 1)")
        .await
        .unwrap();
    assert_eq!(row_4().await, [["4", "new", "1"]]);
    // An index created later is used by the next execution.
    let by_status = db
        .quiver
        .prepare("SELECT id FROM t WHERE status = $1")
        .await
        .unwrap();
    db.query("CREATE INDEX t_status ON t (status)")
        .await
        .unwrap();
    assert_eq!(
        render(
            &by_status
                .query(vec![ScalarValue::from("new")])
                .await
                .unwrap()
        ),
        [["4"]]
    );
    let cached = db.quiver.plan_cache().statements();
    assert!(
        cached.iter().any(|s| s.sql.contains("status = $1")),
        "{cached:?}"
    );
    // DROP TABLE of a table a prepared statement reads: it fails by name, not stale.
    db.query("DROP TABLE t").await.unwrap();
    let err = by_id
        .query(vec![ScalarValue::Int64(Some(4))])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.find_root(),
            datafusion::error::DataFusionError::External(e)
                if e.downcast_ref::<providers::SqlError>().is_some()
        ) || err.to_string().contains("t"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_cached_statement_runs_from_many_tasks_at_once() {
    let db = TempDb::new();
    table(&db, 3000).await;
    let by_id = db
        .quiver
        .prepare("SELECT id, n FROM t WHERE id = $1")
        .await
        .unwrap();
    let top = db
        .quiver
        .prepare("SELECT id FROM t WHERE status = $1 ORDER BY id DESC LIMIT 3")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for task in 0..32i64 {
        let (by_id, top) = (by_id.clone(), top.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let id = (task * 50 + i) % 3000;
                let rows = render(
                    &by_id
                        .query(vec![ScalarValue::Int64(Some(id))])
                        .await
                        .unwrap(),
                );
                assert_eq!(rows, [[id.to_string(), (id * 10).to_string()]]);
                let status = ["a", "b", "c"][(id % 3) as usize];
                let rows = render(&top.query(vec![ScalarValue::from(status)]).await.unwrap());
                let expected: Vec<Vec<String>> = (0..3000i64)
                    .rev()
                    .filter(|k| k % 3 == id % 3)
                    .take(3)
                    .map(|k| vec![k.to_string()])
                    .collect();
                assert_eq!(rows, expected);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stats = db.quiver.plan_cache().stats();
    assert_eq!(stats.fast_runs, 32 * 50 * 2, "{stats:?}");
}

#[tokio::test]
async fn counters_and_statements_show_in_sys_tables() {
    let db = TempDb::new();
    table(&db, 10).await;
    for _ in 0..4 {
        db.quiver
            .query("SELECT count(*) FROM t WHERE status = 'a'")
            .await
            .unwrap();
    }
    // The INSERT that filled the table was a miss too; no statement hit before these.
    let rows = db
        .rows("SELECT hits, fast_runs FROM sys.plan_cache_stats")
        .await
        .unwrap();
    assert_eq!(rows, [["3", "4"]]);
    let rows = db
        .rows("SELECT statement, path, executions FROM sys.plan_cache WHERE path LIKE 'fast:%'")
        .await
        .unwrap();
    assert_eq!(
        rows,
        [[
            "SELECT count(*) FROM t WHERE status = 'a'",
            "fast: t, count",
            "4"
        ]]
    );
    // EXPLAIN of a cached statement is planned for real and shows the index scan.
    let plan = db
        .physical_plan("SELECT count(*) FROM t WHERE status = 'a'")
        .await
        .unwrap();
    assert!(plan.contains("IndexScanExec"), "{plan}");
}

/// A statement over a view is kept and runs on the fast path like the SELECT the view
/// stands for; replacing the view is DDL, so the kept plan of the old definition never
/// runs again.
#[tokio::test]
async fn a_view_is_cached_like_its_select_until_it_is_replaced() {
    let db = TempDb::new();
    table(&db, 30).await;
    db.query("CREATE VIEW a_rows AS SELECT id, n FROM t WHERE status = 'a'")
        .await
        .unwrap();
    let statement = db
        .quiver
        .prepare("SELECT n FROM a_rows WHERE id = $1")
        .await
        .unwrap();
    assert!(statement.uses_fast_path());
    let run = |id: i64| {
        let statement = &statement;
        async move {
            render(
                &statement
                    .query(vec![ScalarValue::Int64(Some(id))])
                    .await
                    .unwrap(),
            )
        }
    };
    assert_eq!(run(3).await, [["30"]]);
    assert!(run(4).await.is_empty(), "id 4 has status 'b'");
    db.query("CREATE OR REPLACE VIEW a_rows AS SELECT id, n * 2 AS n FROM t WHERE status = 'b'")
        .await
        .unwrap();
    assert_eq!(run(4).await, [["80"]]);
    assert!(run(3).await.is_empty());
}
