//! Catalog changes: creating and dropping tables, views and indexes. Each holds the DDL lock
//! and moves the catalog version on when it ends ([`Database::catalog_change`]).

use std::sync::Arc;

use kv_store::WriteBatch;

use super::handle::{Database, RowStore};
use crate::error::{StoreError, StoreResult};
use crate::schema::{
    cycle_through, dependents, encode_table, row_table, CatalogKey, IndexDefinition, IndexSpec,
    TableSchema, ViewDefinition, CATALOG,
};

impl Database {
    fn save_schema(&self, schema: &TableSchema) -> StoreResult<()> {
        let mut batch = WriteBatch::new();
        batch.put(
            CATALOG,
            CatalogKey::Table(&schema.name).encode(),
            encode_table(schema),
        );
        Ok(self.backend.write(batch)?)
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
        batch.delete(CATALOG, CatalogKey::Table(name).encode());
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
            batch.delete(CATALOG, CatalogKey::View(v).encode());
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
        batch.put(
            CATALOG,
            CatalogKey::View(&view.name).encode(),
            view.encode(),
        );
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
        batch.delete(CATALOG, CatalogKey::View(name).encode());
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
}
