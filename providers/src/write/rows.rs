//! What every write shares: the check rows must pass, a row's key, and the store's
//! read-modify-write with a decision that may fail with a DataFusion error.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use indexed_store::{
    encoding::encode_key, Mutation, Row, RowAccess, SortOrder, StoreError, TableSchema, Value,
};

use crate::error::store_err;

/// A check every row a write would store must pass (the `lists` table's checks its lists
/// can run); its error refuses the whole statement.
pub(crate) type RowCheck = Arc<dyn Fn(&Row) -> Result<()> + Send + Sync>;

/// The primary key of a row.
pub(crate) fn primary_key(schema: &TableSchema, row: &Row) -> Vec<Value> {
    values_at(row, &schema.primary_key_indices())
}

/// The values of some columns of a row.
pub(crate) fn values_at(row: &Row, columns: &[usize]) -> Vec<Value> {
    columns.iter().map(|&i| row[i].clone()).collect()
}

/// A key's values as bytes: what a write's decisions are looked up by.
pub(crate) fn key_bytes(values: &[Value]) -> Vec<u8> {
    encode_key(values, &vec![SortOrder::Asc; values.len()])
}

/// The writes that bring a row from `old` to `new` (a changed key is a delete and an insert).
pub(crate) fn update_mutations(
    schema: &TableSchema,
    old: &Row,
    new: Row,
) -> Vec<Mutation<Vec<Value>, Row>> {
    let (old_key, new_key) = (primary_key(schema, old), primary_key(schema, &new));
    if old_key == new_key {
        vec![Mutation::Update(new)]
    } else {
        vec![Mutation::Delete(old_key), Mutation::Insert(new)]
    }
}

/// [`RowAccess::apply_decided_rows`] with a `decide` that may fail with a DataFusion error,
/// which the store's error type cannot carry: it is kept aside, stops the write, and is the
/// error returned.
pub(crate) fn apply_decided(
    access: &dyn RowAccess,
    keys: &[Vec<Value>],
    mut decide: impl FnMut(&[Value], Option<&Row>) -> Result<Vec<Mutation<Vec<Value>, Row>>>,
) -> Result<()> {
    let mut failure: Option<DataFusionError> = None;
    let outcome = access.apply_decided_rows(keys, &mut |key, current| {
        decide(key, current).map_err(|e| {
            let text = e.to_string();
            failure = Some(e);
            StoreError::Task(text)
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    outcome.map_err(store_err)?;
    Ok(())
}
