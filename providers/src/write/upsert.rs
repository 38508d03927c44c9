//! `INSERT ... ON CONFLICT`: each proposed row either goes in, or meets the row it conflicts
//! with, which it leaves alone (`DO NOTHING`) or updates (`DO UPDATE SET ... WHERE ...`).
//!
//! The decision is taken under the existing row's key lock, on its current version, in one
//! atomic batch for the whole statement: a concurrent writer of the same key is seen, never
//! overwritten, and the statement writes all its rows or none. This is PostgreSQL's
//! guarantee: each proposed row is inserted or updates its conflicting row, never both, and
//! no update is lost. Two proposed rows with the same key in one statement are refused by
//! `DO UPDATE` (PostgreSQL's "cannot affect row a second time"); `DO NOTHING` keeps the first.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_expr::PhysicalExpr;
use indexed_store::{
    AccessPath, IndexSpec, Mutation, Row, RowReader, StoreError, StoreResult, TableSchema, Value,
};

use super::rows::{key_bytes, update_mutations, values_at, RowCheck, Writer};
use crate::convert::{rows_to_batch, table_rows};
use crate::error::store_err;
use crate::error::SqlError;

/// Which key a proposed row conflicts on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub(crate) enum ConflictTarget {
    /// The primary key.
    PrimaryKey,
    /// A unique index: its name and the positions of its columns.
    Unique {
        /// The index.
        index: String,
        /// Its key columns, as table column positions.
        columns: Vec<usize>,
    },
    /// Any key, the primary key or a unique index (no target named: `DO NOTHING` only).
    Any,
}

impl ConflictTarget {
    /// A unique index of `schema` as the target.
    pub(crate) fn unique(schema: &TableSchema, index: &IndexSpec) -> Self {
        ConflictTarget::Unique {
            index: index.name.clone(),
            columns: index
                .columns
                .iter()
                .filter_map(|c| schema.column_index(&c.name))
                .collect(),
        }
    }
}

/// `DO UPDATE SET ... WHERE ...`, compiled over the existing row's columns followed by the
/// proposed row's (`excluded.*`).
pub(crate) struct ConflictUpdate {
    /// Column position and its new value.
    pub assignments: Vec<(usize, Arc<dyn PhysicalExpr>)>,
    /// Rows failing it are left alone.
    pub selection: Option<Arc<dyn PhysicalExpr>>,
    /// The batch the expressions read: existing columns, then `excluded` columns.
    pub joined: SchemaRef,
}

/// An ON CONFLICT clause, ready to run.
pub(crate) struct Conflict {
    /// The key conflicts are judged on.
    pub target: ConflictTarget,
    /// None for DO NOTHING.
    pub update: Option<ConflictUpdate>,
    /// The clause as EXPLAIN shows it.
    pub text: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The primary key of the live row holding `values` in a unique index, if any.
fn holder(
    reader: &dyn RowReader,
    index: &str,
    values: Vec<Value>,
    pk: &[usize],
) -> StoreResult<Option<Vec<Value>>> {
    let mut found = None;
    let path = AccessPath::index(index).eq(values).limit(1);
    reader.visit_rows(&path, &mut |row| {
        let key = row.values_at(pk).map_err(|e| StoreError::Corrupt {
            partition: index.to_owned(),
            reason: e.to_string(),
        })?;
        found = Some(key);
        Ok(false)
    })?;
    Ok(found)
}

/// Where each proposed row lands: the key whose lock its decision is taken under (the row it
/// conflicts with when a unique index is the target), and whether it meets a unique index
/// entry of another row (only looked for when any key is the target).
fn landing(
    writer: &Writer,
    target: &ConflictTarget,
    rows: &[Row],
) -> Result<(Vec<Vec<Value>>, Vec<bool>)> {
    let schema = writer.access.schema();
    let pk = schema.primary_key_indices();
    let mut keys: Vec<Vec<Value>> = rows.iter().map(|r| values_at(r, &pk)).collect();
    let mut taken = vec![false; rows.len()];
    let unique: Vec<ConflictTarget> = match target {
        ConflictTarget::PrimaryKey => return Ok((keys, taken)),
        ConflictTarget::Unique { .. } => vec![target.clone()],
        ConflictTarget::Any => schema
            .indexes
            .iter()
            .filter(|i| i.unique && !i.partial)
            .map(|i| ConflictTarget::unique(&schema, i))
            .collect(),
    };
    writer
        .read(&mut |reader| {
            for (i, row) in rows.iter().enumerate() {
                for u in &unique {
                    let ConflictTarget::Unique { index, columns } = u else {
                        continue;
                    };
                    let values = values_at(row, columns);
                    if values.iter().any(Value::is_null) {
                        continue;
                    }
                    let Some(existing) = holder(reader, index, values, &pk)? else {
                        continue;
                    };
                    if matches!(target, ConflictTarget::Unique { .. }) {
                        keys[i] = existing;
                    } else if existing != keys[i] {
                        taken[i] = true;
                    }
                }
            }
            Ok(())
        })
        .map_err(store_err)?;
    Ok((keys, taken))
}

/// Runs INSERT ... ON CONFLICT for `rows` (in the store's form, see `table_rows`; blocking:
/// call it off the async runtime) and returns the rows written, as inserted or as updated.
pub(crate) fn insert_on_conflict(
    writer: &Writer,
    conflict: &Conflict,
    rows: Vec<Row>,
    check: Option<&RowCheck>,
) -> Result<Vec<Row>> {
    let schema = writer.access.schema();
    let pk = schema.primary_key_indices();
    let target_columns = match &conflict.target {
        ConflictTarget::Unique { columns, .. } => columns.clone(),
        _ => pk.clone(),
    };
    // A later row of the statement with the key of an earlier one conflicts with it.
    let mut seen = HashSet::new();
    let mut proposed = Vec::with_capacity(rows.len());
    for row in rows {
        let target = values_at(&row, &target_columns);
        if !target.iter().any(Value::is_null) && !seen.insert(key_bytes(&target)) {
            if conflict.update.is_some() {
                return Err(twice(&schema, &target));
            }
            continue;
        }
        proposed.push(row);
    }
    let (keys, taken) = landing(writer, &conflict.target, &proposed)?;
    let mut position = HashMap::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        if position.insert(key_bytes(key), i).is_some() {
            return Err(twice(&schema, key));
        }
    }
    let mut written: Vec<Option<Row>> = vec![None; proposed.len()];
    writer.apply_decided(&keys, |key, current| {
        let i = position[&key_bytes(key)];
        written[i] = None;
        let row = &proposed[i];
        let existing = match (current, &conflict.target) {
            // The row that held the unique values has changed them since they were looked
            // up: no conflict left with it.
            (Some(c), ConflictTarget::Unique { columns, .. })
                if values_at(c, columns) != values_at(row, columns) =>
            {
                None
            }
            (c, _) => c,
        };
        let Some(existing) = existing else {
            if taken[i] {
                return Ok(Vec::new());
            }
            if let Some(check) = check {
                check(row)?;
            }
            written[i] = Some(row.clone());
            return Ok(vec![Mutation::Insert(row.clone())]);
        };
        let Some(update) = &conflict.update else {
            return Ok(Vec::new());
        };
        let Some(new) = updated(&schema, update, existing, row)? else {
            return Ok(Vec::new());
        };
        if let Some(check) = check {
            check(&new)?;
        }
        written[i] = Some(new.clone());
        Ok(update_mutations(&schema, existing, new))
    })?;
    Ok(written.into_iter().flatten().collect())
}

fn twice(schema: &TableSchema, key: &[Value]) -> DataFusionError {
    SqlError::ConflictTwice {
        table: schema.name.clone(),
        key: indexed_store::describe(key),
    }
    .into()
}

/// The existing row with DO UPDATE applied, or None when its WHERE leaves the row alone.
fn updated(
    schema: &TableSchema,
    update: &ConflictUpdate,
    existing: &Row,
    proposed: &Row,
) -> Result<Option<Row>> {
    let types = schema.column_types();
    // The existing row's half of the joined schema: the table as the clause was compiled.
    let table = Arc::new(
        update
            .joined
            .project(&(0..types.len()).collect::<Vec<_>>())?,
    );
    let old = rows_to_batch(&table, &types, std::slice::from_ref(existing))?;
    let new = rows_to_batch(&table, &types, std::slice::from_ref(proposed))?;
    let mut columns = old.columns().to_vec();
    columns.extend(new.columns().iter().cloned());
    let joined = RecordBatch::try_new(update.joined.clone(), columns)?;
    if let Some(selection) = &update.selection {
        let value = selection.evaluate(&joined)?.into_array(1)?;
        let Some(b) = value.as_any().downcast_ref::<BooleanArray>() else {
            return Err(DataFusionError::Internal(
                "ON CONFLICT ... WHERE is not boolean".into(),
            ));
        };
        if b.is_null(0) || !b.value(0) {
            return Ok(None);
        }
    }
    let mut assigned = old.columns().to_vec();
    for (i, e) in &update.assignments {
        let array = e.evaluate(&joined)?.into_array(1)?;
        assigned[*i] = datafusion::arrow::compute::cast(&array, table.field(*i).data_type())?;
    }
    let batch = RecordBatch::try_new(table, assigned)?;
    Ok(table_rows(&batch, &types)?.pop())
}
