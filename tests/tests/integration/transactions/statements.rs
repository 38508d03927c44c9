//! A transaction's statements: its reads see its own writes through every access path (and
//! nobody else does until COMMIT), savepoints, a failed statement failing the transaction,
//! what is refused inside one, and the embedded API.

use datafusion::common::ScalarValue;
use indexed_store::{StoreError, TransactionOptions};
use providers::SqlError;
use quiver_tests::{render, sql_error, store_error, TempDb};

use super::{setup, Session, ALL, RR};

/// Items with two secondary indexes (one unique) and a list over them.
async fn items(db: &TempDb) {
    for sql in [
        "CREATE TABLE items (id BIGINT PRIMARY KEY, cat TEXT NOT NULL, n BIGINT NOT NULL, \
         code TEXT)",
        "CREATE INDEX items_cat_n ON items (cat, n)",
        "CREATE UNIQUE INDEX items_code ON items (code)",
        "INSERT INTO items VALUES (1, 'a', 10, 'x1'), (2, 'a', 20, 'x2'), (3, 'b', 30, 'x3'), \
         (4, 'b', 40, NULL), (5, 'c', 50, 'x5')",
        "INSERT INTO lists VALUES ('by_n', 'items', ['id', 'cat', 'n'], 'cat <> ''c''', \
         'n DESC', 2)",
    ] {
        db.query(sql).await.unwrap();
    }
}

/// Queries through each access path: point reads, index walks either way with LIMIT and
/// OFFSET, keyset seeks, covered scans, counts and facets from the counters, a full scan, a
/// join of the table with itself, a list's pages and count.
const READS: &[&str] = &[
    "SELECT * FROM items ORDER BY id",
    "SELECT * FROM items WHERE id = 2",
    "SELECT * FROM items WHERE id IN (1, 6, 7)",
    "SELECT id, n FROM items WHERE cat = 'a' ORDER BY n LIMIT 2",
    "SELECT id, n FROM items WHERE cat = 'a' ORDER BY n DESC LIMIT 2 OFFSET 1",
    "SELECT id FROM items WHERE cat = 'b' AND n > 15 ORDER BY n",
    "SELECT cat, n FROM items WHERE (cat, n) > ('a', 15) ORDER BY cat, n LIMIT 3",
    "SELECT cat, n FROM items ORDER BY cat DESC, n DESC LIMIT 4",
    "SELECT id FROM items WHERE code = 'x7'",
    "SELECT id FROM items WHERE code = 'x2'",
    "SELECT count(*) FROM items",
    "SELECT count(*) FROM items WHERE cat = 'a'",
    "SELECT cat, count(*) FROM items GROUP BY cat ORDER BY cat",
    "SELECT id FROM items WHERE n > 25 ORDER BY n DESC",
    "SELECT a.id, b.id FROM items a JOIN items b ON a.n = b.n + 10 ORDER BY a.id",
    "SELECT id, cat, n FROM list('by_n')",
    "SELECT id, cat, n FROM list('by_n', 2)",
    "SELECT * FROM list_count('by_n')",
    "SELECT * FROM list_facets('by_n', 'cat') ORDER BY cat",
];

/// What every read answers.
async fn answers(s: &Session) -> Vec<Vec<Vec<String>>> {
    let mut out = Vec::new();
    for sql in READS {
        out.push(s.run(sql).await);
    }
    out
}

const WRITES: &[&str] = &[
    "INSERT INTO items VALUES (6, 'a', 15, 'x6'), (7, 'c', 5, 'x7')",
    "UPDATE items SET n = n + 1 WHERE cat = 'b'",
    "UPDATE items SET cat = 'b', code = NULL WHERE id = 2",
    "DELETE FROM items WHERE id = 5",
    "INSERT INTO items VALUES (8, 'a', 12, 'x5') ON CONFLICT (id) DO NOTHING",
    "INSERT INTO items VALUES (1, 'a', 11, 'x1') ON CONFLICT (id) DO UPDATE SET n = excluded.n",
];

/// Inside the transaction every read answers what it answers once the transaction has
/// committed (the writes then read back through the store's committed paths), while
/// another session goes on seeing the state before the transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_see_the_transactions_own_writes_through_every_access_path() {
    let db = TempDb::new();
    items(&db).await;
    let (tx, other) = (Session::of(&db), Session::of(&db));
    let before = answers(&other).await;
    tx.run("BEGIN").await;
    for sql in WRITES {
        tx.run(sql).await;
    }
    let inside = answers(&tx).await;
    assert_eq!(answers(&other).await, before, "uncommitted writes leaked");
    tx.run("COMMIT").await;
    let after = answers(&other).await;
    for ((sql, inside), after) in READS.iter().zip(&inside).zip(&after) {
        assert_eq!(inside, after, "{sql}");
    }
    assert_ne!(before, after);
    db.assert_verified();
}

/// A ROLLBACK leaves the database as it was; so does a session dropped with its
/// transaction open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_and_abandonment_leave_nothing() {
    let db = TempDb::new();
    items(&db).await;
    let other = Session::of(&db);
    let before = answers(&other).await;
    let tx = Session::of(&db);
    tx.run("BEGIN").await;
    for sql in WRITES {
        tx.run(sql).await;
    }
    tx.run("ROLLBACK").await;
    assert_eq!(answers(&other).await, before);
    assert_eq!(answers(&tx).await, before);

    let abandoned = Session::of(&db);
    abandoned.run("BEGIN").await;
    abandoned.run(WRITES[0]).await;
    assert_eq!(
        db.rows("SELECT count(*) FROM sys.transactions")
            .await
            .unwrap(),
        [["1"]]
    );
    drop(abandoned);
    assert_eq!(
        db.rows("SELECT count(*) FROM sys.transactions")
            .await
            .unwrap(),
        [["0"]]
    );
    assert_eq!(answers(&other).await, before);
    db.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_roll_back_to_where_they_were_taken() {
    let (db, s) = setup(1).await;
    let s = &s[0];
    s.run(RR).await;
    s.run("INSERT INTO test VALUES (3, 30)").await;
    s.run("SAVEPOINT a").await;
    s.run("INSERT INTO test VALUES (4, 40)").await;
    s.run("SAVEPOINT b").await;
    s.run("DELETE FROM test WHERE id = 1").await;
    s.run("ROLLBACK TO SAVEPOINT b").await;
    assert_eq!(s.run("SELECT count(*) FROM test").await, [["4"]]);
    s.run("ROLLBACK TO a").await;
    assert_eq!(
        s.run("SELECT id FROM test ORDER BY id").await,
        [["1"], ["2"], ["3"]]
    );
    // ROLLBACK TO keeps the savepoint: it can be rolled back to again.
    s.run("INSERT INTO test VALUES (5, 50)").await;
    s.run("ROLLBACK TO a").await;
    // RELEASE forgets it (and b, taken after it).
    s.run("RELEASE SAVEPOINT a").await;
    let e = s.fails("ROLLBACK TO b").await;
    assert!(
        matches!(store_error(&e), Some(StoreError::UnknownSavepoint(n)) if n == "b"),
        "{e}"
    );
    // The unknown savepoint failed nothing: the transaction goes on.
    s.run("COMMIT").await;
    assert_eq!(
        db.rows("SELECT id FROM test ORDER BY id").await.unwrap(),
        [["1"], ["2"], ["3"]]
    );
}

/// A statement that fails undoes its own writes and fails the transaction, as in
/// PostgreSQL: everything but ROLLBACK is refused until then, or until ROLLBACK TO a
/// savepoint taken before. COMMIT of a failed transaction commits nothing and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_fails_the_transaction() {
    let (db, s) = setup(1).await;
    let s = &s[0];
    s.run(RR).await;
    s.run("INSERT INTO test VALUES (3, 30)").await;
    s.run("SAVEPOINT before").await;
    // The second row is a duplicate: the statement's first row goes too.
    let e = s.fails("INSERT INTO test VALUES (4, 40), (1, 11)").await;
    assert!(
        matches!(store_error(&e), Some(StoreError::DuplicateKey { .. })),
        "{e}"
    );
    let e = s.fails("SELECT * FROM test").await;
    assert!(
        matches!(store_error(&e), Some(StoreError::TransactionFailed(_))),
        "{e}"
    );
    s.run("ROLLBACK TO before").await;
    assert_eq!(s.run("SELECT count(*) FROM test").await, [["3"]]);
    s.fails("INSERT INTO test VALUES (1, 11)").await;
    let e = s.fails("COMMIT").await;
    assert!(
        matches!(store_error(&e), Some(StoreError::TransactionFailed(_))),
        "{e}"
    );
    assert_eq!(
        db.rows(ALL).await.unwrap(),
        super::rows(&[(1, 10), (2, 20)])
    );
    // The session is out of the transaction.
    s.run("INSERT INTO test VALUES (3, 30)").await;
    assert_eq!(db.rows("SELECT count(*) FROM test").await.unwrap(), [["3"]]);
}

/// What cannot be taken back is refused inside a transaction, with an error that names
/// it, and the transaction goes on; transaction control out of place is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_copy_and_nested_begin_are_refused() {
    let (db, s) = setup(1).await;
    let s = &s[0];
    let e = s.fails("SAVEPOINT a").await;
    assert!(
        matches!(sql_error(&e), Some(SqlError::NoTransaction(_))),
        "{e}"
    );
    s.run("BEGIN").await;
    s.run("INSERT INTO test VALUES (3, 30)").await;
    let dir = tempfile::tempdir().unwrap();
    for sql in [
        "CREATE TABLE other (id BIGINT PRIMARY KEY)".to_owned(),
        "CREATE INDEX test_value ON test (value)".to_owned(),
        "DROP TABLE test".to_owned(),
        format!(
            "COPY test TO '{}' STORED AS CSV",
            dir.path().join("t.csv").display()
        ),
    ] {
        let e = s.fails(&sql).await;
        assert!(
            matches!(sql_error(&e), Some(SqlError::Unsupported { .. })),
            "{sql}: {e}"
        );
        assert!(e.to_string().contains("transaction"), "{e}");
    }
    let e = s.fails("BEGIN").await;
    assert!(
        matches!(sql_error(&e), Some(SqlError::TransactionInProgress)),
        "{e}"
    );
    s.run("COMMIT").await;
    assert_eq!(db.rows("SELECT count(*) FROM test").await.unwrap(), [["3"]]);
    assert!(!dir.path().join("t.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_transaction_refuses_writes() {
    let (db, s) = setup(1).await;
    let s = &s[0];
    s.run("START TRANSACTION READ ONLY").await;
    assert_eq!(s.run("SELECT count(*) FROM test").await, [["2"]]);
    let e = s.fails("UPDATE test SET value = 0").await;
    assert!(
        matches!(store_error(&e), Some(StoreError::ReadOnlyTransaction(t)) if t == "test"),
        "{e}"
    );
    s.run("ROLLBACK").await;
    assert_eq!(
        db.rows(ALL).await.unwrap(),
        super::rows(&[(1, 10), (2, 20)])
    );
}

/// A transaction past its cap on pending bytes fails with the limit named, its writes are
/// freed at once, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_past_its_pending_cap_is_refused_and_freed() {
    let (db, _) = setup(0).await;
    let tx = db.quiver.begin_with(TransactionOptions {
        max_pending_bytes: 4096,
        ..TransactionOptions::default()
    });
    tx.query("INSERT INTO test VALUES (3, 30)").await.unwrap();
    let big = (4..200)
        .map(|i| format!("({i}, {i})"))
        .collect::<Vec<_>>()
        .join(", ");
    let e = tx
        .query(&format!("INSERT INTO test VALUES {big}"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            store_error(&e),
            Some(StoreError::TransactionTooLarge { limit: 4096 })
        ),
        "{e}"
    );
    assert_eq!(
        db.rows("SELECT pending_bytes, status FROM sys.transactions")
            .await
            .unwrap(),
        [["0", "failed"]]
    );
    assert!(tx.commit().await.is_err());
    assert_eq!(db.rows("SELECT count(*) FROM test").await.unwrap(), [["2"]]);
}

/// A table altered after a transaction wrote it: the transaction's COMMIT fails with a
/// serialization error naming it (its index entries were made for the old definition).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_altered_after_the_transaction_wrote_it_fails_the_commit() {
    let (db, s) = setup(1).await;
    let s = &s[0];
    s.run("BEGIN").await;
    s.run("INSERT INTO test VALUES (3, 30)").await;
    db.query("CREATE INDEX test_value ON test (value)")
        .await
        .unwrap();
    let e = s.fails("COMMIT").await;
    assert!(
        matches!(store_error(&e), Some(StoreError::SerializationFailure { table, .. }) if table == "test"),
        "{e}"
    );
    assert_eq!(db.rows("SELECT count(*) FROM test").await.unwrap(), [["2"]]);
    db.assert_verified();
}

/// EXPLAIN inside a transaction shows the scans merging its pending writes;
/// `sys.transactions` shows it with what it holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_sys_transactions_show_a_transaction() {
    let (db, s) = setup(1).await;
    let s = &s[0];
    let query = "SELECT * FROM test WHERE id = 1";
    let plan = |rows: Vec<Vec<String>>| {
        rows.into_iter()
            .filter(|r| r[0] == "physical_plan")
            .map(|r| r[1].clone())
            .collect::<String>()
    };
    assert!(!plan(s.run(&format!("EXPLAIN {query}")).await).contains("pending=merged"));
    s.run("BEGIN ISOLATION LEVEL SERIALIZABLE").await;
    s.run("UPDATE test SET value = 0 WHERE id < 3").await;
    let inside = plan(s.run(&format!("EXPLAIN {query}")).await);
    assert!(inside.contains("pending=merged"), "{inside}");
    assert_eq!(
        db.rows(
            "SELECT namespace, isolation, read_only, pending_rows, status FROM sys.transactions"
        )
        .await
        .unwrap(),
        [["public", "SERIALIZABLE", "false", "2", "active"]]
    );
    s.run("ROLLBACK").await;
    assert!(db
        .rows("SELECT * FROM sys.transactions")
        .await
        .unwrap()
        .is_empty());
}

/// The embedded API: a transaction of its own, beside the session's statements, with
/// prepared statements; dropped, it rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_transactions_commit_and_roll_back_when_dropped() {
    let (db, _) = setup(0).await;
    let tx = db.quiver.begin();
    let insert = tx
        .prepare("INSERT INTO test VALUES ($1, $2)")
        .await
        .unwrap();
    for i in 3..6i64 {
        insert
            .query(vec![ScalarValue::from(i), ScalarValue::from(i * 10)])
            .await
            .unwrap();
    }
    assert_eq!(
        render(&tx.query("SELECT count(*) FROM test").await.unwrap()),
        [["5"]]
    );
    // The session itself is not in the transaction.
    assert_eq!(db.rows("SELECT count(*) FROM test").await.unwrap(), [["2"]]);
    tx.commit().await.unwrap();
    assert_eq!(db.rows("SELECT count(*) FROM test").await.unwrap(), [["5"]]);
    // Its prepared statement is refused once it has ended, never autocommitted.
    let e = insert
        .query(vec![ScalarValue::from(9i64), ScalarValue::from(90i64)])
        .await
        .unwrap_err();
    assert!(
        matches!(sql_error(&e), Some(SqlError::UnknownTransaction(_))),
        "{e}"
    );

    let dropped = db.quiver.begin();
    dropped.query("DELETE FROM test").await.unwrap();
    drop(dropped);
    assert_eq!(db.rows("SELECT count(*) FROM test").await.unwrap(), [["5"]]);
    assert_eq!(
        db.rows("SELECT count(*) FROM test WHERE id = 9")
            .await
            .unwrap(),
        [["0"]]
    );
}

/// Every scan of one statement reads one snapshot: two counts of the same table in one
/// statement agree while another client inserts rows, in autocommit and prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scan_of_a_statement_reads_one_snapshot() {
    let (db, _) = setup(0).await;
    let writer = {
        let q = db.quiver.clone();
        tokio::spawn(async move {
            for i in 0..400i64 {
                q.sql(&format!("INSERT INTO test VALUES ({}, {i})", 100 + i))
                    .await
                    .unwrap()
                    .collect()
                    .await
                    .unwrap();
            }
        })
    };
    let twice = "SELECT (SELECT count(*) FROM test WHERE value >= 0), \
                 (SELECT sum(value) - sum(value) + count(*) FROM test)";
    let prepared = db.quiver.prepare(twice).await.unwrap();
    while !writer.is_finished() {
        for rows in [
            db.rows(twice).await.unwrap(),
            render(&prepared.query(Vec::<ScalarValue>::new()).await.unwrap()),
        ] {
            assert_eq!(
                rows[0][0], rows[0][1],
                "two scans of one statement disagree"
            );
        }
    }
    writer.await.unwrap();
}

/// Statements of one transaction take turns: a second while the first's rows are still
/// open is refused (rather than waiting on a stream that may never be read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_runs_one_statement_at_a_time() {
    let (_db, _) = setup(0).await;
    let tx = _db.quiver.begin();
    let open = tx.execute("SELECT * FROM test").await.unwrap();
    let e = tx.query("SELECT 1").await.unwrap_err();
    assert!(
        matches!(sql_error(&e), Some(SqlError::TransactionBusy(_))),
        "{e}"
    );
    drop(open);
    assert_eq!(render(&tx.query("SELECT 1").await.unwrap()), [["1"]]);
    tx.rollback().await;
}

/// DDL in a transaction that has written nothing runs at once, on its own (a ROLLBACK does
/// not undo it), and the transaction goes on with a snapshot taken after it: how a DB-API
/// client, always in a transaction, creates its tables. Once it has written, DDL is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_in_a_transaction_that_has_not_written_runs_on_its_own() {
    let (db, s) = setup(1).await;
    let s = &s[0];
    s.run("BEGIN").await;
    assert_eq!(s.run("SELECT count(*) FROM test").await, [["2"]]);
    s.run("CREATE TABLE fresh (id BIGINT PRIMARY KEY)").await;
    s.run("INSERT INTO fresh VALUES (1)").await;
    assert_eq!(s.run("SELECT count(*) FROM fresh").await, [["1"]]);
    let e = s.fails("CREATE INDEX fresh_id ON fresh (id)").await;
    assert!(
        matches!(sql_error(&e), Some(SqlError::Unsupported { .. })),
        "{e}"
    );
    s.run("ROLLBACK").await;
    assert_eq!(
        db.rows("SELECT count(*) FROM fresh").await.unwrap(),
        [["0"]]
    );
}
