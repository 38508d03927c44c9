//! `sys.plan_cache`: the session's cached statements, most recently used first.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result;

use super::{SysContext, SysTable};

/// `sys.plan_cache`: one row per cached statement, most recently used first.
pub(super) struct PlanCacheTable;

impl SysTable for PlanCacheTable {
    fn name(&self) -> &'static str {
        "plan_cache"
    }

    fn batch(&self, ctx: &SysContext) -> Result<RecordBatch> {
        let statements = ctx
            .plan_cache
            .as_ref()
            .map(|c| c.statements())
            .unwrap_or_default();
        let schema = Arc::new(Schema::new(vec![
            Field::new("statement", DataType::Utf8, false),
            Field::new("namespace", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("executions", DataType::UInt64, false),
            Field::new("fast_runs", DataType::UInt64, false),
            Field::new("bytes", DataType::UInt64, false),
        ]));
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                statements.iter().map(|s| &s.sql),
            )),
            Arc::new(StringArray::from_iter_values(
                statements.iter().map(|s| &s.namespace),
            )),
            Arc::new(StringArray::from_iter_values(
                statements.iter().map(|s| &s.path),
            )),
            Arc::new(UInt64Array::from_iter_values(
                statements.iter().map(|s| s.executions),
            )),
            Arc::new(UInt64Array::from_iter_values(
                statements.iter().map(|s| s.fast_runs),
            )),
            Arc::new(UInt64Array::from_iter_values(
                statements.iter().map(|s| s.bytes),
            )),
        ];
        Ok(RecordBatch::try_new(schema, arrays)?)
    }
}
