//! INSERT ... ON CONFLICT DO UPDATE decides under the conflicting row's lock, on its current
//! version. The bug this guards against is the one UPDATE once had (see
//! `concurrent_statements.rs`): an upsert that read the existing row from a snapshot and
//! wrote `existing.n + excluded.n` computed from that copy would lose increments when many
//! clients upsert one key at once, and two clients inserting a new key at once would make
//! one of them fail with a duplicate key instead of updating. Here every upsert of every
//! client lands, whether the key is new or not, through a prepared statement (parameters in
//! VALUES) as a service would send it.

use datafusion::common::ScalarValue;
use quiver_tests::{render, TempDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_upserts_of_one_key_lose_nothing() {
    let db = TempDb::new();
    db.query("CREATE TABLE counters (id TEXT PRIMARY KEY, n BIGINT NOT NULL, last TEXT)")
        .await
        .unwrap();
    let upsert = db
        .quiver
        .prepare(
            "INSERT INTO counters VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET n = counters.n + excluded.n, last = excluded.last \
             RETURNING n",
        )
        .await
        .unwrap();
    let (tasks, each) = (16, 25);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let upsert = upsert.clone();
        handles.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for i in 0..each {
                // Every task bumps the shared key and creates its own.
                for key in ["shared".to_owned(), format!("own-{t}")] {
                    let params = vec![
                        ScalarValue::from(key.as_str()),
                        ScalarValue::Int64(Some(1)),
                        ScalarValue::from(format!("{t}-{i}").as_str()),
                    ];
                    let rows = render(&upsert.query(params).await.unwrap());
                    if key == "shared" {
                        seen.push(rows[0][0].parse::<i64>().unwrap());
                    }
                }
            }
            seen
        }));
    }
    let mut returned = Vec::new();
    for h in handles {
        returned.extend(h.await.unwrap());
    }
    let total = (tasks * each) as i64;
    assert_eq!(
        db.rows("SELECT n FROM counters WHERE id = 'shared'")
            .await
            .unwrap(),
        [[total.to_string()]]
    );
    // RETURNING showed each upsert its own row as written: every count from 1 to the total
    // exactly once.
    returned.sort();
    assert_eq!(returned, (1..=total).collect::<Vec<_>>());
    assert_eq!(
        db.rows("SELECT count(*), sum(n) FROM counters WHERE id LIKE 'own-%'")
            .await
            .unwrap(),
        [[tasks.to_string(), total.to_string()]]
    );
    db.assert_verified();
}

/// Many clients upserting by a unique email: one row per email in the end, each update
/// applied once, the unique index consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_upserts_by_unique_index_keep_one_row_per_value() {
    let db = TempDb::new();
    db.query("CREATE TABLE people (id BIGINT PRIMARY KEY, email TEXT, visits BIGINT NOT NULL)")
        .await
        .unwrap();
    db.query("CREATE UNIQUE INDEX people_email ON people (email)")
        .await
        .unwrap();
    db.query("INSERT INTO people VALUES (1, 'ann@x', 0), (2, 'bob@x', 0)")
        .await
        .unwrap();
    let visit = db
        .quiver
        .prepare(
            "INSERT INTO people VALUES ($1, $2, 1) \
             ON CONFLICT (email) DO UPDATE SET visits = people.visits + 1",
        )
        .await
        .unwrap();
    let mut handles = Vec::new();
    for t in 0..8i64 {
        let visit = visit.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..20i64 {
                let email = if i % 2 == 0 { "ann@x" } else { "bob@x" };
                // A fresh id each time: the email, not the id, finds the row.
                let id = 1000 + t * 100 + i;
                visit
                    .query(vec![ScalarValue::Int64(Some(id)), ScalarValue::from(email)])
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(
        db.rows("SELECT id, email, visits FROM people ORDER BY id")
            .await
            .unwrap(),
        [["1", "ann@x", "80"], ["2", "bob@x", "80"]]
    );
    db.assert_verified();
}
