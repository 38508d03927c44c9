//! The job queue in SQL, as table functions that return the jobs they touch:
//!
//! ```sql
//! SELECT * FROM submit_job('emails', 'send', '{"to":"a@x"}', 'order-17');  -- + priority,
//!                                                  -- max_attempts, delay seconds
//! SELECT * FROM submit_jobs('emails', 'send', ARRAY['{"to":"a@x"}', '{"to":"b@x"}'],
//!                            ARRAY['order-17', 'order-18']);  -- one write for all
//! SELECT * FROM claim_jobs('emails', 'worker-7', 10, 30);   -- up to 10, 30 s lease
//! SELECT * FROM heartbeat_job('job-…', 'worker-7', 30);
//! SELECT * FROM complete_job('job-…', 'worker-7', 'sent');
//! SELECT * FROM complete_jobs(ARRAY['job-…', 'job-…'], 'worker-7');  -- one write for all
//! SELECT * FROM fail_job('job-…', 'worker-7', 'smtp timeout');
//! SELECT * FROM cancel_job('job-…');
//! ```
//!
//! Arguments are constant expressions (a lease may be `INTERVAL '30 seconds'` or a number
//! of seconds). The operation runs when the plan executes — `EXPLAIN` runs nothing — as
//! one atomic step of [`JobQueue`]. Each row returned is the job as written; `submit_job`
//! and `submit_jobs` add a column `created` (false when the idempotency key had made the job
//! already).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::{source_as_provider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use datafusion::prelude::SessionContext;
use indexed_store::{Database, Job, JobQueue, NewJob};

use crate::convert::{arrow_schema, rows_to_batch};
use crate::error::store_err;
use crate::scan::StatementReads;
use crate::table::{CallTable, TableCall};

const MICROS: f64 = 1_000_000.0;

/// Which operation a function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Submit,
    SubmitMany,
    Claim,
    Heartbeat,
    Complete,
    CompleteMany,
    Fail,
    Cancel,
}

impl Op {
    const ALL: [(Op, &'static str, &'static str); 8] = [
        (
            Op::Submit,
            "submit_job",
            "submit_job(queue, job_type, parameters [, idempotency_key [, priority [, max_attempts [, delay_seconds]]]])",
        ),
        (
            Op::SubmitMany,
            "submit_jobs",
            "submit_jobs(queue, job_type, ARRAY[parameters, ...] [, ARRAY[idempotency_key, ...] [, priority [, max_attempts [, delay_seconds]]]])",
        ),
        (
            Op::Claim,
            "claim_jobs",
            "claim_jobs(queue, worker, n, lease)",
        ),
        (
            Op::Heartbeat,
            "heartbeat_job",
            "heartbeat_job(job_id, worker, lease)",
        ),
        (
            Op::Complete,
            "complete_job",
            "complete_job(job_id, worker [, result])",
        ),
        (
            Op::CompleteMany,
            "complete_jobs",
            "complete_jobs(ARRAY[job_id, ...], worker [, result])",
        ),
        (Op::Fail, "fail_job", "fail_job(job_id, worker, error)"),
        (Op::Cancel, "cancel_job", "cancel_job(job_id)"),
    ];

    fn usage(self) -> &'static str {
        Op::ALL
            .iter()
            .find(|(op, _, _)| *op == self)
            .map_or("", |(_, _, u)| u)
    }
}

/// A job operation with its arguments checked.
#[derive(Debug, Clone)]
enum JobCall {
    Submit(NewJob),
    SubmitMany(Vec<NewJob>),
    Claim {
        queue: String,
        worker: String,
        n: usize,
        lease: i64,
    },
    Heartbeat {
        job_id: String,
        worker: String,
        lease: i64,
    },
    Complete {
        job_id: String,
        worker: String,
        result: Option<String>,
    },
    CompleteMany {
        job_ids: Vec<String>,
        worker: String,
        result: Option<String>,
    },
    Fail {
        job_id: String,
        worker: String,
        error: String,
    },
    Cancel {
        job_id: String,
    },
}

/// Registers the job functions in a session.
pub fn register_job_functions(ctx: &SessionContext, db: Arc<Database>) {
    for (op, name, _) in Op::ALL {
        ctx.register_udtf(name, Arc::new(JobFunction { db: db.clone(), op }));
    }
}

/// True when a plan runs a job operation (it changes the queue, like DML): the job
/// functions are the table calls there are.
pub fn runs_job_operation(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if source_as_provider(&scan.source).is_ok_and(|p| p.is::<CallTable>()) {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

struct JobFunction {
    db: Arc<Database>,
    op: Op,
}

impl fmt::Debug for JobFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobFunction({:?})", self.op)
    }
}

fn bad_args(op: Op, why: impl fmt::Display) -> DataFusionError {
    DataFusionError::Plan(format!("{why}; use {}", op.usage()))
}

/// The value of a constant argument.
fn constant(e: &Expr, session: &dyn Session, op: Op) -> Result<ScalarValue> {
    if let Expr::Literal(v, _) = e {
        return Ok(v.clone());
    }
    let mut placeholder = false;
    let _ = e.apply(|n| {
        placeholder |= matches!(
            n,
            Expr::Placeholder(_) | Expr::Column(_) | Expr::ScalarSubquery(_)
        );
        Ok(TreeNodeRecursion::Continue)
    });
    if placeholder {
        return Err(bad_args(
            op,
            format!("argument {e} is not a constant: table function arguments cannot be parameters, columns or subqueries"),
        ));
    }
    let schema = DFSchema::empty();
    let physical = session.create_physical_expr(e.clone(), &schema)?;
    let batch = RecordBatch::new_empty(Arc::new(Schema::empty()));
    let batch = RecordBatch::try_new_with_options(
        batch.schema(),
        vec![],
        &datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    let value = physical.evaluate(&batch)?.into_array(1)?;
    ScalarValue::try_from_array(&value, 0)
}

struct Args {
    op: Op,
    values: Vec<ScalarValue>,
}

impl Args {
    fn text(&self, i: usize, name: &str) -> Result<String> {
        match self.values.get(i) {
            Some(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)))
            | Some(ScalarValue::Utf8View(Some(s))) => Ok(s.clone()),
            Some(v) => Err(bad_args(self.op, format!("{name} must be text, got {v}"))),
            None => Err(bad_args(self.op, format!("{name} is missing"))),
        }
    }

    fn opt_text(&self, i: usize, name: &str) -> Result<Option<String>> {
        match self.values.get(i) {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(None),
            Some(_) => self.text(i, name).map(Some),
        }
    }

    fn int(&self, i: usize, name: &str) -> Result<Option<i64>> {
        let Some(v) = self.values.get(i) else {
            return Ok(None);
        };
        if v.is_null() {
            return Ok(None);
        }
        match v.cast_to(&DataType::Int64) {
            Ok(ScalarValue::Int64(Some(n))) => Ok(Some(n)),
            _ => Err(bad_args(
                self.op,
                format!("{name} must be an integer, got {v}"),
            )),
        }
    }

    /// A duration in µs: a number of seconds or an INTERVAL.
    fn seconds(&self, i: usize, name: &str) -> Result<Option<i64>> {
        let Some(v) = self.values.get(i) else {
            return Ok(None);
        };
        let micros = match v {
            v if v.is_null() => return Ok(None),
            ScalarValue::IntervalMonthDayNano(Some(x)) if x.months == 0 => {
                x.days as f64 * 86_400.0 * MICROS + x.nanoseconds as f64 / 1000.0
            }
            ScalarValue::IntervalDayTime(Some(x)) => {
                x.days as f64 * 86_400.0 * MICROS + x.milliseconds as f64 * 1000.0
            }
            v => match v.cast_to(&DataType::Float64) {
                Ok(ScalarValue::Float64(Some(s))) => s * MICROS,
                _ => {
                    return Err(bad_args(
                        self.op,
                        format!("{name} must be seconds or an INTERVAL without months, got {v}"),
                    ))
                }
            },
        };
        if !micros.is_finite() || micros < 0.0 || micros > i64::MAX as f64 {
            return Err(bad_args(self.op, format!("{name} is out of range: {v}")));
        }
        Ok(Some(micros as i64))
    }

    /// A list of texts (`ARRAY['a', 'b']`).
    fn texts(&self, i: usize, name: &str) -> Result<Vec<String>> {
        self.opt_texts(i, name)?
            .into_iter()
            .map(|t| t.ok_or_else(|| bad_args(self.op, format!("{name} must not hold NULL"))))
            .collect()
    }

    /// A list of texts and NULLs.
    fn opt_texts(&self, i: usize, name: &str) -> Result<Vec<Option<String>>> {
        let list = match self.values.get(i) {
            Some(ScalarValue::List(l)) => l.value(0),
            Some(ScalarValue::LargeList(l)) => l.value(0),
            Some(v) => {
                return Err(bad_args(
                    self.op,
                    format!("{name} must be an array of texts, got {v}"),
                ))
            }
            None => return Err(bad_args(self.op, format!("{name} is missing"))),
        };
        (0..list.len())
            .map(|row| match ScalarValue::try_from_array(&list, row)? {
                ScalarValue::Utf8(Some(s))
                | ScalarValue::LargeUtf8(Some(s))
                | ScalarValue::Utf8View(Some(s)) => Ok(Some(s)),
                v if v.is_null() => Ok(None),
                v => Err(bad_args(
                    self.op,
                    format!("{name} must hold texts, found {v}"),
                )),
            })
            .collect()
    }

    /// What `submit_job` and `submit_jobs` share, at the same argument positions: queue,
    /// job type, priority, max attempts and delay (parameters and keys are theirs).
    fn submit_template(&self) -> Result<NewJob> {
        Ok(NewJob {
            queue: self.text(0, "queue")?,
            job_type: self.text(1, "job_type")?,
            priority: self.int(4, "priority")?.unwrap_or(0),
            max_attempts: self.int(5, "max_attempts")?,
            delay: self.seconds(6, "delay")?.unwrap_or(0),
            ..Default::default()
        })
    }

    fn required<T>(&self, v: Option<T>, name: &str) -> Result<T> {
        v.ok_or_else(|| bad_args(self.op, format!("{name} is missing")))
    }

    fn call(&self) -> Result<JobCall> {
        let (min, max) = match self.op {
            Op::Submit | Op::SubmitMany => (3, 7),
            Op::Claim => (4, 4),
            Op::Heartbeat | Op::Fail => (3, 3),
            Op::Complete | Op::CompleteMany => (2, 3),
            Op::Cancel => (1, 1),
        };
        if self.values.len() < min || self.values.len() > max {
            return Err(bad_args(
                self.op,
                format!("{} arguments given", self.values.len()),
            ));
        }
        Ok(match self.op {
            Op::Submit => JobCall::Submit(NewJob {
                parameters: self.text(2, "parameters")?,
                idempotency_key: self.opt_text(3, "idempotency_key")?,
                ..self.submit_template()?
            }),
            Op::SubmitMany => {
                let parameters = self.texts(2, "parameters")?;
                let keys = match self.values.get(3) {
                    Some(v) if !v.is_null() => self.opt_texts(3, "idempotency_keys")?,
                    _ => vec![None; parameters.len()],
                };
                if keys.len() != parameters.len() {
                    return Err(bad_args(
                        self.op,
                        format!(
                            "{} parameters but {} idempotency keys",
                            parameters.len(),
                            keys.len()
                        ),
                    ));
                }
                let template = self.submit_template()?;
                JobCall::SubmitMany(
                    parameters
                        .into_iter()
                        .zip(keys)
                        .map(|(parameters, idempotency_key)| NewJob {
                            parameters,
                            idempotency_key,
                            ..template.clone()
                        })
                        .collect(),
                )
            }
            Op::Claim => {
                let n = self.required(self.int(2, "n")?, "n")?;
                JobCall::Claim {
                    queue: self.text(0, "queue")?,
                    worker: self.text(1, "worker")?,
                    n: usize::try_from(n)
                        .map_err(|_| bad_args(self.op, format!("n must be positive, got {n}")))?,
                    lease: self.required(self.seconds(3, "lease")?, "lease")?,
                }
            }
            Op::Heartbeat => JobCall::Heartbeat {
                job_id: self.text(0, "job_id")?,
                worker: self.text(1, "worker")?,
                lease: self.required(self.seconds(2, "lease")?, "lease")?,
            },
            Op::Complete => JobCall::Complete {
                job_id: self.text(0, "job_id")?,
                worker: self.text(1, "worker")?,
                result: self.opt_text(2, "result")?,
            },
            Op::CompleteMany => JobCall::CompleteMany {
                job_ids: self.texts(0, "job_ids")?,
                worker: self.text(1, "worker")?,
                result: self.opt_text(2, "result")?,
            },
            Op::Fail => JobCall::Fail {
                job_id: self.text(0, "job_id")?,
                worker: self.text(1, "worker")?,
                error: self.text(2, "error")?,
            },
            Op::Cancel => JobCall::Cancel {
                job_id: self.text(0, "job_id")?,
            },
        })
    }
}

impl TableFunctionImpl for JobFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let values = args
            .exprs()
            .iter()
            .map(|e| constant(e, args.session(), self.op))
            .collect::<Result<Vec<_>>>()?;
        let call = Args {
            op: self.op,
            values,
        }
        .call()?;
        let jobs = arrow_schema(&self.db.jobs().definition().schema);
        let mut fields: Vec<Field> = jobs.fields().iter().map(|f| f.as_ref().clone()).collect();
        if matches!(self.op, Op::Submit | Op::SubmitMany) {
            fields.push(Field::new("created", DataType::Boolean, false));
        }
        Ok(Arc::new(CallTable::new(Arc::new(JobOperation {
            db: self.db.clone(),
            call,
            schema: Arc::new(Schema::new(fields)),
        }))))
    }
}

/// A job operation with its arguments, run each time its plan executes.
struct JobOperation {
    db: Arc<Database>,
    call: JobCall,
    schema: SchemaRef,
}

impl fmt::Debug for JobOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobOperation({:?})", self.call)
    }
}

impl TableCall for JobOperation {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn exec(&self, projection: Option<Vec<usize>>) -> Arc<dyn ExecutionPlan> {
        Arc::new(JobCallExec::new(
            self.db.clone(),
            self.call.clone(),
            self.schema.clone(),
            projection,
        ))
    }
}

/// Runs one job operation when executed and returns the jobs it wrote.
pub struct JobCallExec {
    db: Arc<Database>,
    call: JobCall,
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for JobCallExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobCallExec({:?})", self.call)
    }
}

impl JobCallExec {
    fn new(
        db: Arc<Database>,
        call: JobCall,
        schema: SchemaRef,
        projection: Option<Vec<usize>>,
    ) -> Self {
        let output = match &projection {
            Some(p) => Arc::new(
                schema
                    .project(p)
                    .unwrap_or_else(|_| schema.as_ref().clone()),
            ),
            None => schema.clone(),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(output),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        JobCallExec {
            db,
            call,
            schema,
            projection,
            properties: Arc::new(properties),
        }
    }

    fn output_schema(&self) -> SchemaRef {
        self.properties.eq_properties.schema().clone()
    }
}

impl DisplayAs for JobCallExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let what = match &self.call {
            JobCall::Submit(j) => format!("submit to queue '{}'", j.queue),
            JobCall::SubmitMany(js) => format!(
                "submit {} jobs to queue '{}'",
                js.len(),
                js.first().map_or("", |j| j.queue.as_str())
            ),
            JobCall::Claim {
                queue, worker, n, ..
            } => {
                format!("claim up to {n} from queue '{queue}' for '{worker}'")
            }
            JobCall::Heartbeat { job_id, .. } => format!("heartbeat '{job_id}'"),
            JobCall::Complete { job_id, .. } => format!("complete '{job_id}'"),
            JobCall::CompleteMany { job_ids, .. } => format!("complete {} jobs", job_ids.len()),
            JobCall::Fail { job_id, .. } => format!("fail '{job_id}'"),
            JobCall::Cancel { job_id } => format!("cancel '{job_id}'"),
        };
        write!(f, "JobCallExec: {what}")
    }
}

/// Runs the operation; the jobs written, with `created` for each of a submit.
fn run(
    queue: &JobQueue,
    call: &JobCall,
) -> indexed_store::StoreResult<(Vec<Job>, Option<Vec<bool>>)> {
    Ok(match call {
        JobCall::Submit(new) => {
            let s = queue.submit(new.clone())?;
            (vec![s.job], Some(vec![s.created]))
        }
        JobCall::SubmitMany(news) => {
            let (jobs, created) = queue
                .submit_many(news.clone())?
                .into_iter()
                .map(|s| (s.job, s.created))
                .unzip();
            (jobs, Some(created))
        }
        JobCall::Claim {
            queue: q,
            worker,
            n,
            lease,
        } => (queue.claim(q, worker, *n, *lease)?, None),
        JobCall::Heartbeat {
            job_id,
            worker,
            lease,
        } => (vec![queue.heartbeat(job_id, worker, *lease)?], None),
        JobCall::Complete {
            job_id,
            worker,
            result,
        } => (vec![queue.complete(job_id, worker, result.clone())?], None),
        JobCall::CompleteMany {
            job_ids,
            worker,
            result,
        } => {
            let jobs: Vec<(String, Option<String>)> = job_ids
                .iter()
                .map(|id| (id.clone(), result.clone()))
                .collect();
            (queue.complete_many(&jobs, worker)?, None)
        }
        JobCall::Fail {
            job_id,
            worker,
            error,
        } => (vec![queue.fail(job_id, worker, error)?], None),
        JobCall::Cancel { job_id } => (vec![queue.cancel(job_id)?], None),
    })
}

impl ExecutionPlan for JobCallExec {
    fn name(&self) -> &str {
        "JobCallExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "JobCallExec has one partition, asked for {partition}"
            )));
        }
        let (db, call, schema, projection) = (
            self.db.clone(),
            self.call.clone(),
            self.schema.clone(),
            self.projection.clone(),
        );
        let output = self.output_schema();
        let tx = StatementReads::of(&context).and_then(|r| r.transaction().cloned());
        let fut = async move {
            let def = db.jobs().definition();
            let queue = match &tx {
                // Part of a transaction: see `JobQueue::in_transaction`.
                Some(tx) => db.job_queue().in_transaction(tx.clone()),
                None => db.job_queue(),
            };
            let (jobs, created) = tokio::task::spawn_blocking(move || run(&queue, &call))
                .await
                .map_err(|e| DataFusionError::Execution(format!("job task failed: {e}")))?
                .map_err(store_err)?;
            let rows: Vec<_> = jobs.iter().map(|j| def.to_row(j)).collect();
            let types = def.schema.column_types();
            let table = arrow_schema(&def.schema);
            let batch = rows_to_batch(&table, &types, &rows)?;
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            if let Some(created) = created {
                columns.push(Arc::new(BooleanArray::from(created)));
            }
            let full = RecordBatch::try_new_with_options(
                schema,
                columns,
                &datafusion::arrow::record_batch::RecordBatchOptions::new()
                    .with_row_count(Some(rows.len())),
            )?;
            Ok(match projection {
                Some(p) => full.project(&p)?,
                None => full,
            })
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            output,
            futures::stream::once(fut),
        )))
    }
}
