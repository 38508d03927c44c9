//! What one query may take: memory, time, and a place among the queries running at once.
//!
//! - Memory: each query gets its own DataFusion memory pool of `query_memory` bytes with
//!   spilling disabled, so a sort or aggregate over the limit fails with
//!   `ResourceExhausted` instead of taking the server's memory.
//! - Time: a query's stream ends with `DeadlineExceeded` once `query_timeout` has passed
//!   since it was admitted, and its scan is dropped (which stops it).
//! - Concurrency: at most `max_concurrent` queries run at once; the others wait up to
//!   `queue_timeout` for a place and are then refused with `ResourceExhausted`.
//! - Slow readers: results pass through a channel of two batches, so a client that reads
//!   slowly holds at most that much beyond what gRPC has in flight, and still only until
//!   its deadline.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DfResult;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tonic::Status;

use super::errors;

/// The limits, as set by `quiver serve`'s flags.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes a query's sorts, aggregates and joins may hold.
    pub query_memory: usize,
    /// How long a query may run, from admission to its last batch.
    pub query_timeout: Duration,
    /// Queries running at once.
    pub max_concurrent: usize,
    /// How long a query waits for a place before it is refused.
    pub queue_timeout: Duration,
}

/// A query let in: its place, its deadline and its memory.
pub struct Admitted {
    permit: OwnedSemaphorePermit,
    /// When the query must be done.
    pub deadline: Instant,
    /// The runtime the query executes with (its own memory pool).
    pub runtime: Arc<RuntimeEnv>,
}

/// Lets queries in under the limits.
pub struct Admission {
    limits: Limits,
    places: Arc<Semaphore>,
    base: Arc<RuntimeEnv>,
}

impl Admission {
    /// An admission with these limits.
    pub fn new(limits: Limits) -> DfResult<Self> {
        let base = RuntimeEnvBuilder::new()
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()?;
        Ok(Admission {
            places: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            limits,
            base,
        })
    }

    /// Waits for a place (up to the queue timeout) and starts the query's clock.
    pub async fn admit(&self) -> Result<Admitted, Status> {
        let permit = tokio::time::timeout(
            self.limits.queue_timeout,
            self.places.clone().acquire_owned(),
        )
        .await
        .map_err(|_| {
            Status::resource_exhausted(format!(
                "the server is running {} queries, its limit (--max-concurrent-queries), and none finished within {:?}: try again later",
                self.limits.max_concurrent, self.limits.queue_timeout
            ))
        })?
        .map_err(|_| Status::unavailable("the server is shutting down"))?;
        let pool = Arc::new(GreedyMemoryPool::new(self.limits.query_memory));
        let runtime = RuntimeEnvBuilder::from_runtime_env(&self.base)
            .with_memory_pool(pool)
            .build_arc()
            .map_err(errors::status)?;
        Ok(Admitted {
            permit,
            deadline: Instant::now() + self.limits.query_timeout,
            runtime,
        })
    }
}

impl Admitted {
    /// The status of a query past its deadline.
    pub fn expired(&self) -> Status {
        deadline_exceeded()
    }

    /// Runs `work` within the deadline.
    pub async fn within<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        tokio::time::timeout_at(self.deadline, work)
            .await
            .unwrap_or_else(|_| Err(self.expired()))
    }
}

fn deadline_exceeded() -> Status {
    Status::deadline_exceeded("the query ran past its time limit (--query-timeout) and was stopped")
}

enum Message {
    Batch(RecordBatch),
    Failed(Status),
    End,
}

/// The batches of `stream`, produced by a task that stops at the deadline (dropping the
/// stream stops its scan) and releases the query's place when done. A stream that ends
/// without its end marker was stopped: the reader gets `DeadlineExceeded`, never a result
/// that looks complete but is not.
pub fn bounded(
    stream: SendableRecordBatchStream,
    admitted: Admitted,
) -> impl Stream<Item = Result<RecordBatch, Status>> + Send + 'static {
    let (tx, rx) = mpsc::channel::<Message>(2);
    let deadline = admitted.deadline;
    tokio::spawn(async move {
        let Admitted { permit, .. } = admitted;
        let _permit = permit;
        let mut stream = stream;
        let expiry = tokio::time::sleep_until(deadline);
        tokio::pin!(expiry);
        loop {
            let message = tokio::select! {
                next = stream.next() => match next {
                    Some(Ok(batch)) => Message::Batch(batch),
                    Some(Err(e)) => Message::Failed(errors::status(e)),
                    None => Message::End,
                },
                _ = &mut expiry => return,
                _ = tx.closed() => return,
            };
            let last = !matches!(message, Message::Batch(_));
            tokio::select! {
                sent = tx.send(message) => if sent.is_err() { return },
                _ = &mut expiry => return,
            }
            if last {
                return;
            }
        }
    });
    futures::stream::unfold(Some(rx), move |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Some(Message::Batch(b)) => Some((Ok(b), Some(rx))),
            Some(Message::Failed(status)) => Some((Err(status), None)),
            Some(Message::End) => None,
            None if Instant::now() >= deadline => Some((Err(deadline_exceeded()), None)),
            None => Some((
                Err(Status::internal("the query stopped unexpectedly")),
                None,
            )),
        }
    })
}
