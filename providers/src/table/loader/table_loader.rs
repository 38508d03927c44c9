//! A table's loader: which keys a scan needs loaded, one load per key at a time (single
//! flight), and the atomic replacement of a key's rows with what the upstream returned.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::{StreamExt, TryStreamExt};
use indexed_store::table::system_now;
use indexed_store::{
    choose_access_path, ColumnPredicate, Database, LoadRecord, LoaderSpec, Mutation, Predicate,
    Row, RowAccess, StoreError, StoreResult, Value,
};
use parking_lot::Mutex;

use super::{documents, upstream};
use crate::error::{store_err, LoadProblem, SqlError};
use crate::expr::to_predicate;
use crate::write::{key_bytes, values_at};

/// Headers of the incoming call that loaders may pass on (lower-case names). The Flight SQL
/// server sets them per call; an embedding program passes its own to
/// `PreparedStatement::execute_forwarding`.
#[derive(Debug, Clone, Default)]
pub struct ForwardedHeaders(pub HashMap<String, String>);

/// A table's loader, as its provider holds it.
pub struct TableLoader {
    db: Arc<Database>,
    access: Arc<dyn RowAccess>,
    pub(super) spec: LoaderSpec,
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
    pub(super) fn describe(&self) -> String {
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
            let corrupt = |e: indexed_store::encoding::Malformed| StoreError::Corrupt {
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

/// Keys of one query loaded at the same time.
const LOADS_AT_ONCE: usize = 8;
