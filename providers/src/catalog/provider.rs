//! [`QuiverCatalog`]: the Quiver catalog for DataFusion. Schema `public` holds the tables and
//! views without a namespace, schema `<ns>` those named `<ns>.<name>`, and schema `sys`
//! describes the database (`sys/`). A catalog restricted to one namespace (a tenant's)
//! shows that schema only.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, SchemaProvider};
use indexed_store::Database;

use super::planner::{NamespacePlanner, WriteCheck};
use super::schema::{HiddenSchema, QuiverSchema, SessionTimeZone};
use super::sys::SysSchema;
use super::views::ViewPlans;
use crate::names::{split_name, DEFAULT_SCHEMA, SYS_SCHEMA};
use crate::plan::PlanCache;

/// All tables of a database, grouped by namespace.
#[derive(Clone)]
pub struct QuiverCatalog {
    db: Arc<Database>,
    /// When set, only this namespace is visible (per-tenant access).
    only: Option<String>,
    /// The plan cache `sys.plan_cache` describes, if the session has one.
    plan_cache: Option<Arc<PlanCache>>,
    /// Views planned for this catalog's sessions.
    views: Arc<ViewPlans>,
    /// Makes the sessions views are planned in.
    planner: Arc<dyn NamespacePlanner>,
    /// The checks of rows written to a table, by stored table name.
    checks: Arc<HashMap<String, WriteCheck>>,
    /// The session's time zone, which its tables show TIMESTAMPTZ columns in.
    time_zone: SessionTimeZone,
}

impl std::fmt::Debug for QuiverCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuiverCatalog")
    }
}

impl QuiverCatalog {
    /// Every namespace of the database; views are planned in `planner`'s sessions.
    pub fn new(db: Arc<Database>, planner: Arc<dyn NamespacePlanner>) -> Self {
        QuiverCatalog {
            db,
            only: None,
            plan_cache: None,
            views: Arc::default(),
            planner,
            checks: Arc::default(),
            time_zone: Arc::default(),
        }
    }

    /// Only one namespace visible.
    pub fn restricted_to(
        db: Arc<Database>,
        namespace: &str,
        planner: Arc<dyn NamespacePlanner>,
    ) -> Self {
        QuiverCatalog {
            only: Some(namespace.to_owned()),
            ..Self::new(db, planner)
        }
    }

    /// The same catalog, whose tables show TIMESTAMPTZ columns in the zone `time_zone` holds.
    pub fn with_time_zone(self, time_zone: SessionTimeZone) -> Self {
        QuiverCatalog { time_zone, ..self }
    }

    /// The same catalog, whose `sys.plan_cache` tables describe `cache`.
    pub fn with_plan_cache(self, cache: Arc<PlanCache>) -> Self {
        QuiverCatalog {
            plan_cache: Some(cache),
            ..self
        }
    }

    /// The same catalog, whose table `table` (a stored name) checks every row written to it
    /// with a check `check` makes per statement.
    pub fn with_write_check(mut self, table: &str, check: WriteCheck) -> Self {
        Arc::make_mut(&mut self.checks).insert(table.to_owned(), check);
        self
    }
}

impl CatalogProvider for QuiverCatalog {
    fn schema_names(&self) -> Vec<String> {
        if let Some(ns) = &self.only {
            return vec![ns.clone()];
        }
        let mut names: Vec<String> = self
            .db
            .table_names()
            .iter()
            .chain(&self.db.view_names())
            .map(|t| split_name(t).0.to_owned())
            .collect();
        names.push(DEFAULT_SCHEMA.to_owned());
        names.push(SYS_SCHEMA.to_owned());
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if self.only.as_deref().is_some_and(|ns| ns != name) {
            // Another namespace answers like a schema without tables: its tables are "not
            // found", exactly as tables that do not exist (and not "no such schema", which
            // would tell the two apart).
            return Some(Arc::new(HiddenSchema));
        }
        if name == SYS_SCHEMA && self.only.is_none() {
            return Some(Arc::new(SysSchema::new(
                self.db.clone(),
                self.plan_cache.clone(),
            )));
        }
        Some(Arc::new(QuiverSchema {
            db: self.db.clone(),
            namespace: name.to_owned(),
            views: self.views.clone(),
            planner: self.planner.clone(),
            checks: self.checks.clone(),
            time_zone: self.time_zone.clone(),
        }))
    }
}
