//! Large INSERTs (`INSERT ... SELECT`, `COPY t FROM 'file'`): the statement's rows stream
//! from its input into the store's bulk path ([`RowAccess::load_rows`]) instead of being
//! collected into one batch, so a 10M-row file never sits in memory whole.
//!
//! An INSERT starts as an ordinary one: it collects rows, and one that ends within
//! [`STREAM_AFTER`] rows is written as one atomic batch. Past that, the rows collected so far
//! and the rest of the input go through `load_rows`: batches of [`DEFAULT_LOAD_BATCH`] rows,
//! each one atomic write with its index entries, the next being encoded while one is written.
//! The statement stays all-or-nothing: a refused row (a duplicate key, a NULL in a NOT NULL
//! column), a value that does not convert, or a failing input (a malformed line in the file)
//! undoes every batch already written, and the statement fails with that error. What differs
//! from a small INSERT: other readers may see the rows arrive batch by batch, other writers
//! of the table wait until the statement ends, and a crash part way leaves whole batches
//! (each with all its index entries) that the statement had written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;
use indexed_store::{Row, RowAccess, StoreError, StoreResult, DEFAULT_LOAD_BATCH};
use tokio::sync::mpsc;

use super::rows::RowCheck;
use crate::error::store_err;

/// Rows an INSERT collects before it switches to streaming them through the bulk path.
pub const STREAM_AFTER: usize = DEFAULT_LOAD_BATCH;

/// Rows written so far by a session's large INSERTs: the shell reads it to show progress.
#[derive(Debug, Default)]
pub struct WriteProgress(AtomicU64);

impl WriteProgress {
    /// Rows handed to the store so far, over every large INSERT of the session.
    pub fn rows(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, rows: usize) {
        self.0.fetch_add(rows as u64, Ordering::Relaxed);
    }
}

/// Writes `first` and then every row of `rest` (converted by `convert`, each passing
/// `check`) through the bulk path; returns how many rows were written.
pub(crate) async fn insert_streamed(
    access: Arc<dyn RowAccess>,
    first: Vec<Row>,
    mut rest: SendableRecordBatchStream,
    convert: impl Fn(RecordBatch) -> Result<Vec<Row>>,
    check: Option<RowCheck>,
    progress: Option<Arc<WriteProgress>>,
) -> Result<u64> {
    // Two converted input batches in flight at most: memory stays a few batches deep.
    let (tx, rx) = mpsc::channel::<Option<Vec<Row>>>(2);
    let table = access.schema().name.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut rows = Received {
            rx,
            current: Vec::new().into_iter(),
            table,
        };
        access.load_rows(&mut rows, DEFAULT_LOAD_BATCH)
    });
    let feed = async {
        let mut pending = Some(first);
        loop {
            let rows = match pending.take() {
                Some(rows) => rows,
                None => match rest.next().await {
                    None => return Ok(()),
                    Some(batch) => convert(batch?)?,
                },
            };
            if let Some(check) = &check {
                rows.iter().try_for_each(|row| check(row))?;
            }
            let count = rows.len();
            // A closed channel means the writer stopped: its error says why.
            if tx.send(Some(rows)).await.is_err() {
                return Ok(());
            }
            if let Some(p) = &progress {
                p.add(count);
            }
        }
    };
    let fed: Result<()> = feed.await;
    if fed.is_err() {
        // Tells the writer to stop and undo what it wrote.
        let _ = tx.send(None).await;
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| DataFusionError::Execution(format!("write task failed: {e}")))?;
    match (fed, written) {
        // Rows that could not be removed again matter more than why the input failed.
        (_, Err(e @ StoreError::LoadNotUndone { .. })) => Err(store_err(e)),
        (Err(e), _) => Err(e),
        (Ok(()), written) => written.map_err(store_err),
    }
}

/// The rows the async side sends, as the iterator the bulk path pulls from its own thread.
struct Received {
    /// Batches of rows; None when the input failed.
    rx: mpsc::Receiver<Option<Vec<Row>>>,
    current: std::vec::IntoIter<Row>,
    table: String,
}

impl Iterator for Received {
    type Item = StoreResult<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.current.next() {
                return Some(Ok(row));
            }
            match self.rx.blocking_recv()? {
                Some(rows) => self.current = rows.into_iter(),
                None => {
                    return Some(Err(StoreError::LoadInputFailed {
                        table: self.table.clone(),
                    }))
                }
            }
        }
    }
}
