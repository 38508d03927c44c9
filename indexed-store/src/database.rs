//! A Quiver database: the catalog of tables on one backend, the SQL-created row tables and
//! the typed system tables.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kv_store::{
    Direction, KeyRange, MemoryBackend, RocksBackend, RocksOptions, StorageBackend, WriteBatch,
};
use parking_lot::{Mutex, RwLock};

use crate::catalog_entry::{decode_table, encode_table};
use crate::counts;
use crate::definition::{row_table, IndexDefinition};
use crate::error::{StoreError, StoreResult};
use crate::jobs::{JobQueue, QueueConfig, Upkeep};
use crate::payload::{decode_entity_record, encode_record};
use crate::record::RECORD_FORMAT;
use crate::row_access::RowAccess;
use crate::schema::{IndexSpec, Row, TableSchema};
use crate::store::{entries_of, leading_orders, IndexedEntityStore, Partitions};
use crate::system::{
    jobs_definition, lists_definition, users_definition, Job, JobV1, ListConfig, User, JOBS_FORMAT,
};
use crate::value::Value;
use crate::verify::VerifyReport;
use crate::views::{cycle_through, dependents, view_key, ViewDefinition};

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
    /// What claims on `jobs` share, whichever handle makes them.
    queue_upkeep: Arc<Upkeep>,
    users: Arc<IndexedEntityStore<String, User>>,
    lists: Arc<IndexedEntityStore<String, ListConfig>>,
    views: RwLock<BTreeMap<String, ViewDefinition>>,
    ddl: Mutex<()>,
    /// Bumped after every change to the catalog (CREATE/DROP TABLE or INDEX), so a plan made
    /// under an older version is never run.
    catalog_version: AtomicU64,
    /// State that layers above keep per database (see [`Database::extension`]).
    extensions: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
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

/// The catalog key holding the storage format of the `jobs` records.
const JOBS_FORMAT_KEY: &[u8] = b"format/jobs";

/// Brings the `jobs` records to [`JOBS_FORMAT`]. A database without a format marker was
/// written by Quiver 0.1 ([`JobV1`] records): each record is rewritten in the current layout
/// with its entries in the new indexes, in one atomic batch with the marker, so a crash
/// leaves either the old database or the upgraded one. A newer format is refused.
fn upgrade_jobs(
    backend: &Arc<dyn StorageBackend>,
    jobs: &IndexedEntityStore<String, Job>,
) -> StoreResult<()> {
    if stored_format(
        backend,
        CATALOG,
        JOBS_FORMAT_KEY,
        "table 'jobs'",
        JOBS_FORMAT,
    )? == Some(JOBS_FORMAT)
    {
        return Ok(());
    }
    let def = jobs.definition();
    let parts = def.partitions();
    let mut batch = WriteBatch::new();
    for item in backend.scan(&parts.records, &KeyRange::all(), Direction::Forward)? {
        let (pk, raw) = item?;
        let (old, expiry) = decode_entity_record::<JobV1>(&raw, &parts.records)?;
        let job = Job::from(old);
        for e in entries_of(&def, &job, &pk, expiry) {
            batch.put(&parts.indexes[e.index], e.key, e.value);
        }
        batch.put(&parts.records, pk, encode_record(&def, &job, expiry));
    }
    batch.put(
        CATALOG,
        JOBS_FORMAT_KEY.to_vec(),
        JOBS_FORMAT.to_le_bytes().to_vec(),
    );
    // The entries above bypass the counters: they are rebuilt, now or at the next open.
    counts::invalidate(&mut batch, parts);
    backend.write(batch)?;
    counts::ensure(backend, parts, &leading_orders(&def))
}

const RECORD_FORMAT_KEY: &[u8] = b"format/records";

/// The format a marker at `key` of `partition` records (None without a marker): a u32,
/// little-endian. A format newer than `supported` is refused, naming `what` is stored in it.
pub(crate) fn stored_format(
    backend: &Arc<dyn StorageBackend>,
    partition: &str,
    key: &[u8],
    what: &str,
    supported: u32,
) -> StoreResult<Option<u32>> {
    let Some(raw) = backend.get(partition, key)? else {
        return Ok(None);
    };
    let found = <[u8; 4]>::try_from(raw.as_slice())
        .map(u32::from_le_bytes)
        .map_err(|_| StoreError::Corrupt {
            partition: partition.into(),
            reason: format!(
                "the format marker '{}' is not 4 bytes",
                String::from_utf8_lossy(key)
            ),
        })?;
    if found > supported {
        return Err(StoreError::UnsupportedFormat {
            what: what.into(),
            found,
            supported,
        });
    }
    Ok(Some(found))
}

/// Checks the catalog's record-format marker: a database written by a newer Quiver (records
/// in a layout this build cannot read) is refused before any table is opened. Older records
/// stay readable as they are, so the marker is raised to [`RECORD_FORMAT`] on open.
fn check_record_format(backend: &Arc<dyn StorageBackend>) -> StoreResult<()> {
    // Quiver 0.1 wrote no marker: its records are all in format 1.
    let found = stored_format(
        backend,
        CATALOG,
        RECORD_FORMAT_KEY,
        "the database's records",
        RECORD_FORMAT,
    )?
    .unwrap_or(1);
    if found < RECORD_FORMAT {
        let mut batch = WriteBatch::new();
        batch.put(
            CATALOG,
            RECORD_FORMAT_KEY.to_vec(),
            RECORD_FORMAT.to_le_bytes().to_vec(),
        );
        backend.write(batch)?;
    }
    Ok(())
}

pub(crate) fn catalog_key(table: &str) -> Vec<u8> {
    format!("table/{table}").into_bytes()
}

impl Database {
    /// Opens (or creates) the database in a directory.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(path, RocksOptions::default())
    }

    /// Opens (or creates) the database in a directory with RocksDB options.
    /// Which partitions are only scanned and which hold counters is Quiver's to say:
    /// `options.scanned_only` and `options.counters` are set.
    pub fn open_with(path: impl AsRef<Path>, mut options: RocksOptions) -> StoreResult<Self> {
        options.scanned_only = Partitions::scanned_only;
        options.counters = counts::is_counts_partition;
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
        check_record_format(&backend)?;
        let mut tables = BTreeMap::new();
        for item in backend.scan(CATALOG, &KeyRange::prefix(b"table/"), Direction::Forward)? {
            let (_, raw) = item?;
            let schema = decode_table(&raw, CATALOG)?;
            let store = RowStore::open(backend.clone(), row_table(schema.clone())?)?;
            tables.insert(schema.name.clone(), Arc::new(store));
        }
        let mut views = BTreeMap::new();
        for item in backend.scan(CATALOG, &KeyRange::prefix(b"view/"), Direction::Forward)? {
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

    fn save_schema(&self, schema: &TableSchema) -> StoreResult<()> {
        let mut batch = WriteBatch::new();
        batch.put(CATALOG, catalog_key(&schema.name), encode_table(schema));
        Ok(self.backend.write(batch)?)
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

    /// Creates a table (and its indexes); fails when it exists or cannot work.
    pub fn create_table(&self, schema: TableSchema) -> StoreResult<Arc<RowStore>> {
        let _ddl = self.catalog_change();
        self.name_is_free(&schema.name)?;
        let def = row_table(schema.clone())?;
        // Leftovers of a table of the same name whose drop did not finish.
        self.drop_orphans()?;
        let store = Arc::new(RowStore::open(self.backend.clone(), def)?);
        let mut batch = WriteBatch::new();
        self.forget_loads(&schema.name, &mut batch)?;
        self.backend.write(batch)?;
        self.save_schema(&schema)?;
        self.tables
            .write()
            .insert(schema.name.clone(), store.clone());
        Ok(store)
    }

    /// Refuses a name a table (system tables included) or a view already has.
    pub(crate) fn name_is_free(&self, name: &str) -> StoreResult<()> {
        if Self::is_system(name) || self.tables.read().contains_key(name) {
            return Err(StoreError::TableExists(name.to_owned()));
        }
        if self.views.read().contains_key(name) {
            return Err(StoreError::ViewExists(name.to_owned()));
        }
        Ok(())
    }

    /// The SQL table a DDL statement changes; a system table is refused, saying `why`.
    pub(crate) fn table_to_change(
        &self,
        table: &str,
        why: &'static str,
    ) -> StoreResult<Arc<RowStore>> {
        if Self::is_system(table) {
            return Err(StoreError::SystemTable(table.to_owned(), why));
        }
        self.row_table(table)
            .ok_or_else(|| StoreError::UnknownTable(table.to_owned()))
    }

    /// Drops a table and all its data; refused while a view uses it.
    pub fn drop_table(&self, name: &str) -> StoreResult<()> {
        self.drop_table_with(name, false)
    }

    /// Drops a table and all its data; with `cascade`, the views that use it (directly or
    /// through other views) are dropped first, otherwise they make the drop fail.
    pub fn drop_table_with(&self, name: &str, cascade: bool) -> StoreResult<()> {
        let _ddl = self.catalog_change();
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
        self.release_dependents("table", name, cascade)?;
        // Catalog first: a crash after this leaves only orphans, dropped at the next open.
        let mut batch = WriteBatch::new();
        batch.delete(CATALOG, catalog_key(name));
        self.forget_loads(name, &mut batch)?;
        self.backend.write(batch)?;
        self.tables.write().remove(name);
        store.drop_storage()
    }

    /// The views that use `name` (a table or view), directly or through other views.
    pub(crate) fn views_using(&self, name: &str) -> Vec<String> {
        dependents(self.views.read().values(), name)
    }

    /// Files a table's store under its new name (after ALTER TABLE ... RENAME TO) and drops
    /// the partitions of its old one.
    pub(crate) fn move_table(&self, old: &str, store: Arc<RowStore>) -> StoreResult<()> {
        // The renamed table loads its keys afresh.
        let mut batch = WriteBatch::new();
        self.forget_loads(old, &mut batch)?;
        self.backend.write(batch)?;
        let previous = {
            let mut tables = self.tables.write();
            tables.insert(store.definition().schema.name.clone(), store);
            tables.remove(old)
        };
        match previous {
            Some(p) => p.drop_storage(),
            None => Ok(()),
        }
    }

    /// The views that use `name` (a table or view): with `cascade` they are dropped,
    /// otherwise they are the error.
    fn release_dependents(&self, kind: &'static str, name: &str, cascade: bool) -> StoreResult<()> {
        let users = dependents(self.views.read().values(), name);
        if users.is_empty() {
            return Ok(());
        }
        if !cascade {
            return Err(StoreError::InUse {
                kind,
                name: name.to_owned(),
                views: users,
            });
        }
        let mut batch = WriteBatch::new();
        for v in &users {
            batch.delete(CATALOG, view_key(v));
        }
        self.backend.write(batch)?;
        let mut views = self.views.write();
        for v in &users {
            views.remove(v);
        }
        Ok(())
    }

    /// Creates a view, or replaces it with `replace`. Its name may not be a table's, and it
    /// may not reach itself through the views it reads.
    pub fn create_view(&self, view: ViewDefinition, replace: bool) -> StoreResult<()> {
        let _ddl = self.catalog_change();
        if self.table(&view.name).is_some() {
            return Err(StoreError::TableExists(view.name));
        }
        if !replace && self.views.read().contains_key(&view.name) {
            return Err(StoreError::ViewExists(view.name));
        }
        if let Some(through) = cycle_through(self.views.read().values(), &view) {
            return Err(StoreError::ViewCycle {
                view: view.name,
                through,
            });
        }
        let mut batch = WriteBatch::new();
        batch.put(CATALOG, view_key(&view.name), view.encode());
        self.backend.write(batch)?;
        self.views.write().insert(view.name.clone(), view);
        Ok(())
    }

    /// Drops a view; refused while another view uses it, unless `cascade` drops those too.
    pub fn drop_view(&self, name: &str, cascade: bool) -> StoreResult<()> {
        let _ddl = self.catalog_change();
        if !self.views.read().contains_key(name) {
            return Err(StoreError::UnknownView(name.to_owned()));
        }
        self.release_dependents("view", name, cascade)?;
        let mut batch = WriteBatch::new();
        batch.delete(CATALOG, view_key(name));
        self.backend.write(batch)?;
        self.views.write().remove(name);
        Ok(())
    }

    /// A view's definition.
    pub fn view(&self, name: &str) -> Option<ViewDefinition> {
        self.views.read().get(name).cloned()
    }

    /// Stored names of every view, sorted.
    pub fn view_names(&self) -> Vec<String> {
        self.views.read().keys().cloned().collect()
    }

    /// Creates an index over a SQL table's existing rows.
    pub fn create_index(&self, table: &str, spec: IndexSpec) -> StoreResult<()> {
        let _ddl = self.catalog_change();
        let store = self.table_to_change(table, "its indexes are fixed")?;
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
        let _ddl = self.catalog_change();
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
        let mut schema = TableSchema::clone(&store.definition().schema);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn v1_job(id: &str, status: &str) -> JobV1 {
        JobV1 {
            job_id: id.into(),
            job_type: "export".into(),
            status: status.into(),
            namespace: "public".into(),
            table_name: "accounts".into(),
            created_at: 1_000,
            started_at: None,
            finished_at: None,
            idempotency_key: Some(format!("key-{id}")),
            parameters: "{}".into(),
            message: None,
        }
    }

    /// A database written by Quiver 0.1 (jobs in the first layout, no format marker)
    /// opens with its jobs upgraded and indexed.
    #[test]
    fn a_first_format_jobs_table_is_upgraded_on_open() {
        let backend: Arc<dyn StorageBackend> = Arc::new(MemoryBackend::new());
        backend.create_partition("t/jobs").unwrap();
        let mut batch = WriteBatch::new();
        for (id, status) in [("j1", "queued"), ("j2", "done")] {
            let pk = crate::codec::encode_key(
                &[Value::Text(id.into())],
                &[crate::codec::SortOrder::Asc],
            );
            batch.put(
                "t/jobs",
                pk,
                crate::payload::encode_entity_record(&v1_job(id, status), None),
            );
        }
        backend.write(batch).unwrap();

        let db = Database::on(backend.clone()).unwrap();
        let j1 = db.jobs().get(&"j1".to_string()).unwrap().unwrap();
        assert_eq!(
            (j1.queue.as_str(), j1.status.as_str()),
            ("default", "queued")
        );
        let j2 = db.jobs().get(&"j2".to_string()).unwrap().unwrap();
        assert_eq!(j2.status, "succeeded");
        assert!(db.jobs().verify().unwrap().is_ok());
        assert_eq!(
            db.job_queue().by_idempotency_key("key-j1").unwrap(),
            Some(j1)
        );
        drop(db);
        // Opened again: already upgraded, nothing rewritten.
        let db = Database::on(backend.clone()).unwrap();
        assert!(db.jobs().verify().unwrap().is_ok());
        drop(db);

        backend
            .write({
                let mut b = WriteBatch::new();
                b.put(
                    CATALOG,
                    JOBS_FORMAT_KEY.to_vec(),
                    99u32.to_le_bytes().to_vec(),
                );
                b
            })
            .unwrap();
        let err = Database::on(backend)
            .err()
            .expect("a newer format is refused");
        assert!(
            matches!(err, StoreError::UnsupportedFormat { found: 99, .. }),
            "{err}"
        );
    }

    fn rows_via_scan(t: &RowStore) -> Vec<Row> {
        let mut rows = Vec::new();
        let reader = t.reader();
        reader
            .visit_rows(&crate::AccessPath::primary(), &mut |row| {
                rows.push(
                    (0..2)
                        .map(|c| row.get(c).and_then(|v| v.to_value()))
                        .collect::<Result<Row, _>>()
                        .unwrap(),
                );
                Ok(true)
            })
            .unwrap();
        rows
    }

    /// A database written by Quiver 0.1 (SQL rows as bincode entities, no record-format
    /// marker) reads its rows as they are, beside rows written now in the row layout; the
    /// marker is raised on open, and a marker or record from a newer Quiver is refused.
    #[test]
    fn first_format_rows_read_beside_row_layout_rows() {
        use crate::schema::{ColumnDef, IndexSpec};
        use crate::value::ColumnType;
        let backend: Arc<dyn StorageBackend> = Arc::new(MemoryBackend::new());
        let db = Database::on(backend.clone()).unwrap();
        let t = db
            .create_table(TableSchema {
                version: 0,
                loader: None,
                name: "t".into(),
                columns: vec![
                    ColumnDef::new("id", ColumnType::Int64).not_null(),
                    ColumnDef::new("name", ColumnType::Text),
                ],
                primary_key: vec!["id".into()],
                indexes: vec![IndexSpec::new("by_name", &["name"])],
                ttl: None,
            })
            .unwrap();
        let new_row = vec![Value::Int(1), Value::Text("new".into())];
        let old_row = vec![Value::Int(2), Value::Text("old".into())];
        t.insert(new_row.clone()).unwrap();
        t.insert(old_row.clone()).unwrap();
        let def = t.definition();
        let parts = def.partitions();
        let old_pk = RowStore::pk_bytes(&def, &vec![Value::Int(2)]);
        let mut batch = WriteBatch::new();
        batch.put(
            &parts.records,
            old_pk.clone(),
            crate::payload::encode_entity_record(&old_row, None),
        );
        batch.delete(CATALOG, RECORD_FORMAT_KEY.to_vec());
        backend.write(batch).unwrap();
        drop((t, db));

        let db = Database::on(backend.clone()).unwrap();
        assert_eq!(
            backend.get(CATALOG, RECORD_FORMAT_KEY).unwrap(),
            Some(RECORD_FORMAT.to_le_bytes().to_vec())
        );
        let t = db.row_table("t").unwrap();
        assert_eq!(rows_via_scan(&t), vec![new_row.clone(), old_row.clone()]);
        assert_eq!(t.get(&vec![Value::Int(2)]).unwrap(), Some(old_row.clone()));
        assert!(t.verify().unwrap().is_ok());
        // Rewritten, the old row moves to the row layout.
        t.upsert(old_row.clone()).unwrap();
        let raw = backend.get(&parts.records, &old_pk).unwrap().unwrap();
        assert_eq!(raw[0] >> 4, crate::record::ROW_LAYOUT);
        assert_eq!(rows_via_scan(&t), vec![new_row, old_row]);

        // A record in a layout from the future is named, not misread.
        let mut batch = WriteBatch::new();
        batch.put(&parts.records, old_pk, vec![0x20, 0, 0, 0, 0]);
        backend.write(batch).unwrap();
        let err = t.get(&vec![Value::Int(2)]).unwrap_err();
        assert!(
            matches!(err, StoreError::UnsupportedFormat { found: 3, .. }),
            "{err}"
        );
        drop((t, db));

        let mut batch = WriteBatch::new();
        batch.put(
            CATALOG,
            RECORD_FORMAT_KEY.to_vec(),
            (RECORD_FORMAT + 1).to_le_bytes().to_vec(),
        );
        backend.write(batch).unwrap();
        let err = Database::on(backend)
            .err()
            .expect("a newer format is refused");
        assert!(
            matches!(err, StoreError::UnsupportedFormat { found, .. } if found == RECORD_FORMAT + 1),
            "{err}"
        );
    }
}
