//! `sys.queues`: jobs per queue and status, and the oldest queued job's age.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result;

use super::{SysContext, SysTable};
use crate::error::store_err;

/// `sys.queues`: jobs per queue and status, counted from the `jobs_ready` index, and for
/// queued jobs the oldest one's creation time and age.
pub(super) struct Queues;

impl SysTable for Queues {
    fn name(&self) -> &'static str {
        "queues"
    }

    fn batch(&self, ctx: &SysContext) -> Result<RecordBatch> {
        let queue = ctx.db.job_queue();
        let stats = queue.stats().map_err(store_err)?;
        let now = ctx.db.jobs().reader().now();
        let schema = Arc::new(Schema::new(vec![
            Field::new("queue", DataType::Utf8, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("jobs", DataType::UInt64, false),
            Field::new(
                "oldest_created_at",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                true,
            ),
            Field::new("oldest_age_seconds", DataType::Float64, true),
        ]));
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                stats.iter().map(|s| &s.queue),
            )),
            Arc::new(StringArray::from_iter_values(
                stats.iter().map(|s| &s.status),
            )),
            Arc::new(UInt64Array::from_iter_values(stats.iter().map(|s| s.jobs))),
            Arc::new(TimestampMicrosecondArray::from_iter(
                stats.iter().map(|s| s.oldest_created_at),
            )),
            Arc::new(Float64Array::from_iter(stats.iter().map(|s| {
                s.oldest_created_at
                    .map(|t| (now - t).max(0) as f64 / 1_000_000.0)
            }))),
        ];
        Ok(RecordBatch::try_new(schema, arrays)?)
    }
}
