//! `DistinctScan`: a physical optimizer rule that turns `SELECT DISTINCT a` (an aggregate
//! with no aggregate functions, grouped by the scanned columns) over an index whose leading
//! columns are those columns into a skip scan: one seek per distinct value. A `count(*)`
//! grouped the same way (`SELECT status, count(*) ... GROUP BY status`, the facet query)
//! becomes a facet walk: the skip scan also counts each value's entries, and the scan
//! replaces the aggregate.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};

use crate::scan::IndexScanExec;

/// True when every aggregate is a plain `count(*)` (a count of a non-NULL literal, with no
/// DISTINCT and no FILTER).
fn only_count_star(agg: &AggregateExec) -> bool {
    agg.filter_expr().iter().all(Option::is_none)
        && agg.aggr_expr().iter().all(|a| {
            a.fun().name() == "count"
                && !a.is_distinct()
                && a.expressions().iter().all(|e| {
                    e.downcast_ref::<Literal>()
                        .is_some_and(|l| !l.value().is_null())
                })
        })
}

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
            if !first_stage || !agg.group_expr().is_single() {
                return Ok(Transformed::no(node));
            }
            let counts = agg.aggr_expr().len();
            if counts > 0 && !only_count_star(agg) {
                return Ok(Transformed::no(node));
            }
            // DataFusion may spread a one-partition scan round-robin before the aggregate.
            let round_robin = agg
                .input()
                .downcast_ref::<RepartitionExec>()
                .filter(|r| matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)));
            let below = match round_robin {
                Some(r) => r.input(),
                None => agg.input(),
            };
            let Some(scan) = below.downcast_ref::<IndexScanExec>() else {
                return Ok(Transformed::no(node));
            };
            let grouped: Option<Vec<String>> = agg
                .group_expr()
                .expr()
                .iter()
                .map(|(e, _)| e.downcast_ref::<Column>().map(|c| c.name().to_owned()))
                .collect();
            let Some(grouped) = grouped else {
                return Ok(Transformed::no(node));
            };
            if counts > 0 {
                let mut sorted = grouped.clone();
                let mut outputs = scan.output_columns();
                sorted.sort();
                outputs.sort();
                if sorted != outputs {
                    return Ok(Transformed::no(node));
                }
                return Ok(match scan.with_facets(&grouped, agg.schema(), counts) {
                    Some(facets) => Transformed::yes(Arc::new(facets) as Arc<dyn ExecutionPlan>),
                    None => Transformed::no(node),
                });
            }
            let mut grouped = grouped;
            let mut outputs = scan.output_columns();
            grouped.sort();
            outputs.sort();
            if grouped != outputs {
                return Ok(Transformed::no(node));
            }
            match scan.with_distinct(grouped.len()) {
                Some(distinct) => {
                    // A skip scan yields few rows: nothing to spread.
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
