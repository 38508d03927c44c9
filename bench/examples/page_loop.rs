//! Runs one prepared 50-row keyset page over and over, for profiling the per-execution cost
//! of the fast path: `cargo run --release -p quiver-bench --example page_loop -- 200000`.

use std::sync::Arc;
use std::time::Instant;

use datafusion::common::ScalarValue;
use indexed_store::workload::{accounts, accounts_schema};
use indexed_store::Database;
use providers::Quiver;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Arc::new(Database::open(dir.path()).expect("open"));
    let store = db.create_table(accounts_schema()).expect("create accounts");
    store.load(accounts(42, 100_000), 10_000).expect("load");
    db.flush().expect("flush");
    db.compact().expect("compact");
    let quiver = Quiver::new(db);
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
