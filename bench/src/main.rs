//! Quiver's benchmark: loads the reference `accounts` workload into Quiver (RocksDB on disk)
//! and into a DataFusion MemTable, then times each reference query on both through
//! `SessionContext::sql` (planning included, every result column read).
//!
//! ```text
//! cargo run --release -p quiver-bench -- --rows 100000 --rows 1000000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::prelude::SessionContext;
use indexed_store::workload::{accounts, accounts_schema};
use indexed_store::{Database, Mutation};
use providers::convert::{arrow_schema, rows_to_batch};
use providers::Quiver;

#[derive(Parser)]
#[command(about = "Quiver against a DataFusion MemTable on the reference accounts workload")]
struct Args {
    /// Row counts to run at (repeatable).
    #[arg(long = "rows", default_values_t = vec![100_000u64, 1_000_000u64])]
    rows: Vec<u64>,
    /// Timed runs per query (after one warm-up).
    #[arg(long, default_value_t = 30)]
    iterations: usize,
    /// Rows per write batch when loading.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Write the results as JSON to this file too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

const QUERIES: [(&str, &str); 8] = [
    ("top-k by index", "SELECT * FROM accounts WHERE status = 'active' ORDER BY contacts_count DESC LIMIT 200"),
    ("take (limit)", "SELECT * FROM accounts WHERE status = 'active' LIMIT 200"),
    ("point by id", "SELECT * FROM accounts WHERE id = 'acc-00004242'"),
    ("range", "SELECT * FROM accounts WHERE contacts_count BETWEEN 50000 AND 50100"),
    ("count by status", "SELECT count(*) FROM accounts WHERE status = 'pending'"),
    ("distinct status", "SELECT DISTINCT status FROM accounts"),
    ("array_has", "SELECT id FROM accounts WHERE array_has(tags, 'renewal_due')"),
    ("full-scan aggregate", "SELECT status, count(*), avg(score) FROM accounts GROUP BY status"),
];

struct Timing {
    median: Duration,
    p95: Duration,
    rows: usize,
}

async fn time<F, Fut>(iterations: usize, mut run: F) -> Timing
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<RecordBatch>>,
{
    let rows = run().await.iter().map(|b| b.num_rows()).sum();
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let batches = run().await;
        // Touch every column of every row.
        let mut bytes = 0usize;
        for b in &batches {
            bytes += b.columns().iter().map(|c| c.get_array_memory_size()).sum::<usize>();
        }
        std::hint::black_box(bytes);
        samples.push(start.elapsed());
    }
    samples.sort();
    let p95 = samples[((samples.len() * 95) / 100).min(samples.len() - 1)];
    Timing { median: samples[samples.len() / 2], p95, rows }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut json = Vec::new();
    let mut top_k = Vec::new();
    println!("machine: {} cores; iterations per query: {}", std::thread::available_parallelism().map_or(0, |n| n.get()), args.iterations);
    for &n in &args.rows {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Arc::new(Database::open(dir.path()).expect("open"));
        let schema = accounts_schema();
        let store = db.create_table(schema.clone()).expect("create accounts");

        // Ingest: batches of rows through the indexed store, four indexes maintained. The rows
        // are generated before the clock starts.
        let rows: Vec<_> = accounts(42, n).collect();
        let batches: Vec<Vec<Mutation<_, _>>> =
            rows.chunks(args.batch).map(|c| c.iter().cloned().map(Mutation::Insert).collect()).collect();
        let start = Instant::now();
        for batch in batches {
            store.apply(batch).expect("insert");
        }
        db.flush().expect("flush");
        let ingest = start.elapsed();
        // Steady state for the reads: one compaction after the bulk load (not timed).
        let compact_start = Instant::now();
        db.compact().expect("compact");
        let compaction = compact_start.elapsed();
        let ingest_rate = n as f64 / ingest.as_secs_f64();

        // The same rows in a MemTable of two partitions.
        let arrow = arrow_schema(&schema);
        let types: Vec<_> = schema.columns.iter().map(|c| c.ty.clone()).collect();
        let half = rows.len() / 2;
        let parts: Vec<Vec<RecordBatch>> = [&rows[..half], &rows[half..]]
            .iter()
            .map(|part| part.chunks(8192).map(|c| rows_to_batch(&arrow, &types, c).expect("batch")).collect())
            .collect();
        drop(rows);
        let mem_ctx = SessionContext::new();
        mem_ctx.register_table("accounts", Arc::new(MemTable::try_new(arrow.clone(), parts).expect("memtable"))).expect("register");

        let quiver = Quiver::new(db.clone());
        println!("\n### {n} rows\n");
        println!(
            "ingest: {:.0} rows/s ({:.2} s for {n} rows, 4 indexes); compaction after load: {:.2} s; on disk: {:.1} MiB\n",
            ingest_rate,
            ingest.as_secs_f64(),
            compaction.as_secs_f64(),
            db.backend().disk_size() as f64 / (1 << 20) as f64
        );
        println!("| query | rows | Quiver median ms | Quiver p95 ms | MemTable median ms | MemTable p95 ms | Quiver / MemTable |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for (name, sql) in QUERIES {
            let q = time(args.iterations, || async { quiver.sql(sql).await.unwrap().collect().await.unwrap() }).await;
            let m = time(args.iterations, || async { mem_ctx.sql(sql).await.unwrap().collect().await.unwrap() }).await;
            assert_eq!(q.rows, m.rows, "{name}: Quiver returned {} rows, MemTable {}", q.rows, m.rows);
            println!(
                "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} |",
                q.rows,
                ms(q.median),
                ms(q.p95),
                ms(m.median),
                ms(m.p95),
                ms(q.median) / ms(m.median)
            );
            if name == "top-k by index" {
                top_k.push((n, ms(q.median)));
            }
            json.push(format!(
                "{{\"rows\":{n},\"query\":\"{name}\",\"result_rows\":{},\"quiver_median_ms\":{:.4},\"quiver_p95_ms\":{:.4},\"memtable_median_ms\":{:.4},\"memtable_p95_ms\":{:.4},\"ingest_rows_per_s\":{:.0}}}",
                q.rows, ms(q.median), ms(q.p95), ms(m.median), ms(m.p95), ingest_rate
            ));
        }
    }
    if top_k.len() > 1 {
        let (first, last) = (top_k[0], top_k[top_k.len() - 1]);
        println!("\ntop-k growth from {} to {} rows: {:.2}x", first.0, last.0, last.1 / first.1);
    }
    if let Some(path) = args.json {
        std::fs::write(&path, format!("[{}]\n", json.join(",\n"))).expect("write json");
    }
}
