//! Runs one SQL statement (text, so a plan-cache hit after the first run) over and over on
//! 100,000 reference accounts, for profiling whatever query is slow:
//! `cargo run --release -p quiver-bench --example sql_loop -- 20000 "SELECT DISTINCT status FROM accounts"`.
//! A third argument is a statement run once before the loop (saving a list, say); `ROWS`
//! in the environment sets the number of accounts.

mod common;

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let runs = common::arg(10_000) as usize;
    let sql = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "SELECT DISTINCT status FROM accounts".into());
    let rows = std::env::var("ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100_000);
    let (_dir, quiver) = common::loaded(rows);
    if let Some(setup) = std::env::args().nth(3) {
        quiver.query(&setup).await.expect("setup");
    }
    let start = Instant::now();
    let mut rows = 0;
    for _ in 0..runs {
        let batches = quiver.query(&sql).await.expect("query");
        rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / runs as f64;
    if let Some(explain) = std::env::var_os("EXPLAIN") {
        // EXPLAIN=analyze: the plan with its metrics, partition by partition.
        let how = if explain == "analyze" {
            "ANALYZE VERBOSE "
        } else {
            ""
        };
        let plan = quiver
            .query(&format!("EXPLAIN {how}{sql}"))
            .await
            .expect("explain");
        println!(
            "{}",
            datafusion::arrow::util::pretty::pretty_format_batches(&plan).expect("format")
        );
    }
    println!("{runs} runs, {rows} rows, {per:.1} µs per run: {sql}");
    println!("{:?}", quiver.plan_cache().stats());
}
