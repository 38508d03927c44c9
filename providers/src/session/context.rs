//! The DataFusion sessions Quiver makes: the catalog of a database (with the lists' write
//! check and the views' planner installed), Quiver's optimizer rules, query planner, JSON
//! functions and table functions, and a session per namespace for views and lists.

use std::sync::Arc;

use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::TaskContext;
use datafusion::prelude::{SessionConfig, SessionContext};
use indexed_store::Database;

use crate::catalog::{NamespacePlanner, QuiverCatalog};
use crate::functions::{
    register_job_functions, register_list_functions_with, row_check, ListReads,
};
use crate::names::{CATALOG_NAME, DEFAULT_SCHEMA};
use crate::plan::{
    optimizer_rules, DistinctScan, FileAccess, NdjsonFormat, OffsetScan, QuiverQueryPlanner,
};

/// Registers a database's tables into any session as catalog `quiver` (schemas `public`,
/// one per namespace, and `sys`). Queries name them `quiver.public.accounts`, or just
/// `accounts` when `quiver.public` is the session's default.
pub fn register(ctx: &SessionContext, db: Arc<Database>) {
    ctx.register_catalog(CATALOG_NAME, Arc::new(catalog_of(db, None)));
}

/// A session config with `quiver.public` as the default schema and information_schema on.
pub fn default_config() -> SessionConfig {
    namespace_config(DEFAULT_SCHEMA)
}

/// A session config whose default schema is `namespace`, information_schema on.
pub(super) fn namespace_config(namespace: &str) -> SessionConfig {
    SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG_NAME, namespace)
        .with_information_schema(true)
}

/// A DataFusion session whose default catalog is the database, with Quiver's optimizer rule
/// (DISTINCT by skip scan).
pub fn session_context(db: Arc<Database>, config: SessionConfig) -> SessionContext {
    let ctx = context_with(config, catalog_of(db.clone(), None), FileAccess::Denied);
    register_functions(&ctx, db, Arc::default());
    ctx
}

/// A session in one namespace, as views of that namespace are planned: restricted to it,
/// except the default namespace, whose views may name any schema.
pub(crate) fn namespace_context(db: Arc<Database>, namespace: &str) -> SessionContext {
    if namespace == DEFAULT_SCHEMA {
        return session_context(db, default_config());
    }
    let catalog = catalog_of(db.clone(), Some(namespace));
    let ctx = context_with(namespace_config(namespace), catalog, FileAccess::Denied);
    register_functions(&ctx, db, Arc::default());
    ctx
}

/// Quiver's table functions: the job queue's and the lists' (read with what `lists` keeps).
pub(super) fn register_functions(ctx: &SessionContext, db: Arc<Database>, lists: Arc<ListReads>) {
    register_job_functions(ctx, db.clone());
    register_list_functions_with(ctx, db, lists);
}

/// A session over `catalog`; file names are tables in it only when `files` allows files.
pub(super) fn context_with(
    config: SessionConfig,
    catalog: QuiverCatalog,
    files: FileAccess,
) -> SessionContext {
    let urls = files.allows_files();
    let state = SessionStateBuilder::new()
        .with_config(config.with_extension(Arc::new(files)))
        .with_default_features()
        .with_optimizer_rules(optimizer_rules())
        .with_physical_optimizer_rule(Arc::new(DistinctScan))
        .with_physical_optimizer_rule(Arc::new(OffsetScan))
        .with_query_planner(Arc::new(QuiverQueryPlanner))
        .build();
    let mut state = state;
    // JSON functions (json_get, json_get_str, json_contains, `->`, `->>`...) for JSON columns.
    // Registering into a fresh state only adds names, which cannot fail.
    let _ = datafusion_functions_json::register_all(&mut state);
    // `.ndjson` beside `.json`; a new extension in a fresh state cannot clash.
    let _ = state.register_file_format(Arc::new(NdjsonFormat::default()), false);
    let ctx = SessionContext::new_with_state(state);
    ctx.register_catalog(CATALOG_NAME, Arc::new(catalog));
    if urls {
        ctx.enable_url_table()
    } else {
        ctx
    }
}

/// The catalog of `db` as Quiver's sessions see it (restricted to `only` when given): views
/// planned in [`Namespaces`]' sessions, and every list written to `lists` checked to run.
pub(super) fn catalog_of(db: Arc<Database>, only: Option<&str>) -> QuiverCatalog {
    let planner: Arc<dyn NamespacePlanner> = Arc::new(Namespaces(db.clone()));
    let catalog = match only {
        Some(namespace) => QuiverCatalog::restricted_to(db.clone(), namespace, planner.clone()),
        None => QuiverCatalog::new(db.clone(), planner.clone()),
    };
    // A list is checked when it is written: it must run.
    catalog.with_write_check(
        "lists",
        Arc::new(move || row_check(db.clone(), planner.clone())),
    )
}

/// Makes the sessions a namespace's views and lists are planned in (see
/// [`namespace_context`]).
pub(super) struct Namespaces(pub(super) Arc<Database>);

impl NamespacePlanner for Namespaces {
    fn namespace_context(&self, namespace: &str) -> SessionContext {
        namespace_context(self.0.clone(), namespace)
    }
}

/// A task context with `base`'s functions and runtime and `config`: without copying a
/// session state.
pub(super) fn task_with(base: &TaskContext, config: SessionConfig) -> TaskContext {
    TaskContext::new(
        None,
        base.session_id(),
        config,
        base.scalar_functions().clone(),
        base.higher_order_functions().clone(),
        base.aggregate_functions().clone(),
        base.window_functions().clone(),
        base.runtime_env(),
    )
}
