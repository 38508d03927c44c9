//! The plan cache: statements planned once and run many times.
//!
//! An entry is keyed by the statement's text (with its placeholders, `$1` or `?` as the
//! client numbered them) and the session's default schema, and remembers the catalog
//! version it was planned under. Every CREATE/DROP TABLE or INDEX moves the version on
//! ([`indexed_store::Database::catalog_version`]), and the cache drops every entry of an
//! older version the next time it is asked, so a stale plan never runs. The parameter types
//! are part of what the text means under that catalog: DataFusion infers them from the
//! columns the placeholders meet.
//!
//! An entry holds the statement's logical plan (parsed, resolved and type-checked, with
//! its placeholders) and, when the statement has the shape, a [`FastPlan`] that runs it
//! without the planner. Statements over anything but Quiver tables and job functions (the
//! `sys` tables are snapshots taken when planned) are planned every time and not kept.
//!
//! The cache is bounded by entries and by an estimate of their bytes (the text plus four
//! bytes per character of the plan's printed form), least recently used out first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::catalog::view::ViewTable;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::LogicalPlan;
use lru::LruCache;

use super::fast_read::FastPlan;
use super::fast_write::FastWrite;
use crate::table::{CallTable, QuiverTable};

/// How much the cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanCacheLimits {
    /// Most statements kept.
    pub entries: usize,
    /// Most bytes kept, as estimated per entry.
    pub bytes: usize,
}

impl Default for PlanCacheLimits {
    /// 1,024 statements and 64 MiB.
    fn default() -> Self {
        PlanCacheLimits {
            entries: 1024,
            bytes: 64 << 20,
        }
    }
}

/// The cache's counters since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanCacheStats {
    /// Statements held now.
    pub entries: u64,
    /// Their estimated bytes.
    pub bytes: u64,
    /// Lookups that found a plan.
    pub hits: u64,
    /// Lookups that had to plan.
    pub misses: u64,
    /// Entries pushed out by the limits.
    pub evictions: u64,
    /// Entries dropped because the catalog changed.
    pub invalidations: u64,
    /// Statements planned but not kept (DDL, EXPLAIN, `sys` tables, SET...).
    pub uncacheable: u64,
    /// Executions the fast path ran.
    pub fast_runs: u64,
    /// Executions of a cached plan that went through DataFusion's optimizer and physical
    /// planner (its shape is not one the fast path runs).
    pub planned_runs: u64,
    /// Executions of a fast-path statement that needed the planner for their values (a
    /// parameter of another type than planned, an ORDER BY no index yields for them).
    pub fallbacks: u64,
}

/// One cached statement and what it has done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedStatementStats {
    /// The statement text.
    pub sql: String,
    /// The default schema it was planned in.
    pub namespace: String,
    /// `fast` (and what the fast path does) or `planned`.
    pub path: String,
    /// Executions so far.
    pub executions: u64,
    /// Of them, on the fast path.
    pub fast_runs: u64,
    /// Estimated bytes.
    pub bytes: u64,
}

/// A statement planned once: its logical plan and, when it has the shape, its fast plan.
#[derive(Debug)]
pub struct CachedStatement {
    pub(crate) sql: String,
    pub(crate) namespace: String,
    pub(crate) catalog_version: u64,
    pub(crate) plan: LogicalPlan,
    pub(crate) fast: Option<FastPlan>,
    pub(crate) fast_write: Option<FastWrite>,
    bytes: usize,
    executions: AtomicU64,
    fast_runs: AtomicU64,
}

impl CachedStatement {
    pub(crate) fn new(
        sql: &str,
        namespace: &str,
        catalog_version: u64,
        plan: LogicalPlan,
        fast: Option<FastPlan>,
        fast_write: Option<FastWrite>,
    ) -> Self {
        let bytes = sql.len() + 4 * plan.display_indent_schema().to_string().len();
        CachedStatement {
            sql: sql.to_owned(),
            namespace: namespace.to_owned(),
            catalog_version,
            plan,
            fast,
            fast_write,
            bytes,
            executions: AtomicU64::new(0),
            fast_runs: AtomicU64::new(0),
        }
    }

    fn stats(&self) -> CachedStatementStats {
        CachedStatementStats {
            sql: self.sql.clone(),
            namespace: self.namespace.clone(),
            path: match (&self.fast, &self.fast_write) {
                (Some(f), _) => format!("fast: {}", f.describe()),
                (None, Some(_)) => "fast write".into(),
                (None, None) => "planned".into(),
            },
            executions: self.executions.load(Ordering::Relaxed),
            fast_runs: self.fast_runs.load(Ordering::Relaxed),
            bytes: self.bytes as u64,
        }
    }
}

/// True when a plan may be kept: a query or DML statement over Quiver tables and job
/// functions only.
pub(crate) fn is_cacheable(plan: &LogicalPlan) -> bool {
    if matches!(
        plan,
        LogicalPlan::Statement(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::DescribeTable(_)
    ) {
        return false;
    }
    let mut ok = true;
    let _ = plan.apply_with_subqueries(|node| {
        let source = match node {
            LogicalPlan::TableScan(scan) => Some(&scan.source),
            LogicalPlan::Dml(dml) => Some(&dml.target),
            _ => None,
        };
        if let Some(source) = source {
            // A view is kept like the SELECT it stands for (its plan is of this catalog
            // version too).
            let known = source_as_provider(source).is_ok_and(|p| {
                p.is::<QuiverTable>()
                    || p.is::<CallTable>()
                    || p.downcast_ref::<ViewTable>()
                        .is_some_and(|v| is_cacheable(v.logical_plan()))
            });
            if !known {
                ok = false;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    ok
}

#[derive(Hash, PartialEq, Eq)]
struct Key {
    namespace: String,
    sql: String,
}

struct Entries {
    lru: LruCache<Key, Arc<CachedStatement>>,
    bytes: usize,
    /// The catalog version every entry was planned under.
    version: u64,
}

/// Planned statements shared by every execution of a session (and its clones).
pub struct PlanCache {
    entries: Mutex<Entries>,
    limits: PlanCacheLimits,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
    uncacheable: AtomicU64,
    fast_runs: AtomicU64,
    planned_runs: AtomicU64,
    fallbacks: AtomicU64,
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlanCache({:?})", self.stats())
    }
}

impl Default for PlanCache {
    fn default() -> Self {
        Self::new(PlanCacheLimits::default())
    }
}

/// How one execution ran, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    Fast,
    Planned,
    Fallback,
}

impl PlanCache {
    /// An empty cache with these limits (an `entries` of 0 keeps nothing).
    pub fn new(limits: PlanCacheLimits) -> Self {
        PlanCache {
            entries: Mutex::new(Entries {
                lru: LruCache::unbounded(),
                bytes: 0,
                version: 0,
            }),
            limits,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            uncacheable: AtomicU64::new(0),
            fast_runs: AtomicU64::new(0),
            planned_runs: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves only counters and an LRU order behind.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops every entry planned before catalog version `version`.
    fn catch_up(&self, entries: &mut Entries, version: u64) {
        if entries.version != version {
            self.invalidations
                .fetch_add(entries.lru.len() as u64, Ordering::Relaxed);
            entries.lru.clear();
            entries.bytes = 0;
            entries.version = version;
        }
    }

    /// The statement planned for `sql` in `namespace` under catalog `version`, counting a
    /// hit or a miss.
    pub(crate) fn get(
        &self,
        namespace: &str,
        sql: &str,
        version: u64,
    ) -> Option<Arc<CachedStatement>> {
        let mut entries = self.lock();
        self.catch_up(&mut entries, version);
        // LruCache looks up by the owned key type; build it only on this path.
        let key = Key {
            namespace: namespace.to_owned(),
            sql: sql.to_owned(),
        };
        let found = entries.lru.get(&key).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps a statement, pushing out the least recently used past the limits. A statement
    /// planned under an older catalog version than the cache's is not kept.
    pub(crate) fn insert(&self, statement: Arc<CachedStatement>) {
        let mut entries = self.lock();
        if statement.catalog_version < entries.version {
            return;
        }
        self.catch_up(&mut entries, statement.catalog_version);
        if statement.bytes > self.limits.bytes || self.limits.entries == 0 {
            return;
        }
        let key = Key {
            namespace: statement.namespace.clone(),
            sql: statement.sql.clone(),
        };
        entries.bytes += statement.bytes;
        if let Some(old) = entries.lru.put(key, statement) {
            entries.bytes -= old.bytes;
        }
        while entries.lru.len() > self.limits.entries || entries.bytes > self.limits.bytes {
            let Some((_, old)) = entries.lru.pop_lru() else {
                break;
            };
            entries.bytes -= old.bytes;
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a statement that was planned but could not be kept.
    pub(crate) fn count_uncacheable(&self) {
        self.uncacheable.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one execution of `statement`.
    pub(crate) fn count_run(&self, statement: &CachedStatement, run: Run) {
        statement.executions.fetch_add(1, Ordering::Relaxed);
        let counter = match run {
            Run::Fast => {
                statement.fast_runs.fetch_add(1, Ordering::Relaxed);
                &self.fast_runs
            }
            Run::Planned => &self.planned_runs,
            Run::Fallback => &self.fallbacks,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn stats(&self) -> PlanCacheStats {
        let (entries, bytes) = {
            let e = self.lock();
            (e.lru.len() as u64, e.bytes as u64)
        };
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PlanCacheStats {
            entries,
            bytes,
            hits: load(&self.hits),
            misses: load(&self.misses),
            evictions: load(&self.evictions),
            invalidations: load(&self.invalidations),
            uncacheable: load(&self.uncacheable),
            fast_runs: load(&self.fast_runs),
            planned_runs: load(&self.planned_runs),
            fallbacks: load(&self.fallbacks),
        }
    }

    /// Each cached statement, most recently used first.
    pub fn statements(&self) -> Vec<CachedStatementStats> {
        self.lock().lru.iter().map(|(_, s)| s.stats()).collect()
    }

    /// Drops every entry (the counters stay).
    pub fn clear(&self) {
        let mut entries = self.lock();
        entries.lru.clear();
        entries.bytes = 0;
    }
}
