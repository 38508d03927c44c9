//! Differential testing: random data in Quiver and in SQLite (rusqlite, bundled), random
//! queries on both, and the answers must agree. Orderings are made total by ending every
//! ORDER BY with the primary key, and NULL placement is spelled out in both, so ties and NULLs
//! are compared exactly rather than by weakening the comparison. Row-value comparisons
//! (keyset conditions) and OFFSET are among the random queries.

use indexed_store::workload::Rng;
use quiver_tests::TempDb;

const STATUSES: [&str; 4] = ["active", "pending", "rejected", "archived"];

/// A value as both engines can be asked for it.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Cell {
    fn key(&self) -> String {
        match self {
            Cell::Null => "NULL".into(),
            Cell::Int(i) => format!("{i}"),
            // Aggregates may differ in the last bits between engines.
            Cell::Real(f) => format!("{:.6}", f),
            Cell::Text(s) => format!("'{s}'"),
        }
    }
}

fn random_rows(
    rng: &mut Rng,
    n: usize,
) -> Vec<(String, String, Option<i64>, Option<String>, Option<f64>)> {
    (0..n)
        .map(|i| {
            let status = STATUSES[rng.below(4) as usize].to_string();
            let count = (rng.below(8) != 0).then(|| rng.below(60) as i64 - 10);
            let owner = (rng.below(10) != 0).then(|| format!("o{}", rng.below(12)));
            let score = (rng.below(6) != 0).then(|| (rng.below(400) as f64) / 4.0);
            (format!("id{i:04}"), status, count, owner, score)
        })
        .collect()
}

fn lit<T: ToString>(v: &Option<T>, quote: bool) -> String {
    match v {
        None => "NULL".into(),
        Some(x) if quote => format!("'{}'", x.to_string()),
        Some(x) => x.to_string(),
    }
}

/// A random WHERE clause over the columns.
fn predicate(rng: &mut Rng) -> String {
    let atom = |rng: &mut Rng| -> String {
        let op = |rng: &mut Rng| ["<", "<=", ">", ">="][rng.below(4) as usize];
        match rng.below(13) {
            0 => format!("status = '{}'", STATUSES[rng.below(4) as usize]),
            1 => format!(
                "status IN ('{}', '{}')",
                STATUSES[rng.below(4) as usize],
                STATUSES[rng.below(4) as usize]
            ),
            2 => format!(
                "contacts_count {} {}",
                ["<", "<=", ">", ">=", "="][rng.below(5) as usize],
                rng.below(60) as i64 - 10
            ),
            3 => {
                let a = rng.below(50) as i64 - 10;
                format!(
                    "contacts_count BETWEEN {a} AND {}",
                    a + rng.below(20) as i64
                )
            }
            4 => "contacts_count IS NULL".into(),
            5 => "owner IS NOT NULL".into(),
            6 => format!("owner = 'o{}'", rng.below(12)),
            7 => format!("score > {}", rng.below(100)),
            8 => format!("id < 'id0{}'", rng.below(4)),
            // Row values: keyset conditions, seeks where an index walks those columns.
            9 => format!(
                "(contacts_count, id) {} ({}, 'id0{:03}')",
                op(rng),
                rng.below(60) as i64 - 10,
                rng.below(300)
            ),
            10 => format!(
                "(status, contacts_count) {} ('{}', {})",
                op(rng),
                STATUSES[rng.below(4) as usize],
                rng.below(60) as i64 - 10
            ),
            11 => format!(
                "(status, contacts_count, id) {} ('{}', {}, 'id0{:03}')",
                op(rng),
                STATUSES[rng.below(4) as usize],
                rng.below(60) as i64 - 10,
                rng.below(300)
            ),
            _ => "score IS NULL".into(),
        }
    };
    match rng.below(4) {
        0 => atom(rng),
        1 => format!("{} AND {}", atom(rng), atom(rng)),
        2 => format!("({} OR {})", atom(rng), atom(rng)),
        _ => format!("{} AND ({} OR {})", atom(rng), atom(rng), atom(rng)),
    }
}

/// (query, whether row order matters).
fn query(rng: &mut Rng) -> (String, bool) {
    let w = predicate(rng);
    match rng.below(9) {
        0 | 1 => {
            let col = ["contacts_count", "score", "owner", "status"][rng.below(4) as usize];
            let desc = rng.below(2) == 0;
            let nulls_first = rng.below(2) == 0;
            let dir = if desc { "DESC" } else { "ASC" };
            let nulls = if nulls_first {
                "NULLS FIRST"
            } else {
                "NULLS LAST"
            };
            let limit = match rng.below(3) {
                0 => String::new(),
                1 => format!(" LIMIT {}", 1 + rng.below(30)),
                _ => format!(" LIMIT {} OFFSET {}", 1 + rng.below(30), rng.below(10)),
            };
            (
                format!(
                    "SELECT id, {col} FROM t WHERE {w} ORDER BY {col} {dir} {nulls}, id{limit}"
                ),
                true,
            )
        }
        2 => (format!("SELECT count(*) FROM t WHERE {w}"), false),
        3 => (format!("SELECT DISTINCT status FROM t WHERE {w}"), false),
        4 => (
            format!("SELECT owner, count(*), sum(contacts_count) FROM t WHERE {w} GROUP BY owner"),
            false,
        ),
        // Facets: counts per value of an indexed column, with and without a filter.
        5 => {
            let col = ["status", "owner", "contacts_count"][rng.below(3) as usize];
            let filter = if rng.below(3) == 0 {
                String::new()
            } else {
                format!(" WHERE {w}")
            };
            (
                format!("SELECT {col}, count(*) FROM t{filter} GROUP BY {col}"),
                false,
            )
        }
        // Filtered DISTINCT on an indexed column: a range on the column itself or any filter.
        6 => {
            let filter = match rng.below(3) {
                0 => format!("owner >= 'o{}'", rng.below(12)),
                1 => format!("owner < 'o{}' AND owner IS NOT NULL", rng.below(12)),
                _ => w,
            };
            (
                format!("SELECT DISTINCT owner FROM t WHERE {filter}"),
                false,
            )
        }
        7 => (
            format!(
                "SELECT DISTINCT status, contacts_count FROM t WHERE status = '{}' AND {w}",
                STATUSES[rng.below(4) as usize]
            ),
            false,
        ),
        _ => (
            format!("SELECT id, status, contacts_count, owner, score FROM t WHERE {w}"),
            false,
        ),
    }
}

fn sqlite_rows(conn: &rusqlite::Connection, sql: &str) -> Vec<Vec<Cell>> {
    let mut stmt = conn
        .prepare(sql)
        .unwrap_or_else(|e| panic!("sqlite: {e}: {sql}"));
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => Cell::Null,
                    rusqlite::types::ValueRef::Integer(v) => Cell::Int(v),
                    rusqlite::types::ValueRef::Real(v) => Cell::Real(v),
                    rusqlite::types::ValueRef::Text(t) => {
                        Cell::Text(String::from_utf8_lossy(t).into_owned())
                    }
                    rusqlite::types::ValueRef::Blob(_) => unreachable!(),
                })
                .collect())
        })
        .unwrap();
    rows.map(|r| r.unwrap()).collect()
}

fn quiver_rows(batches: &[datafusion::arrow::array::RecordBatch]) -> Vec<Vec<Cell>> {
    use datafusion::arrow::array::{Array, Float64Array, Int64Array, StringArray};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<_> = b
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Float64 | DataType::Float32 | DataType::Decimal128(..) => {
                    cast(c, &DataType::Float64).unwrap()
                }
                // A DATE as SQLite keeps it: 'YYYY-MM-DD' text.
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Date32 => {
                    cast(c, &DataType::Utf8).unwrap()
                }
                _ => cast(c, &DataType::Int64).unwrap(),
            })
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|c| {
                        if c.is_null(i) {
                            Cell::Null
                        } else if let Some(a) = c.as_any().downcast_ref::<Float64Array>() {
                            Cell::Real(a.value(i))
                        } else if let Some(a) = c.as_any().downcast_ref::<StringArray>() {
                            Cell::Text(a.value(i).to_owned())
                        } else {
                            Cell::Int(c.as_any().downcast_ref::<Int64Array>().unwrap().value(i))
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

fn normalise(rows: Vec<Vec<Cell>>, ordered: bool) -> Vec<String> {
    let mut keys: Vec<String> = rows
        .into_iter()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    // SQLite keeps an integral REAL as REAL; compare numbers by value.
                    Cell::Int(i) => Cell::Real(*i as f64).key(),
                    other => other.key(),
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    if !ordered {
        keys.sort();
    }
    keys
}

/// `t` with 400 random rows and three indexes in Quiver, and the same rows in SQLite.
async fn loaded(rng: &mut Rng) -> (TempDb, rusqlite::Connection, usize) {
    let rows = random_rows(rng, 400);
    let db = TempDb::new();
    let sqlite = rusqlite::Connection::open_in_memory().unwrap();
    let ddl = "CREATE TABLE t (id TEXT PRIMARY KEY, status TEXT NOT NULL, contacts_count BIGINT, owner TEXT, score DOUBLE)";
    db.query(ddl).await.unwrap();
    sqlite.execute(&format!("{ddl} WITHOUT ROWID"), []).unwrap();
    for idx in [
        "CREATE INDEX t_status_count ON t (status, contacts_count)",
        "CREATE INDEX t_count ON t (contacts_count DESC)",
        "CREATE INDEX t_owner ON t (owner) INCLUDE (score)",
    ] {
        db.query(idx).await.unwrap();
    }
    sqlite
        .execute(
            "CREATE INDEX t_status_count ON t (status, contacts_count)",
            [],
        )
        .unwrap();
    let values: Vec<String> = rows
        .iter()
        .map(|(id, status, count, owner, score)| {
            format!(
                "('{id}', '{status}', {}, {}, {})",
                lit(count, false),
                lit(owner, true),
                lit(score, false)
            )
        })
        .collect();
    let insert = format!("INSERT INTO t VALUES {}", values.join(", "));
    db.query(&insert).await.unwrap();
    sqlite.execute(&insert, []).unwrap();
    (db, sqlite, rows.len())
}

/// Runs a query on both and compares the answers.
async fn same_answer(db: &TempDb, sqlite: &rusqlite::Connection, sql: &str, ordered: bool) {
    let want = normalise(sqlite_rows(sqlite, sql), ordered);
    let got = normalise(
        quiver_rows(
            &db.query(sql)
                .await
                .unwrap_or_else(|e| panic!("quiver: {e}: {sql}")),
        ),
        ordered,
    );
    assert_eq!(got, want, "{sql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiver_answers_like_sqlite() {
    let mut rng = Rng::new(20261123);
    let (db, sqlite, loaded_rows) = loaded(&mut rng).await;
    let mut checked = 0;
    for i in 0..1200 {
        // Now and then a write, to both: counts, facets and DISTINCT read per-value
        // counters that every write keeps, so they are checked after changes too.
        if i % 10 == 9 {
            let sql = write(&mut rng, loaded_rows + i);
            db.query(&sql)
                .await
                .unwrap_or_else(|e| panic!("quiver: {e}: {sql}"));
            sqlite.execute(&sql, []).unwrap();
        }
        let (sql, ordered) = query(&mut rng);
        same_answer(&db, &sqlite, &sql, ordered).await;
        checked += 1;
    }
    assert_eq!(checked, 1200);
}

/// Random transactions on both: writes, then reads inside the transaction through every
/// access path the random queries take (index walks either way with LIMIT and OFFSET,
/// keyset conditions, counts and facets from the counters, DISTINCT), then COMMIT or
/// ROLLBACK, then reads outside. A transaction's reads see its own writes merged with its
/// snapshot exactly as SQLite sees its own. `QUIVER_TEST_ROUNDS` transactions (40 by
/// default), seeded by `QUIVER_TEST_SEED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_answer_like_sqlite() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mut rng = Rng::new(env("QUIVER_TEST_SEED", 20261207));
    let (db, sqlite, loaded_rows) = loaded(&mut rng).await;
    let mut fresh = loaded_rows;
    for round in 0..env("QUIVER_TEST_ROUNDS", 40) {
        db.query("BEGIN").await.unwrap();
        sqlite.execute("BEGIN", []).unwrap();
        for _ in 0..1 + rng.below(8) {
            fresh += 1;
            let sql = write(&mut rng, fresh);
            db.query(&sql)
                .await
                .unwrap_or_else(|e| panic!("round {round}, quiver: {e}: {sql}"));
            sqlite.execute(&sql, []).unwrap();
            for _ in 0..3 {
                let (sql, ordered) = query(&mut rng);
                same_answer(&db, &sqlite, &sql, ordered).await;
            }
        }
        let end = if rng.below(3) == 0 {
            "ROLLBACK"
        } else {
            "COMMIT"
        };
        db.query(end).await.unwrap();
        sqlite.execute(end, []).unwrap();
        for _ in 0..3 {
            let (sql, ordered) = query(&mut rng);
            same_answer(&db, &sqlite, &sql, ordered).await;
        }
    }
    db.assert_verified();
}

/// A random INSERT, UPDATE or DELETE of `t` (`fresh` numbers a new row's id).
fn write(rng: &mut Rng, fresh: usize) -> String {
    let id = format!("id{:04}", rng.below(450));
    let status = STATUSES[rng.below(4) as usize];
    let owner = (rng.below(10) != 0).then(|| format!("o{}", rng.below(14)));
    let count = (rng.below(8) != 0).then(|| rng.below(60) as i64 - 10);
    match rng.below(5) {
        0 => format!(
            "INSERT INTO t VALUES ('id{fresh:04}', '{status}', {}, {}, 1.5)",
            lit(&count, false),
            lit(&owner, true)
        ),
        1 => format!("DELETE FROM t WHERE id = '{id}'"),
        2 => format!(
            "DELETE FROM t WHERE owner = 'o{}' AND status = '{status}'",
            rng.below(14)
        ),
        3 => format!(
            "UPDATE t SET status = '{status}', owner = {} WHERE id = '{id}'",
            lit(&owner, true)
        ),
        _ => format!(
            "UPDATE t SET contacts_count = {}, score = score + 1 WHERE status = '{status}' AND id < '{id}'",
            lit(&count, false)
        ),
    }
}

/// A random `INSERT ... ON CONFLICT ... RETURNING` over a small key pool, so that most
/// statements meet existing rows. Keys are distinct within a statement: there SQLite applies
/// the rows one after another where PostgreSQL (and Quiver) refuse DO UPDATE.
fn upsert(rng: &mut Rng) -> String {
    let mut ids: Vec<u64> = (0..1 + rng.below(4)).map(|_| rng.below(30)).collect();
    ids.sort();
    ids.dedup();
    let values: Vec<String> = ids
        .iter()
        .map(|id| {
            let n = (rng.below(5) != 0).then(|| rng.below(50) as i64 - 10);
            let note = (rng.below(3) != 0).then(|| format!("n{}", rng.below(5)));
            format!("('k{id:02}', {}, {})", lit(&n, false), lit(&note, true))
        })
        .collect();
    let action = match rng.below(6) {
        0 => "ON CONFLICT DO NOTHING",
        1 => "ON CONFLICT (id) DO NOTHING",
        2 => "ON CONFLICT (id) DO UPDATE SET n = u.n + excluded.n",
        3 => "ON CONFLICT (id) DO UPDATE SET n = excluded.n, note = excluded.note WHERE u.n < excluded.n OR u.n IS NULL",
        4 => "ON CONFLICT (id) DO UPDATE SET n = coalesce(u.n, 0) + 1 WHERE excluded.note IS NOT NULL",
        _ => "ON CONFLICT (id) DO UPDATE SET note = u.note || '+' || excluded.note",
    };
    format!(
        "INSERT INTO u VALUES {} {action} RETURNING id, n, note",
        values.join(", ")
    )
}

/// Upserts agree with SQLite's: the rows each statement returns and the table at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upserts_agree_with_sqlite() {
    let mut rng = Rng::new(20261129);
    let db = TempDb::new();
    let sqlite = rusqlite::Connection::open_in_memory().unwrap();
    let ddl = "CREATE TABLE u (id TEXT PRIMARY KEY, n BIGINT, note TEXT)";
    db.query(ddl).await.unwrap();
    sqlite.execute(ddl, []).unwrap();
    for _ in 0..300 {
        let sql = upsert(&mut rng);
        let want = normalise(sqlite_rows(&sqlite, &sql), false);
        let got = db
            .query(&sql)
            .await
            .unwrap_or_else(|e| panic!("quiver: {e}: {sql}"));
        assert_eq!(normalise(quiver_rows(&got), false), want, "{sql}");
    }
    let all = "SELECT id, n, note FROM u ORDER BY id";
    assert_eq!(
        normalise(quiver_rows(&db.query(all).await.unwrap()), true),
        normalise(sqlite_rows(&sqlite, all), true)
    );
}

fn date(rng: &mut Rng) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        1960 + rng.below(80),
        1 + rng.below(12),
        1 + rng.below(28)
    )
}

/// DATE columns (before and after 1970, NULLs, an index walked both ways) answer like
/// SQLite's ISO-8601 text dates, which order as the days they name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_agree_with_sqlite() {
    let mut rng = Rng::new(20261130);
    let db = TempDb::new();
    let sqlite = rusqlite::Connection::open_in_memory().unwrap();
    db.query("CREATE TABLE d (id BIGINT PRIMARY KEY, day DATE, kind TEXT)")
        .await
        .unwrap();
    db.query("CREATE INDEX d_day ON d (kind, day DESC)")
        .await
        .unwrap();
    sqlite
        .execute(
            "CREATE TABLE d (id BIGINT PRIMARY KEY, day TEXT, kind TEXT)",
            [],
        )
        .unwrap();
    let values: Vec<String> = (0..300)
        .map(|i| {
            let day = (rng.below(8) != 0).then(|| date(&mut rng));
            format!("({i}, {}, 'k{}')", lit(&day, true), rng.below(3))
        })
        .collect();
    let insert = format!("INSERT INTO d VALUES {}", values.join(", "));
    db.query(&insert).await.unwrap();
    sqlite.execute(&insert, []).unwrap();
    for _ in 0..300 {
        let (a, b) = (date(&mut rng), date(&mut rng));
        let cond = match rng.below(5) {
            0 => format!("day = '{a}'"),
            1 => format!("day >= '{a}' AND day < '{b}'"),
            2 => format!("kind = 'k{}' AND day <= '{a}'", rng.below(3)),
            3 => format!("day BETWEEN '{a}' AND '{b}'"),
            _ => "day IS NULL".to_owned(),
        };
        let order = if rng.below(2) == 0 {
            "DESC NULLS FIRST"
        } else {
            "ASC NULLS LAST"
        };
        let sql = format!(
            "SELECT id, day FROM d WHERE {cond} ORDER BY day {order}, id LIMIT {}",
            1 + rng.below(40)
        );
        let got = db
            .query(&sql)
            .await
            .unwrap_or_else(|e| panic!("quiver: {e}: {sql}"));
        assert_eq!(
            normalise(quiver_rows(&got), true),
            normalise(sqlite_rows(&sqlite, &sql), true),
            "{sql}"
        );
    }
}

/// DECIMAL(12, 2) against SQLite holding the same amounts as integer cents: filters, index
/// order and sums agree exactly (a double would round sums of many cents).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decimals_agree_with_sqlite_cents() {
    let mut rng = Rng::new(20261201);
    let db = TempDb::new();
    let sqlite = rusqlite::Connection::open_in_memory().unwrap();
    db.query("CREATE TABLE m (id BIGINT PRIMARY KEY, amount DECIMAL(12,2), kind TEXT)")
        .await
        .unwrap();
    db.query("CREATE INDEX m_amount ON m (kind, amount)")
        .await
        .unwrap();
    sqlite
        .execute(
            "CREATE TABLE m (id BIGINT PRIMARY KEY, cents BIGINT, kind TEXT)",
            [],
        )
        .unwrap();
    let cents = |rng: &mut Rng| rng.below(2_000_000) as i64 - 1_000_000;
    let show = |c: i64| {
        format!(
            "{}{}.{:02}",
            if c < 0 { "-" } else { "" },
            c.abs() / 100,
            c.abs() % 100
        )
    };
    for i in 0..400 {
        let c = (rng.below(10) != 0).then(|| cents(&mut rng));
        let kind = rng.below(3);
        let amount = c.map_or("NULL".to_owned(), show);
        let cents_sql = c.map_or("NULL".to_owned(), |c| c.to_string());
        db.query(&format!("INSERT INTO m VALUES ({i}, {amount}, 'k{kind}')"))
            .await
            .unwrap();
        sqlite
            .execute(
                &format!("INSERT INTO m VALUES ({i}, {cents_sql}, 'k{kind}')"),
                [],
            )
            .unwrap();
    }
    for _ in 0..200 {
        let (a, b) = (cents(&mut rng), cents(&mut rng));
        let kind = rng.below(3);
        let (quiver, lite) = match rng.below(4) {
            0 => (
                format!("SELECT id, CAST(amount * 100 AS BIGINT) FROM m WHERE kind = 'k{kind}' AND amount >= {} ORDER BY amount, id LIMIT 20", show(a)),
                format!("SELECT id, cents FROM m WHERE kind = 'k{kind}' AND cents >= {a} ORDER BY cents, id LIMIT 20"),
            ),
            1 => (
                format!("SELECT CAST(sum(amount) * 100 AS BIGINT), count(*) FROM m WHERE amount BETWEEN {} AND {}", show(a.min(b)), show(a.max(b))),
                format!("SELECT sum(cents), count(*) FROM m WHERE cents BETWEEN {} AND {}", a.min(b), a.max(b)),
            ),
            2 => (
                format!("SELECT id FROM m WHERE amount = {} ORDER BY id", show(a)),
                format!("SELECT id FROM m WHERE cents = {a} ORDER BY id"),
            ),
            _ => (
                "SELECT kind, CAST(sum(amount) * 100 AS BIGINT) FROM m GROUP BY kind ORDER BY kind".to_owned(),
                "SELECT kind, sum(cents) FROM m GROUP BY kind ORDER BY kind".to_owned(),
            ),
        };
        let got = db
            .query(&quiver)
            .await
            .unwrap_or_else(|e| panic!("quiver: {e}: {quiver}"));
        assert_eq!(
            normalise(quiver_rows(&got), true),
            normalise(sqlite_rows(&sqlite, &lite), true),
            "{quiver}"
        );
    }
}
