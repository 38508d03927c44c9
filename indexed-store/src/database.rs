//! A Quiver database: the catalog of tables on one backend, the SQL-created row tables and
//! the typed system tables.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kv_store::{
    Direction, KeyRange, MemoryBackend, RocksBackend, RocksOptions, StorageBackend, WriteBatch,
};
use parking_lot::{Mutex, RwLock};

use crate::definition::{row_table, IndexDefinition};
use crate::error::{StoreError, StoreResult};
use crate::payload::{from_bytes, to_bytes};
use crate::row_access::RowAccess;
use crate::schema::{IndexSpec, Row, TableSchema};
use crate::store::{IndexedEntityStore, Partitions};
use crate::system::{jobs_definition, lists_definition, users_definition, Job, ListConfig, User};
use crate::value::Value;
use crate::verify::VerifyReport;

/// The partition holding table definitions.
pub const CATALOG: &str = "catalog";
/// Names of the built-in tables.
pub const SYSTEM_TABLES: [&str; 3] = ["jobs", "users", "lists"];

/// A table created through SQL: rows keyed by their primary-key values.
pub type RowStore = IndexedEntityStore<Vec<Value>, Row>;

/// An open database.
pub struct Database {
    backend: Arc<dyn StorageBackend>,
    tables: RwLock<BTreeMap<String, Arc<RowStore>>>,
    jobs: Arc<IndexedEntityStore<String, Job>>,
    users: Arc<IndexedEntityStore<String, User>>,
    lists: Arc<IndexedEntityStore<String, ListConfig>>,
    ddl: Mutex<()>,
}

fn catalog_key(table: &str) -> Vec<u8> {
    format!("table/{table}").into_bytes()
}

impl Database {
    /// Opens (or creates) the database in a directory.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(path, RocksOptions::default())
    }

    /// Opens (or creates) the database in a directory with RocksDB options.
    pub fn open_with(path: impl AsRef<Path>, options: RocksOptions) -> StoreResult<Self> {
        Self::on(Arc::new(RocksBackend::open_with(path, options)?))
    }

    /// A database in memory (nothing persisted).
    pub fn in_memory() -> StoreResult<Self> {
        Self::on(Arc::new(MemoryBackend::new()))
    }

    /// Opens the database held by a backend: loads every table of the catalog and drops
    /// partitions no table owns (left by a crash during CREATE or DROP).
    pub fn on(backend: Arc<dyn StorageBackend>) -> StoreResult<Self> {
        backend.create_partition(CATALOG)?;
        let mut tables = BTreeMap::new();
        for item in backend.scan(CATALOG, &KeyRange::prefix(b"table/"), Direction::Forward)? {
            let (_, raw) = item?;
            let schema: TableSchema = from_bytes(&raw, CATALOG)?;
            let store = RowStore::open(backend.clone(), row_table(schema.clone())?)?;
            tables.insert(schema.name.clone(), Arc::new(store));
        }
        let db = Database {
            jobs: Arc::new(IndexedEntityStore::open(
                backend.clone(),
                jobs_definition()?,
            )?),
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
            ddl: Mutex::new(()),
        };
        db.drop_orphans()?;
        Ok(db)
    }

    fn owned_partitions(&self) -> Vec<String> {
        let mut owned = vec![CATALOG.to_owned()];
        let mut add = |parts: Partitions| owned.extend(parts.all().cloned());
        for s in self.tables.read().values() {
            add(Partitions::of(&s.definition()));
        }
        add(Partitions::of(&self.jobs.definition()));
        add(Partitions::of(&self.users.definition()));
        add(Partitions::of(&self.lists.definition()));
        owned
    }

    fn drop_orphans(&self) -> StoreResult<()> {
        let owned = self.owned_partitions();
        for p in self.backend.partitions()? {
            if !owned.contains(&p) {
                self.backend.drop_partition(&p)?;
            }
        }
        Ok(())
    }

    /// The storage backend.
    pub fn backend(&self) -> &Arc<dyn StorageBackend> {
        &self.backend
    }

    /// The typed `jobs` table.
    pub fn jobs(&self) -> &Arc<IndexedEntityStore<String, Job>> {
        &self.jobs
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

    fn save_schema(&self, schema: &TableSchema) -> StoreResult<()> {
        let mut raw = Vec::new();
        to_bytes(schema, &mut raw);
        let mut batch = WriteBatch::new();
        batch.put(CATALOG, catalog_key(&schema.name), raw);
        Ok(self.backend.write(batch)?)
    }

    /// Creates a table (and its indexes); fails when it exists or cannot work.
    pub fn create_table(&self, schema: TableSchema) -> StoreResult<Arc<RowStore>> {
        let _ddl = self.ddl.lock();
        if Self::is_system(&schema.name) || self.tables.read().contains_key(&schema.name) {
            return Err(StoreError::TableExists(schema.name));
        }
        let def = row_table(schema.clone())?;
        // Leftovers of a table of the same name whose drop did not finish.
        self.drop_orphans()?;
        let store = Arc::new(RowStore::open(self.backend.clone(), def)?);
        self.save_schema(&schema)?;
        self.tables
            .write()
            .insert(schema.name.clone(), store.clone());
        Ok(store)
    }

    /// Drops a table and all its data.
    pub fn drop_table(&self, name: &str) -> StoreResult<()> {
        let _ddl = self.ddl.lock();
        if Self::is_system(name) {
            return Err(StoreError::SystemTable(
                name.to_owned(),
                "system tables cannot be dropped",
            ));
        }
        let store = self
            .tables
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::UnknownTable(name.to_owned()))?;
        // Catalog first: a crash after this leaves only orphans, dropped at the next open.
        let mut batch = WriteBatch::new();
        batch.delete(CATALOG, catalog_key(name));
        self.backend.write(batch)?;
        self.tables.write().remove(name);
        store.drop_storage()
    }

    /// Creates an index over a SQL table's existing rows.
    pub fn create_index(&self, table: &str, spec: IndexSpec) -> StoreResult<()> {
        let _ddl = self.ddl.lock();
        if Self::is_system(table) {
            return Err(StoreError::SystemTable(
                table.to_owned(),
                "its indexes are fixed",
            ));
        }
        let store = self
            .row_table(table)
            .ok_or_else(|| StoreError::UnknownTable(table.to_owned()))?;
        let def = store.definition();
        if self.index_owner(&spec.name).is_some() {
            return Err(StoreError::IndexExists {
                table: table.to_owned(),
                index: spec.name,
            });
        }
        let index = IndexDefinition::for_rows(spec, &def.schema)?;
        store.add_index(index)?;
        self.save_schema(&store.definition().schema)
    }

    /// The table that owns an index of this name.
    pub fn index_owner(&self, index: &str) -> Option<String> {
        self.table_names().into_iter().find(|t| {
            self.table(t)
                .is_some_and(|a| a.schema().indexes.iter().any(|i| i.name == index))
        })
    }

    /// Drops an index by name (index names are unique across the database).
    pub fn drop_index(&self, index: &str) -> StoreResult<String> {
        let _ddl = self.ddl.lock();
        let table = self
            .index_owner(index)
            .ok_or_else(|| StoreError::UnknownIndex {
                table: "*".into(),
                index: index.into(),
            })?;
        if Self::is_system(&table) {
            return Err(StoreError::SystemTable(table, "its indexes are fixed"));
        }
        let store = self
            .row_table(&table)
            .ok_or_else(|| StoreError::UnknownTable(table.clone()))?;
        let mut schema = store.definition().schema.clone();
        schema.indexes.retain(|i| i.name != index);
        self.save_schema(&schema)?;
        store.drop_index(index)?;
        Ok(table)
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
