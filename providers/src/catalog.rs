//! The Quiver catalog for DataFusion: schema `public` holds the tables and views without a
//! namespace, schema `<ns>` those named `<ns>.<name>`, and schema `sys` describes indexes.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, MemTable, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::Result;
use indexed_store::Database;

use crate::plan_cache::PlanCache;
use crate::table::QuiverTable;
use crate::views::ViewPlans;

/// The catalog's name when registered by [`crate::register`].
pub const CATALOG_NAME: &str = "quiver";
/// The schema of tables without a namespace.
pub const DEFAULT_SCHEMA: &str = "public";
/// The schema of the index listing.
pub const SYS_SCHEMA: &str = "sys";

/// All tables of a database, grouped by namespace.
#[derive(Clone)]
pub struct QuiverCatalog {
    db: Arc<Database>,
    /// When set, only this namespace is visible (per-tenant access).
    only: Option<String>,
    /// The plan cache `sys.plan_cache` describes, if the session has one.
    plan_cache: Option<Arc<PlanCache>>,
    /// Views planned for this catalog's sessions.
    views: Arc<ViewPlans>,
    /// The session's time zone, which its tables show TIMESTAMPTZ columns in.
    time_zone: SessionTimeZone,
}

/// A session's time zone (`SET datafusion.execution.time_zone`), as its session last saw it;
/// None is UTC.
pub type SessionTimeZone = Arc<std::sync::RwLock<Option<String>>>;

impl std::fmt::Debug for QuiverCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuiverCatalog")
    }
}

impl QuiverCatalog {
    /// Every namespace of the database.
    pub fn new(db: Arc<Database>) -> Self {
        QuiverCatalog {
            db,
            only: None,
            plan_cache: None,
            views: Arc::default(),
            time_zone: Arc::default(),
        }
    }

    /// The same catalog, whose tables show TIMESTAMPTZ columns in the zone `time_zone` holds.
    pub fn with_time_zone(self, time_zone: SessionTimeZone) -> Self {
        QuiverCatalog { time_zone, ..self }
    }

    /// The same catalog, whose `sys.plan_cache` tables describe `cache`.
    pub fn with_plan_cache(self, cache: Arc<PlanCache>) -> Self {
        QuiverCatalog {
            plan_cache: Some(cache),
            ..self
        }
    }

    /// Only one namespace visible.
    pub fn restricted_to(db: Arc<Database>, namespace: &str) -> Self {
        QuiverCatalog {
            db,
            only: Some(namespace.to_owned()),
            plan_cache: None,
            views: Arc::default(),
            time_zone: Arc::default(),
        }
    }
}

/// Splits a stored table name into (namespace, table).
pub fn split_name(stored: &str) -> (&str, &str) {
    match stored.split_once('.') {
        Some((ns, t)) => (ns, t),
        None => (DEFAULT_SCHEMA, stored),
    }
}

/// The stored name of `table` in `namespace`.
pub fn stored_name(namespace: &str, table: &str) -> String {
    if namespace == DEFAULT_SCHEMA {
        table.to_owned()
    } else {
        format!("{namespace}.{table}")
    }
}

impl CatalogProvider for QuiverCatalog {
    fn schema_names(&self) -> Vec<String> {
        if let Some(ns) = &self.only {
            return vec![ns.clone()];
        }
        let mut names: Vec<String> = self
            .db
            .table_names()
            .iter()
            .chain(&self.db.view_names())
            .map(|t| split_name(t).0.to_owned())
            .collect();
        names.push(DEFAULT_SCHEMA.to_owned());
        names.push(SYS_SCHEMA.to_owned());
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if self.only.as_deref().is_some_and(|ns| ns != name) {
            // Another namespace answers like a schema without tables: its tables are "not
            // found", exactly as tables that do not exist (and not "no such schema", which
            // would tell the two apart).
            return Some(Arc::new(HiddenSchema));
        }
        if name == SYS_SCHEMA && self.only.is_none() {
            return Some(Arc::new(SysSchema {
                db: self.db.clone(),
                plan_cache: self.plan_cache.clone(),
            }));
        }
        Some(Arc::new(QuiverSchema {
            db: self.db.clone(),
            namespace: name.to_owned(),
            views: self.views.clone(),
            time_zone: self.time_zone.clone(),
        }))
    }
}

/// The tables and views of one namespace.
pub struct QuiverSchema {
    db: Arc<Database>,
    namespace: String,
    views: Arc<ViewPlans>,
    time_zone: SessionTimeZone,
}

impl std::fmt::Debug for QuiverSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuiverSchema({})", self.namespace)
    }
}

#[async_trait]
impl SchemaProvider for QuiverSchema {
    fn table_names(&self) -> Vec<String> {
        self.db
            .table_names()
            .iter()
            .chain(&self.db.view_names())
            .filter(|t| split_name(t).0 == self.namespace)
            .map(|t| split_name(t).1.to_owned())
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let stored = stored_name(&self.namespace, name);
        if let Some(t) = self.db.table(&stored) {
            let zone = self
                .time_zone
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let loader = crate::loader::TableLoader::of(&self.db, &t);
            let table = QuiverTable::in_time_zone(t, zone.as_deref()).with_loader(loader);
            if stored == "lists" {
                // A list is checked when it is written: it must run.
                let check = crate::lists::row_check(self.db.clone());
                return Ok(Some(Arc::new(table.with_check(check))));
            }
            return Ok(Some(Arc::new(table)));
        }
        match self.db.view(&stored) {
            Some(view) => Ok(Some(self.views.table(&self.db, &view).await?)),
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        let stored = stored_name(&self.namespace, name);
        self.db.table(&stored).is_some() || self.db.view(&stored).is_some()
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(crate::error::SqlError::Unsupported {
            what: format!("registering '{name}' as a DataFusion table"),
            context: "in a Quiver schema".into(),
            instead: "use CREATE TABLE or CREATE VIEW".into(),
        }
        .into())
    }
}

/// A schema a restricted session may not see: no tables, and every name "not found".
#[derive(Debug)]
struct HiddenSchema;

#[async_trait]
impl SchemaProvider for HiddenSchema {
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(&self, _table: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(None)
    }

    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}

/// `sys.indexes`: one row per index of every table (primary keys included); `sys.queues`,
/// `sys.plan_cache` and `sys.plan_cache_stats`.
struct SysSchema {
    db: Arc<Database>,
    plan_cache: Option<Arc<PlanCache>>,
}

impl std::fmt::Debug for SysSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SysSchema")
    }
}

impl SysSchema {
    fn indexes(&self) -> Result<Arc<dyn TableProvider>> {
        let (mut table, mut index, mut columns, mut unique, mut include, mut kind) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for t in self.db.table_names() {
            let Some(access) = self.db.table(&t) else {
                continue;
            };
            let s = access.schema();
            table.push(t.clone());
            index.push("PRIMARY".to_owned());
            columns.push(s.primary_key.join(", "));
            unique.push(true);
            include.push(String::new());
            kind.push("primary".to_owned());
            for i in &s.indexes {
                table.push(t.clone());
                index.push(i.name.clone());
                columns.push(
                    i.columns
                        .iter()
                        .map(|c| {
                            if c.order.is_desc() {
                                format!("{} DESC", c.name)
                            } else {
                                c.name.clone()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                unique.push(i.unique);
                include.push(i.include.join(", "));
                let list = i.columns.iter().any(|c| {
                    s.column_index(&c.name)
                        .is_some_and(|p| s.columns[p].ty.is_list())
                });
                kind.push(if list { "multi-key" } else { "secondary" }.to_owned());
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("index_name", DataType::Utf8, false),
            Field::new("columns", DataType::Utf8, false),
            Field::new("is_unique", DataType::Boolean, false),
            Field::new("include", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
        ]));
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(table)),
            Arc::new(StringArray::from(index)),
            Arc::new(StringArray::from(columns)),
            Arc::new(BooleanArray::from(unique)),
            Arc::new(StringArray::from(include)),
            Arc::new(StringArray::from(kind)),
        ];
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

impl SysSchema {
    /// `sys.queues`: jobs per queue and status, counted from the `jobs_ready` index, and for
    /// queued jobs the oldest one's creation time and age.
    fn queues(&self) -> Result<Arc<dyn TableProvider>> {
        let queue = self.db.job_queue();
        let stats = queue.stats().map_err(crate::store_err)?;
        let now = self.db.jobs().reader().now();
        let schema = Arc::new(Schema::new(vec![
            Field::new("queue", DataType::Utf8, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("jobs", DataType::UInt64, false),
            Field::new(
                "oldest_created_at",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                true,
            ),
            Field::new("oldest_age_seconds", DataType::Float64, true),
        ]));
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                stats.iter().map(|s| &s.queue),
            )),
            Arc::new(StringArray::from_iter_values(
                stats.iter().map(|s| &s.status),
            )),
            Arc::new(UInt64Array::from_iter_values(stats.iter().map(|s| s.jobs))),
            Arc::new(TimestampMicrosecondArray::from_iter(
                stats.iter().map(|s| s.oldest_created_at),
            )),
            Arc::new(Float64Array::from_iter(stats.iter().map(|s| {
                s.oldest_created_at
                    .map(|t| (now - t).max(0) as f64 / 1_000_000.0)
            }))),
        ];
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

impl SysSchema {
    /// `sys.plan_cache`: one row per cached statement, most recently used first.
    fn plan_cache(&self) -> Result<Arc<dyn TableProvider>> {
        let statements = self
            .plan_cache
            .as_ref()
            .map(|c| c.statements())
            .unwrap_or_default();
        let schema = Arc::new(Schema::new(vec![
            Field::new("statement", DataType::Utf8, false),
            Field::new("namespace", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("executions", DataType::UInt64, false),
            Field::new("fast_runs", DataType::UInt64, false),
            Field::new("bytes", DataType::UInt64, false),
        ]));
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                statements.iter().map(|s| &s.sql),
            )),
            Arc::new(StringArray::from_iter_values(
                statements.iter().map(|s| &s.namespace),
            )),
            Arc::new(StringArray::from_iter_values(
                statements.iter().map(|s| &s.path),
            )),
            Arc::new(UInt64Array::from_iter_values(
                statements.iter().map(|s| s.executions),
            )),
            Arc::new(UInt64Array::from_iter_values(
                statements.iter().map(|s| s.fast_runs),
            )),
            Arc::new(UInt64Array::from_iter_values(
                statements.iter().map(|s| s.bytes),
            )),
        ];
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }

    /// `sys.plan_cache_stats`: the cache's counters, one row.
    fn plan_cache_stats(&self) -> Result<Arc<dyn TableProvider>> {
        let stats = self
            .plan_cache
            .as_ref()
            .map(|c| c.stats())
            .unwrap_or_default();
        let counters = [
            ("entries", stats.entries),
            ("bytes", stats.bytes),
            ("hits", stats.hits),
            ("misses", stats.misses),
            ("evictions", stats.evictions),
            ("invalidations", stats.invalidations),
            ("uncacheable", stats.uncacheable),
            ("fast_runs", stats.fast_runs),
            ("planned_runs", stats.planned_runs),
            ("fallbacks", stats.fallbacks),
        ];
        let schema = Arc::new(Schema::new(
            counters
                .iter()
                .map(|(name, _)| Field::new(*name, DataType::UInt64, false))
                .collect::<Vec<_>>(),
        ));
        let arrays: Vec<ArrayRef> = counters
            .iter()
            .map(|(_, v)| Arc::new(UInt64Array::from(vec![*v])) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

impl SysSchema {
    /// `sys.loads`: per table with a loader and key, when it was loaded, how many rows, and
    /// the last failure.
    fn loads(&self) -> Result<Arc<dyn TableProvider>> {
        let records = self.db.load_records().map_err(crate::store_err)?;
        let time = || DataType::Timestamp(TimeUnit::Microsecond, None);
        let schema = Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("key", DataType::Utf8, false),
            Field::new("loaded_at", time(), true),
            Field::new("rows", DataType::UInt64, false),
            Field::new("attempted_at", time(), false),
            Field::new("last_error", DataType::Utf8, true),
        ]));
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(records.iter().map(|r| &r.0))),
            Arc::new(StringArray::from_iter_values(records.iter().map(|r| &r.1))),
            Arc::new(TimestampMicrosecondArray::from_iter(
                records.iter().map(|r| r.2.loaded_at),
            )),
            Arc::new(UInt64Array::from_iter_values(
                records.iter().map(|r| r.2.rows),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                records.iter().map(|r| r.2.attempted_at),
            )),
            Arc::new(StringArray::from_iter(
                records.iter().map(|r| r.2.last_error.as_deref()),
            )),
        ];
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

/// The tables of schema `sys`.
const SYS_TABLES: [&str; 5] = [
    "indexes",
    "queues",
    "plan_cache",
    "plan_cache_stats",
    "loads",
];

#[async_trait]
impl SchemaProvider for SysSchema {
    fn table_names(&self) -> Vec<String> {
        SYS_TABLES.iter().map(|t| t.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match name {
            "indexes" => Ok(Some(self.indexes()?)),
            "queues" => Ok(Some(self.queues()?)),
            "plan_cache" => Ok(Some(self.plan_cache()?)),
            "plan_cache_stats" => Ok(Some(self.plan_cache_stats()?)),
            "loads" => Ok(Some(self.loads()?)),
            _ => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        SYS_TABLES.contains(&name)
    }
}
