//! The table functions `list`, `list_count` and `list_facets`: each call is a table that
//! runs the list's read as its own statement (through the session's plan cache) when the
//! calling statement executes.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::SessionState;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use indexed_store::schema::list_from_row;
use indexed_store::{Database, Row};

use super::check::{check, ListReads};
use super::read::{
    read_schema, read_statement, with_cursor, CursorColumns, ListRead, ReadStatement,
};
use crate::catalog::NamespacePlanner;
use crate::error::store_err;
use crate::names::split_name;
use crate::plan::{one_statement, plan_entry, run_in_state, scope_of, CachedStatement, PlanCache};
use crate::write::RowCheck;

/// The table functions `list`, `list_count` and `list_facets`.
struct ListFunction {
    db: Arc<Database>,
    name: &'static str,
    reads: Arc<ListReads>,
}

impl fmt::Debug for ListFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListFunction({})", self.name)
    }
}

fn usage(name: &str) -> &'static str {
    match name {
        "list" => "list('id' [, page number | cursor])",
        "list_count" => "list_count('id')",
        _ => "list_facets('id', 'column')",
    }
}

fn text_arg(name: &str, e: &Expr) -> Result<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Ok(s.clone()),
        other => Err(DataFusionError::Plan(format!(
            "{name}: argument {other} is not a text constant; use {}",
            usage(name)
        ))),
    }
}

impl TableFunctionImpl for ListFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.name;
        let exprs = args.exprs();
        let bad = || DataFusionError::Plan(format!("{name} takes {}", usage(name)));
        let id = text_arg(name, exprs.first().ok_or_else(bad)?)?;
        let read = match (name, &exprs[1..]) {
            ("list", []) => ListRead::Page(1),
            ("list", [Expr::Literal(ScalarValue::Int64(Some(n)), _)]) => ListRead::Page(*n),
            ("list", [e]) => ListRead::After(text_arg(name, e)?),
            ("list_count", []) => ListRead::Count,
            ("list_facets", [e]) => ListRead::Facets(text_arg(name, e)?),
            _ => return Err(bad()),
        };
        let state = session_state(args.session())?;
        let list = self
            .db
            .lists()
            .get(&id)
            .map_err(store_err)?
            .ok_or_else(|| {
                DataFusionError::Plan(format!("{name}: no list '{id}' in table lists"))
            })?;
        let checked = self.reads.check(state, &self.db, &list)?;
        Ok(Arc::new(ListTable {
            list: id,
            schema: read_schema(&checked, &read)?,
            statement: read_statement(&list, &checked, &read)?,
            db: self.db.clone(),
            cache: self.reads.cache.clone(),
        }))
    }
}

/// A read of a list, run as its own statement (through the session's plan cache) when the
/// calling statement executes. The calling statement itself is never cached: the list may
/// change without any DDL.
pub(crate) struct ListTable {
    list: String,
    schema: SchemaRef,
    statement: ReadStatement,
    db: Arc<Database>,
    cache: Option<Arc<PlanCache>>,
}

impl fmt::Debug for ListTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListTable({})", self.list)
    }
}

#[async_trait::async_trait]
impl TableProvider for ListTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        datafusion::datasource::TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let state = session_state(state)?;
        let sql = &self.statement.sql;
        let version = self.db.catalog_version();
        let scope = scope_of(state);
        let found = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&scope, sql, version));
        let statement = match found {
            Some(s) => s,
            None => {
                let parsed = one_statement(sql, "a list read")?;
                let (s, cacheable) = plan_entry(state, sql, parsed, &scope, version).await?;
                if let (Some(cache), true) = (&self.cache, cacheable) {
                    cache.insert(s.clone());
                }
                s
            }
        };
        let projection = projection.cloned();
        let schema = match &projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        Ok(Arc::new(ListReadExec {
            list: self.list.clone(),
            statement,
            params: ParamValues::List(
                self.statement
                    .params
                    .iter()
                    .cloned()
                    .map(Into::into)
                    .collect(),
            ),
            cursor: self.statement.cursor.clone(),
            full_schema: self.schema.clone(),
            projection,
            properties: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(schema),
                Partitioning::UnknownPartitioning(1),
                EmissionType::Incremental,
                Boundedness::Bounded,
            )),
            state: Arc::new(state.clone()),
            cache: self.cache.clone(),
        }))
    }
}

/// Runs a list read's statement: by the fast path (one index walk) when it can, planned
/// otherwise; adds `_cursor` to a page's rows.
struct ListReadExec {
    list: String,
    statement: Arc<CachedStatement>,
    params: ParamValues,
    cursor: Option<CursorColumns>,
    /// The read's rows before the calling statement's projection.
    full_schema: SchemaRef,
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
    state: Arc<SessionState>,
    cache: Option<Arc<PlanCache>>,
}

impl fmt::Debug for ListReadExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListReadExec({})", self.list)
    }
}

impl DisplayAs for ListReadExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ListReadExec: list={}", self.list)?;
        let scan = self
            .statement
            .fast
            .as_ref()
            .and_then(|fast| fast.explain(&self.state, &self.params).ok().flatten());
        match scan {
            Some(scan) => write!(f, ", fast path: {scan}"),
            None => write!(f, ", planned: {}", self.statement.sql),
        }
    }
}

impl ExecutionPlan for ListReadExec {
    fn name(&self) -> &str {
        "ListReadExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(
            &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
        ) -> Result<datafusion::common::tree_node::TreeNodeRecursion>,
    ) -> Result<datafusion::common::tree_node::TreeNodeRecursion> {
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "ListReadExec has no partition {partition}"
            )));
        }
        let (state, cache) = (self.state.clone(), self.cache.clone());
        let (statement, params) = (self.statement.clone(), self.params.clone());
        let rows = futures::stream::once(async move {
            run_in_state(&state, cache.as_deref(), &statement, params, context).await
        })
        .try_flatten();
        let cursor = self.cursor.clone();
        let (full, projection) = (self.full_schema.clone(), self.projection.clone());
        let shaped = rows.map(move |batch| {
            let batch = batch?;
            let batch = match &cursor {
                Some(c) => with_cursor(&batch, c, &full)?,
                None => RecordBatch::try_new(full.clone(), batch.columns().to_vec())?,
            };
            Ok(match &projection {
                Some(p) => batch.project(p)?,
                None => batch,
            })
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.properties.eq_properties.schema().clone(),
            shaped,
        )))
    }
}

fn session_state(session: &dyn Session) -> Result<&SessionState> {
    session
        .as_any()
        .downcast_ref::<SessionState>()
        .ok_or_else(|| {
            DataFusionError::Internal("list functions need a DataFusion session state".into())
        })
}

/// Registers `list`, `list_count` and `list_facets` in a session; each read is planned
/// every time (a `Quiver` session keeps them in its plan cache).
pub fn register_list_functions(ctx: &SessionContext, db: Arc<Database>) {
    register_list_functions_with(ctx, db, Arc::default());
}

/// Registers the list functions, reading lists with what `reads` keeps.
pub(crate) fn register_list_functions_with(
    ctx: &SessionContext,
    db: Arc<Database>,
    reads: Arc<ListReads>,
) {
    for name in ["list", "list_count", "list_facets"] {
        ctx.register_udtf(
            name,
            Arc::new(ListFunction {
                db: db.clone(),
                name,
                reads: reads.clone(),
            }),
        );
    }
}

/// The check of rows written to `lists`: a list that could not run is refused, with the
/// reason. Lists are planned in a session of their datasource's namespace, made once per
/// namespace for the statement's rows.
pub(crate) fn row_check(db: Arc<Database>, planner: Arc<dyn NamespacePlanner>) -> RowCheck {
    let sessions: std::sync::Mutex<std::collections::HashMap<String, SessionContext>> =
        Default::default();
    Arc::new(move |row: &Row| {
        let list = list_from_row(row).map_err(store_err)?;
        let namespace = split_name(&list.datasource).0;
        let state = sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(namespace.to_owned())
            .or_insert_with(|| planner.namespace_context(namespace))
            .state();
        let checked = check(&state, &db, &list)?;
        read_statement(&list, &checked, &ListRead::Page(1)).map(|_| ())
    })
}
