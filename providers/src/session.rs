//! `Quiver`: a DataFusion session over a Quiver database, with Quiver's DDL (CREATE TABLE
//! with a primary key and TTL, CREATE INDEX, DROP) handled before DataFusion sees it.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use indexed_store::{Database, Maintenance, MaintenanceSettings};

use crate::catalog::{QuiverCatalog, CATALOG_NAME, DEFAULT_SCHEMA};
use crate::ddl::{plan_ddl, DdlOutcome};
use crate::distinct::DistinctScan;

/// Registers a database's tables into any session as catalog `quiver` (schemas `public`,
/// one per namespace, and `sys`). Queries name them `quiver.public.accounts`, or just
/// `accounts` when `quiver.public` is the session's default.
pub fn register(ctx: &SessionContext, db: Arc<Database>) {
    ctx.register_catalog(CATALOG_NAME, Arc::new(QuiverCatalog::new(db)));
}

/// A session config with `quiver.public` as the default schema and information_schema on.
pub fn default_config() -> SessionConfig {
    SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_SCHEMA)
        .with_information_schema(true)
}

/// A DataFusion session whose default catalog is the database, with Quiver's optimizer rule
/// (DISTINCT by skip scan).
pub fn session_context(db: Arc<Database>, config: SessionConfig) -> SessionContext {
    let ctx = context_with(config, QuiverCatalog::new(db.clone()));
    crate::jobs_sql::register_job_functions(&ctx, db);
    ctx
}

fn context_with(config: SessionConfig, catalog: QuiverCatalog) -> SessionContext {
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(DistinctScan))
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.register_catalog(CATALOG_NAME, Arc::new(catalog));
    ctx
}

/// An open database with a SQL session over it.
#[derive(Clone)]
pub struct Quiver {
    db: Arc<Database>,
    ctx: SessionContext,
    /// The only namespace this session may see and change, if restricted.
    only: Option<String>,
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

    /// A session over an open database.
    pub fn new(db: Arc<Database>) -> Self {
        let ctx = session_context(db.clone(), default_config());
        Quiver {
            db,
            ctx,
            only: None,
            _maintenance: None,
        }
    }

    /// A session over an open database, seeing only one namespace (per-tenant access).
    pub fn restricted(db: Arc<Database>, namespace: &str) -> Self {
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG_NAME, namespace)
            .with_information_schema(true);
        let ctx = context_with(config, QuiverCatalog::restricted_to(db.clone(), namespace));
        Quiver {
            db,
            ctx,
            only: Some(namespace.to_owned()),
            _maintenance: None,
        }
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
    /// else is planned by DataFusion and runs when the frame is collected.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let mut statements = parse(sql)?;
        if statements.len() != 1 {
            return Err(DataFusionError::Plan(format!(
                "expected one statement, found {} (use run_script for several)",
                statements.len()
            )));
        }
        self.statement(statements.remove(0)).await
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
        if let DFStatement::Statement(s) = &statement {
            if let Some(outcome) = plan_ddl(&self.db, s, self.namespace(), self.only.as_deref())? {
                return self.ddl_frame(outcome).await;
            }
        }
        self.check_tables_exist(&statement)?;
        let plan = self.ctx.state().statement_to_plan(statement).await?;
        reject_list_ordering(&plan)?;
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

    /// Plans a statement once, for running many times with different parameters (`$1`...).
    /// DDL cannot be prepared.
    pub async fn prepare(&self, sql: &str) -> Result<LogicalPlan> {
        let mut statements = parse(sql)?;
        if statements.len() != 1 {
            return Err(DataFusionError::Plan(format!(
                "a prepared statement is one statement, found {}",
                statements.len()
            )));
        }
        let statement = statements.remove(0);
        if let DFStatement::Statement(s) = &statement {
            if crate::ddl::is_ddl(s) {
                return Err(DataFusionError::Plan(
                    "DDL cannot be prepared; run it as a statement".into(),
                ));
            }
        }
        self.check_tables_exist(&statement)?;
        let plan = self.ctx.state().statement_to_plan(statement).await?;
        reject_list_ordering(&plan)?;
        Ok(plan)
    }

    /// True when `sql` is one Quiver DDL statement (CREATE TABLE/INDEX, DROP TABLE/INDEX),
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

    /// Runs a (prepared) logical plan.
    pub async fn execute_plan(&self, plan: LogicalPlan) -> Result<DataFrame> {
        self.ctx.execute_logical_plan(plan).await
    }

    fn namespace(&self) -> String {
        self.ctx
            .state()
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

/// Parses SQL into statements with DataFusion's parser.
pub fn parse(sql: &str) -> Result<Vec<DFStatement>> {
    Ok(DFParser::parse_sql_with_dialect(sql, &GenericDialect {})?
        .into_iter()
        .collect())
}
