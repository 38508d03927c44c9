//! Transactions through SQL sessions on one database: the Hermitage anomaly matrix, a
//! transaction's reads of its own writes, savepoints and failed statements, what is refused
//! inside one, and the job queue's operations inside one.

mod hermitage;
mod jobs;
mod statements;

use datafusion::error::DataFusionError;
use providers::Quiver;
use quiver_tests::{is_serialization_failure, render, TempDb};

/// One client's session.
pub struct Session(pub Quiver);

impl Session {
    /// A new session of `db`'s database.
    pub fn of(db: &TempDb) -> Self {
        Session(Quiver::new(db.quiver.database().clone()))
    }

    pub async fn try_run(&self, sql: &str) -> Result<Vec<Vec<String>>, DataFusionError> {
        Ok(render(&self.0.sql(sql).await?.collect().await?))
    }

    pub async fn run(&self, sql: &str) -> Vec<Vec<String>> {
        self.try_run(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs `sql`, which must fail with a serialization error.
    pub async fn conflicts(&self, sql: &str) {
        match self.try_run(sql).await {
            Err(e) => assert!(is_serialization_failure(&e), "{sql}: {e}"),
            Ok(rows) => panic!("{sql} succeeded with {rows:?}, expected a serialization error"),
        }
    }

    /// Runs `sql`, which must fail; returns the error.
    pub async fn fails(&self, sql: &str) -> DataFusionError {
        match self.try_run(sql).await {
            Err(e) => e,
            Ok(rows) => panic!("{sql} succeeded with {rows:?}, expected an error"),
        }
    }
}

/// Rows of two integer columns, as rendered.
pub fn rows(cells: &[(i64, i64)]) -> Vec<Vec<String>> {
    cells
        .iter()
        .map(|(a, b)| vec![a.to_string(), b.to_string()])
        .collect()
}

/// Hermitage's table `test` (1, 10), (2, 20), and `n` sessions.
pub async fn setup(n: usize) -> (TempDb, Vec<Session>) {
    let db = TempDb::new();
    db.query("CREATE TABLE test (id BIGINT PRIMARY KEY, value BIGINT NOT NULL)")
        .await
        .unwrap();
    db.query("INSERT INTO test VALUES (1, 10), (2, 20)")
        .await
        .unwrap();
    let sessions = (0..n).map(|_| Session::of(&db)).collect();
    (db, sessions)
}

pub const RR: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ";
pub const SER: &str = "START TRANSACTION ISOLATION LEVEL SERIALIZABLE";
pub const ALL: &str = "SELECT * FROM test ORDER BY id";

/// Begins a transaction in each session, at the level given for it.
pub async fn both(levels: &[&str], sessions: &[Session]) {
    for (s, level) in sessions.iter().zip(levels) {
        s.run(level).await;
    }
}
