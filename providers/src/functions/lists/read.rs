//! A read of a list as one SQL statement over its datasource: a page (by number or after a
//! cursor), the count, or a facet; and the `_cursor` of each row of a page.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use indexed_store::encoding::{decode_key, encode_key};
use indexed_store::{ColumnType, ListConfig, SortOrder, TableSchema, Value};

use super::check::{list_err, Checked};
use crate::convert::batch_to_rows;
use crate::names::{quote_ident as quote, split_name, CATALOG_NAME};

/// The column every list page ends with: the row's cursor.
pub const CURSOR_COLUMN: &str = "_cursor";
/// What to read of a list.
#[derive(Debug, Clone, PartialEq)]
pub enum ListRead {
    /// Page n (from 1), by OFFSET.
    Page(i64),
    /// The page after the row with this cursor.
    After(String),
    /// The number of rows (its filter, no sort).
    Count,
    /// The number of rows per value of a column.
    Facets(String),
}
/// A read of a list as one SQL statement over its datasource, with the cursor's values as
/// its parameters: every page after a cursor is the same text, which the plan cache plans
/// once and the fast path then runs as one index seek.
pub(crate) struct ReadStatement {
    pub sql: String,
    pub params: Vec<ScalarValue>,
    /// For pages, how to make `_cursor`: the statement yields the list's columns, then the
    /// sort columns it does not show.
    pub cursor: Option<CursorColumns>,
}

/// Where a page's `_cursor` comes from in the statement's output.
#[derive(Clone)]
pub(crate) struct CursorColumns {
    /// The list's columns, first in the output.
    pub shown: usize,
    /// The sort key's columns (sort columns, then primary key) by output position.
    pub keys: Vec<usize>,
}

/// The statement that reads `read` of a checked list.
pub(crate) fn read_statement(
    list: &ListConfig,
    checked: &Checked,
    read: &ListRead,
) -> Result<ReadStatement> {
    let (ns, name) = split_name(&list.datasource);
    let from = format!("{}.{}.{}", quote(CATALOG_NAME), quote(ns), quote(name));
    let mut conditions: Vec<String> = checked.filter.iter().map(|f| format!("({f})")).collect();
    let mut params = Vec::new();
    // `FROM table [WHERE ...]` once the conditions are all there.
    let source = |conditions: &[String]| match conditions {
        [] => from.clone(),
        c => format!("{from} WHERE {}", c.join(" AND ")),
    };
    let grouped = |select: String, group: &str| ReadStatement {
        sql: format!("SELECT {select} FROM {}{group}", source(&conditions)),
        params: Vec::new(),
        cursor: None,
    };
    match read {
        ListRead::Count => return Ok(grouped("count(*) AS \"count\"".into(), "")),
        ListRead::Facets(column) => {
            if checked.schema.column_index(column).is_none() {
                return Err(list_err(
                    &list.id,
                    format!("facet column '{column}' is not a column"),
                ));
            }
            let c = quote(column);
            return Ok(grouped(
                format!("{c}, count(*) AS \"count\""),
                &format!(" GROUP BY {c}"),
            ));
        }
        ListRead::After(cursor) => {
            let values = decode_cursor(&list.id, cursor, checked)?;
            conditions.push(format!("({})", after(checked, &values, &mut params)));
        }
        ListRead::Page(_) => {}
    }
    let skip = match read {
        ListRead::Page(n) if *n < 1 => {
            return Err(list_err(
                &list.id,
                format!("page {n}: pages are numbered from 1"),
            ))
        }
        ListRead::Page(n) => (n - 1).saturating_mul(list.page_size),
        _ => 0,
    };
    let mut output = checked.columns.clone();
    let keys = checked
        .keys
        .iter()
        .map(|k| match output.iter().position(|c| c == &k.column) {
            Some(i) => i,
            None => {
                output.push(k.column.clone());
                output.len() - 1
            }
        })
        .collect();
    let order: Vec<String> = checked
        .keys
        .iter()
        .map(|k| {
            format!(
                "{} {} NULLS {}",
                quote(&k.column),
                if k.descending { "DESC" } else { "ASC" },
                if k.nulls_first { "FIRST" } else { "LAST" }
            )
        })
        .collect();
    let select: Vec<String> = output.iter().map(|c| quote(c)).collect();
    let mut sql = format!(
        "SELECT {} FROM {} ORDER BY {} LIMIT {}",
        select.join(", "),
        source(&conditions),
        order.join(", "),
        list.page_size
    );
    if skip > 0 {
        sql.push_str(&format!(" OFFSET {skip}"));
    }
    Ok(ReadStatement {
        sql,
        params,
        cursor: Some(CursorColumns {
            shown: checked.columns.len(),
            keys,
        }),
    })
}

/// Rows after the cursor's key in the list's order: `k1 after $1 OR (k1 = $1 AND k2 after
/// $2) OR ...`, with NULLs where the order puts them (a NULL value is written in, not a
/// parameter). Without NULLs in play this is the expanded row-value comparison the access
/// planner seeks with.
fn after(checked: &Checked, values: &[Value], params: &mut Vec<ScalarValue>) -> String {
    let mut disjuncts = Vec::new();
    let mut equal: Vec<String> = Vec::new();
    for (k, v) in checked.keys.iter().zip(values) {
        let c = quote(&k.column);
        let nullable = checked
            .schema
            .column_index(&k.column)
            .is_some_and(|i| checked.schema.columns[i].nullable);
        let value = (!v.is_null()).then(|| {
            params.push(scalar(&checked.schema, &k.column, v));
            format!("${}", params.len())
        });
        let beyond = match &value {
            // After NULL come the values, when NULLs come first.
            None => k.nulls_first.then(|| format!("{c} IS NOT NULL")),
            Some(value) => {
                let past = format!("{c} {} {value}", if k.descending { "<" } else { ">" });
                Some(if nullable && !k.nulls_first {
                    format!("({past} OR {c} IS NULL)")
                } else {
                    past
                })
            }
        };
        if let Some(beyond) = beyond {
            let conjunct = equal
                .iter()
                .cloned()
                .chain(std::iter::once(beyond))
                .collect::<Vec<_>>()
                .join(" AND ");
            disjuncts.push(format!("({conjunct})"));
        }
        equal.push(match value {
            None => format!("{c} IS NULL"),
            Some(value) => format!("{c} = {value}"),
        });
    }
    if disjuncts.is_empty() {
        "false".into()
    } else {
        disjuncts.join(" OR ")
    }
}

/// A value as a scalar of its column's type.
fn scalar(schema: &TableSchema, column: &str, v: &Value) -> ScalarValue {
    let ty = schema
        .column_index(column)
        .map(|i| schema.columns[i].ty.clone());
    match (ty, v) {
        (Some(ColumnType::Int64), Value::Float(f)) => ScalarValue::Int64(Some(*f as i64)),
        (Some(ColumnType::Float64), Value::Int(i)) => ScalarValue::Float64(Some(*i as f64)),
        (_, Value::Int(i)) => ScalarValue::Int64(Some(*i)),
        (_, Value::Float(f)) => ScalarValue::Float64(Some(*f)),
        (_, Value::Bool(b)) => ScalarValue::Boolean(Some(*b)),
        (_, Value::Text(s)) => ScalarValue::Utf8(Some(s.clone())),
        (_, Value::Bytes(b)) => ScalarValue::Binary(Some(b.clone())),
        (_, Value::Timestamp(t)) => ScalarValue::TimestampMicrosecond(Some(*t), None),
        _ => ScalarValue::Null,
    }
}

fn decode_cursor(id: &str, cursor: &str, checked: &Checked) -> Result<Vec<Value>> {
    let invalid = |why: &str| {
        list_err(
            id,
            format!("invalid cursor '{cursor}': {why}; pass a _cursor value of this list"),
        )
    };
    let bytes = from_hex(cursor).ok_or_else(|| invalid("not hexadecimal"))?;
    let orders = vec![SortOrder::Asc; checked.keys.len()];
    let values = decode_key(&bytes, &orders).map_err(|e| invalid(&e.to_string()))?;
    if values.len() != checked.keys.len() {
        return Err(invalid("it has another number of sort columns"));
    }
    Ok(values)
}

/// Appends `bytes` as lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A page batch as the list shows it: its columns, then `_cursor`, each row's sort key in
/// the store's key codec as hex.
pub(crate) fn with_cursor(
    batch: &RecordBatch,
    cursor: &CursorColumns,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let keys = batch_to_rows(&batch.project(&cursor.keys)?)?;
    let mut out = StringBuilder::with_capacity(keys.len(), keys.len() * 32);
    let mut hex = String::new();
    for key in &keys {
        hex.clear();
        push_hex(&mut hex, &encode_key(key, &[]));
        out.append_value(&hex);
    }
    let mut columns: Vec<ArrayRef> = batch.columns()[..cursor.shown].to_vec();
    columns.push(Arc::new(out.finish()));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The rows a read of a list yields: the list's columns and `_cursor` for a page, `count`,
/// or a facet column and `count`.
pub(crate) fn read_schema(checked: &Checked, read: &ListRead) -> Result<SchemaRef> {
    let table = checked.table.schema();
    let count = Field::new("count", DataType::Int64, false);
    let fields = match read {
        ListRead::Count => vec![count],
        ListRead::Facets(column) => vec![table.field_with_name(column)?.clone(), count],
        ListRead::Page(_) | ListRead::After(_) => checked
            .columns
            .iter()
            .map(|c| Ok(table.field_with_name(c)?.clone()))
            .chain(std::iter::once(Ok(Field::new(
                CURSOR_COLUMN,
                DataType::Utf8,
                false,
            ))))
            .collect::<Result<Vec<_>>>()?,
    };
    Ok(Arc::new(Schema::new(fields)))
}
