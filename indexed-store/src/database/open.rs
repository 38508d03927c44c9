//! Opening a database: the backend, the format checks and upgrades (`upgrade.rs`), every
//! table of the catalog, the views, the system tables, and the partitions no table owns
//! (left by a crash during CREATE or DROP), which are dropped.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use kv_store::{
    Direction, KeyRange, MemoryBackend, RocksBackend, RocksOptions, StorageBackend, Versioned,
    Versions,
};
use parking_lot::{Mutex, RwLock};

use super::handle::{Database, RowStore};
use super::upgrade::{check_record_format, upgrade_jobs};
use crate::error::StoreResult;
use crate::schema::{
    decode_table, jobs_definition, lists_definition, row_table, users_definition, Partition,
    Partitions, ViewDefinition, CATALOG, TABLES_PREFIX, VIEWS_PREFIX,
};
use crate::table::IndexedEntityStore;

impl Database {
    /// Opens (or creates) the database in a directory.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(path, RocksOptions::default())
    }

    /// Opens (or creates) the database in a directory with RocksDB options.
    /// Which partitions are only scanned and which hold counters is Quiver's to say:
    /// `options.scanned_only` and `options.counters` are set.
    pub fn open_with(path: impl AsRef<Path>, mut options: RocksOptions) -> StoreResult<Self> {
        options.scanned_only = Partition::scanned_only;
        options.counters = Partition::holds_counters;
        Self::on(Arc::new(RocksBackend::open_with(path, options)?))
    }

    /// A database in memory (nothing persisted).
    pub fn in_memory() -> StoreResult<Self> {
        Self::on(Arc::new(MemoryBackend::new()))
    }

    /// Opens the database held by a backend: loads every table of the catalog and drops
    /// partitions no table owns (left by a crash during CREATE or DROP).
    pub fn on(backend: Arc<dyn StorageBackend>) -> StoreResult<Self> {
        // Every write goes through the versions, which open transactions check.
        let versions = Arc::new(Versions::default());
        let backend: Arc<dyn StorageBackend> = Arc::new(Versioned::new(backend, versions.clone()));
        backend.create_partition(CATALOG)?;
        check_record_format(&backend)?;
        let mut tables = BTreeMap::new();
        for item in backend.scan(
            CATALOG,
            &KeyRange::prefix(TABLES_PREFIX),
            Direction::Forward,
        )? {
            let (_, raw) = item?;
            let schema = decode_table(&raw, CATALOG)?;
            let store = RowStore::open(backend.clone(), row_table(schema.clone())?)?;
            tables.insert(schema.name.clone(), Arc::new(store));
        }
        let mut views = BTreeMap::new();
        for item in backend.scan(CATALOG, &KeyRange::prefix(VIEWS_PREFIX), Direction::Forward)? {
            let (_, raw) = item?;
            let view = ViewDefinition::decode(&raw, CATALOG)?;
            views.insert(view.name.clone(), view);
        }
        let jobs = IndexedEntityStore::open(backend.clone(), jobs_definition()?)?;
        upgrade_jobs(&backend, &jobs)?;
        let db = Database {
            jobs: Arc::new(jobs),
            queue_upkeep: Arc::default(),
            users: Arc::new(IndexedEntityStore::open(
                backend.clone(),
                users_definition()?,
            )?),
            lists: Arc::new(IndexedEntityStore::open(
                backend.clone(),
                lists_definition()?,
            )?),
            backend,
            tables: RwLock::new(tables),
            views: RwLock::new(views),
            ddl: Mutex::new(()),
            catalog_version: AtomicU64::new(0),
            extensions: Mutex::default(),
            versions,
            serializable_commits: Mutex::new(()),
            intents: Arc::default(),
            transactions: Mutex::default(),
            next_transaction: AtomicU64::new(0),
        };
        db.drop_orphans()?;
        Ok(db)
    }

    fn owned_partitions(&self) -> Vec<String> {
        let mut owned = vec![CATALOG.to_owned()];
        let mut add = |parts: &Partitions| owned.extend(parts.all().cloned());
        for s in self.tables.read().values() {
            add(s.definition().partitions());
        }
        add(self.jobs.definition().partitions());
        add(self.users.definition().partitions());
        add(self.lists.definition().partitions());
        owned
    }

    pub(super) fn drop_orphans(&self) -> StoreResult<()> {
        let owned = self.owned_partitions();
        for p in self.backend.partitions()? {
            if !owned.contains(&p) {
                self.backend.drop_partition(&p)?;
            }
        }
        Ok(())
    }
}
