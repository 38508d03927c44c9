//! The views of a namespace as DataFusion tables: a view is planned as its SELECT in a
//! session of its own namespace when a statement names it (DataFusion's analyzer then
//! inlines that plan, so filters, ORDER BY and LIMIT on the view push down into the index
//! scan as in the expanded SELECT). Each plan is kept for one catalog version.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::catalog::view::ViewTable;
use datafusion::datasource::TableProvider;
use datafusion::error::Result;
use indexed_store::{Database, ViewDefinition};

use super::planner::NamespacePlanner;
use crate::names::split_name;

/// The views' plans a catalog has made, each valid for one catalog version.
#[derive(Default)]
pub(crate) struct ViewPlans {
    plans: Mutex<HashMap<String, (u64, Arc<dyn TableProvider>)>>,
}

impl ViewPlans {
    /// The view as a table: its SELECT planned in its namespace.
    pub(crate) async fn table(
        &self,
        db: &Database,
        view: &ViewDefinition,
        planner: &dyn NamespacePlanner,
    ) -> Result<Arc<dyn TableProvider>> {
        let version = db.catalog_version();
        if let Some((v, table)) = self.lock().get(&view.name) {
            if *v == version {
                return Ok(table.clone());
            }
        }
        let ctx = planner.namespace_context(split_name(&view.name).0);
        let plan = ctx.state().create_logical_plan(&view.sql).await?;
        let table: Arc<dyn TableProvider> = Arc::new(ViewTable::new(plan, Some(view.sql.clone())));
        self.lock()
            .insert(view.name.clone(), (version, table.clone()));
        Ok(table)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Arc<dyn TableProvider>)>> {
        self.plans.lock().unwrap_or_else(|e| e.into_inner())
    }
}
