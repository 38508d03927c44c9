//! The SQLite side: a file database in WAL mode with the same indexes (tags in a side table
//! with an index, SQLite having no arrays), ANALYZE run after loading.

use std::path::Path;
use std::time::Instant;

use indexed_store::{Row, Value};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::Timing;

fn sql_value(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Bool(b) => rusqlite::types::Value::Integer(*b as i64),
        Value::Int(i) | Value::Timestamp(i) => rusqlite::types::Value::Integer(*i),
        Value::Float(f) => rusqlite::types::Value::Real(*f),
        Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
        Value::Bytes(b) => rusqlite::types::Value::Blob(b.clone()),
        // The reference workload holds neither (lists go to their own table).
        Value::List(_) | Value::Decimal(..) => rusqlite::types::Value::Null,
    }
}

/// Loads the rows; returns the connection and the ingest rate (rows/s).
pub fn load(path: &Path, rows: &[Row], batch: usize) -> (Connection, f64) {
    let mut conn = Connection::open(path).expect("open sqlite");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE accounts (id TEXT PRIMARY KEY, status TEXT NOT NULL, contacts_count INTEGER NOT NULL,
           owner TEXT NOT NULL, created_at INTEGER NOT NULL, score REAL, tags TEXT) WITHOUT ROWID;
         CREATE TABLE account_tags (tag TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (tag, id)) WITHOUT ROWID;
         CREATE INDEX accounts_status_contacts ON accounts (status, contacts_count);
         CREATE INDEX accounts_contacts ON accounts (contacts_count);
         CREATE INDEX accounts_owner ON accounts (owner);",
    )
    .expect("sqlite schema");
    let start = Instant::now();
    for chunk in rows.chunks(batch) {
        let tx = conn.transaction().expect("tx");
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO accounts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .expect("prepare");
            let mut tag = tx
                .prepare_cached("INSERT INTO account_tags VALUES (?1, ?2)")
                .expect("prepare");
            for row in chunk {
                let tags: Vec<String> = match &row[6] {
                    Value::List(items) => items
                        .iter()
                        .filter_map(|t| {
                            if let Value::Text(s) = t {
                                Some(s.clone())
                            } else {
                                None
                            }
                        })
                        .collect(),
                    _ => vec![],
                };
                let mut params: Vec<rusqlite::types::Value> =
                    row[..6].iter().map(sql_value).collect();
                params.push(rusqlite::types::Value::Text(tags.join(",")));
                insert
                    .execute(rusqlite::params_from_iter(params))
                    .expect("insert");
                for t in tags {
                    tag.execute(rusqlite::params![t, sql_value(&row[0])])
                        .expect("insert tag");
                }
            }
        }
        tx.commit().expect("commit");
    }
    let rate = rows.len() as f64 / start.elapsed().as_secs_f64();
    conn.execute_batch("ANALYZE;").expect("analyze");
    (conn, rate)
}

fn run(stmt: &mut rusqlite::Statement<'_>) -> usize {
    run_with(stmt, &[])
}

/// Runs a prepared statement with `params`, reading every column of every row (SQLite
/// decodes a column only when it is read, and Quiver builds every column it returns);
/// returns the number of rows.
pub fn run_with(stmt: &mut rusqlite::Statement<'_>, params: &[rusqlite::types::Value]) -> usize {
    let n = stmt.column_count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .expect("query");
    let mut count = 0;
    let mut bytes = 0usize;
    while let Some(row) = rows.next().expect("step") {
        for i in 0..n {
            bytes += match row.get_ref(i).expect("column") {
                ValueRef::Text(t) | ValueRef::Blob(t) => t.len(),
                _ => 8,
            };
        }
        count += 1;
    }
    std::hint::black_box(bytes);
    count
}

/// Times a query planned anew each run, and prepared once.
pub fn time(conn: &Connection, sql: &str, iterations: usize) -> (Timing, Timing) {
    let rows = run(&mut conn.prepare(sql).expect("prepare"));
    let mut fresh = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        run(&mut conn.prepare(sql).expect("prepare"));
        fresh.push(start.elapsed());
    }
    let mut stmt = conn.prepare(sql).expect("prepare");
    let mut reused = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        run(&mut stmt);
        reused.push(start.elapsed());
    }
    (Timing::from(fresh, rows), Timing::from(reused, rows))
}
