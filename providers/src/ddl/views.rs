//! Persistent views: `CREATE [OR REPLACE] VIEW name AS SELECT ...` and `DROP VIEW [IF EXISTS]
//! name [CASCADE]`, kept in the database's catalog (`ViewDefinition`). How a view is read is
//! in `catalog/views.rs`.
//!
//! A view is planned as its SELECT in a session of the view's own namespace (restricted to
//! it, outside the default namespace). The definition is checked by planning it in that same
//! session when it is created, so a tenant's view can only read its tenant's tables.

use datafusion::error::Result;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{CreateView, Statement};
use indexed_store::{Database, ViewDefinition};

use super::dispatch::DdlOutcome;
use crate::catalog::NamespacePlanner;
use crate::error::{store_err, SqlError};
use crate::names::{
    check_namespace, split_name, stored_name, table_name, CATALOG_NAME, SYS_SCHEMA,
};

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
    db: &Database,
    statement: &Statement,
    namespace: &str,
    only: Option<&str>,
    planner: &dyn NamespacePlanner,
) -> Result<DdlOutcome> {
    match statement {
        Statement::CreateView(cv) => create_view(db, cv, namespace, only, planner).await,
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
    db: &Database,
    cv: &CreateView,
    namespace: &str,
    only: Option<&str>,
    planner: &dyn NamespacePlanner,
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
    let ctx = planner.namespace_context(view_namespace);
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
