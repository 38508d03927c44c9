//! The schemas of a namespace ([`QuiverSchema`]: its tables and views) and of a namespace a
//! restricted session may not see ([`HiddenSchema`]).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::TableProvider;
use datafusion::error::Result;
use indexed_store::Database;

use super::planner::{NamespacePlanner, WriteCheck};
use super::views::ViewPlans;
use crate::error::SqlError;
use crate::names::{split_name, stored_name};
use crate::table::{QuiverTable, TableLoader};

/// A session's time zone (`SET datafusion.execution.time_zone`), as its session last saw it;
/// None is UTC.
pub type SessionTimeZone = Arc<std::sync::RwLock<Option<String>>>;

/// The tables and views of one namespace.
pub struct QuiverSchema {
    pub(super) db: Arc<Database>,
    pub(super) namespace: String,
    pub(super) views: Arc<ViewPlans>,
    pub(super) planner: Arc<dyn NamespacePlanner>,
    pub(super) checks: Arc<HashMap<String, WriteCheck>>,
    pub(super) time_zone: SessionTimeZone,
}

impl std::fmt::Debug for QuiverSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuiverSchema({})", self.namespace)
    }
}

#[async_trait]
impl SchemaProvider for QuiverSchema {
    fn table_names(&self) -> Vec<String> {
        self.db
            .table_names()
            .iter()
            .chain(&self.db.view_names())
            .filter(|t| split_name(t).0 == self.namespace)
            .map(|t| split_name(t).1.to_owned())
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let stored = stored_name(&self.namespace, name);
        if let Some(t) = self.db.table(&stored) {
            let zone = self
                .time_zone
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let loader = TableLoader::of(&self.db, &t);
            let table = QuiverTable::in_time_zone(t, zone.as_deref()).with_loader(loader);
            return Ok(Some(Arc::new(match self.checks.get(&stored) {
                Some(check) => table.with_check(check()),
                None => table,
            })));
        }
        match self.db.view(&stored) {
            Some(view) => Ok(Some(
                self.views
                    .table(&self.db, &view, self.planner.as_ref())
                    .await?,
            )),
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        let stored = stored_name(&self.namespace, name);
        self.db.table(&stored).is_some() || self.db.view(&stored).is_some()
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(SqlError::Unsupported {
            what: format!("registering '{name}' as a DataFusion table"),
            context: "in a Quiver schema".into(),
            instead: "use CREATE TABLE or CREATE VIEW".into(),
        }
        .into())
    }
}

/// A schema a restricted session may not see: no tables, and every name "not found".
#[derive(Debug)]
pub(super) struct HiddenSchema;

#[async_trait]
impl SchemaProvider for HiddenSchema {
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(&self, _table: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(None)
    }

    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}
