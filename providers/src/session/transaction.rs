//! [`Transaction`]: statements of a [`Quiver`] session grouped into one atomic write that
//! reads one snapshot (the store's side: `indexed_store::Transaction`).
//!
//! A statement of a transaction runs as any other does, through the session's plan cache
//! and fast paths, with a task context that says it belongs to the transaction
//! ([`StatementReads::Transaction`]): its scans read the transaction's snapshot with the
//! writes of the statements before it, and its writes (DML, job functions) are staged in the
//! transaction. Statements of one transaction run one at a time. A failed statement fails
//! the transaction, as in PostgreSQL: only ROLLBACK (or ROLLBACK TO a savepoint) is accepted
//! until then. COPY and reading or writing files are refused inside a transaction; DDL runs
//! on its own in a transaction that has written nothing, and is refused in one that has.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchemaRef, ParamValues};
use datafusion::datasource::source_as_provider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{RecordBatchStream, SessionState, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{
    execute_stream, EmptyRecordBatchStream, ExecutionPlan, SendableRecordBatchStream,
};
use datafusion::sql::parser::Statement as DFStatement;
use futures::{Stream, TryStreamExt};
use indexed_store::{TransactionOptions, TransactionStatus};
use tokio::sync::OwnedMutexGuard;

use super::context::task_with;
use super::control::Control;
use super::quiver::{InTransaction, Quiver};
use crate::error::{store_err, SqlError};
use crate::plan::{bound_plan, one_statement, run_fast, CachedStatement, Run};
use crate::scan::StatementReads;
use crate::table::ForwardedHeaders;
use crate::write::run_here_if;

/// A transaction whose writes take at most this many bytes commits on the caller's task
/// rather than a blocking thread: the hop costs more than writing a small batch.
const INLINE_COMMIT_BYTES: usize = 64 * 1024;

/// An open transaction of a session. Clones share it. It ends with [`commit`](Self::commit)
/// or [`rollback`](Self::rollback); when the last clone is dropped while it is open, it
/// rolls back.
#[derive(Clone)]
pub struct Transaction(Arc<Inner>);

struct Inner {
    session: Quiver,
    core: Arc<indexed_store::Transaction>,
    /// The session's state with the transaction in its config: what planned statements are
    /// planned in (EXPLAIN shows the scans reading the transaction). Built at the first
    /// statement that needs the planner: copying a session state costs more than a
    /// small transaction.
    state: OnceLock<SessionState>,
    /// The task context statements run with, built once.
    task: Arc<TaskContext>,
    /// Statements take turns.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// How long a statement waits for its turn, in ms (0: it does not).
    turn_wait_ms: AtomicU64,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transaction({})", self.0.core.id())
    }
}

impl Transaction {
    /// The session the transaction belongs to.
    pub(super) fn session(&self) -> &Quiver {
        &self.0.session
    }

    /// Begins a transaction of `session`.
    pub(crate) fn begin(session: &Quiver, options: TransactionOptions) -> Self {
        let core = session.database().begin(options);
        let base = session.task_context();
        let config = base
            .session_config()
            .clone()
            .with_extension(Arc::new(StatementReads::Transaction(core.clone())));
        let task = Arc::new(task_with(&base, config));
        Transaction(Arc::new(Inner {
            session: session.detached(),
            core,
            state: OnceLock::new(),
            task,
            turn: Arc::default(),
            turn_wait_ms: AtomicU64::new(0),
        }))
    }

    /// The state planned statements of the transaction are planned in.
    fn state(&self) -> &SessionState {
        self.0.state.get_or_init(|| {
            let mut state = self.0.session.context().state();
            state
                .config_mut()
                .set_extension(Arc::new(StatementReads::Transaction(self.0.core.clone())));
            state
        })
    }

    /// The store's transaction.
    pub fn core(&self) -> &Arc<indexed_store::Transaction> {
        &self.0.core
    }

    /// Where it stands.
    pub fn status(&self) -> TransactionStatus {
        self.0.core.status()
    }

    /// True while statements may run or a failure awaits ROLLBACK.
    pub fn is_open(&self) -> bool {
        matches!(
            self.status(),
            TransactionStatus::Active | TransactionStatus::Failed(_)
        )
    }

    /// Commits (see `indexed_store::Transaction::commit`): a conflict with another
    /// transaction is a `StoreError::SerializationFailure`, and then nothing was written.
    pub async fn commit(&self) -> Result<()> {
        let _turn = self.take_turn().await?;
        let core = self.0.core.clone();
        // A small transaction commits here (one write batch).
        let small = core.pending_bytes() <= INLINE_COMMIT_BYTES;
        run_here_if(small, move || core.commit().map_err(store_err)).await
    }

    /// Rolls back: every write is thrown away, claims made in it are given back. A statement
    /// still running fails at its next write.
    pub async fn rollback(&self) {
        self.0.core.rollback();
    }

    /// The turn to run a statement (or commit). While another statement's rows are still
    /// open it is refused at once ([`SqlError::TransactionBusy`]) rather than waiting for a
    /// stream that may never be read, unless [`wait_for_turn`](Self::wait_for_turn) allows
    /// a wait.
    async fn take_turn(&self) -> Result<OwnedMutexGuard<()>> {
        let busy = || DataFusionError::from(SqlError::TransactionBusy(self.0.core.id()));
        if let Ok(turn) = self.0.turn.clone().try_lock_owned() {
            return Ok(turn);
        }
        let wait = Duration::from_millis(self.0.turn_wait_ms.load(Ordering::Relaxed));
        if wait.is_zero() {
            return Err(busy());
        }
        tokio::time::timeout(wait, self.0.turn.clone().lock_owned())
            .await
            .map_err(|_| busy())
    }

    /// Lets a statement wait up to `wait` for the one before it to finish (a server, whose
    /// client may send the next statement while the previous one's stream is being torn
    /// down). Embedded, the default is not to wait.
    pub fn wait_for_turn(&self, wait: Duration) {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.0.turn_wait_ms.store(ms, Ordering::Relaxed);
    }

    /// Runs one statement (or a transaction-control statement) and collects its rows.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.execute(sql).await?.try_collect().await
    }

    /// Runs one statement of the transaction. `COMMIT`, `ROLLBACK`, `SAVEPOINT`, `ROLLBACK
    /// TO` and `RELEASE` are accepted too; `BEGIN` is refused (one is open).
    pub async fn execute(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        Ok(self.execute_planned(sql).await?.0)
    }

    /// [`execute`](Self::execute), with the statement's logical schema (qualified column
    /// names) when it has one.
    pub(crate) async fn execute_planned(
        &self,
        sql: &str,
    ) -> Result<(SendableRecordBatchStream, Option<DFSchemaRef>)> {
        if let Some(control) = control_of(sql)? {
            self.control(control).await?;
            return Ok((empty(), None));
        }
        match self.0.session.cached_in_transaction(sql).await? {
            InTransaction::Statement(statement) => {
                let logical = statement.plan.schema().clone();
                let params = ParamValues::List(vec![]);
                let rows = self
                    .run(statement, params, None, ForwardedHeaders::default())
                    .await?;
                Ok((rows, Some(logical)))
            }
            InTransaction::Ddl(statement) => {
                self.ddl(&statement).await?;
                Ok((empty(), None))
            }
        }
    }

    /// DDL in a transaction. DDL is not transactional: in a transaction that has written
    /// nothing it runs at once, on its own, and the transaction goes on with a snapshot
    /// taken after it (as if it had ended just before the DDL and begun again after it;
    /// nothing is lost, there being nothing to commit). That is how a DB-API client, always
    /// in a transaction with autocommit off, creates its tables. Once the transaction has
    /// written, DDL is refused.
    async fn ddl(&self, statement: &DFStatement) -> Result<()> {
        let _turn = self.take_turn().await?;
        if self.0.core.has_written() {
            return Err(SqlError::Unsupported {
                what: "DDL".into(),
                context: "in a transaction that has written".into(),
                instead: "COMMIT or ROLLBACK first: DDL is not transactional".into(),
            }
            .into());
        }
        self.0.session.run_ddl_now(statement).await?;
        self.0.core.restart().map_err(store_err)
    }

    /// Runs a transaction-control statement.
    pub(crate) async fn control(&self, control: Control) -> Result<()> {
        match control {
            Control::Begin { .. } => Err(SqlError::TransactionInProgress.into()),
            Control::Commit => self.commit().await,
            Control::Rollback => {
                self.rollback().await;
                Ok(())
            }
            Control::Savepoint(name) => self.0.core.savepoint(&name).map_err(store_err),
            Control::RollbackTo(name) => self.0.core.rollback_to(&name).map_err(store_err),
            Control::Release(name) => self.0.core.release(&name).map_err(store_err),
        }
    }

    /// Runs a planned statement in the transaction.
    pub(crate) async fn run(
        &self,
        statement: Arc<CachedStatement>,
        params: ParamValues,
        runtime: Option<Arc<RuntimeEnv>>,
        headers: ForwardedHeaders,
    ) -> Result<SendableRecordBatchStream> {
        // Refused before it begins: a refusal fails nothing.
        refuse_outside_tables(&statement.plan)?;
        let turn = self.take_turn().await?;
        let core = self.0.core.clone();
        core.begin_statement().map_err(store_err)?;
        match self.start(&statement, params, runtime, headers).await {
            Ok(stream) => Ok(Box::pin(Statement {
                schema: stream.schema(),
                inner: stream,
                core,
                turn: Some(turn),
            })),
            Err(e) => {
                core.end_statement(Some(&e.to_string()));
                Err(e)
            }
        }
    }

    async fn start(
        &self,
        statement: &CachedStatement,
        params: ParamValues,
        runtime: Option<Arc<RuntimeEnv>>,
        headers: ForwardedHeaders,
    ) -> Result<SendableRecordBatchStream> {
        let inner = &self.0;
        let cache = inner.session.plan_cache();
        let task = || {
            if headers.0.is_empty() && runtime.is_none() {
                return inner.task.clone();
            }
            let mut config = inner.task.session_config().clone();
            if !headers.0.is_empty() {
                config = config.with_extension(Arc::new(headers.clone()));
            }
            let task = task_with(&inner.task, config);
            Arc::new(match &runtime {
                Some(r) => task.with_runtime(r.clone()),
                None => task,
            })
        };
        // The fast paths plan in the session's own state: what they build reads through the
        // task's `StatementReads`, which is the transaction's.
        let ctx = inner.session.context();
        if let Some(write) = &statement.fast_write {
            let planned = write.plan(&ctx.state_ref().read(), &params)?;
            if let Some(exec) = planned {
                cache.count_run(statement, Run::Fast);
                return exec.execute(0, task());
            }
            cache.count_run(statement, Run::Fallback);
        } else {
            let ran = run_fast(
                &ctx.state_ref().read(),
                Some(cache),
                statement,
                &params,
                &task,
            )?;
            if let Some(stream) = ran {
                return Ok(stream);
            }
        }
        let physical = self
            .state()
            .create_physical_plan(&bound_plan(statement, params)?)
            .await?;
        execute_stream(physical, task())
    }
}

/// The transaction-control statement `sql` is, if it is one (parsed only when it may be).
pub(crate) fn control_of(sql: &str) -> Result<Option<Control>> {
    let head = sql.trim_start().get(..9).unwrap_or(sql.trim_start());
    let maybe = [
        "BEGIN",
        "START",
        "COMMIT",
        "END",
        "ROLLBACK",
        "ABORT",
        "SAVEPOINT",
        "RELEASE",
    ]
    .iter()
    .any(|k| head.to_ascii_uppercase().starts_with(k));
    if !maybe {
        return Ok(None);
    }
    match one_statement(sql, "a statement") {
        Ok(s) => Control::of(&s),
        Err(_) => Ok(None),
    }
}

/// Refuses a plan that reads or writes anything but Quiver's tables and functions: files
/// (COPY, URL tables), which a transaction cannot take back.
fn refuse_outside_tables(plan: &LogicalPlan) -> Result<()> {
    let mut outside = None;
    plan.apply_with_subqueries(|node| {
        match node {
            LogicalPlan::Copy(_) => outside = Some("COPY".to_owned()),
            LogicalPlan::TableScan(scan) => {
                let file = source_as_provider(&scan.source)
                    .is_ok_and(|p| p.is::<datafusion::datasource::listing::ListingTable>());
                if file {
                    outside = Some(format!("reading the file '{}'", scan.table_name));
                }
            }
            _ => {}
        }
        Ok(if outside.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    match outside {
        Some(what) => Err(SqlError::Unsupported {
            what,
            context: "inside a transaction".into(),
            instead: "COMMIT or ROLLBACK first: files and COPY run outside transactions".into(),
        }
        .into()),
        None => Ok(()),
    }
}

fn empty() -> SendableRecordBatchStream {
    Box::pin(EmptyRecordBatchStream::new(Arc::new(Schema::empty())))
}

/// A statement's rows, ending the statement in its transaction when they end (a failure
/// fails the transaction) and holding the transaction's turn until then.
struct Statement {
    schema: SchemaRef,
    inner: SendableRecordBatchStream,
    core: Arc<indexed_store::Transaction>,
    /// Held until the rows end (or the stream is dropped).
    turn: Option<OwnedMutexGuard<()>>,
}

impl Statement {
    /// Ends the statement (once), giving the turn back before the caller sees the end.
    fn end(&mut self, failure: Option<&str>) {
        if self.turn.take().is_some() {
            self.core.end_statement(failure);
        }
    }
}

impl Stream for Statement {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Err(e))) => self.end(Some(&e.to_string())),
            Poll::Ready(None) => self.end(None),
            _ => {}
        }
        polled
    }
}

impl RecordBatchStream for Statement {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        if self.turn.take().is_some() {
            self.core.cancel_statement();
        }
    }
}
