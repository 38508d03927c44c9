//! Loaders: tables that mirror rows another service owns.
//!
//! A table created `WITH (loader = 'http://...' | 'grpc://...', loader_key = 'owner',
//! reload_after = '1h', forward_headers = 'authorization, x-token', loader_timeout = '30s')`
//! fetches its rows when a query needs them: the keys a query's WHERE names
//! (`owner = 'a'`, `owner IN ('a', 'b')`), or the whole table when it has no loader key,
//! that were never loaded or were loaded longer ago than `reload_after`. A query on a keyed
//! table that names no key reads what is there.
//!
//! A load replaces the key's rows in one atomic write: the upstream's rows are upserted
//! (with their index entries) and the key's rows the upstream no longer returns are deleted.
//! A load that fails (upstream down, slow, an error status, malformed JSON, a row that does
//! not fit) writes nothing, keeps the key's previous rows, and fails the query with
//! [`SqlError::LoadFailed`] naming the upstream and the problem. Concurrent queries that need
//! the same key share one load (single flight). What each key's loads did is kept in the
//! store ([`indexed_store::LoadRecord`]) and shown by `sys.loads`.
//!
//! The scan of such a table that needs keys loaded is wrapped in a [`LoaderExec`], which
//! EXPLAIN shows and which loads before its scan reads (so a plain EXPLAIN loads nothing);
//! a scan that needs nothing loaded is a plain scan.

pub(crate) mod documents;
pub mod grpc;
pub(crate) mod upstream;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::{StreamExt, TryStreamExt};
use indexed_store::store::system_now;
use indexed_store::{
    choose_access_path, ColumnPredicate, Database, LoadRecord, LoaderSpec, Mutation, Predicate,
    Row, RowAccess, StoreError, StoreResult, Value,
};
use parking_lot::Mutex;

use crate::dml::{key_bytes, values_at};
use crate::error::SqlError;
use crate::filters::to_predicate;
use crate::store_err;

/// Headers of the incoming call that loaders may pass on (lower-case names). The Flight SQL
/// server sets them per call; an embedding program passes its own to
/// [`crate::PreparedStatement::execute_forwarding`].
#[derive(Debug, Clone, Default)]
pub struct ForwardedHeaders(pub HashMap<String, String>);

/// Why a load failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadProblem {
    /// The upstream could not be reached (refused, DNS, TLS, connection lost).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// No complete answer within the loader's timeout.
    #[error("no answer within {0} s")]
    Timeout(u64),
    /// The upstream answered with an error status.
    #[error("{0}")]
    Status(String),
    /// The body or a document is not the JSON expected.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A row does not fit the table (a type, a NULL in a NOT NULL column, a wrong key).
    #[error("a row does not fit the table: {0}")]
    RowRefused(String),
}

/// A table's loader, as its provider holds it.
pub struct TableLoader {
    db: Arc<Database>,
    access: Arc<dyn RowAccess>,
    spec: LoaderSpec,
}

impl fmt::Debug for TableLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TableLoader({})", self.spec.url)
    }
}

/// What a scan needs loaded before it reads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Need {
    /// The table has no loader key: all of it.
    Whole,
    /// These values of the loader key.
    Keys(Vec<Value>),
    /// A keyed table read without naming keys: nothing.
    Nothing,
}

/// Loads in flight, per table and key, shared by every session of a database.
#[derive(Default)]
struct Flights(Mutex<HashMap<(String, String), Shared<BoxFuture<'static, FlightResult>>>>);

type FlightResult = std::result::Result<(), Arc<DataFusionError>>;

impl TableLoader {
    /// The loader of a table, if it has one.
    pub(crate) fn of(db: &Arc<Database>, access: &Arc<dyn RowAccess>) -> Option<Arc<Self>> {
        let spec = access.loader()?;
        Some(Arc::new(TableLoader {
            db: db.clone(),
            access: access.clone(),
            spec,
        }))
    }

    fn table(&self) -> String {
        self.access.schema().name.clone()
    }

    /// What a scan with these filters needs loaded.
    pub(crate) fn need(&self, filters: &[Expr]) -> Need {
        let Some(column) = &self.spec.key_column else {
            return Need::Whole;
        };
        let schema = self.access.schema();
        let mut keys: Option<Vec<Value>> = None;
        for f in filters {
            let Some(ColumnPredicate {
                column: c,
                predicate,
            }) = to_predicate(f, &schema)
            else {
                continue;
            };
            if &c != column {
                continue;
            }
            let values = match predicate {
                Predicate::Eq(v) => vec![v],
                Predicate::In(vs) => vs,
                _ => continue,
            };
            // Several conditions on the key: the rows need every one, so the keys of the
            // first suffice (the others only narrow them).
            keys.get_or_insert(values);
        }
        match keys {
            Some(mut keys) => {
                keys.sort_by_key(|k| k.to_string());
                keys.dedup();
                Need::Keys(keys)
            }
            None => Need::Nothing,
        }
    }

    /// Loads what `need` names that is missing or stale, waiting for loads other queries
    /// started on the same keys.
    pub(crate) async fn ensure(
        self: &Arc<Self>,
        need: &Need,
        headers: &ForwardedHeaders,
    ) -> Result<()> {
        let keys: Vec<Option<Value>> = match need {
            Need::Nothing => return Ok(()),
            Need::Whole => vec![None],
            Need::Keys(keys) => keys.iter().cloned().map(Some).collect(),
        };
        // A long IN list loads a few keys at a time, not one request per key at once.
        futures::stream::iter(keys)
            .map(|key| self.clone().load_if_stale(key, headers.clone()))
            .buffer_unordered(LOADS_AT_ONCE)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    fn is_fresh(&self, key_text: &str) -> Result<bool> {
        let record = self
            .db
            .load_record(&self.table(), key_text)
            .map_err(store_err)?;
        let Some(loaded_at) = record.and_then(|r| r.loaded_at) else {
            return Ok(false);
        };
        Ok(match self.spec.reload_after_secs {
            None => true,
            Some(secs) => system_now() - loaded_at < (secs as i64).saturating_mul(1_000_000),
        })
    }

    async fn load_if_stale(
        self: Arc<Self>,
        key: Option<Value>,
        headers: ForwardedHeaders,
    ) -> Result<()> {
        let key_text = key.as_ref().map(documents::key_text).unwrap_or_default();
        if self.is_fresh(&key_text)? {
            return Ok(());
        }
        let flights = self.db.extension::<Flights>();
        let slot = (self.table(), key_text.clone());
        let flight = {
            let mut running = flights.0.lock();
            match running.get(&slot) {
                Some(f) => f.clone(),
                None => {
                    let loader = self.clone();
                    let (flights, slot_done) = (flights.clone(), slot.clone());
                    // Its own task: the load runs to its end (and leaves the map) even when
                    // every query waiting for it is cancelled.
                    let task = tokio::spawn(async move {
                        // A load that ended between the check above and this flight needs
                        // no second one.
                        let outcome = match loader.is_fresh(&key_text) {
                            Ok(true) => Ok(()),
                            _ => loader.load(key, &key_text, &headers).await,
                        };
                        flights.0.lock().remove(&slot_done);
                        outcome.map_err(Arc::new)
                    });
                    let flight = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(Arc::new(DataFusionError::Execution(format!(
                                "load task failed: {e}"
                            ))))
                        })
                    }
                    .boxed()
                    .shared();
                    running.insert(slot, flight.clone());
                    flight
                }
            }
        };
        flight.await.map_err(DataFusionError::Shared)
    }

    /// Fetches one key's rows and replaces the stored ones; records what happened.
    async fn load(
        &self,
        key: Option<Value>,
        key_text: &str,
        headers: &ForwardedHeaders,
    ) -> Result<()> {
        let table = self.table();
        let attempted_at = system_now();
        let outcome = self
            .fetch_and_replace(key.as_ref(), key_text, headers)
            .await;
        let record = match &outcome {
            Ok(rows) => LoadRecord {
                loaded_at: Some(attempted_at),
                rows: *rows,
                attempted_at,
                last_error: None,
            },
            // A failure keeps when the key was last loaded, and how many rows it has.
            Err(problem) => LoadRecord {
                attempted_at,
                last_error: Some(problem.to_string()),
                ..self
                    .db
                    .load_record(&table, key_text)
                    .map_err(store_err)?
                    .unwrap_or_default()
            },
        };
        self.db
            .set_load_record(&table, key_text, &record)
            .map_err(store_err)?;
        outcome.map(|_| ()).map_err(|problem| {
            SqlError::LoadFailed {
                table,
                upstream: self.spec.url.clone(),
                key: key.map(|k| k.to_string()),
                problem,
            }
            .into()
        })
    }

    async fn fetch_and_replace(
        &self,
        key: Option<&Value>,
        key_text: &str,
        headers: &ForwardedHeaders,
    ) -> std::result::Result<u64, LoadProblem> {
        let schema = self.access.schema();
        let key_at = self
            .spec
            .key_column
            .as_ref()
            .and_then(|c| schema.column_index(c));
        let documents =
            upstream::fetch(&self.spec, &schema.name, key.map(|_| key_text), &headers.0).await?;
        let rows = documents::rows_from_documents(&schema, documents, key_at.zip(key))?;
        let access = self.access.clone();
        let key = key.cloned();
        tokio::task::spawn_blocking(move || replace(access.as_ref(), key_at.zip(key), rows))
            .await
            .map_err(|e| LoadProblem::RowRefused(format!("write task failed: {e}")))?
            .map_err(|e| LoadProblem::RowRefused(e.to_string()))
    }

    /// How EXPLAIN names the upstream and when it reloads.
    fn describe(&self) -> String {
        let reload = match self.spec.reload_after_secs {
            Some(s) => format!("reload_after={s}s"),
            None => "loaded once".into(),
        };
        format!("upstream={}, {reload}", self.spec.url)
    }
}

/// Replaces the rows of one key (or of the whole table) with `rows`, in one atomic write;
/// returns how many rows the key has now.
fn replace(
    access: &dyn RowAccess,
    key: Option<(usize, Value)>,
    rows: Vec<Row>,
) -> StoreResult<u64> {
    let schema = access.schema();
    let pk = schema.primary_key_indices();
    // The last row an upstream sent for a primary key wins.
    let mut fresh: BTreeMap<Vec<u8>, Row> = BTreeMap::new();
    for row in rows {
        fresh.insert(key_bytes(&values_at(&row, &pk)), row);
    }
    let predicates: Vec<ColumnPredicate> = match &key {
        Some((column, value)) => vec![ColumnPredicate {
            column: schema.columns[*column].name.clone(),
            predicate: Predicate::Eq(value.clone()),
        }],
        None => Vec::new(),
    };
    let path = choose_access_path(&schema, &predicates, &[]).path;
    let mut gone: Vec<Vec<Value>> = Vec::new();
    access.read(&mut |reader| {
        reader.visit_rows(&path, &mut |row| {
            let corrupt = |e: indexed_store::record::Malformed| StoreError::Corrupt {
                partition: schema.name.clone(),
                reason: e.to_string(),
            };
            if let Some((c, v)) = &key {
                if row.values_at(&[*c]).map_err(corrupt)?[0] != *v {
                    return Ok(true);
                }
            }
            let stored_pk = row.values_at(&pk).map_err(corrupt)?;
            if !fresh.contains_key(&key_bytes(&stored_pk)) {
                gone.push(stored_pk);
            }
            Ok(true)
        })
    })?;
    let count = fresh.len() as u64;
    let mut mutations: Vec<Mutation<Vec<Value>, Row>> =
        gone.into_iter().map(Mutation::Delete).collect();
    mutations.extend(fresh.into_values().map(Mutation::Upsert));
    if !mutations.is_empty() {
        access.apply_rows(mutations)?;
    }
    Ok(count)
}

/// A scan of a table with a loader: loads what the scan needs, then reads.
#[derive(Debug)]
pub struct LoaderExec {
    loader: Arc<TableLoader>,
    need: Need,
    input: Arc<dyn ExecutionPlan>,
}

impl LoaderExec {
    pub(crate) fn new(loader: Arc<TableLoader>, need: Need, input: Arc<dyn ExecutionPlan>) -> Self {
        LoaderExec {
            loader,
            need,
            input,
        }
    }
}

impl DisplayAs for LoaderExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let what = match &self.need {
            Need::Whole => "whole table".to_owned(),
            Need::Nothing => "nothing".to_owned(),
            Need::Keys(keys) => {
                let shown: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                format!(
                    "{} IN ({})",
                    self.loader.spec.key_column.as_deref().unwrap_or("key"),
                    shown.join(", ")
                )
            }
        };
        write!(f, "LoaderExec: load {what}, {}", self.loader.describe())
    }
}

impl ExecutionPlan for LoaderExec {
    fn name(&self) -> &str {
        "LoaderExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    // It passes its scan's rows through untouched: no repartitioning below it, and the
    // scan's order (an index's) is its own.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("LoaderExec needs its scan".into()))?;
        Ok(Arc::new(LoaderExec::new(
            self.loader.clone(),
            self.need.clone(),
            input,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let headers = context
            .session_config()
            .get_extension::<ForwardedHeaders>()
            .map(|h| h.as_ref().clone())
            .unwrap_or_default();
        let (loader, need, input) = (self.loader.clone(), self.need.clone(), self.input.clone());
        let schema = input.schema();
        // The scan takes its snapshot when it starts: after the load.
        let rows = futures::stream::once(async move {
            loader.ensure(&need, &headers).await?;
            input.execute(partition, context)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rows)))
    }
}

/// Loader options of CREATE TABLE, gathered.
#[derive(Debug, Default)]
pub(crate) struct LoaderOptions {
    pub url: Option<String>,
    pub key: Option<String>,
    pub reload_after: Option<u64>,
    pub forward_headers: Vec<String>,
    pub timeout: Option<u64>,
}

/// Keys of one query loaded at the same time.
const LOADS_AT_ONCE: usize = 8;

/// Seconds a load may take unless the table says otherwise.
pub const DEFAULT_LOADER_TIMEOUT_SECS: u64 = 30;

impl LoaderOptions {
    /// Takes one `WITH` option if it is a loader's; false when it is not.
    pub(crate) fn take(&mut self, name: &str, text: String) -> Result<bool> {
        match name {
            "loader" => {
                let known = ["http://", "https://", "grpc://", "grpcs://"];
                if !known.iter().any(|p| text.starts_with(p)) {
                    return Err(DataFusionError::Plan(format!(
                        "loader '{text}': use an http://, https://, grpc:// or grpcs:// URL"
                    )));
                }
                self.url = Some(text);
            }
            "loader_key" => self.key = Some(text.to_lowercase()),
            "reload_after" => self.reload_after = Some(crate::ddl::parse_duration(&text)?),
            "loader_timeout" => self.timeout = Some(crate::ddl::parse_duration(&text)?),
            "forward_headers" => {
                self.forward_headers = text
                    .split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The table's loader, or None; options without `loader` are refused.
    pub(crate) fn spec(self) -> Result<Option<LoaderSpec>> {
        let Some(url) = self.url else {
            if self.key.is_some()
                || self.reload_after.is_some()
                || self.timeout.is_some()
                || !self.forward_headers.is_empty()
            {
                return Err(DataFusionError::Plan(
                    "loader_key, reload_after, loader_timeout and forward_headers need loader = 'URL'"
                        .into(),
                ));
            }
            return Ok(None);
        };
        Ok(Some(LoaderSpec {
            url,
            key_column: self.key,
            reload_after_secs: self.reload_after,
            forward_headers: self.forward_headers,
            timeout_secs: self.timeout.unwrap_or(DEFAULT_LOADER_TIMEOUT_SECS),
        }))
    }
}
