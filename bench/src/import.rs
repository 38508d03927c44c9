//! File import: the same rows loaded from memory (`load`, the ceiling), exported to Parquet
//! and CSV with `COPY ... TO`, and imported again with `COPY ... FROM`, beside SQLite
//! importing the same CSV (parsed and inserted in transactions of 10,000 through one prepared
//! statement, as its shell's `.import` does) with the same indexes. Then the peak resident
//! memory of a process that imports a large Parquet file and does nothing else.

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use indexed_store::workload::accounts;
use indexed_store::{Database, Row, DEFAULT_LOAD_BATCH};
use providers::Quiver;
use rusqlite::Connection;

/// The reference accounts without their list column (CSV has no lists).
const TABLE: &str = "(id TEXT PRIMARY KEY, status TEXT NOT NULL, contacts_count BIGINT NOT NULL, \
    owner TEXT NOT NULL, created_at TIMESTAMP NOT NULL, score DOUBLE)";

async fn create(quiver: &Quiver, name: &str) {
    quiver
        .query(&format!("CREATE TABLE {name} {TABLE}"))
        .await
        .expect("create");
    for (index, columns) in [
        ("status_contacts", "status, contacts_count DESC"),
        ("owner", "owner"),
    ] {
        quiver
            .query(&format!(
                "CREATE INDEX {name}_{index} ON {name} ({columns})"
            ))
            .await
            .expect("index");
    }
}

/// The one BIGINT a query returns.
async fn scalar(quiver: &Quiver, sql: &str) -> i64 {
    let batches = quiver
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    datafusion::arrow::array::cast::as_primitive_array::<datafusion::arrow::datatypes::Int64Type>(
        batches[0].column(0),
    )
    .value(0)
}

async fn count(quiver: &Quiver, table: &str) -> u64 {
    scalar(quiver, &format!("SELECT count(*) FROM {table}")).await as u64
}

async fn timed(quiver: &Quiver, sql: &str) -> f64 {
    let start = Instant::now();
    quiver
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    start.elapsed().as_secs_f64()
}

/// Import throughput at `n` rows.
pub async fn report(n: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = std::sync::Arc::new(Database::open(dir.path().join("quiver")).expect("open"));
    let quiver = Quiver::new(db.clone());
    let rows: Vec<Row> = accounts(42, n)
        .map(|mut r| {
            r.truncate(6);
            r
        })
        .collect();
    create(&quiver, "ceiling").await;
    let store = db.row_table("ceiling").expect("table");
    let start = Instant::now();
    store.load(rows, DEFAULT_LOAD_BATCH).expect("load");
    let load = start.elapsed().as_secs_f64();

    let parquet = dir.path().join("accounts.parquet");
    let csv = dir.path().join("accounts.csv");
    let mut exports = Vec::new();
    for file in [&parquet, &csv] {
        let secs = timed(
            &quiver,
            &format!("COPY (SELECT * FROM ceiling) TO '{}'", file.display()),
        )
        .await;
        exports.push(secs);
    }
    let mut imports = Vec::new();
    for (table, file) in [("via_parquet", &parquet), ("via_csv", &csv)] {
        create(&quiver, table).await;
        let secs = timed(&quiver, &format!("COPY {table} FROM '{}'", file.display())).await;
        assert_eq!(count(&quiver, table).await, n, "{table}");
        imports.push(secs);
    }
    // The round trips are exact: no row of one table is missing from the other.
    for table in ["via_parquet", "via_csv"] {
        for (a, b) in [("ceiling", table), (table, "ceiling")] {
            let differing =
                format!("SELECT count(*) FROM (SELECT * FROM {a} EXCEPT SELECT * FROM {b})");
            assert_eq!(
                scalar(&quiver, &differing).await,
                0,
                "rows of {a} not in {b}"
            );
        }
    }
    let sqlite = sqlite_import(&csv, &dir.path().join("sqlite.db"));
    let rate = |secs: f64| format!("{:.0}", n as f64 / secs);
    println!("\n## File import, {n} rows (accounts without tags; two secondary indexes; both round trips checked row for row)\n");
    println!("| how | seconds | rows/s |");
    println!("|---|---:|---:|");
    println!(
        "| Quiver `load` from memory (ceiling) | {load:.2} | {} |",
        rate(load)
    );
    println!(
        "| Quiver `COPY FROM` Parquet | {:.2} | {} |",
        imports[0],
        rate(imports[0])
    );
    println!(
        "| Quiver `COPY FROM` CSV | {:.2} | {} |",
        imports[1],
        rate(imports[1])
    );
    println!(
        "| SQLite import of the same CSV | {sqlite:.2} | {} |",
        rate(sqlite)
    );
    println!(
        "| Quiver `COPY TO` Parquet | {:.2} | {} |",
        exports[0],
        rate(exports[0])
    );
    println!(
        "| Quiver `COPY TO` CSV | {:.2} | {} |",
        exports[1],
        rate(exports[1])
    );
}

/// SQLite importing a CSV: each line parsed and inserted through one prepared statement, in
/// transactions of 10,000, into a table with the same key and indexes.
fn sqlite_import(csv: &Path, db: &Path) -> f64 {
    let mut conn = Connection::open(db).expect("open sqlite");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE accounts (id TEXT PRIMARY KEY, status TEXT NOT NULL,
           contacts_count INTEGER NOT NULL, owner TEXT NOT NULL, created_at TEXT NOT NULL,
           score REAL) WITHOUT ROWID;
         CREATE INDEX accounts_status_contacts ON accounts (status, contacts_count DESC);
         CREATE INDEX accounts_owner ON accounts (owner);",
    )
    .expect("sqlite schema");
    let start = Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(csv).expect("csv"));
    let mut lines = file.lines().skip(1).map(|l| l.expect("line")).peekable();
    while lines.peek().is_some() {
        let tx = conn.transaction().expect("tx");
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO accounts VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .expect("prepare");
            for line in lines.by_ref().take(10_000) {
                // The workload's values hold no commas or quotes.
                let f: Vec<&str> = line.split(',').collect();
                let score: Option<f64> = f[5].parse().ok();
                insert
                    .execute(rusqlite::params![
                        f[0],
                        f[1],
                        f[2].parse::<i64>().expect("contacts"),
                        f[3],
                        f[4],
                        score
                    ])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    start.elapsed().as_secs_f64()
}

/// Writes an `n`-row Parquet file (streamed from a query, never whole in memory), then imports
/// it in a child process that does nothing else and reports its peak resident memory: once
/// with RocksDB's caches as `quiver` opens a database (256 MiB block cache, 64 MiB row
/// cache), once with a 32 MiB block cache and no row cache, which shows what the import itself
/// holds.
pub async fn report_memory(n: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("big.parquet");
    let maker = Quiver::new(std::sync::Arc::new(Database::in_memory().expect("db")));
    maker
        .query(&format!(
            "COPY (SELECT 'acct-' || value AS id, \
             CASE value % 4 WHEN 0 THEN 'active' WHEN 1 THEN 'trial' WHEN 2 THEN 'paused' ELSE 'churned' END AS status, \
             value % 5000 AS contacts_count, 'owner-' || (value % 1000) AS owner, \
             to_timestamp_micros(1704067200000000 + value * 1000000) AS created_at, \
             (value % 1000) / 10.0 AS score FROM generate_series(1, {n})) TO '{}'",
            file.display()
        ))
        .await
        .expect("write the file");
    println!("\n## Importing a {n}-row Parquet file in a process of its own\n");
    println!("| RocksDB caches | rows | seconds | rows/s | peak resident memory |");
    println!("|---|---:|---:|---:|---:|");
    for small_caches in [false, true] {
        let mut child = std::process::Command::new(std::env::current_exe().expect("exe"));
        child
            .arg("--import-file")
            .arg(&file)
            .args(["--rows", "0", "--jobs", "0"]);
        if small_caches {
            child.arg("--small-caches");
        }
        let out = child.output().expect("run the importer");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The child of [`report_memory`]: imports one file into a fresh database.
pub async fn import_file(file: &Path, small_caches: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = kv_store::RocksOptions::default();
    if small_caches {
        options.block_cache_bytes = 32 << 20;
        options.row_cache_bytes = 0;
    }
    let db = Database::open_with(dir.path(), options).expect("open");
    let quiver = Quiver::new(std::sync::Arc::new(db));
    create(&quiver, "imported").await;
    let secs = timed(&quiver, &format!("COPY imported FROM '{}'", file.display())).await;
    // Read before the count, whose index walk fills the block cache.
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let rows = count(&quiver, "imported").await;
    let caches = if small_caches {
        "32 MiB block cache, no row cache"
    } else {
        "default (256 MiB block, 64 MiB row)"
    };
    println!(
        "| {caches} | {rows} | {secs:.1} | {:.0} | {} MiB |",
        rows as f64 / secs,
        peak / 1024
    );
}
