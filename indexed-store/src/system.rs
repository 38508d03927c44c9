//! The typed system tables: `jobs`, `users` and `lists`, with their indexes.

use serde::{Deserialize, Serialize};

use crate::codec::SortOrder;
use crate::definition::{IndexDefinition, TableDefinition};
use crate::error::{StoreError, StoreResult};
use crate::schema::{ColumnDef, Row, TableSchema};
use crate::value::{ColumnType, Value};

/// A job of the work queue (see [`crate::jobs`] for its lifecycle). Stored in format
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
            status: crate::jobs::QUEUED.into(),
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

/// A user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Primary key.
    pub user_id: String,
    /// Login name (unique).
    pub username: String,
    /// Role (indexed).
    pub role: String,
    /// Created (µs).
    pub created_at: i64,
}

/// A saved query over a datasource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListConfig {
    /// Primary key.
    pub id: String,
    /// The table queried.
    pub datasource: String,
    /// Columns shown.
    pub columns: Vec<String>,
    /// Filter (SQL expression text).
    pub filters: String,
    /// Sort (SQL ORDER BY text).
    pub sort: String,
    /// Rows per page.
    pub page_size: i64,
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
    v.map_or(Value::Null, f)
}

/// Pulls typed fields out of a row, naming the column that does not fit.
struct Fields {
    table: &'static str,
    names: Vec<String>,
    values: std::vec::IntoIter<Value>,
    at: usize,
}

impl Fields {
    fn new(table: &'static str, schema: &TableSchema, row: Row) -> StoreResult<Self> {
        let row = schema.check_row(row)?;
        Ok(Fields {
            table,
            names: schema.columns.iter().map(|c| c.name.clone()).collect(),
            values: row.into_iter(),
            at: 0,
        })
    }

    fn next(&mut self) -> (String, Value) {
        let name = self.names.get(self.at).cloned().unwrap_or_default();
        self.at += 1;
        (name, self.values.next().unwrap_or(Value::Null))
    }

    fn err(&self, column: String, got: &Value, expected: &str) -> StoreError {
        StoreError::TypeMismatch {
            table: self.table.into(),
            column,
            expected: expected.into(),
            got: got.kind().into(),
        }
    }

    fn text(&mut self) -> StoreResult<String> {
        match self.next() {
            (_, Value::Text(s)) => Ok(s),
            (c, v) => Err(self.err(c, &v, "TEXT")),
        }
    }

    fn opt_text(&mut self) -> StoreResult<Option<String>> {
        match self.next() {
            (_, Value::Null) => Ok(None),
            (_, Value::Text(s)) => Ok(Some(s)),
            (c, v) => Err(self.err(c, &v, "TEXT")),
        }
    }

    fn int(&mut self) -> StoreResult<i64> {
        match self.next() {
            (_, Value::Int(i)) | (_, Value::Timestamp(i)) => Ok(i),
            (c, v) => Err(self.err(c, &v, "BIGINT")),
        }
    }

    fn opt_int(&mut self) -> StoreResult<Option<i64>> {
        match self.next() {
            (_, Value::Null) => Ok(None),
            (_, Value::Int(i)) | (_, Value::Timestamp(i)) => Ok(Some(i)),
            (c, v) => Err(self.err(c, &v, "BIGINT")),
        }
    }

    fn text_list(&mut self) -> StoreResult<Vec<String>> {
        match self.next() {
            (_, Value::Null) => Ok(Vec::new()),
            (c, Value::List(items)) => items
                .into_iter()
                .map(|i| match i {
                    Value::Text(s) => Ok(s),
                    other => Err(self.err(c.clone(), &other, "TEXT[]")),
                })
                .collect(),
            (c, v) => Err(self.err(c, &v, "TEXT[]")),
        }
    }
}

fn schema(name: &str, columns: Vec<ColumnDef>, key: &str) -> TableSchema {
    TableSchema {
        version: 0,
        loader: None,
        name: name.into(),
        columns,
        primary_key: vec![key.into()],
        indexes: vec![],
        ttl: None,
    }
}

/// The `jobs` table. Indexes: `jobs_ready (queue, status, priority DESC, created_at)` is the
/// claim order; `jobs_lease (status, lease_expires_at)` finds expired leases;
/// `jobs_finished (status, finished_at)` finds jobs for retention;
/// `jobs_namespace_table (namespace, table_name)`; unique `jobs_idempotency_key`.
pub fn jobs_definition() -> StoreResult<TableDefinition<String, Job>> {
    use ColumnType::*;
    let s = schema(
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
    );
    let from_schema = s.clone();
    TableDefinition::new(
        s,
        |j: &Job| j.job_id.clone(),
        |j: &Job| {
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
        },
        move |row| {
            let mut f = Fields::new("jobs", &from_schema, row)?;
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
        },
    )?
    .with_index(IndexDefinition::new(
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

/// The `users` table: unique `(username)`, `(role)`.
pub fn users_definition() -> StoreResult<TableDefinition<String, User>> {
    use ColumnType::*;
    let s = schema(
        "users",
        vec![
            ColumnDef::new("user_id", Text).not_null(),
            ColumnDef::new("username", Text).not_null(),
            ColumnDef::new("role", Text).not_null(),
            ColumnDef::new("created_at", Timestamp).not_null(),
        ],
        "user_id",
    );
    let from_schema = s.clone();
    TableDefinition::new(
        s,
        |u: &User| u.user_id.clone(),
        |u: &User| {
            vec![
                text(&u.user_id),
                text(&u.username),
                text(&u.role),
                Value::Timestamp(u.created_at),
            ]
        },
        move |row| {
            let mut f = Fields::new("users", &from_schema, row)?;
            Ok(User {
                user_id: f.text()?,
                username: f.text()?,
                role: f.text()?,
                created_at: f.int()?,
            })
        },
    )?
    .with_index(
        IndexDefinition::new(
            "users_username",
            &[("username", SortOrder::Asc)],
            |u: &User| vec![text(&u.username)],
        )
        .unique(),
    )?
    .with_index(IndexDefinition::new(
        "users_role",
        &[("role", SortOrder::Asc)],
        |u: &User| vec![text(&u.role)],
    ))
}

/// A `lists` row as the list it describes.
pub fn list_from_row(row: &Row) -> StoreResult<ListConfig> {
    lists_definition()?.from_row(row.clone())
}

/// The `lists` table: saved queries, keyed by id, indexed by datasource.
pub fn lists_definition() -> StoreResult<TableDefinition<String, ListConfig>> {
    use ColumnType::*;
    let s = schema(
        "lists",
        vec![
            ColumnDef::new("id", Text).not_null(),
            ColumnDef::new("datasource", Text).not_null(),
            ColumnDef::new("columns", List(Box::new(Text))),
            ColumnDef::new("filters", Text).not_null(),
            ColumnDef::new("sort", Text).not_null(),
            ColumnDef::new("page_size", Int64).not_null(),
        ],
        "id",
    );
    let from_schema = s.clone();
    TableDefinition::new(
        s,
        |l: &ListConfig| l.id.clone(),
        |l: &ListConfig| {
            vec![
                text(&l.id),
                text(&l.datasource),
                Value::List(l.columns.iter().map(|c| text(c)).collect()),
                text(&l.filters),
                text(&l.sort),
                Value::Int(l.page_size),
            ]
        },
        move |row| {
            let mut f = Fields::new("lists", &from_schema, row)?;
            Ok(ListConfig {
                id: f.text()?,
                datasource: f.text()?,
                columns: f.text_list()?,
                filters: f.text()?,
                sort: f.text()?,
                page_size: f.int()?,
            })
        },
    )?
    .with_index(IndexDefinition::new(
        "lists_datasource",
        &[("datasource", SortOrder::Asc)],
        |l: &ListConfig| vec![text(&l.datasource)],
    ))
}
