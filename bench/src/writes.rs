//! Single-row writes through prepared statements, one statement (and one commit) per row:
//! `INSERT` of a new account and `UPDATE ... WHERE id = ?`, on Quiver and on SQLite (WAL,
//! `synchronous = NORMAL`, autocommit: neither syncs the log on each commit).

use std::time::Instant;

use datafusion::common::ScalarValue;
use providers::Quiver;
use rusqlite::Connection;

const INSERT: &str = "INSERT INTO accounts (id, status, contacts_count, owner, created_at, score) VALUES ($1, $2, $3, $4, $5, $6)";
const UPDATE: &str = "UPDATE accounts SET score = $1 WHERE id = $2";

fn new_id(i: usize) -> String {
    format!("new-{i:08}")
}

/// Times `n` prepared single-row inserts and `n` updates on each system and prints rows/s.
pub async fn report(quiver: &Quiver, sqlite: &Connection, n: usize) {
    if n == 0 {
        return;
    }
    let insert = quiver.prepare(INSERT).await.expect("prepare insert");
    let start = Instant::now();
    for i in 0..n {
        insert
            .query(vec![
                ScalarValue::from(new_id(i)),
                ScalarValue::from("active"),
                ScalarValue::Int64(Some(i as i64)),
                ScalarValue::from("owner-0001"),
                ScalarValue::TimestampMicrosecond(Some(1_700_000_000_000_000), None),
                ScalarValue::Float64(Some(0.5)),
            ])
            .await
            .expect("insert");
    }
    let quiver_insert = n as f64 / start.elapsed().as_secs_f64();
    let update = quiver.prepare(UPDATE).await.expect("prepare update");
    let start = Instant::now();
    for i in 0..n {
        update
            .query(vec![
                ScalarValue::Float64(Some(i as f64)),
                ScalarValue::from(new_id(i)),
            ])
            .await
            .expect("update");
    }
    let quiver_update = n as f64 / start.elapsed().as_secs_f64();

    let mut insert = sqlite
        .prepare_cached("INSERT INTO accounts (id, status, contacts_count, owner, created_at, score) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .expect("prepare");
    let start = Instant::now();
    for i in 0..n {
        insert
            .execute(rusqlite::params![
                new_id(i),
                "active",
                i as i64,
                "owner-0001",
                1_700_000_000_000_000i64,
                0.5
            ])
            .expect("insert");
    }
    let sqlite_insert = n as f64 / start.elapsed().as_secs_f64();
    let mut update = sqlite
        .prepare_cached("UPDATE accounts SET score = ?1 WHERE id = ?2")
        .expect("prepare");
    let start = Instant::now();
    for i in 0..n {
        update
            .execute(rusqlite::params![i as f64, new_id(i)])
            .expect("update");
    }
    let sqlite_update = n as f64 / start.elapsed().as_secs_f64();
    println!("\nprepared single-row writes, {n} each, one commit per row (rows/s):\n");
    println!("| statement | Quiver | SQLite |");
    println!("|---|---:|---:|");
    println!("| INSERT one row | {quiver_insert:.0} | {sqlite_insert:.0} |");
    println!("| UPDATE ... WHERE id = ? | {quiver_update:.0} | {sqlite_update:.0} |");
}
