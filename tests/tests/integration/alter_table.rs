//! ALTER TABLE on a table with data, TTL, unique and covering indexes, while writers keep
//! inserting: after each change and after reopening, every row reads with every column, the
//! integrity check finds nothing wrong, and no row is lost. The changes that rewrite storage
//! (DROP COLUMN rewrites records, RENAME TO copies partitions) hold writers off; a writer
//! whose statement was planned before a change gets an error, never a half-written row.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use quiver_tests::TempDb;

async fn count(db: &TempDb, sql: &str) -> u64 {
    db.rows(sql).await.unwrap()[0][0].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alter_table_under_writes_keeps_every_row_and_index() {
    let mut db = TempDb::new();
    db.query(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, email TEXT, status TEXT, n BIGINT, seen TIMESTAMP) \
         WITH (ttl = '3650d', ttl_column = 'seen')",
    )
    .await
    .unwrap();
    db.query("CREATE UNIQUE INDEX t_email ON t (email)")
        .await
        .unwrap();
    db.query("CREATE INDEX t_status ON t (status, n) INCLUDE (email)")
        .await
        .unwrap();
    let values: Vec<String> = (0..2000)
        .map(|i| format!("({i}, 'u{i}@x', 's{}', {i}, now())", i % 3))
        .collect();
    db.query(&format!("INSERT INTO t VALUES {}", values.join(", ")))
        .await
        .unwrap();

    // Writers insert new ids until told to stop; each counts the rows it wrote.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for w in 0..3u64 {
        let (q, stop, written) = (db.quiver.clone(), stop.clone(), written.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = 100_000 + w * 100_000 + i;
                i += 1;
                // Columns named, so the statement stays valid across the changes below.
                let sql = format!(
                    "INSERT INTO t (id, email, status, seen) VALUES ({id}, 'w{id}@x', 's1', now())"
                );
                if q.query(&sql).await.is_ok() {
                    written.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for change in [
        "ALTER TABLE t ADD COLUMN score DOUBLE DEFAULT 1.5",
        "CREATE INDEX t_score ON t (score)",
        "ALTER TABLE t RENAME COLUMN n TO contacts",
        "ALTER TABLE t ADD COLUMN note TEXT",
        "ALTER TABLE t DROP COLUMN note",
    ] {
        db.query(change)
            .await
            .unwrap_or_else(|e| panic!("{change}: {e}"));
        db.assert_verified();
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let total = 2000 + written.load(Ordering::Relaxed);
    assert_eq!(count(&db, "SELECT count(*) FROM t").await, total);

    db.query("ALTER TABLE t RENAME TO people").await.unwrap();
    db.assert_verified();
    db.reopen();
    db.assert_verified();
    assert_eq!(count(&db, "SELECT count(*) FROM people").await, total);
    // Every row reads every column: the old rows their stored values and the added
    // column's default, through the records and through each index.
    assert_eq!(
        count(&db, "SELECT count(*) FROM people WHERE score = 1.5").await,
        total
    );
    assert_eq!(
        db.rows("SELECT id, email, status, contacts, score FROM people WHERE email = 'u7@x'")
            .await
            .unwrap(),
        [["7", "u7@x", "s1", "7", "1.5"]]
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM people WHERE status = 's1' AND contacts >= 0"
        )
        .await,
        667
    );
    assert!(db
        .query("INSERT INTO people (id, email) VALUES (1, 'u8@x')")
        .await
        .is_err());
}
