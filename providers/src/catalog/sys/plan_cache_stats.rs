//! `sys.plan_cache_stats`: the session's plan-cache counters, one row.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result;

use super::{SysContext, SysTable};

/// `sys.plan_cache_stats`: the cache's counters, one row.
pub(super) struct PlanCacheStatsTable;

impl SysTable for PlanCacheStatsTable {
    fn name(&self) -> &'static str {
        "plan_cache_stats"
    }

    fn batch(&self, ctx: &SysContext) -> Result<RecordBatch> {
        let stats = ctx
            .plan_cache
            .as_ref()
            .map(|c| c.stats())
            .unwrap_or_default();
        let counters = [
            ("entries", stats.entries),
            ("bytes", stats.bytes),
            ("hits", stats.hits),
            ("misses", stats.misses),
            ("evictions", stats.evictions),
            ("invalidations", stats.invalidations),
            ("uncacheable", stats.uncacheable),
            ("fast_runs", stats.fast_runs),
            ("planned_runs", stats.planned_runs),
            ("fallbacks", stats.fallbacks),
        ];
        let schema = Arc::new(Schema::new(
            counters
                .iter()
                .map(|(name, _)| Field::new(*name, DataType::UInt64, false))
                .collect::<Vec<_>>(),
        ));
        let arrays: Vec<ArrayRef> = counters
            .iter()
            .map(|(_, v)| Arc::new(UInt64Array::from(vec![*v])) as ArrayRef)
            .collect();
        Ok(RecordBatch::try_new(schema, arrays)?)
    }
}
