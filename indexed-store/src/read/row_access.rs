//! Object-safe access to any table as rows, whatever its entity type: how the SQL layer
//! reads and writes typed system tables and SQL-created tables alike.

use std::sync::Arc;

use kv_store::{Direction, KeyRange, ReadView};

use super::reader::StoreReader;
use crate::access::AccessPath;
use crate::encoding::{describe, EntryPayload, RowRef, Value};
use crate::error::{StoreError, StoreResult};
use crate::schema::{Entity, EntityKey, LoaderSpec, Row, TableDefinition, TableSchema};
use crate::table::{IndexedEntityStore, Mutation, Staging, VerifyReport, WriteOutcome};

/// Rows from one snapshot.
pub trait RowReader {
    /// Calls `visit` with each live row a path selects, in path order, up to its limit,
    /// until it returns false. See [`StoreReader::visit_rows`].
    fn visit_rows(
        &self,
        path: &AccessPath,
        visit: &mut dyn FnMut(RowRef<'_>) -> StoreResult<bool>,
    ) -> StoreResult<()>;
    /// Calls `visit` with each live entry a path selects (key, encoded primary key,
    /// payload), borrowed, until it returns false. See [`StoreReader::visit_entries`].
    fn visit_entries(
        &self,
        path: &AccessPath,
        visit: &mut dyn FnMut(&[u8], &[u8], &EntryPayload) -> StoreResult<bool>,
    ) -> StoreResult<()>;
    /// The entries of [`RowReader::visit_entries`] whose keys lie in `within`: one piece of
    /// a walk split by [`RowReader::split_points_of`].
    fn visit_entries_within(
        &self,
        path: &AccessPath,
        within: &KeyRange,
        visit: &mut dyn FnMut(&[u8], &[u8], &EntryPayload) -> StoreResult<bool>,
    ) -> StoreResult<()>;
    /// Entry keys that split a path's walk into `parts` pieces of about equal size on
    /// disk; none for a walk under `min_bytes`. See [`StoreReader::split_points_of`].
    fn split_points_of(
        &self,
        path: &AccessPath,
        parts: usize,
        min_bytes: u64,
    ) -> StoreResult<Vec<Vec<u8>>>;
    /// Rows with these encoded primary keys (None when absent or expired).
    fn rows_by_pk(&self, pks: &[Vec<u8>]) -> StoreResult<Vec<Option<Row>>>;
    /// Calls `visit` with each live row whose encoded primary key lies in `range`, in key
    /// order, until it returns false.
    fn visit_range(
        &self,
        range: &KeyRange,
        visit: &mut dyn FnMut(RowRef<'_>) -> StoreResult<bool>,
    ) -> StoreResult<()>;
    /// Count of live entries a path selects.
    fn count(&self, path: &AccessPath) -> StoreResult<u64>;
    /// Distinct values of the first `columns` key columns among the entries a path
    /// selects (skip scan).
    fn distinct(&self, path: &AccessPath, columns: usize) -> StoreResult<Vec<Vec<Value>>>;
    /// Distinct values of the first `columns` key columns with their entry counts.
    fn facets(&self, path: &AccessPath, columns: usize) -> StoreResult<Vec<(Vec<Value>, u64)>>;
    /// The instant rows are judged expired against.
    fn now(&self) -> i64;
}

/// A table seen as rows.
pub trait RowAccess: Send + Sync {
    /// Columns, key, indexes, TTL.
    fn schema(&self) -> Arc<TableSchema>;
    /// The table's loader, if it has one (without copying the rest of the schema).
    fn loader(&self) -> Option<LoaderSpec> {
        self.schema().loader.clone()
    }
    /// Runs `f` with a reader over a fresh snapshot.
    fn read(&self, f: &mut dyn FnMut(&dyn RowReader) -> StoreResult<()>) -> StoreResult<()>;
    /// A reader over a fresh snapshot that threads can share: every one of them sees the
    /// same point in time.
    fn shared_reader(&self) -> Arc<dyn RowReader + Send + Sync>;
    /// A reader over `view` (a statement's snapshot, or a transaction's view) that threads
    /// can share.
    fn shared_reader_on(&self, view: Arc<dyn ReadView>) -> Arc<dyn RowReader + Send + Sync>;
    /// A snapshot of the database the table lives in, taken now: what every table of one
    /// statement reads (all tables share one backend).
    fn snapshot(&self) -> Arc<dyn ReadView>;
    /// Applies row mutations atomically (deletes by primary-key values).
    fn apply_rows(&self, mutations: Vec<Mutation<Vec<Value>, Row>>) -> StoreResult<WriteOutcome>;
    /// [`apply_rows`](Self::apply_rows) inside a transaction: staged, not written (see
    /// [`IndexedEntityStore::apply_staged`]).
    fn apply_rows_staged(
        &self,
        tx: &dyn Staging,
        mutations: Vec<Mutation<Vec<Value>, Row>>,
    ) -> StoreResult<WriteOutcome>;
    /// A read-modify-write of the rows with these primary-key values, as one atomic batch:
    /// `decide` sees each row's current version (None when gone) under its key's lock and
    /// returns what to write. See [`IndexedEntityStore::apply_decided`].
    fn apply_decided_rows(
        &self,
        keys: &[Vec<Value>],
        decide: &mut dyn FnMut(
            &[Value],
            Option<&Row>,
        ) -> StoreResult<Vec<Mutation<Vec<Value>, Row>>>,
    ) -> StoreResult<WriteOutcome>;
    /// [`apply_decided_rows`](Self::apply_decided_rows) inside a transaction (see
    /// [`IndexedEntityStore::apply_decided_staged`]).
    fn apply_decided_rows_staged(
        &self,
        tx: &dyn Staging,
        keys: &[Vec<Value>],
        decide: &mut dyn FnMut(
            &[Value],
            Option<&Row>,
        ) -> StoreResult<Vec<Mutation<Vec<Value>, Row>>>,
    ) -> StoreResult<WriteOutcome>;
    /// Inserts many new rows through the bulk path ([`IndexedEntityStore::load_results`]):
    /// batches of `batch_rows`, all undone when any row or the source fails.
    fn load_rows(
        &self,
        rows: &mut (dyn Iterator<Item = StoreResult<Row>> + Send),
        batch_rows: usize,
    ) -> StoreResult<u64>;
    /// The integrity check.
    fn verify(&self) -> StoreResult<VerifyReport>;
    /// Deletes expired rows.
    fn purge_expired(&self) -> StoreResult<u64>;
}

impl<K: EntityKey, V: Entity> RowReader for StoreReader<'_, K, V> {
    fn visit_rows(
        &self,
        path: &AccessPath,
        visit: &mut dyn FnMut(RowRef<'_>) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        StoreReader::visit_rows(self, path, visit)
    }

    fn visit_entries(
        &self,
        path: &AccessPath,
        visit: &mut dyn FnMut(&[u8], &[u8], &EntryPayload) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        StoreReader::visit_entries(self, path, visit)
    }

    fn visit_entries_within(
        &self,
        path: &AccessPath,
        within: &KeyRange,
        visit: &mut dyn FnMut(&[u8], &[u8], &EntryPayload) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        StoreReader::visit_entries_within(self, path, within, visit)
    }

    fn split_points_of(
        &self,
        path: &AccessPath,
        parts: usize,
        min_bytes: u64,
    ) -> StoreResult<Vec<Vec<u8>>> {
        StoreReader::split_points_of(self, path, parts, min_bytes)
    }

    fn rows_by_pk(&self, pks: &[Vec<u8>]) -> StoreResult<Vec<Option<Row>>> {
        let def = self.definition().clone();
        Ok(self
            .get_many(pks)?
            .into_iter()
            .map(|v| v.map(|v| def.to_row(&v)))
            .collect())
    }

    fn visit_range(
        &self,
        range: &KeyRange,
        visit: &mut dyn FnMut(RowRef<'_>) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        StoreReader::visit_range(self, range, Direction::Forward, visit)
    }

    fn count(&self, path: &AccessPath) -> StoreResult<u64> {
        StoreReader::count(self, path)
    }

    fn distinct(&self, path: &AccessPath, columns: usize) -> StoreResult<Vec<Vec<Value>>> {
        StoreReader::distinct(self, path, columns)
    }

    fn facets(&self, path: &AccessPath, columns: usize) -> StoreResult<Vec<(Vec<Value>, u64)>> {
        StoreReader::facets(self, path, columns)
    }

    fn now(&self) -> i64 {
        StoreReader::now(self)
    }
}

impl<K: EntityKey, V: Entity> RowAccess for IndexedEntityStore<K, V> {
    fn schema(&self) -> Arc<TableSchema> {
        self.definition().schema.clone()
    }

    fn loader(&self) -> Option<LoaderSpec> {
        self.definition().schema.loader.clone()
    }

    fn read(&self, f: &mut dyn FnMut(&dyn RowReader) -> StoreResult<()>) -> StoreResult<()> {
        let reader = self.reader();
        f(&reader)
    }

    fn shared_reader(&self) -> Arc<dyn RowReader + Send + Sync> {
        Arc::new(self.reader())
    }

    fn shared_reader_on(&self, view: Arc<dyn ReadView>) -> Arc<dyn RowReader + Send + Sync> {
        Arc::new(self.reader_on(view))
    }

    fn snapshot(&self) -> Arc<dyn ReadView> {
        Arc::from(self.backend.snapshot())
    }

    fn apply_rows(&self, mutations: Vec<Mutation<Vec<Value>, Row>>) -> StoreResult<WriteOutcome> {
        let def = self.definition();
        let converted = mutations
            .into_iter()
            .map(|m| typed_mutation(&def, m))
            .collect::<StoreResult<Vec<_>>>()?;
        self.apply(converted)
    }

    fn apply_rows_staged(
        &self,
        tx: &dyn Staging,
        mutations: Vec<Mutation<Vec<Value>, Row>>,
    ) -> StoreResult<WriteOutcome> {
        let def = self.definition();
        let converted = mutations
            .into_iter()
            .map(|m| typed_mutation(&def, m))
            .collect::<StoreResult<Vec<_>>>()?;
        self.apply_staged(tx, converted)
    }

    fn apply_decided_rows_staged(
        &self,
        tx: &dyn Staging,
        keys: &[Vec<Value>],
        decide: &mut dyn FnMut(
            &[Value],
            Option<&Row>,
        ) -> StoreResult<Vec<Mutation<Vec<Value>, Row>>>,
    ) -> StoreResult<WriteOutcome> {
        let def = self.definition();
        let typed: Vec<K> = keys
            .iter()
            .map(|k| typed_key(&def, k.clone()))
            .collect::<StoreResult<_>>()?;
        self.apply_decided_staged(tx, &typed, false, |key, current| {
            let row = current.map(|v| def.to_row(v));
            decide(&key.to_values(), row.as_ref())?
                .into_iter()
                .map(|m| typed_mutation(&def, m))
                .collect()
        })
    }

    fn apply_decided_rows(
        &self,
        keys: &[Vec<Value>],
        decide: &mut dyn FnMut(
            &[Value],
            Option<&Row>,
        ) -> StoreResult<Vec<Mutation<Vec<Value>, Row>>>,
    ) -> StoreResult<WriteOutcome> {
        let def = self.definition();
        let typed: Vec<K> = keys
            .iter()
            .map(|k| typed_key(&def, k.clone()))
            .collect::<StoreResult<_>>()?;
        self.apply_decided(&typed, |key, current| {
            let row = current.map(|v| def.to_row(v));
            decide(&key.to_values(), row.as_ref())?
                .into_iter()
                .map(|m| typed_mutation(&def, m))
                .collect()
        })
    }

    fn load_rows(
        &self,
        rows: &mut (dyn Iterator<Item = StoreResult<Row>> + Send),
        batch_rows: usize,
    ) -> StoreResult<u64> {
        let def = self.definition();
        self.load_results(rows.map(|row| def.from_row(row?)), batch_rows)
    }

    fn verify(&self) -> StoreResult<VerifyReport> {
        IndexedEntityStore::verify(self)
    }

    fn purge_expired(&self) -> StoreResult<u64> {
        IndexedEntityStore::purge_expired(self)
    }
}

/// A primary key given as values, as the table's key type.
fn typed_key<K: EntityKey, V: Entity>(
    def: &TableDefinition<K, V>,
    values: Vec<Value>,
) -> StoreResult<K> {
    let described = describe(&values);
    K::from_values(values).ok_or_else(|| StoreError::TypeMismatch {
        table: def.schema.name.clone(),
        column: def.schema.primary_key.join(", "),
        expected: "the primary-key type".into(),
        got: described,
    })
}

/// A row mutation as one of the table's entity type.
fn typed_mutation<K: EntityKey, V: Entity>(
    def: &TableDefinition<K, V>,
    m: Mutation<Vec<Value>, Row>,
) -> StoreResult<Mutation<K, V>> {
    Ok(match m {
        Mutation::Insert(r) => Mutation::Insert(def.from_row(r)?),
        Mutation::Upsert(r) => Mutation::Upsert(def.from_row(r)?),
        Mutation::Update(r) => Mutation::Update(def.from_row(r)?),
        Mutation::Delete(k) => Mutation::Delete(typed_key(def, k)?),
    })
}
