//! List pages, near and deep: page 1 and page N (50 rows a page, N = 10,000 or the last full
//! page) of `status = 'active' ORDER BY contacts_count DESC, id DESC`, by cursor (keyset:
//! the row-value condition after the previous page's last row) and by OFFSET, in Quiver
//! (prepared, and through `list()` by cursor) and SQLite (prepared, same SQL).

use std::time::Instant;

use datafusion::common::ScalarValue;
use providers::{PreparedStatement, Quiver};
use rusqlite::Connection;

use crate::{ms, paired, time, touch, Timing};

const PAGE: usize = 50;
const ORDER: &str = "ORDER BY contacts_count DESC, id DESC";

fn cursor_sql(after: bool, quiver: bool) -> String {
    let condition = match (after, quiver) {
        (false, _) => String::new(),
        (true, true) => " AND (contacts_count, id) < ($1, $2)".into(),
        (true, false) => " AND (contacts_count, id) < (?1, ?2)".into(),
    };
    format!("SELECT id, status, contacts_count FROM accounts WHERE status = 'active'{condition} {ORDER} LIMIT {PAGE}")
}

fn offset_sql(page: usize) -> String {
    format!(
        "SELECT id, status, contacts_count FROM accounts WHERE status = 'active' {ORDER} LIMIT {PAGE} OFFSET {}",
        (page - 1) * PAGE
    )
}

/// SQLite's prepared statement timed with its parameters, reading every column.
fn sqlite_time(
    conn: &Connection,
    sql: &str,
    params: &[rusqlite::types::Value],
    n: usize,
) -> Timing {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let rows = crate::sqlite::run_with(&mut stmt, params);
    let samples = (0..n)
        .map(|_| {
            let start = Instant::now();
            crate::sqlite::run_with(&mut stmt, params);
            start.elapsed()
        })
        .collect();
    Timing::from(samples, rows)
}

/// Prints the page table.
pub async fn report(quiver: &Quiver, sqlite: &Connection, iterations: usize) {
    let active: i64 = {
        let b = quiver
            .query("SELECT count(*) FROM accounts WHERE status = 'active'")
            .await
            .unwrap();
        let c = b[0].column(0);
        ScalarValue::try_from_array(c, 0)
            .ok()
            .and_then(|v| match v {
                ScalarValue::Int64(n) => n,
                _ => None,
            })
            .unwrap_or(0)
    };
    let deep = (active as usize / PAGE).clamp(1, 10_000);
    quiver
        .query("INSERT INTO lists VALUES ('bench-active', 'accounts', ['id', 'status', 'contacts_count'], 'status = ''active''', 'contacts_count DESC', 50)")
        .await
        .unwrap();
    println!("\n| page (50 rows) | Quiver cursor ms | Quiver list() cursor ms | Quiver OFFSET ms | SQLite cursor ms | SQLite OFFSET ms | cursor Quiver / SQLite | cursor, paired | cursor / page 1, paired |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let first = quiver.prepare(&cursor_sql(false, true)).await.unwrap();
    let after = quiver.prepare(&cursor_sql(true, true)).await.unwrap();
    for page in [1, deep] {
        report_page(quiver, sqlite, iterations, page, &first, &after).await;
    }
}

/// One row of the page table: page `page` by cursor, by list() and by OFFSET, on both.
async fn report_page(
    quiver: &Quiver,
    sqlite: &Connection,
    iterations: usize,
    page: usize,
    first: &PreparedStatement,
    after: &PreparedStatement,
) {
    let last = last_key_before(quiver, page).await;
    let depth = depth_ratio(first, after, last.as_ref(), iterations).await;
    let quiver_cursor = match &last {
        None => {
            time(iterations, || async {
                first.query(Vec::<ScalarValue>::new()).await.unwrap()
            })
            .await
        }
        Some((cc, id)) => {
            let params = vec![cc.clone(), id.clone()];
            time(iterations, || {
                let params = params.clone();
                let after = &after;
                async move { after.query(params).await.unwrap() }
            })
            .await
        }
    };
    let list_sql = list_sql_for(quiver, page).await;
    let quiver_list = time(iterations, || async {
        quiver.query(&list_sql).await.unwrap()
    })
    .await;
    let offset = offset_sql(page);
    let quiver_offset = time(iterations, || async {
        quiver.query(&offset).await.unwrap()
    })
    .await;
    let lite_params: Vec<rusqlite::types::Value> = match &last {
        None => vec![],
        Some((ScalarValue::Int64(Some(cc)), ScalarValue::Utf8(Some(id)))) => {
            vec![(*cc).into(), id.clone().into()]
        }
        Some(other) => panic!("unexpected cursor values {other:?}"),
    };
    let lite_cursor = sqlite_time(
        sqlite,
        &cursor_sql(last.is_some(), false),
        &lite_params,
        iterations,
    );
    let lite_offset = sqlite_time(sqlite, &offset, &[], iterations);
    // The cursor page again, Quiver and SQLite in alternation.
    let mut lite_stmt = sqlite
        .prepare(&cursor_sql(last.is_some(), false))
        .expect("prepare");
    let params: Vec<ScalarValue> = match &last {
        None => vec![],
        Some((cc, id)) => vec![cc.clone(), id.clone()],
    };
    let statement = if last.is_some() { &after } else { &first };
    let pair = paired(
        iterations,
        || {
            let params = params.clone();
            async move { touch(&statement.query(params).await.unwrap()) }
        },
        || std::future::ready(crate::sqlite::run_with(&mut lite_stmt, &lite_params)),
    )
    .await;
    assert_eq!(
        quiver_cursor.rows, lite_cursor.rows,
        "page {page}: cursor rows"
    );
    assert_eq!(
        quiver_offset.rows, lite_offset.rows,
        "page {page}: OFFSET rows"
    );
    assert_eq!(
        quiver_list.rows, quiver_cursor.rows,
        "page {page}: list() rows"
    );
    println!(
        "| {page} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.2} | {:.2} | {} |",
        ms(quiver_cursor.median),
        ms(quiver_list.median),
        ms(quiver_offset.median),
        ms(lite_cursor.median),
        ms(lite_offset.median),
        ms(quiver_cursor.median) / ms(lite_cursor.median),
        pair.ratio,
        depth.map_or_else(|| "1".to_owned(), |r| format!("{r:.2}")),
    );
}

/// The key of the last row before `page`: what a client holds after page - 1 (None for
/// page 1).
async fn last_key_before(quiver: &Quiver, page: usize) -> Option<(ScalarValue, ScalarValue)> {
    // The key of the last row before the page: what a client holds after page - 1.
    if page == 1 {
        None
    } else {
        let b = quiver
            .query(&format!(
                "SELECT contacts_count, id FROM accounts WHERE status = 'active' {ORDER} LIMIT 1 OFFSET {}",
                (page - 1) * PAGE - 1
            ))
            .await
            .unwrap();
        let cc = ScalarValue::try_from_array(b[0].column(0), 0).unwrap();
        let id = ScalarValue::try_from_array(b[0].column(1), 0).unwrap();
        Some((cc, id))
    }
}

/// The deep cursor page against page 1, timed in alternation: their ratio is the goal (the
/// same cost at any depth), and medians taken a minute apart differ by more than that on a
/// machine whose speed drifts. None for page 1.
async fn depth_ratio(
    first: &PreparedStatement,
    after: &PreparedStatement,
    last: Option<&(ScalarValue, ScalarValue)>,
    iterations: usize,
) -> Option<f64> {
    let (cc, id) = last?;
    let params = vec![cc.clone(), id.clone()];
    let pair = paired(
        iterations,
        || {
            let params = params.clone();
            async move { touch(&after.query(params).await.unwrap()) }
        },
        || async { touch(&first.query(Vec::<ScalarValue>::new()).await.unwrap()) },
    )
    .await;
    Some(pair.ratio)
}

/// list() by cursor: the _cursor of the previous page's last row.
async fn list_sql_for(quiver: &Quiver, page: usize) -> String {
    // list() by cursor: the _cursor of the previous page's last row.
    match page {
        1 => "SELECT * FROM list('bench-active')".to_owned(),
        _ => {
            let b = quiver
                .query(&format!(
                    "SELECT _cursor FROM list('bench-active', {})",
                    page - 1
                ))
                .await
                .unwrap();
            let last = b.iter().rev().find(|b| b.num_rows() > 0).unwrap();
            let cursor = ScalarValue::try_from_array(last.column(0), last.num_rows() - 1).unwrap();
            format!("SELECT * FROM list('bench-active', '{cursor}')")
        }
    }
}
