//! Times a list's page 1 and a deep page, one run of each in turn: the prepared keyset
//! statement, the same as SQL text, `Quiver::list_page` and `list()` in SQL, so their
//! ratios hold however the machine's speed drifts:
//! `ROWS=1000000 cargo run --release -p quiver-bench --example deep_probe -- 2000`.
//! `DEEP` sets the deep page (default: page 10,000 or the last full one).

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
    let runs = common::arg(2_000) as usize;
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
    let names = [
        "page 1, prepared",
        "deep page, prepared",
        "deep page, SQL text",
        "deep page, Quiver::list_page",
        "deep page, SELECT * FROM list(...)",
    ];
    let mut t: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
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
        let page = quiver.list_page("probe", Some(&cursor)).await.unwrap();
        t[3].push(s.elapsed().as_secs_f64() * 1e6);
        assert!(page.next_cursor.is_some());
        let s = Instant::now();
        quiver.query(&list_sql).await.unwrap();
        t[4].push(s.elapsed().as_secs_f64() * 1e6);
    }
    // Per-run ratios to page 1, medians of each.
    for (i, name) in names.iter().enumerate() {
        let mut ratios: Vec<f64> = t[i].iter().zip(&t[0]).map(|(a, b)| a / b).collect();
        ratios.sort_by(f64::total_cmp);
        t[i].sort_by(f64::total_cmp);
        println!(
            "{name}: median {:.1} µs, {:.2}x page 1 (median of per-run ratios)",
            t[i][runs / 2],
            ratios[runs / 2]
        );
    }
}
