//! [`LoaderExec`]: the scan of a table with a loader, which loads what the scan needs before
//! it reads (so a plain EXPLAIN loads nothing).

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use futures::TryStreamExt;

use super::table_loader::{ForwardedHeaders, Need, TableLoader};

/// A scan of a table with a loader: loads what the scan needs, then reads.
#[derive(Debug)]
pub struct LoaderExec {
    loader: Arc<TableLoader>,
    need: Need,
    input: Arc<dyn ExecutionPlan>,
}

impl LoaderExec {
    pub(crate) fn new(loader: Arc<TableLoader>, need: Need, input: Arc<dyn ExecutionPlan>) -> Self {
        LoaderExec {
            loader,
            need,
            input,
        }
    }
}

impl DisplayAs for LoaderExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let what = match &self.need {
            Need::Whole => "whole table".to_owned(),
            Need::Nothing => "nothing".to_owned(),
            Need::Keys(keys) => {
                let shown: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                format!(
                    "{} IN ({})",
                    self.loader.spec.key_column.as_deref().unwrap_or("key"),
                    shown.join(", ")
                )
            }
        };
        write!(f, "LoaderExec: load {what}, {}", self.loader.describe())
    }
}

impl ExecutionPlan for LoaderExec {
    fn name(&self) -> &str {
        "LoaderExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    // It passes its scan's rows through untouched: no repartitioning below it, and the
    // scan's order (an index's) is its own.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("LoaderExec needs its scan".into()))?;
        Ok(Arc::new(LoaderExec::new(
            self.loader.clone(),
            self.need.clone(),
            input,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let headers = context
            .session_config()
            .get_extension::<ForwardedHeaders>()
            .map(|h| h.as_ref().clone())
            .unwrap_or_default();
        let (loader, need, input) = (self.loader.clone(), self.need.clone(), self.input.clone());
        let schema = input.schema();
        // The scan takes its snapshot when it starts: after the load.
        let rows = futures::stream::once(async move {
            loader.ensure(&need, &headers).await?;
            input.execute(partition, context)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rows)))
    }
}
