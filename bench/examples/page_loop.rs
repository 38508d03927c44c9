//! Runs one prepared 50-row keyset page over and over, for profiling the per-execution cost
//! of the fast path: `cargo run --release -p quiver-bench --example page_loop -- 200000`.

mod common;

use std::time::Instant;

use datafusion::common::ScalarValue;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let runs = common::arg(100_000) as usize;
    let (_dir, quiver) = common::loaded(100_000);
    let page = quiver
        .prepare(
            "SELECT id, status, contacts_count FROM accounts WHERE status = 'active' \
             AND (contacts_count, id) < ($1, $2) ORDER BY contacts_count DESC, id DESC LIMIT 50",
        )
        .await
        .expect("prepare");
    assert!(page.uses_fast_path());
    let params = vec![
        ScalarValue::Int64(Some(50_000)),
        ScalarValue::Utf8(Some("acc-00050000".into())),
    ];
    let start = Instant::now();
    let mut rows = 0;
    for _ in 0..runs {
        let batches = page.query(params.clone()).await.expect("page");
        rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / runs as f64;
    println!("{runs} pages, {rows} rows, {per:.1} µs per page");
}
