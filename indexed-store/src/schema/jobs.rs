//! The `jobs` system table: the [`Job`] type, its statuses, its storage formats and its
//! indexes. The queue that runs jobs through their lifecycle is `queue/jobs.rs`.

use serde::{Deserialize, Serialize};

use super::definition::{IndexDefinition, TableDefinition};
use super::system::{opt, schema, text, Fields};
use super::table_schema::{ColumnDef, Row, TableSchema};
use crate::encoding::{ColumnType, SortOrder, Value};
use crate::error::StoreResult;

/// Waiting to be claimed (or for its `run_after`).
pub const QUEUED: &str = "queued";
/// Claimed by a worker that holds its lease.
pub const RUNNING: &str = "running";
/// Completed by its worker (final).
pub const SUCCEEDED: &str = "succeeded";
/// Failed with no attempt left (final).
pub const FAILED: &str = "failed";
/// Cancelled (final).
pub const CANCELLED: &str = "cancelled";

/// A job of the work queue (see `queue/jobs.rs` for its lifecycle). Stored in format
/// [`JOBS_FORMAT`]; a database written with the first layout ([`JobV1`]) is migrated when
/// opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Primary key (made by `submit`: time-ordered, unique).
    pub job_id: String,
    /// The queue it waits in.
    pub queue: String,
    /// What kind of work.
    pub job_type: String,
    /// queued, running, succeeded, failed or cancelled.
    pub status: String,
    /// Higher runs first.
    pub priority: i64,
    /// Namespace (tenant).
    pub namespace: String,
    /// Table the job works on.
    pub table_name: String,
    /// Created (µs since epoch).
    pub created_at: i64,
    /// Not claimable before this instant (µs): delayed jobs and retry backoff.
    pub run_after: i64,
    /// Last claimed (µs).
    pub started_at: Option<i64>,
    /// Reached a final state (µs).
    pub finished_at: Option<i64>,
    /// Claims so far (a lease that expires counts as an attempt).
    pub attempts: i64,
    /// Claims allowed before a failure is final.
    pub max_attempts: i64,
    /// The worker holding the lease while running.
    pub lease_owner: Option<String>,
    /// When the lease ends unless renewed (µs).
    pub lease_expires_at: Option<i64>,
    /// Caller-chosen key that makes submitting a job idempotent (unique).
    pub idempotency_key: Option<String>,
    /// Parameters (JSON text).
    pub parameters: String,
    /// What the worker reported on success.
    pub result: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Free-form message.
    pub message: Option<String>,
}

impl Job {
    /// A job ready to be claimed at `now`: priority 0, one attempt, no parameters.
    pub fn queued(job_id: &str, queue: &str, job_type: &str, now: i64) -> Self {
        Job {
            job_id: job_id.into(),
            queue: queue.into(),
            job_type: job_type.into(),
            status: QUEUED.into(),
            priority: 0,
            namespace: "public".into(),
            table_name: String::new(),
            created_at: now,
            run_after: now,
            started_at: None,
            finished_at: None,
            attempts: 0,
            max_attempts: 1,
            lease_owner: None,
            lease_expires_at: None,
            idempotency_key: None,
            parameters: "{}".into(),
            result: None,
            last_error: None,
            message: None,
        }
    }
}

/// The storage format of `jobs` records: bumped when [`Job`]'s layout changes.
pub const JOBS_FORMAT: u32 = 2;

/// A job as the first Quiver (format 1) stored it; read only to migrate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobV1 {
    /// Primary key.
    pub job_id: String,
    /// What kind of work.
    pub job_type: String,
    /// Status.
    pub status: String,
    /// Namespace.
    pub namespace: String,
    /// Table.
    pub table_name: String,
    /// Created (µs).
    pub created_at: i64,
    /// Started (µs).
    pub started_at: Option<i64>,
    /// Finished (µs).
    pub finished_at: Option<i64>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Parameters.
    pub parameters: String,
    /// Message.
    pub message: Option<String>,
}

impl From<JobV1> for Job {
    fn from(j: JobV1) -> Self {
        // Format 1 had free-form statuses; "done" is today's "succeeded".
        let status = match j.status.as_str() {
            "done" => "succeeded".to_owned(),
            _ => j.status,
        };
        Job {
            job_id: j.job_id,
            queue: "default".into(),
            job_type: j.job_type,
            status,
            priority: 0,
            namespace: j.namespace,
            table_name: j.table_name,
            created_at: j.created_at,
            run_after: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            attempts: 0,
            max_attempts: 1,
            lease_owner: None,
            lease_expires_at: None,
            idempotency_key: j.idempotency_key,
            parameters: j.parameters,
            result: None,
            last_error: None,
            message: j.message,
        }
    }
}

/// The `jobs` table. Indexes: `jobs_ready (queue, status, priority DESC, created_at)` is the
/// claim order; `jobs_lease (status, lease_expires_at)` finds expired leases;
/// `jobs_finished (status, finished_at)` finds jobs for retention;
/// `jobs_namespace_table (namespace, table_name)`; unique `jobs_idempotency_key`.
pub fn jobs_definition() -> StoreResult<TableDefinition<String, Job>> {
    let s = jobs_schema();
    let from_schema = s.clone();
    let def = TableDefinition::new(
        s,
        |j: &Job| j.job_id.clone(),
        job_row,
        move |row| job_from_row(Fields::new("jobs", &from_schema, row)?),
    )?;
    with_job_indexes(def)
}

/// The columns of `jobs`, keyed by `job_id`.
fn jobs_schema() -> TableSchema {
    use ColumnType::*;
    schema(
        "jobs",
        vec![
            ColumnDef::new("job_id", Text).not_null(),
            ColumnDef::new("queue", Text).not_null(),
            ColumnDef::new("job_type", Text).not_null(),
            ColumnDef::new("status", Text).not_null(),
            ColumnDef::new("priority", Int64).not_null(),
            ColumnDef::new("namespace", Text).not_null(),
            ColumnDef::new("table_name", Text).not_null(),
            ColumnDef::new("created_at", Timestamp).not_null(),
            ColumnDef::new("run_after", Timestamp).not_null(),
            ColumnDef::new("started_at", Timestamp),
            ColumnDef::new("finished_at", Timestamp),
            ColumnDef::new("attempts", Int64).not_null(),
            ColumnDef::new("max_attempts", Int64).not_null(),
            ColumnDef::new("lease_owner", Text),
            ColumnDef::new("lease_expires_at", Timestamp),
            ColumnDef::new("idempotency_key", Text),
            ColumnDef::new("parameters", Text).not_null(),
            ColumnDef::new("result", Text),
            ColumnDef::new("last_error", Text),
            ColumnDef::new("message", Text),
        ],
        "job_id",
    )
}

/// A job as its row.
fn job_row(j: &Job) -> Row {
    vec![
        text(&j.job_id),
        text(&j.queue),
        text(&j.job_type),
        text(&j.status),
        Value::Int(j.priority),
        text(&j.namespace),
        text(&j.table_name),
        Value::Timestamp(j.created_at),
        Value::Timestamp(j.run_after),
        opt(j.started_at, Value::Timestamp),
        opt(j.finished_at, Value::Timestamp),
        Value::Int(j.attempts),
        Value::Int(j.max_attempts),
        opt(j.lease_owner.clone(), Value::Text),
        opt(j.lease_expires_at, Value::Timestamp),
        opt(j.idempotency_key.clone(), Value::Text),
        text(&j.parameters),
        opt(j.result.clone(), Value::Text),
        opt(j.last_error.clone(), Value::Text),
        opt(j.message.clone(), Value::Text),
    ]
}

/// A job from its row's fields.
fn job_from_row(mut f: Fields) -> StoreResult<Job> {
    Ok(Job {
        job_id: f.text()?,
        queue: f.text()?,
        job_type: f.text()?,
        status: f.text()?,
        priority: f.int()?,
        namespace: f.text()?,
        table_name: f.text()?,
        created_at: f.int()?,
        run_after: f.int()?,
        started_at: f.opt_int()?,
        finished_at: f.opt_int()?,
        attempts: f.int()?,
        max_attempts: f.int()?,
        lease_owner: f.opt_text()?,
        lease_expires_at: f.opt_int()?,
        idempotency_key: f.opt_text()?,
        parameters: f.text()?,
        result: f.opt_text()?,
        last_error: f.opt_text()?,
        message: f.opt_text()?,
    })
}

/// The indexes of `jobs` (see [`jobs_definition`]).
fn with_job_indexes(
    def: TableDefinition<String, Job>,
) -> StoreResult<TableDefinition<String, Job>> {
    def.with_index(IndexDefinition::new(
        "jobs_ready",
        &[
            ("queue", SortOrder::Asc),
            ("status", SortOrder::Asc),
            ("priority", SortOrder::Desc),
            ("created_at", SortOrder::Asc),
        ],
        |j: &Job| {
            vec![
                text(&j.queue),
                text(&j.status),
                Value::Int(j.priority),
                Value::Timestamp(j.created_at),
            ]
        },
    ))?
    .with_index(IndexDefinition::new(
        "jobs_lease",
        &[
            ("status", SortOrder::Asc),
            ("lease_expires_at", SortOrder::Asc),
        ],
        |j: &Job| vec![text(&j.status), opt(j.lease_expires_at, Value::Timestamp)],
    ))?
    .with_index(IndexDefinition::new(
        "jobs_finished",
        &[("status", SortOrder::Asc), ("finished_at", SortOrder::Asc)],
        |j: &Job| vec![text(&j.status), opt(j.finished_at, Value::Timestamp)],
    ))?
    .with_index(IndexDefinition::new(
        "jobs_namespace_table",
        &[
            ("namespace", SortOrder::Asc),
            ("table_name", SortOrder::Asc),
        ],
        |j: &Job| vec![text(&j.namespace), text(&j.table_name)],
    ))?
    .with_index(
        IndexDefinition::new(
            "jobs_idempotency_key",
            &[("idempotency_key", SortOrder::Asc)],
            |j: &Job| vec![opt(j.idempotency_key.clone(), Value::Text)],
        )
        .unique(),
    )
}
