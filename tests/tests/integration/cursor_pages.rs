//! Walking a list page by page with cursors returns every row exactly once, in the list's
//! order: 100,000 rows whose sort column has many duplicates and NULLs, sorted descending
//! (served by an index: each page is one seek, EXPLAIN shows it) and ascending with NULLs
//! last (not a plain range: the cursor condition is checked row by row, and must still be
//! exact). A cursor that skipped or repeated a row at a page boundary would show up as a
//! mismatch against the order computed here.

use indexed_store::workload::Rng;
use indexed_store::Value;
use quiver_tests::{render, TempDb};

const ROWS: i64 = 100_000;

/// `(id, n)` of every row: n in 0..500 (about 200 rows per value), NULL for one in 20.
fn rows() -> Vec<(i64, Option<i64>)> {
    let mut rng = Rng::new(7);
    (0..ROWS)
        .map(|id| {
            let n = (rng.below(20) != 0).then(|| rng.below(500) as i64);
            (id, n)
        })
        .collect()
}

/// The ids of `rows` ordered by n then id, NULLs last ascending (first descending).
fn in_order(mut rows: Vec<(i64, Option<i64>)>, descending: bool) -> Vec<i64> {
    rows.sort_by_key(|&(id, n)| (n.is_none(), n, id));
    if descending {
        rows.reverse();
    }
    rows.iter().map(|r| r.0).collect()
}

async fn walk(db: &TempDb, list: &str) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = db
            .quiver
            .list_page(list, cursor.as_deref())
            .await
            .unwrap_or_else(|e| panic!("page after {cursor:?}: {e}"));
        let rows = render(&page.batches);
        seen.extend(rows.iter().map(|r| r[0].parse::<i64>().unwrap()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return seen,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_pages_return_every_row_once_in_order() {
    let db = TempDb::new();
    db.query("CREATE TABLE items (id BIGINT PRIMARY KEY, n BIGINT)")
        .await
        .unwrap();
    db.query("CREATE INDEX items_n ON items (n)").await.unwrap();
    let data = rows();
    let table = db.quiver.database().row_table("items").unwrap();
    table
        .load(
            data.iter()
                .map(|(id, n)| vec![Value::Int(*id), n.map_or(Value::Null, Value::Int)])
                .collect::<Vec<_>>(),
            10_000,
        )
        .unwrap();
    db.query(
        "INSERT INTO lists VALUES \
         ('by_n_desc', 'items', ['id', 'n'], '', 'n DESC', 1000), \
         ('by_n_asc', 'items', ['id', 'n'], 'id % 3 <> 1', 'n', 1000)",
    )
    .await
    .unwrap();

    // Descending, NULLs first; ties by id descending (the index walk's order).
    assert_eq!(walk(&db, "by_n_desc").await, in_order(data.clone(), true));
    // Every page after a non-NULL cursor is the same statement with other parameters: the
    // plan cache planned it once, and the fast path read each of the ~95 pages.
    let statements = db.quiver.plan_cache().statements();
    let after = statements
        .iter()
        .find(|s| s.sql.contains("\"items\"") && s.sql.contains("\"n\" < $1"))
        .unwrap_or_else(|| panic!("no cached page-after statement in {statements:#?}"));
    assert!(after.fast_runs >= 90, "{after:#?}");
    assert_eq!(after.fast_runs, after.executions, "{after:#?}");
    // A changed list is read as changed (the session keeps lists checked, by their row).
    db.query("UPDATE lists SET page_size = 7, sort = 'n' WHERE id = 'by_n_desc'")
        .await
        .unwrap();
    let page = db.quiver.list_page("by_n_desc", None).await.unwrap();
    let ids: Vec<i64> = render(&page.batches)
        .iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    assert_eq!(ids, in_order(data.clone(), false)[..7]);
    db.query("UPDATE lists SET page_size = 1000, sort = 'n DESC' WHERE id = 'by_n_desc'")
        .await
        .unwrap();
    // Ascending, NULLs last, with a filter the index does not answer.
    let filtered = data.iter().copied().filter(|r| r.0 % 3 != 1).collect();
    assert_eq!(walk(&db, "by_n_asc").await, in_order(filtered, false));

    // Through SQL, a page comes in the list's order too (its rows arrive in several
    // batches: the filter is checked row by row).
    let filtered = data.iter().copied().filter(|r| r.0 % 3 != 1).collect();
    let first_page = &in_order(filtered, false)[..1000];
    for sql in [
        "SELECT id FROM list('by_n_asc')",
        "SELECT id, n FROM list('by_n_asc')",
    ] {
        // Batches handed out over several partitions come back in whatever order their
        // tasks finish: run it a few times.
        for _ in 0..5 {
            let rows = render(&db.query(sql).await.unwrap());
            let ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
            assert_eq!(ids, first_page, "{sql}");
        }
    }

    // A page deep in the descending list (past the NULLs) is one seek, not a walk from the
    // start.
    let mut cursor = None;
    for _ in 0..10 {
        let page = db
            .quiver
            .list_page("by_n_desc", cursor.as_deref())
            .await
            .unwrap();
        cursor = page.next_cursor;
    }
    let cursor = cursor.unwrap();
    let plan = db
        .physical_plan(&format!("SELECT id FROM list('by_n_desc', '{cursor}')"))
        .await
        .unwrap();
    assert!(
        plan.contains("index=items_n, seek=(n, id) < (") && plan.contains("limit=1000"),
        "{plan}"
    );
}
