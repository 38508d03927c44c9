//! Times a list's page 1 and a deep page, one run of each in turn: the prepared keyset
//! statement, the same as SQL text, `Quiver::list_page`, `list()` in SQL and a CPU-only loop
//! (which shows the machine's fast and slow phases), so their ratios hold however the
//! machine's speed drifts:
//! `ROWS=1000000 cargo run --release -p quiver-bench --example deep_probe -- 500` (runs per
//! round). `DEEP` sets the deep page (default: page 10,000 or the last full one), `ROUNDS`
//! the rounds of the light statements (default 6).

mod common;

use std::time::Instant;

use datafusion::common::ScalarValue;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ORDER: &str = "ORDER BY contacts_count DESC, id DESC";
const COLUMNS: &str = "SELECT id, status, contacts_count FROM accounts WHERE status = 'active'";

fn scalar(batches: &[datafusion::arrow::record_batch::RecordBatch], column: usize) -> ScalarValue {
    let last = batches
        .iter()
        .rev()
        .find(|b| b.num_rows() > 0)
        .expect("a row");
    ScalarValue::try_from_array(last.column(column), last.num_rows() - 1).expect("value")
}

#[tokio::main]
async fn main() {
    let runs = common::arg(500) as usize;
    let rows = std::env::var("ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100_000);
    let (_dir, quiver) = common::loaded(rows);
    let active = quiver
        .query("SELECT count(*) FROM accounts WHERE status = 'active'")
        .await
        .unwrap();
    let ScalarValue::Int64(Some(active)) = scalar(&active, 0) else {
        unreachable!("count is an Int64")
    };
    let deep = std::env::var("DEEP")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or((active as usize / 50).clamp(2, 10_000));
    quiver
        .query("INSERT INTO lists VALUES ('probe', 'accounts', ['id', 'status', 'contacts_count'], 'status = ''active''', 'contacts_count DESC', 50)")
        .await
        .unwrap();
    // The last row before the deep page, as values and as the list's cursor.
    let before = quiver
        .query(&format!(
            "SELECT _cursor, contacts_count, id FROM list('probe', {})",
            deep - 1
        ))
        .await
        .unwrap();
    let (cursor, cc, id) = (scalar(&before, 0), scalar(&before, 1), scalar(&before, 2));
    let cursor = cursor.to_string();
    println!("{rows} rows, {active} active; deep page {deep} after ({cc}, {id})");
    let first = quiver
        .prepare(&format!("{COLUMNS} {ORDER} LIMIT 50"))
        .await
        .unwrap();
    let after = quiver
        .prepare(&format!(
            "{COLUMNS} AND (contacts_count, id) < ($1, $2) {ORDER} LIMIT 50"
        ))
        .await
        .unwrap();
    let text = format!("{COLUMNS} AND (contacts_count, id) < ({cc}, '{id}') {ORDER} LIMIT 50");
    let list_sql = format!("SELECT * FROM list('probe', '{cursor}')");
    let params = vec![cc.clone(), id.clone()];
    // Rounds of the light statements and a CPU-only loop in turn: each round's medians
    // show which phase the machine was in, and the ratios hold in both.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(6);
    for round in 1..=rounds {
        let mut t: Vec<Vec<f64>> = vec![Vec::new(); 4];
        for _ in 0..runs {
            let s = Instant::now();
            first.query(Vec::<ScalarValue>::new()).await.unwrap();
            t[0].push(s.elapsed().as_secs_f64() * 1e6);
            let s = Instant::now();
            after.query(params.clone()).await.unwrap();
            t[1].push(s.elapsed().as_secs_f64() * 1e6);
            let s = Instant::now();
            quiver.query(&text).await.unwrap();
            t[2].push(s.elapsed().as_secs_f64() * 1e6);
            let s = Instant::now();
            let mut numbers: Vec<u64> = (0..2000u64)
                .map(|i| i.wrapping_mul(2_654_435_761) % 1000)
                .collect();
            numbers.sort_unstable();
            std::hint::black_box(&numbers);
            t[3].push(s.elapsed().as_secs_f64() * 1e6);
        }
        let ratio = median(t[1].iter().zip(&t[0]).map(|(a, b)| a / b).collect());
        let m: Vec<f64> = t.into_iter().map(median).collect();
        println!(
            "round {round}: page 1 {:.1} µs, deep prepared {:.1} µs ({ratio:.2}x page 1, per-run), deep as SQL text {:.1} µs, CPU-only loop {:.1} µs",
            m[0], m[1], m[2], m[3]
        );
    }
    // The list's own ways to read the deep page, each beside the prepared page 1.
    let mut t: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for _ in 0..runs {
        let s = Instant::now();
        first.query(Vec::<ScalarValue>::new()).await.unwrap();
        t[0].push(s.elapsed().as_secs_f64() * 1e6);
        let s = Instant::now();
        let page = quiver.list_page("probe", Some(&cursor)).await.unwrap();
        t[1].push(s.elapsed().as_secs_f64() * 1e6);
        assert!(page.next_cursor.is_some());
        let s = Instant::now();
        quiver.query(&list_sql).await.unwrap();
        t[2].push(s.elapsed().as_secs_f64() * 1e6);
    }
    for (i, name) in ["Quiver::list_page", "SELECT * FROM list(...)"]
        .iter()
        .enumerate()
    {
        let ratio = median(t[i + 1].iter().zip(&t[0]).map(|(a, b)| a / b).collect());
        println!(
            "deep page by {name}: {:.1} µs, {ratio:.2}x page 1 (per-run)",
            median(t[i + 1].clone())
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
