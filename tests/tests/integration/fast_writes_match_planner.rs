//! Prepared INSERT, UPDATE and DELETE on the fast path write exactly what the planner's
//! plans write. Two tables start equal; every statement runs on one through a prepared
//! statement (the fast path) and on the other through DataFusion's planner, with the same
//! values; their answers (row counts or errors) and their contents must stay equal, and the
//! fast path must have run. (Prepared increments raced from many tasks are in
//! `concurrent_statements.rs`.)

use datafusion::common::ScalarValue;
use indexed_store::workload::Rng;
use quiver_tests::{render, TempDb};

const STATUSES: [&str; 3] = ["active", "pending", "rejected"];

/// The statements, with `{t}` for the table, and a maker of their parameters.
fn statement(rng: &mut Rng) -> (&'static str, Vec<ScalarValue>) {
    let id = |rng: &mut Rng| ScalarValue::from(format!("id{:03}", rng.below(150)));
    let status = |rng: &mut Rng| match rng.below(10) {
        0 => ScalarValue::Utf8(None),
        n => ScalarValue::from(STATUSES[(n % 3) as usize]),
    };
    let int = |rng: &mut Rng| match rng.below(12) {
        0 => ScalarValue::Int64(None),
        1 => ScalarValue::Float64(Some(2.5)),
        _ => ScalarValue::Int64(Some(rng.below(100) as i64)),
    };
    match rng.below(8) {
        0 => (
            "INSERT INTO {t} VALUES ($1, $2, $3, $4)",
            vec![
                id(rng),
                status(rng),
                int(rng),
                ScalarValue::Float64(Some(1.5)),
            ],
        ),
        1 => (
            "INSERT INTO {t} (id, status) VALUES ($1, $2)",
            vec![id(rng), status(rng)],
        ),
        2 => (
            "INSERT OR REPLACE INTO {t} VALUES ($1, 'active', $2, NULL)",
            vec![id(rng), int(rng)],
        ),
        3 => (
            "UPDATE {t} SET score = $1 WHERE id = $2",
            vec![ScalarValue::Float64(Some(rng.below(9) as f64)), id(rng)],
        ),
        4 => (
            "UPDATE {t} SET contacts_count = contacts_count + $1 WHERE status = $2",
            vec![int(rng), status(rng)],
        ),
        5 => ("DELETE FROM {t} WHERE id = $1", vec![id(rng)]),
        6 => ("DELETE FROM {t} WHERE contacts_count < $1", vec![int(rng)]),
        _ => (
            "INSERT INTO {t} VALUES ($1, $2, $3, $4), ($5, 'pending', 1, 2.0)",
            vec![
                id(rng),
                status(rng),
                int(rng),
                ScalarValue::Float64(None),
                id(rng),
            ],
        ),
    }
}

async fn planner(
    db: &TempDb,
    sql: &str,
    params: Vec<ScalarValue>,
) -> Result<Vec<Vec<String>>, String> {
    let plan = db
        .quiver
        .prepare(sql)
        .await
        .map_err(|e| e.to_string())?
        .logical_plan()
        .with_param_values(params)
        .map_err(|e| e.to_string())?;
    let frame = db
        .quiver
        .context()
        .execute_logical_plan(plan)
        .await
        .map_err(|e| e.to_string())?;
    frame
        .collect()
        .await
        .map(|b| render(&b))
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_writes_write_what_planned_writes_write() {
    let db = TempDb::new();
    for t in ["fast", "planned"] {
        db.query(&format!(
            "CREATE TABLE {t} (id TEXT PRIMARY KEY, status TEXT, contacts_count BIGINT, score DOUBLE)"
        ))
        .await
        .unwrap();
        db.query(&format!(
            "CREATE INDEX {t}_status ON {t} (status, contacts_count)"
        ))
        .await
        .unwrap();
    }
    let mut rng = Rng::new(99);
    for _ in 0..400 {
        let (template, params) = statement(&mut rng);
        let fast_sql = template.replace("{t}", "fast");
        let statement = db.quiver.prepare(&fast_sql).await.unwrap();
        let fast = statement
            .query(params.clone())
            .await
            .map(|b| render(&b))
            .map_err(|e| e.to_string());
        let planned = planner(&db, &template.replace("{t}", "planned"), params.clone()).await;
        match (&fast, &planned) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{template} with {params:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{template} with {params:?}: fast {fast:?}, planned {planned:?}"),
        }
        let (a, b) = (
            db.rows("SELECT * FROM fast ORDER BY id").await.unwrap(),
            db.rows("SELECT * FROM planned ORDER BY id").await.unwrap(),
        );
        assert_eq!(a, b, "after {template} with {params:?}");
    }
    let stats = db.quiver.plan_cache().stats();
    assert!(stats.fast_runs > 200, "{stats:?}");
    db.assert_verified();
}
