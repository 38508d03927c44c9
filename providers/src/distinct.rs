//! `DistinctScan`: a physical optimizer rule that turns `SELECT DISTINCT a` (an aggregate
//! with no aggregate functions, grouped by the scanned columns) over an index whose leading
//! columns are those columns into a skip scan: one seek per distinct value.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::ExecutionPlan;

use crate::scan::IndexScanExec;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct DistinctScan;

impl PhysicalOptimizerRule for DistinctScan {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(agg) = node.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(node));
            };
            let first_stage = matches!(
                agg.mode(),
                AggregateMode::Partial | AggregateMode::Single | AggregateMode::SinglePartitioned
            );
            if !first_stage || !agg.aggr_expr().is_empty() || !agg.group_expr().is_single() {
                return Ok(Transformed::no(node));
            }
            let Some(scan) = agg.input().downcast_ref::<IndexScanExec>() else {
                return Ok(Transformed::no(node));
            };
            let grouped: Option<Vec<String>> = agg
                .group_expr()
                .expr()
                .iter()
                .map(|(e, _)| e.downcast_ref::<Column>().map(|c| c.name().to_owned()))
                .collect();
            let Some(mut grouped) = grouped else {
                return Ok(Transformed::no(node));
            };
            let mut outputs = scan.output_columns();
            grouped.sort();
            outputs.sort();
            if grouped != outputs {
                return Ok(Transformed::no(node));
            }
            match scan.with_distinct(grouped.len()) {
                Some(distinct) => {
                    #[allow(deprecated)]
                    let rebuilt = node.clone().with_new_children(vec![Arc::new(distinct)])?;
                    Ok(Transformed::yes(rebuilt))
                }
                None => Ok(Transformed::no(node)),
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "quiver_distinct_scan"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
