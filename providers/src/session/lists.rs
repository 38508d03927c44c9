//! A list's pages read from Rust: [`Quiver::list_page`], the first page or the one after a
//! cursor, with the cursor of the page after it.

use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};

use super::quiver::Quiver;
use crate::error::store_err;
use crate::functions::{list_err, read_schema, read_statement, with_cursor, ListRead};

/// One page of a list, with the cursor of the page after it.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The rows: the list's columns, then `_cursor`.
    pub batches: Vec<datafusion::arrow::record_batch::RecordBatch>,
    /// The cursor of the page's last row when the page is full (there may be more rows);
    /// None after the last page.
    pub next_cursor: Option<String>,
}

impl Quiver {
    /// A page of the list `id`: the first one, or the one after `after` (a cursor this
    /// list returned). Each page costs the same however deep it is when the list's sort is
    /// served by an index.
    pub async fn list_page(&self, id: &str, after: Option<&str>) -> Result<ListPage> {
        let db = self.database();
        let list = db
            .lists()
            .get(&id.to_owned())
            .map_err(store_err)?
            .ok_or_else(|| list_err(id, "no such list in table lists"))?;
        let read = match after {
            Some(cursor) => ListRead::After(cursor.to_owned()),
            None => ListRead::Page(1),
        };
        let (checked, schema) = {
            let state = self.context().state_ref();
            let state = state.read();
            let checked = self.list_reads().check(&state, db, &list)?;
            let schema = read_schema(&checked, &read)?;
            (checked, schema)
        };
        let statement = read_statement(&list, &checked, &read)?;
        let prepared = self.prepare(&statement.sql).await?;
        let rows = prepared.query(statement.params).await?;
        let cursor = statement.cursor.as_ref().ok_or_else(|| {
            DataFusionError::Internal("a list page is read without its cursor".into())
        })?;
        let batches = rows
            .iter()
            .map(|b| with_cursor(b, cursor, &schema))
            .collect::<Result<Vec<_>>>()?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let next_cursor = if rows as i64 == list.page_size {
            batches
                .iter()
                .rev()
                .find(|b| b.num_rows() > 0)
                .and_then(|b| {
                    let cursors = b.column(b.num_columns() - 1);
                    ScalarValue::try_from_array(cursors, b.num_rows() - 1)
                        .ok()
                        .and_then(|v| match v {
                            ScalarValue::Utf8(s)
                            | ScalarValue::Utf8View(s)
                            | ScalarValue::LargeUtf8(s) => s,
                            _ => None,
                        })
                })
        } else {
            None
        };
        Ok(ListPage {
            batches,
            next_cursor,
        })
    }
}
