//! [`CallTable`]: a table function's call (a job operation) as a table that runs the call
//! every time its plan runs. A plan over such tables may be kept by the plan cache and run
//! again: each run makes the call anew.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

/// A call a [`CallTable`] runs when scanned.
pub trait TableCall: fmt::Debug + Send + Sync {
    /// The rows the call returns.
    fn schema(&self) -> SchemaRef;

    /// The plan that makes the call when it executes, yielding the `projection` of its rows.
    fn exec(&self, projection: Option<Vec<usize>>) -> Arc<dyn ExecutionPlan>;
}

/// The rows of a call, as a table that makes the call when scanned.
#[derive(Debug)]
pub struct CallTable(Arc<dyn TableCall>);

impl CallTable {
    /// The table of `call`.
    pub fn new(call: Arc<dyn TableCall>) -> Self {
        CallTable(call)
    }
}

#[async_trait]
impl TableProvider for CallTable {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self.0.exec(projection.cloned()))
    }
}
