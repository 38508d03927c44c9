//! `sys.loads`: per table with a loader and key, when it was loaded, how many rows, and
//! the last failure.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray, TimestampMicrosecondArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result;

use super::{SysContext, SysTable};
use crate::error::store_err;

/// `sys.loads`: per table with a loader and key, when it was loaded, how many rows, and
/// the last failure.
pub(super) struct Loads;

impl SysTable for Loads {
    fn name(&self) -> &'static str {
        "loads"
    }

    fn batch(&self, ctx: &SysContext) -> Result<RecordBatch> {
        let records = ctx.db.load_records().map_err(store_err)?;
        let time = || DataType::Timestamp(TimeUnit::Microsecond, None);
        let schema = Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("key", DataType::Utf8, false),
            Field::new("loaded_at", time(), true),
            Field::new("rows", DataType::UInt64, false),
            Field::new("attempted_at", time(), false),
            Field::new("last_error", DataType::Utf8, true),
        ]));
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(records.iter().map(|r| &r.0))),
            Arc::new(StringArray::from_iter_values(records.iter().map(|r| &r.1))),
            Arc::new(TimestampMicrosecondArray::from_iter(
                records.iter().map(|r| r.2.loaded_at),
            )),
            Arc::new(UInt64Array::from_iter_values(
                records.iter().map(|r| r.2.rows),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                records.iter().map(|r| r.2.attempted_at),
            )),
            Arc::new(StringArray::from_iter(
                records.iter().map(|r| r.2.last_error.as_deref()),
            )),
        ];
        Ok(RecordBatch::try_new(schema, arrays)?)
    }
}
