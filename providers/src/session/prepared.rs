//! Statements run through the plan cache: [`Quiver::execute`], [`Quiver::query`] and
//! [`Quiver::prepare`], and [`PreparedStatement`], a statement planned once and run with
//! parameters many times, concurrently if need be (each execution builds its own operators).

use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{execute_stream, ExecutionPlan, SendableRecordBatchStream};
use futures::TryStreamExt;

use super::context::task_with;
use super::quiver::{InTransaction, Lookup, Quiver};
use super::transaction::Transaction;
use crate::error::SqlError;
use crate::plan::{bound_plan, run_fast, CachedStatement, Run};
use crate::scan::StatementReads;
use crate::table::ForwardedHeaders;

impl Quiver {
    /// Runs one SQL statement through the plan cache: a repeated text skips parsing and
    /// planning, and a statement the fast path runs skips DataFusion's planner altogether.
    pub async fn execute(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        if let Some((stream, _)) = self.in_transaction(sql).await? {
            return Ok(stream);
        }
        match self.lookup(sql).await? {
            Lookup::Ddl(_) => Ok(Box::pin(
                datafusion::physical_plan::EmptyRecordBatchStream::new(Arc::new(Schema::empty())),
            )),
            Lookup::Statement(s) => {
                PreparedStatement::new(self.clone(), s)
                    .execute(Vec::<ScalarValue>::new())
                    .await
            }
        }
    }

    /// Runs one SQL statement (as [`Quiver::execute`]) and collects its rows.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.execute(sql).await?.try_collect().await
    }

    /// Plans a statement once (through the plan cache), for running many times with
    /// different parameters (`$1`...). DDL cannot be prepared.
    pub async fn prepare(&self, sql: &str) -> Result<PreparedStatement> {
        Ok(PreparedStatement::new(
            self.clone(),
            self.cached(sql).await?,
        ))
    }
}

/// A statement planned once, run with parameters (`$1`, `$2`... in the text).
///
/// ```no_run
/// # async fn example(quiver: providers::Quiver) -> datafusion::error::Result<()> {
/// use datafusion::common::ScalarValue;
/// let by_id = quiver.prepare("SELECT * FROM accounts WHERE id = $1").await?;
/// let rows = by_id.query(vec![ScalarValue::from("acct-17")]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PreparedStatement {
    session: Quiver,
    /// Replaced when the catalog changed since it was planned.
    current: Arc<Mutex<Arc<CachedStatement>>>,
    /// The transaction it runs in, when it was prepared by one; otherwise it runs in the
    /// session's open transaction, if there is one.
    transaction: Option<Transaction>,
}

impl std::fmt::Debug for PreparedStatement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreparedStatement({})", self.statement().sql)
    }
}

impl Transaction {
    /// Plans a statement once for running in this transaction with parameters.
    pub async fn prepare(&self, sql: &str) -> Result<PreparedStatement> {
        match self.session().cached_in_transaction(sql).await? {
            InTransaction::Statement(statement) => {
                Ok(PreparedStatement::new(self.session().clone(), statement)
                    .in_transaction(self.clone()))
            }
            InTransaction::Ddl(_) => Err(DataFusionError::Plan(
                "DDL cannot be prepared; run it as a statement".into(),
            )),
        }
    }
}

impl PreparedStatement {
    pub(crate) fn new(session: Quiver, statement: Arc<CachedStatement>) -> Self {
        PreparedStatement {
            session,
            current: Arc::new(Mutex::new(statement)),
            transaction: None,
        }
    }

    /// The same statement, run in `tx` (and refused once it has ended).
    pub fn in_transaction(self, tx: Transaction) -> Self {
        PreparedStatement {
            transaction: Some(tx),
            ..self
        }
    }

    fn statement(&self) -> Arc<CachedStatement> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The statement, planned again if a table or index was created or dropped since.
    async fn fresh(&self) -> Result<Arc<CachedStatement>> {
        let statement = self.statement();
        if statement.catalog_version == self.session.database().catalog_version() {
            return Ok(statement);
        }
        let again = self.session.cached(&statement.sql).await?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = again.clone();
        Ok(again)
    }

    /// The statement text.
    pub fn sql(&self) -> String {
        self.statement().sql.clone()
    }

    /// The logical plan, with its placeholders.
    pub fn logical_plan(&self) -> LogicalPlan {
        self.statement().plan.clone()
    }

    /// The schema of the rows it returns.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(self.statement().plan.schema().as_arrow().clone())
    }

    /// The type of each parameter, `$1` first (None where DataFusion could not infer one).
    pub fn parameter_types(&self) -> Result<Vec<Option<DataType>>> {
        let types = self.statement().plan.get_parameter_types()?;
        let mut ids: Vec<(usize, Option<DataType>)> = types
            .into_iter()
            .map(|(id, t)| (id.trim_start_matches('$').parse().unwrap_or(usize::MAX), t))
            .collect();
        ids.sort_by_key(|(n, _)| *n);
        Ok(ids.into_iter().map(|(_, t)| t).collect())
    }

    /// True when executions skip DataFusion's planner (values permitting).
    pub fn uses_fast_path(&self) -> bool {
        let statement = self.statement();
        statement.fast.is_some() || statement.fast_write.is_some()
    }

    /// Runs it with these parameters and collects the rows.
    pub async fn query(&self, params: impl Into<ParamValues>) -> Result<Vec<RecordBatch>> {
        self.execute(params).await?.try_collect().await
    }

    /// Runs it with these parameters.
    pub async fn execute(
        &self,
        params: impl Into<ParamValues>,
    ) -> Result<SendableRecordBatchStream> {
        self.execute_with(params.into(), None).await
    }

    /// Runs it with these parameters, with `runtime` (memory pool, spill files) for whatever
    /// it plans.
    pub async fn execute_with(
        &self,
        params: ParamValues,
        runtime: Option<Arc<RuntimeEnv>>,
    ) -> Result<SendableRecordBatchStream> {
        self.execute_forwarding(params, runtime, ForwardedHeaders::default())
            .await
    }

    /// Runs it as [`execute_with`](Self::execute_with) does, handing `headers` to the
    /// loaders of the tables it reads (each passes on those its `forward_headers` names).
    pub async fn execute_forwarding(
        &self,
        params: ParamValues,
        runtime: Option<Arc<RuntimeEnv>>,
        headers: ForwardedHeaders,
    ) -> Result<SendableRecordBatchStream> {
        let statement = self.fresh().await?;
        if let Some(tx) = &self.transaction {
            if !tx.is_open() {
                return Err(SqlError::UnknownTransaction(tx.core().id().to_string()).into());
            }
            return tx.run(statement, params, runtime, headers).await;
        }
        if let Some(tx) = self.session.transaction() {
            return tx.run(statement, params, runtime, headers).await;
        }
        let ctx = self.session.context();
        let cache = self.session.plan_cache();
        let headers = (!headers.0.is_empty()).then(|| Arc::new(headers));
        let task = || {
            if headers.is_none() && runtime.is_none() {
                // The session's own context, built once: nothing to add to it.
                return self.session.task_context();
            }
            let base = self.session.task_context();
            let mut config = base.session_config().clone();
            if let Some(h) = &headers {
                config = config.with_extension(h.clone());
            }
            let task = task_with(&base, config);
            Arc::new(match &runtime {
                Some(r) => task.with_runtime(r.clone()),
                None => task,
            })
        };
        if let Some(write) = &statement.fast_write {
            let planned = {
                let state = ctx.state_ref();
                let state = state.read();
                write.plan(&state, &params)?
            };
            if let Some(exec) = planned {
                cache.count_run(&statement, Run::Fast);
                return exec.execute(0, self.session.task_context());
            }
            cache.count_run(&statement, Run::Fallback);
        } else {
            let ran = {
                let state = ctx.state_ref();
                let state = state.read();
                run_fast(&state, Some(cache), &statement, &params, &task)?
            };
            if let Some(stream) = ran {
                return Ok(stream);
            }
        }
        let plan = bound_plan(&statement, params)?;
        let frame = ctx.execute_logical_plan(plan).await?;
        let physical = frame.create_physical_plan().await?;
        // Planned: its scans (a join's, a subquery's) all read one snapshot.
        let task = task();
        let config = task
            .session_config()
            .clone()
            .with_extension(Arc::new(StatementReads::snapshot()));
        let statement_task = TaskContext::from(&*ctx.state_ref().read())
            .with_session_config(config)
            .with_runtime(task.runtime_env());
        execute_stream(physical, Arc::new(statement_task))
    }
}
