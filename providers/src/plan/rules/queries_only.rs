//! DataFusion's logical optimizer with its rules kept off writes.
//!
//! DataFusion plans UPDATE and DELETE by reading the WHERE back out of the *optimized*
//! input plan, and the optimizer is free to replace a filter it can decide with an empty
//! relation: `DELETE FROM t WHERE 1 = 0` (or `WHERE n < $1` bound to NULL, or `WHERE false`)
//! optimizes to `Dml: Delete / EmptyRelation`, from which no filter is read back, so every
//! row of the table was deleted. A subquery in the WHERE is decorrelated into a join whose
//! condition is not read back either. So a write keeps its plan as analyzed (names resolved,
//! types coerced): the table's `update`/`delete_from` receive the WHERE as written, and build
//! their own index scan from it. An INSERT's input is a query and is optimized. Queries are
//! optimized as before, except that common subexpressions are not extracted from a plan with
//! placeholders (see `has_placeholders`).

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRewriter};
use datafusion::error::Result;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::optimizer::optimizer::{ApplyOrder, Optimizer};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use crate::plan::is_write;

/// The default optimizer rules, each wrapped so that it leaves write plans alone.
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    Optimizer::new()
        .rules
        .into_iter()
        .map(|rule| Arc::new(QueriesOnly(rule)) as Arc<dyn OptimizerRule + Send + Sync>)
        .collect()
}

/// An optimizer rule applied to every plan but a write (`Dml`).
#[derive(Debug)]
struct QueriesOnly(Arc<dyn OptimizerRule + Send + Sync>);

impl OptimizerRule for QueriesOnly {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        // The rule is given the root, so it can tell a write; it then recurses as the
        // optimizer would have for the wrapped rule.
        None
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        if is_write(&plan) {
            // An INSERT's rows come from a query like any other, which is optimized (some
            // functions, `now()` among them, run only once the simplifier has rewritten
            // them); UPDATE and DELETE are left as analyzed.
            if let LogicalPlan::Dml(dml) = &plan {
                if !matches!(dml.op, WriteOp::Insert(_)) {
                    return Ok(Transformed::no(plan));
                }
            }
            return plan.map_children(|child| self.rewrite(child, config));
        }
        // A placeholder is a value, as cheap to repeat as a literal. Extracting a repeated
        // one (`a < $1 OR (a = $1 AND b < $2)`, the expanded keyset condition) into a
        // projection below the filter would keep that filter from reaching the scan.
        if self.0.name() == "common_sub_expression_eliminate" && has_placeholders(&plan) {
            return Ok(Transformed::no(plan));
        }
        match self.0.apply_order() {
            None => self.0.rewrite(plan, config),
            Some(order) => plan.rewrite_with_subqueries(&mut Rewriter {
                order,
                rule: self.0.as_ref(),
                config,
            }),
        }
    }
}

/// True when any expression of the plan holds a placeholder (`$1`).
fn has_placeholders(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::Expr;
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|x| {
                found |= matches!(x, Expr::Placeholder(_));
                Ok(if found {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Continue
                })
            })
        })
    });
    found
}

/// Applies a rule at each node, top-down or bottom-up, as DataFusion's optimizer does.
struct Rewriter<'a> {
    order: ApplyOrder,
    rule: &'a dyn OptimizerRule,
    config: &'a dyn OptimizerConfig,
}

impl TreeNodeRewriter for Rewriter<'_> {
    type Node = LogicalPlan;

    fn f_down(&mut self, node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
        match self.order {
            ApplyOrder::TopDown => self.rule.rewrite(node, self.config),
            ApplyOrder::BottomUp => Ok(Transformed::no(node)),
        }
    }

    fn f_up(&mut self, node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
        match self.order {
            ApplyOrder::BottomUp => self.rule.rewrite(node, self.config),
            ApplyOrder::TopDown => Ok(Transformed::no(node)),
        }
    }
}
