//! `OffsetScan`: a physical optimizer rule that moves an OFFSET into the index scan below it,
//! so `... ORDER BY contacts_count DESC LIMIT 50 OFFSET 500000` skips half a million index
//! entries without reading their records, instead of decoding them for `GlobalLimitExec` to
//! throw away. Only a scan that answers every filter from its access path can skip this way
//! (otherwise whether an entry counts is only known from its record).

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::buffer::BufferExec;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::limit::GlobalLimitExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::ExecutionPlan;

use crate::scan::IndexScanExec;

/// The one-partition index scan under `plan`, seen through the nodes that pass a single
/// ordered partition on unchanged (a merge of one partition, a buffer, cooperative
/// scheduling).
fn scan_below(plan: &Arc<dyn ExecutionPlan>) -> Option<&IndexScanExec> {
    if let Some(scan) = plan.downcast_ref::<IndexScanExec>() {
        return (scan.properties().output_partitioning().partition_count() == 1).then_some(scan);
    }
    let passes_through = plan.downcast_ref::<CooperativeExec>().is_some()
        || plan.downcast_ref::<BufferExec>().is_some()
        || plan.downcast_ref::<SortPreservingMergeExec>().is_some()
        || plan.downcast_ref::<CoalescePartitionsExec>().is_some();
    match plan.children().as_slice() {
        [child] if passes_through => scan_below(child),
        _ => None,
    }
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct OffsetScan;

impl PhysicalOptimizerRule for OffsetScan {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(limit) = node.downcast_ref::<GlobalLimitExec>() else {
                return Ok(Transformed::no(node));
            };
            let (skip, fetch) = (limit.skip(), limit.fetch());
            let Some(scan) = scan_below(limit.input()) else {
                return Ok(Transformed::no(node));
            };
            let Some(skipping) = scan.with_offset(skip, fetch) else {
                return Ok(Transformed::no(node));
            };
            Ok(Transformed::yes(
                Arc::new(CooperativeExec::new(Arc::new(skipping))) as Arc<dyn ExecutionPlan>,
            ))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "quiver_offset_scan"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
