//! A Quiver database: the catalog of tables on one backend, the SQL-created row tables and
//! the typed system tables. Opening is in `open.rs`, catalog changes in `ddl.rs`.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use kv_store::{StorageBackend, Versions};
use parking_lot::{Mutex, RwLock};

use super::intents::Intents;
use super::transaction::Transaction;
use crate::encoding::Value;
use crate::error::StoreResult;
use crate::queue::{JobQueue, QueueConfig, Upkeep};
use crate::read::RowAccess;
use crate::schema::{Job, ListConfig, Row, User, ViewDefinition};
use crate::table::{IndexedEntityStore, VerifyReport};

/// Names of the built-in tables.
pub const SYSTEM_TABLES: [&str; 3] = ["jobs", "users", "lists"];
/// A table created through SQL: rows keyed by their primary-key values.
pub type RowStore = IndexedEntityStore<Vec<Value>, Row>;

/// An open database.
pub struct Database {
    pub(super) backend: Arc<dyn StorageBackend>,
    pub(super) tables: RwLock<BTreeMap<String, Arc<RowStore>>>,
    pub(super) jobs: Arc<IndexedEntityStore<String, Job>>,
    /// What claims on `jobs` share, whichever handle makes them.
    pub(super) queue_upkeep: Arc<Upkeep>,
    pub(super) users: Arc<IndexedEntityStore<String, User>>,
    pub(super) lists: Arc<IndexedEntityStore<String, ListConfig>>,
    pub(super) views: RwLock<BTreeMap<String, ViewDefinition>>,
    pub(super) ddl: Mutex<()>,
    /// Bumped after every change to the catalog (CREATE/DROP TABLE or INDEX), so a plan made
    /// under an older version is never run.
    pub(super) catalog_version: AtomicU64,
    /// State that layers above keep per database (see [`Database::extension`]).
    pub(super) extensions: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// The recent writes every open transaction checks its commit against.
    pub(super) versions: Arc<Versions>,
    /// SERIALIZABLE commits check their reads and write one at a time.
    pub(super) serializable_commits: Mutex<()>,
    /// Which open transaction has written each key.
    pub(super) intents: Arc<Intents>,
    /// Open transactions, for `sys.transactions`.
    pub(super) transactions: Mutex<BTreeMap<u64, Weak<Transaction>>>,
    pub(super) next_transaction: AtomicU64,
}

/// A catalog change in progress: holds the DDL lock and bumps the catalog version when it
/// ends.
pub(crate) struct CatalogChange<'a> {
    _lock: parking_lot::MutexGuard<'a, ()>,
    version: &'a AtomicU64,
}

impl Drop for CatalogChange<'_> {
    fn drop(&mut self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

impl Database {
    /// The storage backend.
    pub fn backend(&self) -> &Arc<dyn StorageBackend> {
        &self.backend
    }

    /// The typed `jobs` table.
    pub fn jobs(&self) -> &Arc<IndexedEntityStore<String, Job>> {
        &self.jobs
    }

    /// The job queue over the `jobs` table, with the default retry settings.
    pub fn job_queue(&self) -> JobQueue {
        JobQueue::with_upkeep(
            self.jobs.clone(),
            QueueConfig::default(),
            self.queue_upkeep.clone(),
        )
    }

    /// The typed `users` table.
    pub fn users(&self) -> &Arc<IndexedEntityStore<String, User>> {
        &self.users
    }

    /// The typed `lists` table.
    pub fn lists(&self) -> &Arc<IndexedEntityStore<String, ListConfig>> {
        &self.lists
    }

    /// Names of every table, system tables included, sorted.
    pub fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tables.read().keys().cloned().collect();
        names.extend(SYSTEM_TABLES.iter().map(|s| s.to_string()));
        names.sort();
        names
    }

    /// A table as rows.
    pub fn table(&self, name: &str) -> Option<Arc<dyn RowAccess>> {
        match name {
            "jobs" => Some(self.jobs.clone()),
            "users" => Some(self.users.clone()),
            "lists" => Some(self.lists.clone()),
            _ => self
                .tables
                .read()
                .get(name)
                .map(|t| t.clone() as Arc<dyn RowAccess>),
        }
    }

    /// A SQL-created table as its row store.
    pub fn row_table(&self, name: &str) -> Option<Arc<RowStore>> {
        self.tables.read().get(name).cloned()
    }

    /// True when `name` is a built-in table.
    pub fn is_system(name: &str) -> bool {
        SYSTEM_TABLES.contains(&name)
    }

    /// Serialises a catalog change; the catalog version moves on when the change ends,
    /// whether or not it succeeded (a failed change may have changed something).
    pub(crate) fn catalog_change(&self) -> CatalogChange<'_> {
        CatalogChange {
            _lock: self.ddl.lock(),
            version: &self.catalog_version,
        }
    }

    /// The one `T` of this database, made on first use: where a layer above keeps what all
    /// its sessions over the database share (the SQL layer's loads in flight).
    pub fn extension<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut extensions = self.extensions.lock();
        let any = extensions
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()))
            .clone();
        // The entry for T's TypeId always holds a T.
        any.downcast::<T>()
            .unwrap_or_else(|_| Arc::new(T::default()))
    }

    /// A number that changes whenever a table or index is created or dropped: what a plan
    /// cache keys its plans by. Read it before planning.
    pub fn catalog_version(&self) -> u64 {
        self.catalog_version.load(Ordering::Acquire)
    }

    /// Runs the integrity check on every table.
    pub fn verify(&self) -> StoreResult<Vec<VerifyReport>> {
        self.table_names()
            .iter()
            .filter_map(|t| self.table(t))
            .map(|t| t.verify())
            .collect()
    }

    /// Purges expired rows of every table; returns how many were removed.
    pub fn purge_expired(&self) -> StoreResult<u64> {
        let mut n = 0;
        for t in self.table_names() {
            if let Some(t) = self.table(&t) {
                if t.schema().ttl.is_some() {
                    n += t.purge_expired()?;
                }
            }
        }
        Ok(n)
    }

    /// Compacts every partition (after a bulk load, so that scans merge fewer sorted runs).
    pub fn compact(&self) -> StoreResult<()> {
        Ok(self.backend.compact()?)
    }

    /// Makes every acknowledged write durable.
    pub fn flush(&self) -> StoreResult<()> {
        Ok(self.backend.flush()?)
    }
}
