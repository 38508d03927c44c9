//! Shared helpers for the integration tests: a temp-dir database, and a sqllogictest
//! adapter that runs `.slt` files against it.

use std::path::PathBuf;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use providers::Quiver;
use sqllogictest::{DBOutput, DefaultColumnType};

/// A database in a temp dir that lives as long as the guard.
pub struct TempDb {
    /// The session.
    pub quiver: Quiver,
    /// The directory (deleted on drop).
    pub dir: tempfile::TempDir,
}

impl TempDb {
    /// A new, empty database.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let quiver = Quiver::open(dir.path()).expect("open database");
        TempDb { quiver, dir }
    }

    /// Closes and reopens the database from its directory.
    pub fn reopen(&mut self) {
        let path: PathBuf = self.dir.path().to_path_buf();
        // Drop every handle to the old database before RocksDB's lock is taken again.
        let placeholder =
            std::sync::Arc::new(indexed_store::Database::in_memory().expect("memory database"));
        drop(std::mem::replace(
            &mut self.quiver,
            Quiver::new(placeholder),
        ));
        // A query's stream can be dropped while DataFusion's tasks for it are still being
        // cancelled (a LIMIT stops reading early); they let go of the database within
        // moments, and until they do RocksDB's lock is held. Wait for that, not longer.
        let mut waited = std::time::Duration::ZERO;
        loop {
            match Quiver::open(&path) {
                Ok(q) => {
                    self.quiver = q;
                    return;
                }
                Err(_) if waited < std::time::Duration::from_secs(10) => {
                    let pause = std::time::Duration::from_millis(50);
                    std::thread::sleep(pause);
                    waited += pause;
                }
                Err(e) => panic!("reopen database: {e}"),
            }
        }
    }

    /// Runs one statement and collects its rows.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, DataFusionError> {
        self.quiver.sql(sql).await?.collect().await
    }

    /// Runs one statement and renders every row as text cells.
    pub async fn rows(&self, sql: &str) -> Result<Vec<Vec<String>>, DataFusionError> {
        Ok(render(&self.query(sql).await?))
    }

    /// Panics unless the integrity check finds every table's indexes and records agreeing.
    pub fn assert_verified(&self) {
        for report in self.quiver.database().verify().expect("verify") {
            assert!(report.is_ok(), "{report:?}");
        }
    }

    /// The physical plan lines of EXPLAIN for a query.
    pub async fn physical_plan(&self, sql: &str) -> Result<String, DataFusionError> {
        let rows = self.rows(&format!("EXPLAIN {sql}")).await?;
        Ok(rows
            .into_iter()
            .filter(|r| r[0] == "physical_plan")
            .map(|r| r[1].clone())
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

impl Default for TempDb {
    fn default() -> Self {
        Self::new()
    }
}

pub use providers::{sql_error, store_error};

/// True when `e` is a serialization failure (retry the transaction).
pub fn is_serialization_failure(e: &DataFusionError) -> bool {
    matches!(
        store_error(e),
        Some(indexed_store::StoreError::SerializationFailure { .. })
    )
}

/// Renders batches as rows of text cells (NULL as `NULL`, empty text as `(empty)`).
pub fn render(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| {
                        let s = f.value(i).to_string();
                        if s.is_empty() {
                            "(empty)".to_owned()
                        } else {
                            s
                        }
                    })
                    .collect(),
            );
        }
    }
    rows
}

/// The sqllogictest connection: statements go through `Quiver::sql`; `REOPEN` restarts
/// the database; `AS TENANT ns <statement>` runs a statement in a session restricted to
/// namespace `ns`; EXPLAIN answers with one row per physical-plan line.
pub struct SltDb {
    /// The database under test.
    pub db: TempDb,
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for SltDb {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let trimmed = sql.trim().trim_end_matches(';').trim();
        if trimmed.eq_ignore_ascii_case("REOPEN") {
            self.db.reopen();
            return Ok(DBOutput::StatementComplete(0));
        }
        // `AS TENANT ns <statement>`: run in a session restricted to namespace `ns`.
        let (tenant, trimmed) = match trimmed.strip_prefix("AS TENANT ") {
            Some(rest) => {
                let (ns, statement) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                (Some(ns.to_owned()), statement.trim())
            }
            None => (None, trimmed),
        };
        let is_explain = trimmed.to_uppercase().starts_with("EXPLAIN ")
            && !trimmed.to_uppercase().starts_with("EXPLAIN ANALYZE");
        let batches = match &tenant {
            Some(ns) => {
                let session = Quiver::restricted(self.db.quiver.database().clone(), ns);
                session.sql(trimmed).await?.collect().await?
            }
            None => self.db.query(trimmed).await?,
        };
        let mut rows = render(&batches);
        if is_explain {
            rows = rows
                .into_iter()
                .filter(|r| r[0] == "physical_plan")
                .flat_map(|r| {
                    r[1].lines()
                        .map(|l| vec![l.trim_end().to_owned()])
                        .collect::<Vec<_>>()
                })
                .collect();
        }
        let width = batches.first().map_or(0, |b| b.num_columns());
        if width == 0
            || (width == 1
                && batches
                    .first()
                    .is_some_and(|b| b.schema().field(0).name() == "count")
                && !trimmed.to_uppercase().starts_with("SELECT"))
        {
            let n = rows
                .first()
                .and_then(|r| r.first())
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            return Ok(DBOutput::StatementComplete(n));
        }
        let width = rows.first().map_or(width, |r| r.len());
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; width],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "quiver"
    }
}
