//! The plan cache's fast path answers exactly what DataFusion's planner answers.
//!
//! A statement the fast path runs never meets the optimizer or the physical planner: its
//! `IndexScanExec` is built from the bound parameters directly. That is only sound if, for
//! every statement and every set of values, the rows (and their order, and the schema) are
//! the ones the general path returns. This test generates statements of the shapes the fast
//! path takes (and some it must refuse), binds random values (NULLs, IN-lists, values of
//! another numeric type than the column's), runs each through a prepared statement and
//! through the planner, and compares. It also checks that the fast path did run, so the
//! comparison is not one path against itself.

use datafusion::arrow::array::RecordBatch;
use datafusion::common::ScalarValue;
use indexed_store::workload::Rng;
use quiver_tests::{render, TempDb};

const STATUSES: [&str; 3] = ["active", "pending", "rejected"];

async fn load(db: &TempDb) {
    for ddl in [
        "CREATE TABLE t (id TEXT PRIMARY KEY, status TEXT NOT NULL, contacts_count BIGINT, owner TEXT, score DOUBLE, tags TEXT[])",
        "CREATE INDEX ix_status_contacts ON t (status, contacts_count)",
        "CREATE INDEX ix_contacts_desc ON t (contacts_count DESC)",
        "CREATE INDEX ix_owner ON t (owner) INCLUDE (score)",
        "CREATE INDEX ix_tags ON t (tags)",
        "CREATE TABLE n (k BIGINT PRIMARY KEY, x DOUBLE, label TEXT)",
        "CREATE INDEX ix_x ON n (x)",
    ] {
        db.query(ddl).await.unwrap();
    }
    let mut rng = Rng::new(11);
    let mut values = Vec::new();
    for i in 0..500 {
        let status = STATUSES[rng.below(3) as usize];
        let contacts = match rng.below(10) {
            0 => "NULL".to_string(),
            _ => (rng.below(120) as i64 - 20).to_string(),
        };
        let owner = match rng.below(12) {
            0 => "NULL".to_string(),
            _ => format!("'o{}'", rng.below(15)),
        };
        let score = match rng.below(8) {
            0 => "NULL".to_string(),
            _ => format!("{}.{}", rng.below(100), rng.below(10)),
        };
        let tags: Vec<String> = (0..rng.below(3))
            .map(|_| format!("'t{}'", rng.below(5)))
            .collect();
        values.push(format!(
            "('id{i:04}', '{status}', {contacts}, {owner}, {score}, [{}])",
            tags.join(", ")
        ));
    }
    db.query(&format!("INSERT INTO t VALUES {}", values.join(", ")))
        .await
        .unwrap();
    let numbers: Vec<String> = (0..300)
        .map(|k| {
            let x = if k % 17 == 0 {
                "NULL".to_string()
            } else {
                format!("{}.5", (k * 7) % 50)
            };
            format!("({k}, {x}, 'l{}')", k % 9)
        })
        .collect();
    db.query(&format!("INSERT INTO n VALUES {}", numbers.join(", ")))
        .await
        .unwrap();
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.below(items.len() as u64) as usize]
}

/// A text parameter: a status, an owner, an id, a tag or NULL.
fn text(rng: &mut Rng, kind: &str) -> ScalarValue {
    if rng.below(12) == 0 {
        return ScalarValue::Utf8(None);
    }
    ScalarValue::from(match kind {
        "status" => STATUSES[rng.below(3) as usize].to_string(),
        "owner" => format!("o{}", rng.below(16)),
        "id" => format!("id{:04}", rng.below(520)),
        _ => format!("t{}", rng.below(6)),
    })
}

/// An integer parameter, sometimes NULL, sometimes a DOUBLE (another type than planned).
fn number(rng: &mut Rng) -> ScalarValue {
    match rng.below(10) {
        0 => ScalarValue::Int64(None),
        1 => ScalarValue::Float64(Some(rng.below(100) as f64 - 0.5)),
        _ => ScalarValue::Int64(Some(rng.below(120) as i64 - 20)),
    }
}

/// A statement over `t` with its parameters, and whether its order is fully determined.
fn statement_on_t(rng: &mut Rng) -> (String, Vec<ScalarValue>, bool) {
    let mut params = Vec::new();
    let mut conjuncts = Vec::new();
    let p = |v: ScalarValue, params: &mut Vec<ScalarValue>| {
        params.push(v);
        format!("${}", params.len())
    };
    for _ in 0..rng.below(4) {
        let c = match rng.below(11) {
            0 => format!("status = {}", p(text(rng, "status"), &mut params)),
            1 => format!("contacts_count > {}", p(number(rng), &mut params)),
            2 => {
                let (a, b) = (number(rng), number(rng));
                format!(
                    "contacts_count BETWEEN {} AND {}",
                    p(a, &mut params),
                    p(b, &mut params)
                )
            }
            3 => format!("owner = {}", p(text(rng, "owner"), &mut params)),
            4 => {
                let (a, b) = (text(rng, "status"), text(rng, "status"));
                format!("status IN ({}, {})", p(a, &mut params), p(b, &mut params))
            }
            5 => format!("id = {}", p(text(rng, "id"), &mut params)),
            6 => "contacts_count IS NULL".to_string(),
            7 => format!("score < {}", p(number(rng), &mut params)),
            8 => format!("array_has(tags, {})", p(text(rng, "tag"), &mut params)),
            9 => format!("owner >= {}", p(text(rng, "owner"), &mut params)),
            _ => "status <> 'pending'".to_string(),
        };
        conjuncts.push(c);
    }
    // One statement in six counts; one in six groups (a DISTINCT or a facet count).
    let count = rng.below(6) == 0;
    let grouped = !count && rng.below(5) == 0;
    if grouped {
        let (select, group) = *pick(
            rng,
            &[
                ("DISTINCT status", ""),
                ("DISTINCT owner", ""),
                ("DISTINCT contacts_count", ""),
                ("DISTINCT contacts_count, status", ""),
                ("DISTINCT id", ""),
                ("status, count(*)", " GROUP BY status"),
                ("count(*) AS n, owner", " GROUP BY owner"),
                (
                    "status, contacts_count, count(*), count(1)",
                    " GROUP BY status, contacts_count",
                ),
                ("score, count(*)", " GROUP BY score"),
            ],
        );
        let mut sql = format!("SELECT {select} FROM t");
        if !conjuncts.is_empty() {
            sql += &format!(" WHERE {}", conjuncts.join(" AND "));
        }
        sql += group;
        if rng.below(5) == 0 {
            sql += " LIMIT 2";
            // Which groups a LIMIT keeps is not fixed without an ORDER BY: count them only.
            sql = format!("SELECT count(*) FROM ({sql})");
        }
        return (sql, params, false);
    }
    let select = if count {
        "count(*)"
    } else {
        *pick(
            rng,
            &[
                "*",
                "id",
                "id, contacts_count",
                "contacts_count AS c, id",
                "owner, score",
                "status, id, tags",
            ],
        )
    };
    let mut sql = format!("SELECT {select} FROM t");
    if !conjuncts.is_empty() {
        sql += &format!(" WHERE {}", conjuncts.join(" AND "));
    }
    let mut ordered = false;
    if !count {
        let order = *pick(
            rng,
            &[
                "",
                "contacts_count DESC",
                "contacts_count",
                "status, contacts_count",
                "id",
                "id DESC",
                "owner",
            ],
        );
        if !order.is_empty() {
            sql += &format!(" ORDER BY {order}");
            // Ties keep their index order on both paths, but only a unique key fixes it
            // whatever access path either side picks.
            ordered = order.starts_with("id");
        }
        match rng.below(4) {
            0 => sql += &format!(" LIMIT {}", 1 + rng.below(40)),
            1 => sql += &format!(" LIMIT {} OFFSET {}", 1 + rng.below(30), rng.below(20)),
            _ => {}
        }
    }
    (sql, params, ordered)
}

/// A statement over `n` (BIGINT key, DOUBLE column): numeric coercion both ways.
fn statement_on_n(rng: &mut Rng) -> (String, Vec<ScalarValue>, bool) {
    let v = |rng: &mut Rng| match rng.below(4) {
        0 => ScalarValue::Int64(Some(rng.below(60) as i64)),
        1 => ScalarValue::Float64(Some(rng.below(60) as f64 + 0.5)),
        2 => ScalarValue::Int64(None),
        _ => ScalarValue::Float64(Some(rng.below(300) as f64)),
    };
    match rng.below(4) {
        0 => ("SELECT * FROM n WHERE k = $1".into(), vec![v(rng)], true),
        1 => (
            "SELECT k, x FROM n WHERE x >= $1 ORDER BY x LIMIT 10".into(),
            vec![v(rng)],
            false,
        ),
        2 => (
            "SELECT count(*) FROM n WHERE x < $1".into(),
            vec![v(rng)],
            true,
        ),
        _ => (
            "SELECT label FROM n WHERE k IN ($1, $2) ORDER BY k".into(),
            vec![v(rng), v(rng)],
            true,
        ),
    }
}

async fn general_path(db: &TempDb, sql: &str, params: &[ScalarValue]) -> Vec<RecordBatch> {
    let plan = db.quiver.prepare(sql).await.unwrap().logical_plan();
    let bound = if params.is_empty() {
        plan
    } else {
        plan.with_param_values(params.to_vec()).unwrap()
    };
    db.quiver
        .context()
        .execute_logical_plan(bound)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_returns_what_the_planner_returns() {
    let db = TempDb::new();
    load(&db).await;
    let mut rng = Rng::new(2026);
    for i in 0..600 {
        let (sql, params, ordered) = if i % 4 == 3 {
            statement_on_n(&mut rng)
        } else {
            statement_on_t(&mut rng)
        };
        let statement = db.quiver.prepare(&sql).await.unwrap();
        let fast = statement.query(params.clone()).await.unwrap();
        let general = general_path(&db, &sql, &params).await;
        let schema = statement.schema();
        for b in fast.iter() {
            assert_eq!(b.schema(), schema, "{sql}: batch schema");
        }
        if let Some(b) = general.first() {
            assert_eq!(
                b.schema().fields(),
                schema.fields(),
                "{sql}: the planner's schema"
            );
        }
        let (mut a, mut b) = (render(&fast), render(&general));
        if !ordered {
            a.sort();
            b.sort();
        }
        assert_eq!(a, b, "{sql} with {params:?}");
    }
    let stats = db.quiver.plan_cache().stats();
    assert!(
        stats.fast_runs > 300,
        "the fast path ran only {} times: {stats:?}",
        stats.fast_runs
    );
    assert!(
        stats.fallbacks > 0,
        "no value needed the planner: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limited_scans_without_order_agree_with_the_planner_on_rows() {
    // A LIMIT without ORDER BY may return any rows; both paths read the same index in the
    // same order, so they return the same ones.
    let db = TempDb::new();
    load(&db).await;
    for sql in [
        "SELECT id FROM t WHERE status = $1 LIMIT 5",
        "SELECT * FROM t WHERE status = $1 LIMIT 3 OFFSET 2",
    ] {
        let params = vec![ScalarValue::from("active")];
        let fast = db.quiver.prepare(sql).await.unwrap();
        assert!(fast.uses_fast_path(), "{sql}");
        assert_eq!(
            render(&fast.query(params.clone()).await.unwrap()),
            render(&general_path(&db, sql, &params).await),
            "{sql}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shapes_the_fast_path_must_leave_to_the_planner() {
    let db = TempDb::new();
    load(&db).await;
    for sql in [
        // No key holds `label`: no skip scan can answer these.
        "SELECT label, count(*) FROM n GROUP BY label",
        "SELECT DISTINCT label FROM n",
        "SELECT status, max(score) FROM t GROUP BY status",
        "SELECT upper(id) FROM t WHERE id = $1",
        "SELECT t.id FROM t JOIN n ON t.contacts_count = n.k",
        // Volatile and time-dependent filters are never frozen into a plan.
        "SELECT id FROM t WHERE score < random() * 100",
        "SELECT id FROM t WHERE contacts_count < extract(year FROM now())",
        "SELECT count(owner) FROM t",
    ] {
        let statement = db.quiver.prepare(sql).await.unwrap();
        assert!(!statement.uses_fast_path(), "{sql} must be planned");
        // Planned statements still run, and count as planned.
        statement
            .query(vec![ScalarValue::from("id0001")])
            .await
            .unwrap();
    }
    assert!(db.quiver.plan_cache().stats().planned_runs >= 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_and_facets_run_on_the_fast_path_unless_their_filters_keep_it_from_skipping() {
    let db = TempDb::new();
    load(&db).await;
    let run = |sql: &'static str, params: Vec<ScalarValue>| {
        let db = &db;
        async move {
            let statement = db.quiver.prepare(sql).await.unwrap();
            assert!(statement.uses_fast_path(), "{sql}");
            let before = db.quiver.plan_cache().stats();
            let mut fast = render(&statement.query(params.clone()).await.unwrap());
            let after = db.quiver.plan_cache().stats();
            let mut general = render(&general_path(db, sql, &params).await);
            fast.sort();
            general.sort();
            assert_eq!(fast, general, "{sql} with {params:?}");
            assert!(!fast.is_empty(), "{sql}: nothing to compare");
            (
                after.fast_runs - before.fast_runs,
                after.fallbacks - before.fallbacks,
            )
        }
    };
    // Skip scans and facet walks: the fast path answers.
    for (sql, params) in [
        ("SELECT DISTINCT status FROM t", vec![]),
        (
            "SELECT DISTINCT owner FROM t WHERE owner >= $1",
            vec![ScalarValue::from("o5")],
        ),
        (
            "SELECT DISTINCT contacts_count FROM t WHERE status = $1",
            vec![ScalarValue::from("active")],
        ),
        // The range column is read for the key range, not output: one row, not one per
        // contacts_count (the fast path once skipped over both).
        (
            "SELECT DISTINCT status FROM t WHERE status = $1 AND contacts_count >= $2",
            vec![ScalarValue::from("active"), ScalarValue::from(3i64)],
        ),
        ("SELECT status, count(*) FROM t GROUP BY status", vec![]),
        (
            "SELECT count(*) AS n, contacts_count FROM t WHERE status = $1 GROUP BY contacts_count",
            vec![ScalarValue::from("pending")],
        ),
    ] {
        assert_eq!(run(sql, params).await, (1, 0), "{sql} ran on the fast path");
    }
    // A filter the index does not answer (score) keeps the walk from skipping: planned.
    let sql = "SELECT DISTINCT status FROM t WHERE score < $1";
    assert_eq!(
        run(sql, vec![ScalarValue::from(50.0)]).await,
        (0, 1),
        "{sql}"
    );
}
