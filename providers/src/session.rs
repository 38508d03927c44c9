//! `Quiver`: a DataFusion session over a Quiver database, with Quiver's DDL (CREATE TABLE
//! with a primary key and TTL, CREATE INDEX, DROP) handled before DataFusion sees it.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::TryStreamExt;
use indexed_store::{Database, Maintenance, MaintenanceSettings};

use crate::bulk_insert::WriteProgress;
use crate::catalog::{QuiverCatalog, CATALOG_NAME, DEFAULT_SCHEMA};
use crate::ddl::{plan_ddl, DdlOutcome};
use crate::distinct::DistinctScan;
use crate::fast_path::{analyze, depends_on_time_or_chance, may_be_fast};
use crate::files::FileAccess;
use crate::lists::ListReads;
use crate::plan_cache::{is_cacheable, CachedStatement, PlanCache};
use crate::statement::PreparedStatement;

/// Registers a database's tables into any session as catalog `quiver` (schemas `public`,
/// one per namespace, and `sys`). Queries name them `quiver.public.accounts`, or just
/// `accounts` when `quiver.public` is the session's default.
pub fn register(ctx: &SessionContext, db: Arc<Database>) {
    ctx.register_catalog(CATALOG_NAME, Arc::new(QuiverCatalog::new(db)));
}

/// A session config with `quiver.public` as the default schema and information_schema on.
pub fn default_config() -> SessionConfig {
    namespace_config(DEFAULT_SCHEMA)
}

/// A session config whose default schema is `namespace`, information_schema on.
fn namespace_config(namespace: &str) -> SessionConfig {
    SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG_NAME, namespace)
        .with_information_schema(true)
}

/// A DataFusion session whose default catalog is the database, with Quiver's optimizer rule
/// (DISTINCT by skip scan).
pub fn session_context(db: Arc<Database>, config: SessionConfig) -> SessionContext {
    let ctx = context_with(config, QuiverCatalog::new(db.clone()), FileAccess::Denied);
    register_functions(&ctx, db, Arc::default());
    ctx
}

/// A session in one namespace, as views of that namespace are planned: restricted to it,
/// except the default namespace, whose views may name any schema.
pub(crate) fn namespace_context(db: Arc<Database>, namespace: &str) -> SessionContext {
    if namespace == DEFAULT_SCHEMA {
        return session_context(db, default_config());
    }
    let catalog = QuiverCatalog::restricted_to(db.clone(), namespace);
    let ctx = context_with(namespace_config(namespace), catalog, FileAccess::Denied);
    register_functions(&ctx, db, Arc::default());
    ctx
}

/// Quiver's table functions: the job queue's and the lists' (read with what `lists` keeps).
fn register_functions(ctx: &SessionContext, db: Arc<Database>, lists: Arc<ListReads>) {
    crate::jobs_sql::register_job_functions(ctx, db.clone());
    crate::lists::register_list_functions_with(ctx, db, lists);
}

/// A session over `catalog`; file names are tables in it only when `files` allows files.
fn context_with(
    config: SessionConfig,
    catalog: QuiverCatalog,
    files: FileAccess,
) -> SessionContext {
    let urls = files.allows_files();
    let state = SessionStateBuilder::new()
        .with_config(config.with_extension(Arc::new(files)))
        .with_default_features()
        .with_optimizer_rules(crate::optimizer::rules())
        .with_physical_optimizer_rule(Arc::new(DistinctScan))
        .with_physical_optimizer_rule(Arc::new(crate::offset::OffsetScan))
        .with_query_planner(Arc::new(crate::write_clauses::QuiverQueryPlanner))
        .build();
    let mut state = state;
    // JSON functions (json_get, json_get_str, json_contains, `->`, `->>`...) for JSON columns.
    // Registering into a fresh state only adds names, which cannot fail.
    let _ = datafusion_functions_json::register_all(&mut state);
    // `.ndjson` beside `.json`; a new extension in a fresh state cannot clash.
    let _ = state.register_file_format(Arc::new(crate::files::NdjsonFormat::default()), false);
    let ctx = SessionContext::new_with_state(state);
    ctx.register_catalog(CATALOG_NAME, Arc::new(catalog));
    if urls {
        ctx.enable_url_table()
    } else {
        ctx
    }
}

/// An open database with a SQL session over it.
#[derive(Clone)]
pub struct Quiver {
    db: Arc<Database>,
    ctx: SessionContext,
    /// The only namespace this session may see and change, if restricted.
    only: Option<String>,
    /// Statements planned once, shared by the session's clones.
    cache: Arc<PlanCache>,
    /// The session's time zone as its tables see it (see [`Quiver::scope`]).
    time_zone: crate::catalog::SessionTimeZone,
    /// The task context fast writes run with, built from the session once (and again after
    /// any statement that may have changed the session, such as SET).
    write_task: Arc<std::sync::Mutex<Option<Arc<TaskContext>>>>,
    /// What the session keeps for reading lists, shared with its list functions.
    list_reads: Arc<ListReads>,
    /// Background upkeep (TTL purge, expired job leases, job retention) of a database this
    /// session opened; it stops when the last clone of the session is dropped.
    _maintenance: Option<Arc<Maintenance>>,
}

impl Quiver {
    /// Opens (or creates) the database in a directory, with background upkeep every 30
    /// seconds ([`MaintenanceSettings::default`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let db = Arc::new(Database::open(path).map_err(crate::store_err)?);
        let maintenance = db.start_maintenance(MaintenanceSettings::default());
        Ok(Quiver {
            _maintenance: Some(Arc::new(maintenance)),
            ..Self::new(db)
        })
    }

    /// A session over an open database. It may read and write any file the process can
    /// (see [`Quiver::with_file_access`]).
    pub fn new(db: Arc<Database>) -> Self {
        Self::build(db, None, FileAccess::Anywhere)
    }

    /// A session over an open database, seeing only one namespace (per-tenant access). It
    /// may use no files unless given some with [`Quiver::with_file_access`].
    pub fn restricted(db: Arc<Database>, namespace: &str) -> Self {
        Self::build(db, Some(namespace), FileAccess::Denied)
    }

    /// The same session with the files it may read and write changed (settings made with
    /// SET are not kept).
    pub fn with_file_access(self, files: FileAccess) -> Self {
        Quiver {
            _maintenance: self._maintenance.clone(),
            ..Self::build(self.db.clone(), self.only.as_deref(), files)
        }
    }

    fn build(db: Arc<Database>, only: Option<&str>, files: FileAccess) -> Self {
        let cache = Arc::new(PlanCache::default());
        let time_zone = crate::catalog::SessionTimeZone::default();
        let (config, catalog) = match only {
            Some(namespace) => (
                namespace_config(namespace),
                QuiverCatalog::restricted_to(db.clone(), namespace),
            ),
            None => (default_config(), QuiverCatalog::new(db.clone())),
        };
        let catalog = catalog
            .with_plan_cache(cache.clone())
            .with_time_zone(time_zone.clone());
        let config = config.with_extension(Arc::new(WriteProgress::default()));
        let ctx = context_with(config, catalog, files);
        let list_reads = Arc::new(ListReads::new(Some(cache.clone())));
        // The job queue's and lists' functions see every namespace: a tenant's session has
        // none.
        if only.is_none() {
            register_functions(&ctx, db.clone(), list_reads.clone());
        }
        Quiver {
            db,
            ctx,
            only: only.map(str::to_owned),
            cache,
            time_zone,
            write_task: Arc::default(),
            list_reads,
            _maintenance: None,
        }
    }

    /// Rows written so far by this session's large INSERTs and COPY FROMs (see
    /// [`WriteProgress`]), for showing progress while one runs.
    pub fn write_progress(&self) -> Arc<WriteProgress> {
        self.ctx
            .state_ref()
            .read()
            .config()
            .get_extension::<WriteProgress>()
            .unwrap_or_default()
    }

    /// The database.
    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// The DataFusion session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Plans one SQL statement. Quiver DDL runs here and returns an empty frame; everything
    /// else is planned by DataFusion (its logical plan through the plan cache) and runs when
    /// the frame is collected.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        match self.lookup(sql).await? {
            Lookup::Ddl(outcome) => self.ddl_frame(outcome).await,
            Lookup::Statement(s) => self.ctx.execute_logical_plan(s.plan.clone()).await,
        }
    }

    /// Runs one SQL statement through the plan cache: a repeated text skips parsing and
    /// planning, and a statement the fast path runs skips DataFusion's planner altogether.
    pub async fn execute(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        match self.lookup(sql).await? {
            Lookup::Ddl(_) => Ok(Box::pin(
                datafusion::physical_plan::EmptyRecordBatchStream::new(Arc::new(Schema::empty())),
            )),
            Lookup::Statement(s) => {
                PreparedStatement::new(self.clone(), s)
                    .execute(Vec::<ScalarValue>::new())
                    .await
            }
        }
    }

    /// Runs one SQL statement (as [`Quiver::execute`]) and collects its rows.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.execute(sql).await?.try_collect().await
    }

    /// The session's task context, built once (copying the session state for every
    /// statement costs more than a point read) and rebuilt after anything that may change
    /// the session: fast writes and fast reads with no runtime or headers of their own run
    /// with it.
    pub(crate) fn task_context(&self) -> Arc<TaskContext> {
        let mut cached = self.write_task.lock().unwrap_or_else(|e| e.into_inner());
        cached
            .get_or_insert_with(|| Arc::new(TaskContext::from(&self.ctx.state())))
            .clone()
    }

    fn forget_task_context(&self) {
        *self.write_task.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// What the session keeps for reading lists.
    pub(crate) fn list_reads(&self) -> &ListReads {
        &self.list_reads
    }

    /// The session's plan cache: its counters, its statements.
    pub fn plan_cache(&self) -> &Arc<PlanCache> {
        &self.cache
    }

    /// The cached statement for `sql`, or DDL run now.
    async fn lookup(&self, sql: &str) -> Result<Lookup> {
        let version = self.db.catalog_version();
        if let Some(s) = self.cache.get(&self.scope(), sql, version) {
            return Ok(Lookup::Statement(s));
        }
        let statement = one_statement(sql, "a statement")?;
        if let DFStatement::Statement(s) = &statement {
            if let Some(outcome) = self.ddl(s).await? {
                self.cache.count_uncacheable();
                return Ok(Lookup::Ddl(outcome));
            }
        }
        Ok(Lookup::Statement(
            self.plan_and_keep(sql, statement, version).await?,
        ))
    }

    /// The cached statement for `sql`, planning it on a miss. DDL is refused.
    pub(crate) async fn cached(&self, sql: &str) -> Result<Arc<CachedStatement>> {
        let version = self.db.catalog_version();
        if let Some(s) = self.cache.get(&self.scope(), sql, version) {
            return Ok(s);
        }
        let statement = one_statement(sql, "a prepared statement")?;
        if let DFStatement::Statement(s) = &statement {
            if crate::ddl::is_ddl(s) {
                return Err(DataFusionError::Plan(
                    "DDL cannot be prepared; run it as a statement".into(),
                ));
            }
        }
        self.plan_and_keep(sql, statement, version).await
    }

    /// Plans a statement (and its fast plan) and keeps it when it may be reused.
    async fn plan_and_keep(
        &self,
        sql: &str,
        statement: DFStatement,
        version: u64,
    ) -> Result<Arc<CachedStatement>> {
        self.check_tables_exist(&statement)?;
        let state = self.ctx.state();
        let (cached, cacheable) =
            plan_entry(&state, sql, statement, &self.scope(), version).await?;
        if cacheable {
            self.cache.insert(cached.clone());
        } else {
            self.cache.count_uncacheable();
            self.forget_task_context();
        }
        Ok(cached)
    }

    /// Runs every statement of a script in order and returns the last one's rows; stops at
    /// the first error.
    pub async fn run_script(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let mut last = Vec::new();
        for s in parse(sql)? {
            last = self.statement(s).await?.collect().await?;
        }
        Ok(last)
    }

    /// Plans (and, for DDL, runs) one parsed statement.
    pub async fn statement(&self, statement: DFStatement) -> Result<DataFrame> {
        // Anything run this way may change the session (SET): fast writes rebuild their
        // task context, and the tables learn a time zone set by the statement before.
        self.forget_task_context();
        self.scope();
        if let DFStatement::Statement(s) = &statement {
            if let Some(outcome) = self.ddl(s).await? {
                return self.ddl_frame(outcome).await;
            }
        }
        self.check_tables_exist(&statement)?;
        let plan = plan_statement(&self.ctx.state(), statement).await?;
        self.ctx.execute_logical_plan(plan).await
    }

    /// Refuses a query or DML statement that names a table the session cannot see with a
    /// typed [`SqlError::TableNotFound`] (DataFusion's own "not found" is a planning error
    /// like any other, and front ends map errors by type). CTE names are not table
    /// references; statements that create a name (CREATE VIEW...) are left to DataFusion.
    fn check_tables_exist(&self, statement: &DFStatement) -> Result<()> {
        use datafusion::sql::sqlparser::ast::Statement as S;
        let data = match statement {
            DFStatement::Statement(s) => {
                matches!(
                    s.as_ref(),
                    S::Query(_) | S::Insert(_) | S::Update(_) | S::Delete(_)
                )
            }
            DFStatement::Explain(e) => matches!(
                e.statement.as_ref(),
                DFStatement::Statement(s)
                    if matches!(s.as_ref(), S::Query(_) | S::Insert(_) | S::Update(_) | S::Delete(_))
            ),
            _ => false,
        };
        if !data {
            return Ok(());
        }
        let state = self.ctx.state();
        for reference in state.resolve_table_references(statement)? {
            // A table function call is resolved like a table name.
            let function = reference.schema().is_none()
                && state.table_functions().contains_key(reference.table());
            if reference.schema().is_none()
                && crate::files::is_file_reference(reference.table())
                && !self.ctx.table_exist(reference.clone())?
            {
                crate::files::access_of(&state).check(reference.table())?;
                continue;
            }
            if !function && !self.ctx.table_exist(reference.clone())? {
                let options = state.config().options();
                let full = reference.resolve(
                    &options.catalog.default_catalog,
                    &options.catalog.default_schema,
                );
                return Err(crate::error::SqlError::TableNotFound(full.to_string()).into());
            }
        }
        Ok(())
    }

    /// Runs the statement when it is Quiver DDL (tables, indexes, views); None otherwise.
    async fn ddl(
        &self,
        statement: &datafusion::sql::sqlparser::ast::Statement,
    ) -> Result<Option<DdlOutcome>> {
        if crate::views::is_view_ddl(statement) {
            let outcome = crate::views::run_view_ddl(
                &self.db,
                statement,
                &self.namespace(),
                self.only.as_deref(),
            )
            .await?;
            return Ok(Some(outcome));
        }
        plan_ddl(&self.db, statement, self.namespace(), self.only.as_deref())
    }

    /// Plans a statement once (through the plan cache), for running many times with
    /// different parameters (`$1`...). DDL cannot be prepared.
    pub async fn prepare(&self, sql: &str) -> Result<PreparedStatement> {
        Ok(PreparedStatement::new(
            self.clone(),
            self.cached(sql).await?,
        ))
    }

    /// True when `sql` is one Quiver DDL statement (CREATE/DROP TABLE, INDEX or VIEW),
    /// which runs when planned and cannot be prepared.
    pub fn is_ddl(sql: &str) -> bool {
        match parse(sql) {
            Ok(statements) => {
                statements.len() == 1
                    && matches!(&statements[0], DFStatement::Statement(s) if crate::ddl::is_ddl(s))
            }
            Err(_) => false,
        }
    }

    /// What a cached plan was planned for besides its text: the session's namespace, and
    /// its time zone when one is set (its tables show TIMESTAMPTZ columns in it). Reading it
    /// also hands a time zone set since (`SET datafusion.execution.time_zone`) to the tables.
    fn scope(&self) -> String {
        let (namespace, zone) = {
            let state = self.ctx.state_ref();
            let state = state.read();
            let options = state.config().options();
            (
                options.catalog.default_schema.clone(),
                options.execution.time_zone.clone(),
            )
        };
        // Every execution passes here: read, and write only when a SET changed the zone.
        let changed = *self.time_zone.read().unwrap_or_else(|e| e.into_inner()) != zone;
        if changed {
            self.time_zone
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .clone_from(&zone);
        }
        scope_key(namespace, zone)
    }

    fn namespace(&self) -> String {
        // Read in place: cloning the session state costs more than a cached execution.
        self.ctx
            .state_ref()
            .read()
            .config()
            .options()
            .catalog
            .default_schema
            .clone()
    }

    async fn ddl_frame(&self, outcome: DdlOutcome) -> Result<DataFrame> {
        let _ = outcome;
        self.ctx
            .read_batch(RecordBatch::new_empty(Arc::new(Schema::empty())))
    }
}

/// The scope a plan is cached under: the namespace, and the time zone when one is set.
fn scope_key(namespace: String, zone: Option<String>) -> String {
    match zone {
        Some(zone) => format!("{namespace} @ {zone}"),
        None => namespace,
    }
}

/// The scope of a plan planned in `state` (see [`Quiver`]'s plan cache).
pub(crate) fn scope_of(state: &datafusion::execution::SessionState) -> String {
    let options = state.config().options();
    scope_key(
        options.catalog.default_schema.clone(),
        options.execution.time_zone.clone(),
    )
}

/// Plans a statement as a plan-cache entry (its logical plan, and its fast plan when it has
/// the shape), with whether the cache may keep it.
pub(crate) async fn plan_entry(
    state: &datafusion::execution::SessionState,
    sql: &str,
    statement: DFStatement,
    scope: &str,
    version: u64,
) -> Result<(Arc<CachedStatement>, bool)> {
    let plan = plan_statement(state, statement).await?;
    let cacheable = is_cacheable(&plan);
    // The fast path reads the plan as DataFusion optimizes it, placeholders in place; a
    // plan the optimizer cannot take that way is simply planned each time.
    let optimized = if cacheable && may_be_fast(&plan) && !depends_on_time_or_chance(&plan) {
        state.optimize(&plan).ok()
    } else {
        None
    };
    let (fast, fast_write) = match &optimized {
        Some(o @ LogicalPlan::Dml(_)) => (None, crate::fast_write::analyze(o)),
        Some(o) => (analyze(o), None),
        None => (None, None),
    };
    let cached = Arc::new(CachedStatement::new(
        sql, scope, version, plan, fast, fast_write,
    ));
    Ok((cached, cacheable))
}

/// Plans a (non-DDL) statement: DataFusion plans it without its ON CONFLICT and RETURNING,
/// which are planned above the write (see `write_clauses.rs`); then the plan is checked.
async fn plan_statement(
    state: &datafusion::execution::SessionState,
    mut statement: DFStatement,
) -> Result<LogicalPlan> {
    if let Some(file) = crate::files::copied_file(&statement) {
        crate::files::access_of(state).check(file)?;
    }
    crate::files::copy_from_as_insert(state, &mut statement).await?;
    crate::alter::fill_default_keywords(state, &mut statement).await?;
    let clauses = crate::write_clauses::take(&mut statement)?;
    let mut plan = state.statement_to_plan(statement).await?;
    if let Some(clauses) = clauses {
        plan = clauses.plan(plan, state)?;
    }
    check_plan(&plan)?;
    Ok(plan)
}

/// Refuses, by name, what a plan asks for that Quiver cannot do right.
fn check_plan(plan: &LogicalPlan) -> Result<()> {
    reject_list_ordering(plan)?;
    reject_write_subqueries(plan)
}

/// A write's WHERE is evaluated row by row against the table itself (see `optimizer.rs`),
/// which a subquery cannot be.
fn reject_write_subqueries(plan: &LogicalPlan) -> Result<()> {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::logical_expr::{DmlStatement, Expr, WriteOp};
    let LogicalPlan::Dml(DmlStatement { op, input, .. }) = crate::write_clauses::write_of(plan)
    else {
        return Ok(());
    };
    let statement = match op {
        WriteOp::Update => "UPDATE",
        WriteOp::Delete => "DELETE",
        _ => return Ok(()),
    };
    let mut found = false;
    input.apply(|node| {
        if let LogicalPlan::Filter(f) = node {
            found |= f.predicate.exists(|e| {
                Ok(matches!(
                    e,
                    Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
                ))
            })?;
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })?;
    if found {
        return Err(crate::SqlError::Unsupported {
            what: format!("a subquery in the WHERE of {statement}"),
            context: "in Quiver".into(),
            instead: "select the keys first, then write by key (WHERE id IN ('a', 'b', ...))"
                .into(),
        }
        .into());
    }
    Ok(())
}

/// ORDER BY a list column has no meaningful order here: refuse it by name.
fn reject_list_ordering(plan: &datafusion::logical_expr::LogicalPlan) -> Result<()> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::{ExprSchemable, LogicalPlan};
    let mut found: Option<String> = None;
    plan.apply(|node| {
        if let LogicalPlan::Sort(sort) = node {
            let schema = sort.input.schema();
            for s in &sort.expr {
                if let Ok(field) = s.expr.to_field(schema) {
                    if matches!(
                        field.1.data_type(),
                        datafusion::arrow::datatypes::DataType::List(_)
                            | datafusion::arrow::datatypes::DataType::LargeList(_)
                    ) {
                        found = Some(s.expr.to_string());
                        return Ok(TreeNodeRecursion::Stop);
                    }
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match found {
        Some(col) => Err(DataFusionError::Plan(format!("cannot ORDER BY list column {col}: lists have no sort order in Quiver; order by a scalar column"))),
        None => Ok(()),
    }
}

/// What a statement's text turned out to be.
enum Lookup {
    /// Quiver DDL, already run.
    Ddl(DdlOutcome),
    /// Anything else, planned.
    Statement(Arc<CachedStatement>),
}

/// The one statement of `sql`; `what` names it in the error when there are several.
pub(crate) fn one_statement(sql: &str, what: &str) -> Result<DFStatement> {
    let mut statements = parse(sql)?;
    if statements.len() != 1 {
        return Err(DataFusionError::Plan(format!(
            "{what} is one statement, found {} (use run_script for several)",
            statements.len()
        )));
    }
    Ok(statements.remove(0))
}

/// Parses SQL into statements with DataFusion's parser.
/// Row-value comparisons (`(a, b) < (1, 2)`) come out in their expanded form (see
/// `keyset.rs`).
pub fn parse(sql: &str) -> Result<Vec<DFStatement>> {
    let statements = match DFParser::parse_sql_with_dialect(sql, &GenericDialect {}) {
        Ok(statements) => statements,
        // DataFusion's parser knows COPY ... TO only; COPY ... FROM is Quiver's.
        Err(e) => crate::files::parse_with_copy_from(sql)
            .ok_or(e)?
            .into_iter()
            .collect(),
    };
    Ok(statements
        .into_iter()
        .map(|mut s| {
            crate::keyset::expand_row_values(&mut s);
            s
        })
        .collect())
}
