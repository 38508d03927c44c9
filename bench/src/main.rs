//! Quiver's benchmark: the reference `accounts` workload (DESIGN.md), generated
//! deterministically, loaded into Quiver (RocksDB on disk), SQLite (file database in WAL mode,
//! same indexes, `WITHOUT ROWID`, ANALYZE run) and a DataFusion `MemTable` (two partitions);
//! every reference query timed on each through SQL, planning included, every column of every
//! row read. A "prepared" column reuses each system's planning work across runs.
//!
//! ```text
//! cargo run --release -p quiver-bench -- --rows 100000 --rows 1000000
//! cargo run --release -p quiver-bench -- --rows 10000000          # opt-in 10M
//! cargo run -p quiver-bench -- --smoke                             # a few thousand rows (CI: tests/smoke.rs)
//! cargo run --release -p quiver-bench -- --jobs 100000 --rows 0     # the job queue only
//! cargo run --release -p quiver-bench -- --rows 0 --jobs 0 --import 1000000 --import-memory 10000000
//! ```

mod import;
mod jobs;
mod pages;
mod sqlite;
mod transactions;
mod writes;

/// The allocator the `quiver` binary uses, so the numbers are the shell's and the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use indexed_store::workload::{accounts, accounts_schema};
use indexed_store::{Database, Mutation, Row};
use providers::convert::{arrow_schema, rows_to_batch};
use providers::Quiver;

#[derive(Parser)]
#[command(
    about = "Quiver against SQLite and a DataFusion MemTable on the reference accounts workload"
)]
struct Args {
    /// Row counts to run at (repeatable).
    #[arg(long = "rows", default_values_t = vec![100_000u64, 1_000_000u64])]
    rows: Vec<u64>,
    /// Timed runs per query (after one warm-up).
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Rows per write batch when loading.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// A quick run that only checks the harness: 3,000 rows, 2 iterations.
    #[arg(long)]
    smoke: bool,
    /// Load only: report ingest and skip the queries (for profiling the write path).
    #[arg(long)]
    ingest_only: bool,
    /// Single-row prepared INSERTs and UPDATEs timed per system.
    #[arg(long, default_value_t = 5_000)]
    writes: usize,
    /// Units of the embedded transaction benchmark (0: skip it).
    #[arg(long, default_value_t = 2_000)]
    transactions: usize,
    /// Jobs in the job-queue benchmark (0: skip it).
    #[arg(long, default_value_t = 100_000)]
    jobs: usize,
    /// Worker counts of the job-queue benchmark (repeatable).
    #[arg(long = "job-workers", default_values_t = vec![1usize, 4, 16])]
    job_workers: Vec<usize>,
    /// Run only the queries whose name contains this text (repeatable; for profiling).
    #[arg(long = "query")]
    only: Vec<String>,
    /// Rows of the file-import benchmark (0: skip it).
    #[arg(long, default_value_t = 0)]
    import: u64,
    /// Rows of a Parquet file imported by a process of its own, whose peak memory is
    /// reported (0: skip it).
    #[arg(long, default_value_t = 0)]
    import_memory: u64,
    /// Import this file into a fresh database and report time and peak memory (what
    /// `--import-memory` runs in a child process).
    #[arg(long)]
    import_file: Option<std::path::PathBuf>,
    /// With --import-file: open the database with small RocksDB caches.
    #[arg(long)]
    small_caches: bool,
    /// Write the results as JSON to this file too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// A reference query: its SQL for Quiver and the MemTable, its SQL for SQLite (which has no
/// arrays: tags live in a side table with an index), and a parameterised form with its
/// parameter for the prepared runs (none where the query has no natural parameter: the plan
/// is still reused).
pub struct Query {
    name: &'static str,
    sql: &'static str,
    sqlite: &'static str,
    prepared: &'static str,
    param: &'static str,
}

const QUERIES: [Query; 11] = [
    Query {
        name: "top-k by index",
        sql:
            "SELECT * FROM accounts WHERE status = 'active' ORDER BY contacts_count DESC LIMIT 200",
        sqlite:
            "SELECT * FROM accounts WHERE status = 'active' ORDER BY contacts_count DESC LIMIT 200",
        prepared: "SELECT * FROM accounts WHERE status = $1 ORDER BY contacts_count DESC LIMIT 200",
        param: "active",
    },
    Query {
        name: "top-k covered",
        sql: "SELECT id, contacts_count FROM accounts WHERE status = 'active' ORDER BY contacts_count DESC LIMIT 200",
        sqlite: "SELECT id, contacts_count FROM accounts WHERE status = 'active' ORDER BY contacts_count DESC LIMIT 200",
        prepared: "SELECT id, contacts_count FROM accounts WHERE status = $1 ORDER BY contacts_count DESC LIMIT 200",
        param: "active",
    },
    Query {
        name: "take (limit)",
        sql: "SELECT * FROM accounts WHERE status = 'active' LIMIT 200",
        sqlite: "SELECT * FROM accounts WHERE status = 'active' LIMIT 200",
        prepared: "SELECT * FROM accounts WHERE status = $1 LIMIT 200",
        param: "active",
    },
    Query {
        name: "point by id",
        sql: "SELECT * FROM accounts WHERE id = 'acc-00002424'",
        sqlite: "SELECT * FROM accounts WHERE id = 'acc-00002424'",
        prepared: "SELECT * FROM accounts WHERE id = $1",
        param: "acc-00002424",
    },
    Query {
        name: "range",
        sql: "SELECT * FROM accounts WHERE contacts_count BETWEEN 50000 AND 50100",
        sqlite: "SELECT * FROM accounts WHERE contacts_count BETWEEN 50000 AND 50100",
        prepared:
            "SELECT * FROM accounts WHERE contacts_count BETWEEN CAST($1 AS BIGINT) AND 50100",
        param: "50000",
    },
    Query {
        name: "count by status",
        sql: "SELECT count(*) FROM accounts WHERE status = 'pending'",
        sqlite: "SELECT count(*) FROM accounts WHERE status = 'pending'",
        prepared: "SELECT count(*) FROM accounts WHERE status = $1",
        param: "pending",
    },
    Query {
        name: "distinct status",
        sql: "SELECT DISTINCT status FROM accounts",
        sqlite: "SELECT DISTINCT status FROM accounts",
        prepared: "SELECT DISTINCT status FROM accounts",
        param: "",
    },
    Query {
        name: "array_has",
        sql: "SELECT id FROM accounts WHERE array_has(tags, 'renewal_due')",
        sqlite: "SELECT id FROM account_tags WHERE tag = 'renewal_due'",
        prepared: "SELECT id FROM accounts WHERE array_has(tags, $1)",
        param: "renewal_due",
    },
    Query {
        name: "facet by status",
        sql: "SELECT status, count(*) FROM accounts GROUP BY status",
        sqlite: "SELECT status, count(*) FROM accounts GROUP BY status",
        prepared: "SELECT status, count(*) FROM accounts GROUP BY status",
        param: "",
    },
    Query {
        name: "filtered distinct",
        sql: "SELECT DISTINCT owner FROM accounts WHERE owner >= 'owner-0500'",
        sqlite: "SELECT DISTINCT owner FROM accounts WHERE owner >= 'owner-0500'",
        prepared: "SELECT DISTINCT owner FROM accounts WHERE owner >= $1",
        param: "owner-0500",
    },
    Query {
        name: "full-scan aggregate",
        sql: "SELECT status, count(*), avg(score) FROM accounts GROUP BY status",
        sqlite: "SELECT status, count(*), avg(score) FROM accounts GROUP BY status",
        prepared: "SELECT status, count(*), avg(score) FROM accounts GROUP BY status",
        param: "",
    },
];

/// Scan throughput beside its floor: rows per second a full `SELECT *` decodes into Arrow
/// (one partition, so one core), and rows per second RocksDB itself walks the same records
/// without decoding anything.
async fn scan_rates(db: &Database, quiver: &Quiver, n: u64) {
    let records = format!("t/{}", accounts_schema().name);
    let start = Instant::now();
    let mut walked = 0u64;
    db.backend()
        .visit(
            &records,
            &kv_store::KeyRange::all(),
            kv_store::Direction::Forward,
            &mut |_, _| {
                walked += 1;
                true
            },
        )
        .expect("walk records");
    let raw = walked as f64 / start.elapsed().as_secs_f64();
    quiver
        .sql("SET datafusion.execution.target_partitions = 1")
        .await
        .expect("one partition");
    let start = Instant::now();
    let batches = quiver
        .sql("SELECT * FROM accounts")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("scan");
    let decoded = touch(&batches) as f64 / start.elapsed().as_secs_f64();
    println!(
        "
scan throughput at {n} rows, one core: {decoded:.0} rows/s decoded into Arrow (SELECT *), {raw:.0} rows/s walked by RocksDB without decoding ({:.1}x the floor)",
        raw / decoded
    );
}

/// Median and p95 of timed runs, and the rows one run returned.
#[derive(Clone, Copy)]
pub struct Timing {
    median: Duration,
    p95: Duration,
    rows: usize,
}

impl Timing {
    fn from(mut samples: Vec<Duration>, rows: usize) -> Self {
        samples.sort();
        let p95 = samples[((samples.len() * 95) / 100).min(samples.len() - 1)];
        Timing {
            median: samples[samples.len() / 2],
            p95,
            rows,
        }
    }
}

fn touch(batches: &[RecordBatch]) -> usize {
    let bytes: usize = batches
        .iter()
        .map(|b| {
            b.columns()
                .iter()
                .map(|c| c.get_array_memory_size())
                .sum::<usize>()
        })
        .sum();
    std::hint::black_box(bytes);
    batches.iter().map(|b| b.num_rows()).sum()
}

async fn time<F, Fut>(iterations: usize, mut run: F) -> Timing
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<RecordBatch>>,
{
    let rows = touch(&run().await);
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        touch(&run().await);
        samples.push(start.elapsed());
    }
    Timing::from(samples, rows)
}

/// Two sides timed one run each in turn, so both see the same moments of a machine whose
/// speed drifts (their medians measured one after the other can differ 1.5x from pass to
/// pass on a shared machine, in either direction).
pub struct Paired {
    a: Timing,
    b: Timing,
    /// The median of the per-pair ratios a / b.
    ratio: f64,
}

/// Times `a` and `b` (each yielding its row count) in alternation, `iterations` times
/// after a warm-up run of each.
async fn paired<A, FA, B, FB>(iterations: usize, mut a: A, mut b: B) -> Paired
where
    A: FnMut() -> FA,
    FA: std::future::Future<Output = usize>,
    B: FnMut() -> FB,
    FB: std::future::Future<Output = usize>,
{
    let (a_rows, b_rows) = (a().await, b().await);
    let (mut a_samples, mut b_samples, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..iterations {
        let start = Instant::now();
        a().await;
        let a_took = start.elapsed();
        let start = Instant::now();
        b().await;
        let b_took = start.elapsed();
        ratios.push(a_took.as_secs_f64() / b_took.as_secs_f64().max(1e-9));
        a_samples.push(a_took);
        b_samples.push(b_took);
    }
    ratios.sort_by(f64::total_cmp);
    Paired {
        a: Timing::from(a_samples, a_rows),
        b: Timing::from(b_samples, b_rows),
        ratio: ratios[ratios.len() / 2],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let mut args = Args::parse();
    if args.smoke {
        args.rows = vec![3_000];
        args.iterations = 2;
        args.jobs = 2_000;
        args.writes = 200;
        args.transactions = 100;
    }
    args.rows.retain(|&n| n > 0);
    if let Some(file) = &args.import_file {
        import::import_file(file, args.small_caches).await;
        return;
    }
    let mut json = Vec::new();
    let mut growth: Vec<(u64, Vec<f64>)> = Vec::new();
    println!(
        "machine: {} cores; iterations per query: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.iterations
    );
    for &n in &args.rows {
        if let Some(medians) = run_rows(n, &args, &mut json).await {
            growth.push((n, medians));
        }
    }
    if growth.len() > 1 && args.only.is_empty() {
        report_growth(&growth);
    }
    if args.jobs > 0 && !args.ingest_only {
        jobs::report(args.jobs, &args.job_workers);
    }
    if args.import > 0 {
        import::report(args.import).await;
    }
    if args.import_memory > 0 {
        import::report_memory(args.import_memory).await;
    }
    if let Some(path) = args.json {
        std::fs::write(&path, format!("[{}]\n", json.join(",\n"))).expect("write json");
    }
}

/// How fast rows went in: Quiver's bulk path and its transactional one, and SQLite.
struct Ingest {
    load: f64,
    apply: f64,
    sqlite: f64,
}

/// Quiver, two ways, four indexes maintained, WAL on: `apply` (one atomic batch per call,
/// the transactional write path) into a scratch database, then `load` (the bulk path: the
/// next batch is encoded while the current one is written) into the database the queries
/// run on. Returns that database and both rates (rows/s).
fn ingest_quiver(dir: &Path, rows: &[Row], batch: usize) -> (Arc<Database>, f64, f64) {
    let n = rows.len();
    let apply_ingest = {
        let db = Database::open(dir.join("quiver-apply")).expect("open");
        let store = db.create_table(accounts_schema()).expect("create accounts");
        let batches: Vec<Vec<Mutation<_, _>>> = rows
            .chunks(batch)
            .map(|c| c.iter().cloned().map(Mutation::Insert).collect())
            .collect();
        let start = Instant::now();
        for batch in batches {
            store.apply(batch).expect("insert");
        }
        db.flush().expect("flush");
        n as f64 / start.elapsed().as_secs_f64()
    };
    let db = Arc::new(Database::open(dir.join("quiver")).expect("open"));
    let store = db.create_table(accounts_schema()).expect("create accounts");
    let load_rows = rows.to_vec();
    let start = Instant::now();
    store.load(load_rows, batch).expect("load");
    db.flush().expect("flush");
    let quiver_ingest = n as f64 / start.elapsed().as_secs_f64();
    (db, quiver_ingest, apply_ingest)
}

/// The rows in a DataFusion MemTable of two partitions, as table `accounts`.
fn memtable(rows: &[Row]) -> SessionContext {
    let schema = accounts_schema();
    let arrow = arrow_schema(&schema);
    let types = schema.column_types();
    let half = rows.len() / 2;
    let parts: Vec<Vec<RecordBatch>> = [&rows[..half], &rows[half..]]
        .iter()
        .map(|part| {
            part.chunks(8192)
                .map(|c| rows_to_batch(&arrow, &types, c).expect("batch"))
                .collect()
        })
        .collect();
    let mem_ctx = SessionContext::new();
    mem_ctx
        .register_table(
            "accounts",
            Arc::new(MemTable::try_new(arrow.clone(), parts).expect("memtable")),
        )
        .expect("register");
    mem_ctx
}

/// Every measurement at `n` rows; the median of each query (None when only ingest ran).
async fn run_rows(n: u64, args: &Args, json: &mut Vec<String>) -> Option<Vec<f64>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let rows: Vec<_> = accounts(42, n).collect();
    let (db, load, apply) = ingest_quiver(dir.path(), &rows, args.batch);
    println!(
        "{n} rows: Quiver ingest {load:.0} rows/s with load, {apply:.0} rows/s with apply ({} rows per batch, 4 indexes, WAL on)",
        args.batch
    );
    if args.ingest_only {
        return None;
    }
    // Steady state for the reads: one compaction after the bulk load (not timed).
    db.compact().expect("compact");
    let (sqlite, sqlite_ingest) = sqlite::load(&dir.path().join("sqlite.db"), &rows, args.batch);
    let mem_ctx = memtable(&rows);
    drop(rows);
    let ingest = Ingest {
        load,
        apply,
        sqlite: sqlite_ingest,
    };
    let quiver = Quiver::new(db.clone());
    println!("\n### {n} rows\n");
    println!(
        "ingest rows/s: Quiver {:.0} with load, {:.0} with apply (4 indexes, WAL on), SQLite {:.0} (3 indexes + tag table, WAL mode); Quiver on disk: {:.1} MiB\n",
        ingest.load,
        ingest.apply,
        ingest.sqlite,
        db.backend().disk_size() as f64 / (1 << 20) as f64
    );
    println!("| query | rows | Quiver ms (p95) | Quiver prepared ms | Quiver unplanned ms | SQLite ms (p95) | SQLite prepared ms | MemTable ms (p95) | Quiver / SQLite | prepared / SQLite prepared | Quiver / MemTable |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut medians = Vec::new();
    let mut paired_lines = Vec::new();
    for q in QUERIES
        .iter()
        .filter(|q| args.only.is_empty() || args.only.iter().any(|o| q.name.contains(o.as_str())))
    {
        let (median, paired_line, json_line) =
            time_query(q, &quiver, &sqlite, &mem_ctx, args.iterations, n, &ingest).await;
        medians.push(median);
        paired_lines.push(paired_line);
        json.push(json_line);
    }
    println!("\nPrepared statements timed in alternation (one Quiver run, one SQLite run, {} times): medians, and the median of the per-pair ratios\n", args.iterations);
    println!("| query | Quiver prepared ms | SQLite prepared ms | paired Quiver / SQLite |");
    println!("|---|---:|---:|---:|");
    for line in paired_lines {
        println!("{line}");
    }
    if args.only.is_empty() || args.only.iter().any(|o| "pages".contains(o.as_str())) {
        pages::report(&quiver, &sqlite, args.iterations).await;
    }
    writes::report(&quiver, &sqlite, args.writes).await;
    transactions::report(&quiver, n, args.transactions).await;
    println!("\nplan cache: {:?}", quiver.plan_cache().stats());
    scan_rates(&db, &quiver, n).await;
    Some(medians)
}

/// One reference query timed every way, its row printed: its median as SQL text, its line
/// of the paired table, and its JSON record.
async fn time_query(
    q: &Query,
    quiver: &Quiver,
    sqlite: &rusqlite::Connection,
    mem_ctx: &SessionContext,
    iterations: usize,
    n: u64,
    ingest: &Ingest,
) -> (f64, String, String) {
    // The text as an application sends it: after the warm-up run, a plan-cache hit.
    let quiv = time(iterations, || async { quiver.query(q.sql).await.unwrap() }).await;
    // The same text planned from scratch every time (no plan cache).
    let planned = time(iterations, || async {
        quiver.run_script(q.sql).await.unwrap()
    })
    .await;
    let statement = quiver.prepare(q.prepared).await.expect("prepare");
    let params: Vec<ScalarValue> = if q.param.is_empty() {
        vec![]
    } else {
        vec![ScalarValue::Utf8(Some(q.param.to_owned()))]
    };
    let prep = time(iterations, || {
        let (statement, params) = (&statement, params.clone());
        async move { statement.query(params).await.unwrap() }
    })
    .await;
    let mem = time(iterations, || async {
        mem_ctx.sql(q.sql).await.unwrap().collect().await.unwrap()
    })
    .await;
    let (lite, lite_prep) = sqlite::time(sqlite, q.sqlite, iterations);
    let mut lite_stmt = sqlite.prepare(q.sqlite).expect("prepare");
    let pair = paired(
        iterations,
        || {
            let (statement, params) = (&statement, params.clone());
            async move { touch(&statement.query(params).await.unwrap()) }
        },
        // Run when called, so inside the timing, like the Quiver side.
        || std::future::ready(sqlite::run_with(&mut lite_stmt, &[])),
    )
    .await;
    assert_eq!(pair.a.rows, pair.b.rows, "{}: paired rows", q.name);
    let paired_line = format!(
        "| {} | {:.4} | {:.4} | {:.2} |",
        q.name,
        ms(pair.a.median),
        ms(pair.b.median),
        pair.ratio
    );
    assert_eq!(
        quiv.rows, mem.rows,
        "{}: Quiver returned {} rows, the MemTable {}",
        q.name, quiv.rows, mem.rows
    );
    assert_eq!(
        quiv.rows, lite.rows,
        "{}: Quiver returned {} rows, SQLite {}",
        q.name, quiv.rows, lite.rows
    );
    println!(
        "| {} | {} | {:.4} ({:.4}) | {:.4} | {:.3} | {:.4} ({:.4}) | {:.4} | {:.3} ({:.3}) | {:.2} | {:.2} | {:.2} |",
        q.name,
        quiv.rows,
        ms(quiv.median),
        ms(quiv.p95),
        ms(prep.median),
        ms(planned.median),
        ms(lite.median),
        ms(lite.p95),
        ms(lite_prep.median),
        ms(mem.median),
        ms(mem.p95),
        ms(quiv.median) / ms(lite.median),
        ms(prep.median) / ms(lite_prep.median),
        ms(quiv.median) / ms(mem.median),
    );
    let json_line = format!(
        "{{\"rows\":{n},\"query\":\"{}\",\"result_rows\":{},\"quiver_median_ms\":{:.4},\"quiver_p95_ms\":{:.4},\"quiver_prepared_median_ms\":{:.4},\"quiver_unplanned_median_ms\":{:.4},\"sqlite_median_ms\":{:.4},\"sqlite_p95_ms\":{:.4},\"sqlite_prepared_median_ms\":{:.4},\"paired_prepared_ratio\":{:.2},\"memtable_median_ms\":{:.4},\"memtable_p95_ms\":{:.4},\"quiver_ingest_rows_per_s\":{:.0},\"quiver_apply_ingest_rows_per_s\":{:.0},\"sqlite_ingest_rows_per_s\":{:.0}}}",
        q.name, quiv.rows, ms(quiv.median), ms(quiv.p95), ms(prep.median), ms(planned.median), ms(lite.median), ms(lite.p95), ms(lite_prep.median), pair.ratio, ms(mem.median), ms(mem.p95), ingest.load, ingest.apply, ingest.sqlite
    );
    (ms(quiv.median), paired_line, json_line)
}

/// How each query's median grew from the first row count measured to the last.
fn report_growth(growth: &[(u64, Vec<f64>)]) {
    let (first, last) = (&growth[0], &growth[growth.len() - 1]);
    println!(
        "\nQuiver latency growth from {} to {} rows ({}x the rows):\n",
        first.0,
        last.0,
        last.0 / first.0.max(1)
    );
    println!("| query | growth |");
    println!("|---|---:|");
    for (i, q) in QUERIES.iter().enumerate() {
        println!("| {} | {:.2}x |", q.name, last.1[i] / first.1[i]);
    }
}
