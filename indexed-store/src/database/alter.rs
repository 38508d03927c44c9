//! ALTER TABLE on SQL tables: add, rename and drop columns, rename the table.
//!
//! - Adding a column rewrites nothing: it goes after the last column, and a record written
//!   before it ends early and reads the column's `missing` value (the DEFAULT it was added
//!   with, as evaluated then; NULL without one). Indexes are untouched.
//! - Renaming a column changes only the catalog: records and index entries are positional.
//! - Dropping a column rewrites every record without it, together with the catalog entry,
//!   in one atomic write batch (so it needs memory for the table's records; a crash leaves
//!   the old table or the new one).
//! - Renaming the table copies its partitions (records, index entries, expiry index) to
//!   partitions of the new name and moves the catalog entry in one atomic batch; the old
//!   partitions are dropped after, or at the next open if a crash came first.
//!
//! Writers of the table are held off (its gate) while it changes. Views read tables by
//! column and table name, so a rename or drop is refused while a view reads the table.

use std::sync::Arc;

use kv_store::{Direction, KeyRange, WriteBatch};

use super::handle::{Database, RowStore};
use crate::encoding::Value;
use crate::error::{StoreError, StoreResult};
use crate::schema::{
    decode_record, encode_record, encode_table, row_table, CatalogKey, ColumnDef, Row,
    TableDefinition, TableSchema, CATALOG,
};

/// One change ALTER TABLE makes.
#[derive(Debug, Clone, PartialEq)]
pub enum TableChange {
    /// A new last column (its `missing` value is what existing rows read).
    AddColumn(ColumnDef),
    /// A column's new name.
    RenameColumn {
        /// The current name.
        from: String,
        /// The new name.
        to: String,
    },
    /// A column removed with its values.
    DropColumn(String),
    /// The table's new stored name (`ns.table` outside the default namespace).
    Rename(String),
}

impl Database {
    /// Changes a SQL table's definition (see the module doc for what each change costs).
    pub fn alter_table(&self, table: &str, change: TableChange) -> StoreResult<()> {
        let _ddl = self.catalog_change();
        let store = self.table_to_change(table, "system tables cannot be altered")?;
        let old = TableSchema::clone(&store.definition().schema);
        let refuse_if_viewed = |change: String| {
            let views = self.views_using(table);
            if views.is_empty() {
                Ok(())
            } else {
                Err(StoreError::AlterInUse {
                    table: table.to_owned(),
                    change,
                    views,
                })
            }
        };
        let mut new = old.clone();
        new.version += 1;
        match change {
            TableChange::AddColumn(column) => {
                add_column(&mut new, column)?;
                self.redefine(&store, new)
            }
            TableChange::RenameColumn { from, to } => {
                refuse_if_viewed(format!("rename column '{from}'"))?;
                rename_column(&mut new, &from, &to)?;
                self.redefine(&store, new)
            }
            TableChange::DropColumn(column) => {
                refuse_if_viewed(format!("drop column '{column}'"))?;
                let position = droppable(&old, &column)?;
                new.columns.remove(position);
                self.drop_column(&store, new, position)
            }
            TableChange::Rename(to) => {
                refuse_if_viewed(format!("rename it to '{to}'"))?;
                self.name_is_free(&to)?;
                new.name = to;
                self.rename_table(&store, new)
            }
        }
    }

    /// Saves a schema whose records need no rewrite and puts it in force.
    fn redefine(&self, store: &RowStore, schema: TableSchema) -> StoreResult<()> {
        let def = row_table(schema)?;
        store.while_writers_wait(|_| self.commit(store, WriteBatch::new(), def))
    }

    /// Writes `batch` with the table's new catalog entry, then puts `def` in force (with
    /// the table's writers held off).
    fn commit(
        &self,
        store: &RowStore,
        mut batch: WriteBatch,
        def: TableDefinition<Vec<Value>, Row>,
    ) -> StoreResult<()> {
        batch.put(
            CATALOG,
            CatalogKey::Table(&def.schema.name).encode(),
            encode_table(&def.schema),
        );
        self.backend().write(batch)?;
        store.set_definition(def);
        Ok(())
    }

    fn drop_column(
        &self,
        store: &RowStore,
        schema: TableSchema,
        position: usize,
    ) -> StoreResult<()> {
        let def = row_table(schema)?;
        store.while_writers_wait(|old| {
            let parts = old.partitions();
            let mut batch = WriteBatch::new();
            for item in self
                .backend()
                .scan(&parts.records, &KeyRange::all(), Direction::Forward)?
            {
                let (pk, raw) = item?;
                let (mut row, expiry) = decode_record(old, &raw, &parts.records)?;
                if position < row.len() {
                    row.remove(position);
                }
                batch.put(&parts.records, pk, encode_record(&def, &row, expiry));
            }
            self.commit(store, batch, def)
        })
    }

    fn rename_table(&self, store: &RowStore, schema: TableSchema) -> StoreResult<()> {
        let def = row_table(schema)?;
        // Its partitions are created empty here; a crash before the copy below leaves them
        // as orphans, dropped at the next open.
        let renamed = Arc::new(RowStore::open(self.backend().clone(), def.clone())?);
        let old_name = store.while_writers_wait(|old| {
            let from = old.partitions();
            let to = def.partitions();
            let mut batch = WriteBatch::new();
            for (source, target) in from.all().zip(to.all()) {
                for item in self
                    .backend()
                    .scan(source, &KeyRange::all(), Direction::Forward)?
                {
                    let (k, v) = item?;
                    batch.put(target, k, v);
                }
            }
            batch.delete(CATALOG, CatalogKey::Table(&old.schema.name).encode());
            batch.put(
                CATALOG,
                CatalogKey::Table(&def.schema.name).encode(),
                encode_table(&def.schema),
            );
            self.backend().write(batch)?;
            Ok(old.schema.name.clone())
        })?;
        self.move_table(&old_name, renamed)
    }
}

fn add_column(schema: &mut TableSchema, mut column: ColumnDef) -> StoreResult<()> {
    if schema.column_index(&column.name).is_some() {
        return Err(StoreError::ColumnExists {
            table: schema.name.clone(),
            column: column.name,
        });
    }
    if let Some(missing) = column.missing.take() {
        let got = missing.kind();
        let value = missing
            .coerce_to(&column.ty)
            .ok_or_else(|| StoreError::TypeMismatch {
                table: schema.name.clone(),
                column: column.name.clone(),
                expected: column.ty.to_string(),
                got: got.to_owned(),
            })?;
        column.missing = (!value.is_null()).then_some(value);
    }
    if !column.nullable && column.missing.is_none() {
        return Err(StoreError::InvalidDefinition {
            name: schema.name.clone(),
            reason: format!(
                "the existing rows would hold NULL in NOT NULL column '{}': add it with a DEFAULT",
                column.name
            ),
        });
    }
    schema.columns.push(column);
    schema.validate()
}

fn rename_column(schema: &mut TableSchema, from: &str, to: &str) -> StoreResult<()> {
    let i = schema.require_column(from)?;
    if schema.column_index(to).is_some() {
        return Err(StoreError::ColumnExists {
            table: schema.name.clone(),
            column: to.to_owned(),
        });
    }
    let rename = |name: &mut String| {
        if name == from {
            *name = to.to_owned();
        }
    };
    schema.columns[i].name = to.to_owned();
    schema.primary_key.iter_mut().for_each(rename);
    for index in &mut schema.indexes {
        index.columns.iter_mut().for_each(|c| rename(&mut c.name));
        index.include.iter_mut().for_each(rename);
    }
    if let Some(column) = schema.ttl.as_mut().and_then(|t| t.column.as_mut()) {
        rename(column);
    }
    if let Some(column) = schema.loader.as_mut().and_then(|l| l.key_column.as_mut()) {
        rename(column);
    }
    schema.validate()
}

/// The position of a column that may be dropped, or what keeps it.
fn droppable(schema: &TableSchema, column: &str) -> StoreResult<usize> {
    let position = schema.require_column(column)?;
    let in_use = |used_by: String| StoreError::ColumnInUse {
        table: schema.name.clone(),
        column: column.to_owned(),
        used_by,
    };
    if schema.primary_key.iter().any(|k| k == column) {
        return Err(in_use("the primary key".into()));
    }
    if schema.ttl.as_ref().and_then(|t| t.column.as_deref()) == Some(column) {
        return Err(in_use("the TTL".into()));
    }
    if schema.loader.as_ref().and_then(|l| l.key_column.as_deref()) == Some(column) {
        return Err(in_use("the loader's key".into()));
    }
    if let Some(index) = schema.indexes.iter().find(|i| {
        i.columns.iter().any(|c| c.name == column) || i.include.iter().any(|c| c == column)
    }) {
        return Err(in_use(format!(
            "index '{}' (drop the index first)",
            index.name
        )));
    }
    if schema.columns.len() == 1 {
        return Err(StoreError::InvalidDefinition {
            name: schema.name.clone(),
            reason: format!("'{column}' is its only column: drop the table instead"),
        });
    }
    Ok(position)
}
