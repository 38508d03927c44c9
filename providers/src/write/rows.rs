//! What every write shares: the check rows must pass, a row's key, and where the writes go
//! ([`Writer`]: the table, or the statement's transaction), with the store's
//! read-modify-write taking a decision that may fail with a DataFusion error.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use indexed_store::encoding::encode_key;
use indexed_store::{
    Mutation, Row, RowAccess, RowReader, SortOrder, StoreError, StoreResult, TableSchema,
    Transaction, Value, WriteOutcome,
};

use crate::error::store_err;
use crate::scan::StatementReads;

/// A check every row a write would store must pass (the `lists` table's checks its lists
/// can run); its error refuses the whole statement.
pub(crate) type RowCheck = Arc<dyn Fn(&Row) -> Result<()> + Send + Sync>;

/// The primary key of a row.
pub(crate) fn primary_key(schema: &TableSchema, row: &Row) -> Vec<Value> {
    values_at(row, &schema.primary_key_indices())
}

/// The values of some columns of a row.
pub(crate) fn values_at(row: &Row, columns: &[usize]) -> Vec<Value> {
    columns.iter().map(|&i| row[i].clone()).collect()
}

/// A key's values as bytes: what a write's decisions are looked up by.
pub(crate) fn key_bytes(values: &[Value]) -> Vec<u8> {
    encode_key(values, &vec![SortOrder::Asc; values.len()])
}

/// The writes that bring a row from `old` to `new` (a changed key is a delete and an insert).
pub(crate) fn update_mutations(
    schema: &TableSchema,
    old: &Row,
    new: Row,
) -> Vec<Mutation<Vec<Value>, Row>> {
    let (old_key, new_key) = (primary_key(schema, old), primary_key(schema, &new));
    if old_key == new_key {
        vec![Mutation::Update(new)]
    } else {
        vec![Mutation::Delete(old_key), Mutation::Insert(new)]
    }
}

/// A write of at most this many rows runs on the statement's own task: the hop to a
/// blocking thread and back (two thread wake-ups) costs more than writing a few rows, which
/// holds no lock across an await and waits for no other writer (a row another transaction
/// has written fails at once). Larger writes run on a blocking thread, so that a runtime
/// worker is not held for milliseconds.
pub(crate) const INLINE_ROWS: usize = 16;

/// Runs `write`, which touches `rows` rows, here when it is small and on a blocking thread
/// otherwise (see [`INLINE_ROWS`]).
pub(crate) async fn run_write<T: Send + 'static>(
    rows: usize,
    write: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    run_here_if(rows <= INLINE_ROWS, write).await
}

/// Runs `write` on the caller's task when `small`, on a blocking thread otherwise: the one
/// place that decides how a write (or a COMMIT) leaves the async runtime.
pub(crate) async fn run_here_if<T: Send + 'static>(
    small: bool,
    write: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    if small {
        return write();
    }
    tokio::task::spawn_blocking(write)
        .await
        .map_err(|e| DataFusionError::Execution(format!("write task failed: {e}")))?
}

/// Where a statement's writes go: straight to the table (one atomic write each), or into
/// the transaction the statement is part of (staged until it commits).
#[derive(Clone)]
pub(crate) struct Writer {
    pub access: Arc<dyn RowAccess>,
    pub tx: Option<Arc<Transaction>>,
}

impl Writer {
    /// The writer of `access` for the statement `context` runs.
    pub(crate) fn of(access: Arc<dyn RowAccess>, context: &TaskContext) -> Self {
        let tx = StatementReads::of(context).and_then(|r| r.transaction().cloned());
        Writer { access, tx }
    }

    /// Applies mutations.
    pub(crate) fn apply(&self, mutations: Vec<Mutation<Vec<Value>, Row>>) -> Result<WriteOutcome> {
        match &self.tx {
            Some(tx) => self.access.apply_rows_staged(&**tx, mutations),
            None => self.access.apply_rows(mutations),
        }
        .map_err(store_err)
    }

    /// Runs `f` with a reader of what the writes are checked against: a fresh snapshot, or
    /// the transaction's view.
    pub(crate) fn read(
        &self,
        f: &mut dyn FnMut(&dyn RowReader) -> StoreResult<()>,
    ) -> StoreResult<()> {
        match &self.tx {
            Some(tx) => f(&*self.access.shared_reader_on(tx.latest_view())),
            None => self.access.read(f),
        }
    }

    /// [`RowAccess::apply_decided_rows`] (or its staged form in a transaction) with a
    /// `decide` that may fail with a DataFusion error, which the store's error type cannot
    /// carry: it is kept aside, stops the write, and is the error returned.
    pub(crate) fn apply_decided(
        &self,
        keys: &[Vec<Value>],
        mut decide: impl FnMut(&[Value], Option<&Row>) -> Result<Vec<Mutation<Vec<Value>, Row>>>,
    ) -> Result<()> {
        let mut failure: Option<DataFusionError> = None;
        let mut decide = |key: &[Value], current: Option<&Row>| {
            decide(key, current).map_err(|e| {
                let text = e.to_string();
                failure = Some(e);
                StoreError::Task(text)
            })
        };
        let outcome = match &self.tx {
            Some(tx) => self
                .access
                .apply_decided_rows_staged(&**tx, keys, &mut decide),
            None => self.access.apply_decided_rows(keys, &mut decide),
        };
        if let Some(e) = failure {
            return Err(e);
        }
        outcome.map_err(store_err)?;
        Ok(())
    }
}
