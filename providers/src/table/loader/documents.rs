//! An upstream's JSON objects as rows of the table: Arrow's JSON decoder with the table's
//! own Arrow schema does the conversion, and `convert::table_rows` takes the result to the
//! stored form, the same way an INSERT's rows go. So fields match columns by name, missing
//! fields are NULL, unknown fields are ignored, numbers go into BIGINT, DOUBLE and DECIMAL
//! columns, TIMESTAMP columns take ISO 8601 text (or a number of microseconds since the
//! epoch), list columns take JSON arrays, and a JSON column takes any value (kept as its text).

use datafusion::arrow::json::ReaderBuilder;
use indexed_store::{ColumnType, Row, TableSchema, Value};
use serde_json::Value as Json;

use crate::convert::{arrow_schema, table_rows};
use crate::error::LoadProblem;

/// Rows of `table` from `documents`. With a loader key, each row's key column must hold the
/// key it was loaded for (a row without one takes it).
pub(crate) fn rows_from_documents(
    table: &TableSchema,
    documents: Vec<Json>,
    key: Option<(usize, &Value)>,
) -> Result<Vec<Row>, LoadProblem> {
    if documents.is_empty() {
        return Ok(Vec::new());
    }
    let json_columns: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| c.ty == ColumnType::Json)
        .map(|c| c.name.as_str())
        .collect();
    let mut objects = Vec::with_capacity(documents.len());
    for (i, doc) in documents.into_iter().enumerate() {
        let Json::Object(mut object) = doc else {
            return Err(LoadProblem::Malformed(format!(
                "document {} is not a JSON object",
                i + 1
            )));
        };
        // A JSON column stores the value's text, whatever JSON it is.
        for c in &json_columns {
            if let Some(v) = object.get_mut(*c) {
                if !matches!(v, Json::String(_) | Json::Null) {
                    *v = Json::String(v.to_string());
                }
            }
        }
        objects.push(Json::Object(object));
    }
    let schema = arrow_schema(table);
    let mut decoder = ReaderBuilder::new(schema)
        .with_batch_size(objects.len())
        .build_decoder()
        .map_err(|e| LoadProblem::RowRefused(e.to_string()))?;
    decoder
        .serialize(&objects)
        .map_err(|e| LoadProblem::RowRefused(e.to_string()))?;
    let Some(batch) = decoder
        .flush()
        .map_err(|e| LoadProblem::RowRefused(e.to_string()))?
    else {
        return Ok(Vec::new());
    };
    let mut rows = table_rows(&batch, &table.column_types())
        .map_err(|e| LoadProblem::RowRefused(e.to_string()))?;
    if let Some((column, key)) = key {
        for (i, row) in rows.iter_mut().enumerate() {
            if row[column].is_null() {
                row[column] = key.clone();
            } else if &row[column] != key {
                return Err(LoadProblem::RowRefused(format!(
                    "row {} has {} = {}, not the key {} it was loaded for",
                    i + 1,
                    table.columns[column].name,
                    row[column],
                    key
                )));
            }
        }
    }
    Ok(rows)
}

/// A key value as the upstream is sent it (a query parameter, the gRPC request's key).
pub(crate) fn key_text(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        other => other.to_string(),
    }
}

/// A body that is either a JSON array of objects or NDJSON (one object per line).
pub(crate) fn parse_body(body: &[u8]) -> Result<Vec<Json>, LoadProblem> {
    let text = std::str::from_utf8(body)
        .map_err(|e| LoadProblem::Malformed(format!("the body is not UTF-8: {e}")))?;
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text)
            .map_err(|e| LoadProblem::Malformed(format!("the JSON array does not parse: {e}")));
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| {
                LoadProblem::Malformed(format!("NDJSON line {} does not parse: {e}", i + 1))
            })
        })
        .collect()
}
