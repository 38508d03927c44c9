//! `Quiver`: a DataFusion session over a Quiver database, with Quiver's DDL (CREATE TABLE
//! with a primary key and TTL, CREATE INDEX, DROP) handled before DataFusion sees it, and
//! every statement through the plan cache.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Column, DFSchemaRef};
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::{EmptyRecordBatchStream, SendableRecordBatchStream};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use futures::TryStreamExt;
use indexed_store::{Database, Maintenance, MaintenanceSettings, TransactionOptions};

use super::context::{
    catalog_of, context_with, default_config, namespace_config, register_functions, Namespaces,
};
use super::control::Control;
use super::transaction::{control_of, Transaction};
use crate::catalog::SessionTimeZone;
use crate::ddl::{is_ddl, run_ddl, DdlOutcome};
use crate::error::{store_err, SqlError};
use crate::functions::ListReads;
use crate::plan::{
    access_of, is_file_reference, one_statement, parse, plan_entry, plan_statement, scope_key,
    CachedStatement, FileAccess, PlanCache,
};
use crate::scan::StatementReads;
use crate::write::WriteProgress;

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
    time_zone: SessionTimeZone,
    /// The task context fast writes run with, built from the session once (and again after
    /// any statement that may have changed the session, such as SET).
    write_task: Arc<std::sync::Mutex<Option<Arc<TaskContext>>>>,
    /// What the session keeps for reading lists, shared with its list functions.
    list_reads: Arc<ListReads>,
    /// The transaction SQL's BEGIN opened in this session (shared by its clones).
    open_transaction: Arc<std::sync::Mutex<Option<Transaction>>>,
    /// Background upkeep (TTL purge, expired job leases, job retention) of a database this
    /// session opened; it stops when the last clone of the session is dropped.
    _maintenance: Option<Arc<Maintenance>>,
}

impl Quiver {
    /// Opens (or creates) the database in a directory, with background upkeep every 30
    /// seconds ([`MaintenanceSettings::default`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let db = Arc::new(Database::open(path).map_err(store_err)?);
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
        let time_zone = SessionTimeZone::default();
        let config = match only {
            Some(namespace) => namespace_config(namespace),
            None => default_config(),
        };
        let catalog = catalog_of(db.clone(), only)
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
            open_transaction: Arc::default(),
            _maintenance: None,
        }
    }

    /// Begins a transaction (REPEATABLE READ, read-write; see [`Transaction`]). It is not
    /// the session's: statements run in it through its own `query`, `execute` and
    /// `prepare`; the session's go on outside it.
    pub fn begin(&self) -> Transaction {
        self.begin_with(TransactionOptions::default())
    }

    /// Begins a transaction with `options` (isolation, READ ONLY, the cap on its pending
    /// writes).
    pub fn begin_with(&self, options: TransactionOptions) -> Transaction {
        let options = TransactionOptions {
            owner: self.namespace(),
            ..options
        };
        Transaction::begin(self, options)
    }

    /// The session without its open-transaction slot: what a transaction keeps of the
    /// session that began it (keeping the slot would make the transaction own itself, and
    /// an abandoned one would never be dropped and rolled back).
    pub(super) fn detached(&self) -> Quiver {
        Quiver {
            open_transaction: Arc::default(),
            ..self.clone()
        }
    }

    /// The transaction SQL's `BEGIN` opened in this session, while it is open: the
    /// session's statements run in it until `COMMIT` or `ROLLBACK`.
    pub fn transaction(&self) -> Option<Transaction> {
        let slot = self
            .open_transaction
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        slot.clone().filter(Transaction::is_open)
    }

    /// Runs a transaction-control statement (`BEGIN`, `COMMIT`, `ROLLBACK`, savepoints) for
    /// the session.
    async fn control(&self, control: Control) -> Result<()> {
        let open = self.transaction();
        match (control, open) {
            (
                Control::Begin {
                    isolation,
                    read_only,
                },
                None,
            ) => {
                let tx = self.begin_with(TransactionOptions {
                    isolation,
                    read_only,
                    ..TransactionOptions::default()
                });
                *self
                    .open_transaction
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(tx);
                Ok(())
            }
            (control @ (Control::Commit | Control::Rollback), Some(tx)) => {
                self.open_transaction
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                tx.control(control).await
            }
            // As in PostgreSQL: nothing to commit or roll back.
            (Control::Commit | Control::Rollback, None) => Ok(()),
            (Control::Savepoint(_), None) => Err(SqlError::NoTransaction("SAVEPOINT").into()),
            (Control::RollbackTo(_), None) => Err(SqlError::NoTransaction("ROLLBACK TO").into()),
            (Control::Release(_), None) => Err(SqlError::NoTransaction("RELEASE").into()),
            (control, Some(tx)) => tx.control(control).await,
        }
    }

    /// Runs `sql` in the session's transaction or as a transaction-control statement, when
    /// it is either; None when it is an ordinary statement outside a transaction.
    pub(super) async fn in_transaction(
        &self,
        sql: &str,
    ) -> Result<Option<(SendableRecordBatchStream, Option<DFSchemaRef>)>> {
        if let Some(control) = control_of(sql)? {
            self.control(control).await?;
            let empty: SendableRecordBatchStream =
                Box::pin(EmptyRecordBatchStream::new(Arc::new(Schema::empty())));
            return Ok(Some((empty, None)));
        }
        match self.transaction() {
            Some(tx) => tx.execute_planned(sql).await.map(Some),
            None => Ok(None),
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
        if let Some((stream, logical)) = self.in_transaction(sql).await? {
            return self.collected(stream, logical).await;
        }
        match self.lookup(sql).await? {
            Lookup::Ddl(outcome) => self.ddl_frame(outcome).await,
            Lookup::Statement(s) => self.frame(s.plan.clone()).await,
        }
    }

    /// The frame of a planned statement: each time it is collected, its scans share one
    /// snapshot (see `StatementReads`).
    async fn frame(&self, plan: LogicalPlan) -> Result<DataFrame> {
        match plan {
            LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) => {
                self.ctx.execute_logical_plan(plan).await
            }
            plan => {
                let mut state = self.ctx.state();
                state
                    .config_mut()
                    .set_extension(Arc::new(StatementReads::per_execution()));
                Ok(DataFrame::new(state, plan))
            }
        }
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
    pub(super) async fn lookup(&self, sql: &str) -> Result<Lookup> {
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

    /// A statement's rows, run now (in a transaction a statement runs when it is issued, not
    /// when its frame is collected), as a frame with the statement's columns: named as the
    /// statement names them (`logical`), qualifiers included, so a join's `a.id` and `b.id`
    /// do not clash.
    async fn collected(
        &self,
        stream: SendableRecordBatchStream,
        logical: Option<DFSchemaRef>,
    ) -> Result<DataFrame> {
        let schema = stream.schema();
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        if schema.fields().is_empty() {
            return self.ctx.read_batch(RecordBatch::new_empty(schema));
        }
        // Held under positional names, then given the statement's names back.
        let positional = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| f.as_ref().clone().with_name(format!("c{i}")))
                .collect::<Vec<_>>(),
        ));
        let batches = batches
            .into_iter()
            .map(|b| RecordBatch::try_new(positional.clone(), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let table = datafusion::datasource::MemTable::try_new(positional, vec![batches])?;
        let named = (0..schema.fields().len()).map(|i| {
            let (qualifier, name) = match &logical {
                Some(l) if l.fields().len() == schema.fields().len() => {
                    let (q, f) = l.qualified_field(i);
                    (q.cloned(), f.name().clone())
                }
                _ => (None, schema.field(i).name().clone()),
            };
            Expr::Column(Column::new_unqualified(format!("c{i}"))).alias_qualified(qualifier, name)
        });
        self.ctx
            .read_table(Arc::new(table))?
            .select(named.collect::<Vec<_>>())
    }

    /// The cached statement for `sql` to run in a transaction, planning it on a miss; DDL is
    /// handed back parsed, not run (see `Transaction::execute`).
    pub(crate) async fn cached_in_transaction(&self, sql: &str) -> Result<InTransaction> {
        let version = self.db.catalog_version();
        if let Some(s) = self.cache.get(&self.scope(), sql, version) {
            return Ok(InTransaction::Statement(s));
        }
        let statement = one_statement(sql, "a statement")?;
        if let DFStatement::Statement(s) = &statement {
            if is_ddl(s) {
                return Ok(InTransaction::Ddl(statement));
            }
        }
        Ok(InTransaction::Statement(
            self.plan_and_keep(sql, statement, version).await?,
        ))
    }

    /// Runs DDL on its own, outside any transaction.
    pub(crate) async fn run_ddl_now(&self, statement: &DFStatement) -> Result<()> {
        self.forget_task_context();
        if let DFStatement::Statement(s) = statement {
            self.ddl(s).await?;
        }
        Ok(())
    }

    /// The cached statement for `sql`, planning it on a miss. DDL is refused.
    pub(crate) async fn cached(&self, sql: &str) -> Result<Arc<CachedStatement>> {
        let version = self.db.catalog_version();
        if let Some(s) = self.cache.get(&self.scope(), sql, version) {
            return Ok(s);
        }
        let statement = one_statement(sql, "a prepared statement")?;
        if let DFStatement::Statement(s) = &statement {
            if is_ddl(s) {
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
        if Control::of(&statement)?.is_some() || self.transaction().is_some() {
            return match self.in_transaction(&statement.to_string()).await? {
                Some((stream, logical)) => self.collected(stream, logical).await,
                None => self.ctx.read_batches(Vec::<RecordBatch>::new()),
            };
        }
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
        self.frame(plan).await
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
                && is_file_reference(reference.table())
                && !self.ctx.table_exist(reference.clone())?
            {
                access_of(&state).check(reference.table())?;
                continue;
            }
            if !function && !self.ctx.table_exist(reference.clone())? {
                let options = state.config().options();
                let full = reference.resolve(
                    &options.catalog.default_catalog,
                    &options.catalog.default_schema,
                );
                return Err(SqlError::TableNotFound(full.to_string()).into());
            }
        }
        Ok(())
    }

    /// Runs the statement when it is Quiver DDL (tables, indexes, views); None otherwise.
    async fn ddl(
        &self,
        statement: &datafusion::sql::sqlparser::ast::Statement,
    ) -> Result<Option<DdlOutcome>> {
        let planner = Namespaces(self.db.clone());
        run_ddl(
            &self.db,
            statement,
            self.namespace(),
            self.only.as_deref(),
            &planner,
        )
        .await
    }

    /// True when `sql` is one Quiver DDL statement (CREATE/DROP TABLE, INDEX or VIEW),
    /// which runs when planned and cannot be prepared.
    pub fn is_ddl(sql: &str) -> bool {
        match parse(sql) {
            Ok(statements) => {
                statements.len() == 1
                    && matches!(&statements[0], DFStatement::Statement(s) if is_ddl(s))
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

/// What a statement's text is, to run in a transaction.
pub(crate) enum InTransaction {
    /// Quiver DDL, not run yet.
    Ddl(DFStatement),
    /// Anything else, planned.
    Statement(Arc<CachedStatement>),
}

/// What a statement's text turned out to be.
pub(super) enum Lookup {
    /// Quiver DDL, already run.
    Ddl(DdlOutcome),
    /// Anything else, planned.
    Statement(Arc<CachedStatement>),
}
