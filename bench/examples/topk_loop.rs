//! Runs the benchmark's prepared top-k (`status = $1 ORDER BY contacts_count DESC LIMIT 200`,
//! every column) over and over, for profiling a reverse index walk and its record fetch:
//! `cargo run --release -p quiver-bench --example topk_loop -- 1000000 [covered]`.

mod common;

use std::time::Instant;

use datafusion::common::ScalarValue;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let rows = common::arg(1_000_000);
    let covered = std::env::args().nth(2).is_some_and(|a| a == "covered");
    let (_dir, quiver) = common::loaded(rows);
    let columns = if covered { "id, contacts_count" } else { "*" };
    let top = quiver
        .prepare(&format!(
            "SELECT {columns} FROM accounts WHERE status = $1 \
             ORDER BY contacts_count DESC LIMIT 200"
        ))
        .await
        .expect("prepare");
    assert!(top.uses_fast_path());
    let params = vec![ScalarValue::Utf8(Some("active".into()))];
    let runs = 20_000;
    let start = Instant::now();
    let mut returned = 0;
    for _ in 0..runs {
        let batches = top.query(params.clone()).await.expect("top-k");
        returned += batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / runs as f64;
    println!("{runs} runs, {returned} rows, {per:.1} µs per top-k");
}
