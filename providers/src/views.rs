//! Persistent views: `CREATE [OR REPLACE] VIEW name AS SELECT ...` and `DROP VIEW [IF EXISTS]
//! name [CASCADE]`, kept in the database's catalog (see `indexed_store::views`), and the
//! views of a namespace as DataFusion tables.
//!
//! A view is planned as its SELECT, in a session of the view's own namespace (restricted to
//! it, outside the default namespace), when a statement names it. DataFusion's analyzer
//! then inlines that plan into the statement, so a filter, ORDER BY or LIMIT on the view
//! pushes down into the index scan exactly as in the expanded SELECT. The definition is
//! checked by planning it in that same session when it is created, so a tenant's view can
//! only read its tenant's tables.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::catalog::view::ViewTable;
use datafusion::datasource::TableProvider;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{CreateView, Statement};
use indexed_store::{Database, ViewDefinition};

use crate::catalog::{split_name, stored_name, CATALOG_NAME, SYS_SCHEMA};
use crate::ddl::{check_namespace, table_name, DdlOutcome};
use crate::error::SqlError;
use crate::store_err;

/// True for CREATE VIEW and DROP VIEW.
pub(crate) fn is_view_ddl(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateView(_)
            | Statement::Drop {
                object_type: datafusion::sql::sqlparser::ast::ObjectType::View,
                ..
            }
    )
}

/// Runs CREATE VIEW or DROP VIEW for a session in `namespace` (restricted to `only`).
pub(crate) async fn run_view_ddl(
    db: &Arc<Database>,
    statement: &Statement,
    namespace: &str,
    only: Option<&str>,
) -> Result<DdlOutcome> {
    match statement {
        Statement::CreateView(cv) => create_view(db, cv, namespace, only).await,
        Statement::Drop {
            if_exists,
            names,
            cascade,
            ..
        } => {
            let mut last = DdlOutcome::Nothing;
            for n in names {
                let name = table_name(n, namespace)?;
                check_namespace(&name, only)?;
                if db.view(&name).is_none() && *if_exists {
                    continue;
                }
                db.drop_view(&name, *cascade).map_err(store_err)?;
                last = DdlOutcome::DroppedView(name);
            }
            Ok(last)
        }
        _ => Ok(DdlOutcome::Nothing),
    }
}

fn unsupported(what: &str, instead: &str) -> datafusion::error::DataFusionError {
    SqlError::Unsupported {
        what: what.into(),
        context: "in CREATE VIEW".into(),
        instead: instead.into(),
    }
    .into()
}

async fn create_view(
    db: &Arc<Database>,
    cv: &CreateView,
    namespace: &str,
    only: Option<&str>,
) -> Result<DdlOutcome> {
    if cv.materialized {
        return Err(unsupported(
            "MATERIALIZED",
            "create a table and fill it with INSERT ... SELECT",
        ));
    }
    if cv.temporary {
        return Err(unsupported(
            "TEMPORARY",
            "views are persistent; DROP VIEW removes one",
        ));
    }
    if !cv.columns.is_empty() {
        return Err(unsupported(
            "a column list",
            "name the columns in the SELECT (SELECT a AS x, ...)",
        ));
    }
    let name = table_name(&cv.name, namespace)?;
    check_namespace(&name, only)?;
    if cv.if_not_exists && db.view(&name).is_some() {
        return Ok(DdlOutcome::Nothing);
    }
    let view_namespace = split_name(&name).0;
    let ctx = crate::session::namespace_context(db.clone(), view_namespace);
    let state = ctx.state();
    let query = DFStatement::Statement(Box::new(Statement::Query(cv.query.clone())));
    let mut depends_on = Vec::new();
    for reference in state.resolve_table_references(&query)? {
        let function =
            reference.schema().is_none() && state.table_functions().contains_key(reference.table());
        if function {
            continue;
        }
        let resolved = reference.resolve(CATALOG_NAME, view_namespace);
        if resolved.schema.as_ref() == SYS_SCHEMA {
            continue;
        }
        depends_on.push(stored_name(&resolved.schema, &resolved.table));
    }
    // The definition must plan where it will be planned: in the view's namespace.
    state.statement_to_plan(query).await?;
    depends_on.sort();
    depends_on.dedup();
    let view = ViewDefinition {
        name: name.clone(),
        sql: cv.query.to_string(),
        depends_on,
    };
    db.create_view(view, cv.or_replace).map_err(store_err)?;
    Ok(DdlOutcome::CreatedView(name))
}

/// The views' plans a catalog has made, each valid for one catalog version.
#[derive(Default)]
pub(crate) struct ViewPlans {
    plans: Mutex<HashMap<String, (u64, Arc<dyn TableProvider>)>>,
}

impl ViewPlans {
    /// The view as a table: its SELECT planned in its namespace.
    pub(crate) async fn table(
        &self,
        db: &Arc<Database>,
        view: &ViewDefinition,
    ) -> Result<Arc<dyn TableProvider>> {
        let version = db.catalog_version();
        if let Some((v, table)) = self.lock().get(&view.name) {
            if *v == version {
                return Ok(table.clone());
            }
        }
        let ctx: SessionContext =
            crate::session::namespace_context(db.clone(), split_name(&view.name).0);
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
