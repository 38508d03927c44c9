//! Runnable lists: each row of the `lists` table (a datasource, its columns, a filter, a sort
//! and a page size) is a query that SQL runs by the list's id.
//!
//! ```sql
//! SELECT * FROM list('top-active');                 -- page 1
//! SELECT * FROM list('top-active', 3);              -- page 3 (OFFSET, skipped in the index)
//! SELECT * FROM list('top-active', 'f02000...');    -- the page after a row's _cursor
//! SELECT * FROM list_count('top-active');           -- "N results"
//! SELECT * FROM list_facets('top-active', 'owner') ORDER BY owner; -- per-value counts
//! ```
//!
//! A page is the list's SELECT (its filter, its sort with the primary key appended as the
//! tie-breaker, its page size) built as a logical plan and planned when the call is scanned,
//! so it pushes down into the index as the written-out query would. Every row carries
//! `_cursor`: its sort key (sort columns, then primary key) in the store's key codec, as hex.
//! The page after a cursor is the keyset condition on that key, which the access planner
//! turns into one seek when the sort columns are served by an index; page 10,000 then costs
//! what page 1 costs.
//!
//! A list is checked when it is written (INSERT / UPDATE on `lists`): its datasource must be
//! a table, its columns must exist, its filter must be one boolean SQL expression over the
//! table's columns and its sort a list of the table's columns with ASC / DESC.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::{provider_as_source, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::SessionState;
use datafusion::functions_aggregate::count::count_all;
use datafusion::logical_expr::{
    col, lit, ColumnarValue, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, SortExpr, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{self, OrderByExpr};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use indexed_store::{codec, ColumnType, Database, ListConfig, Row, TableSchema, Value};

use crate::catalog::{split_name, CATALOG_NAME};
use crate::convert::scalar_to_value;
use crate::table::QuiverTable;

/// The column every list page ends with: the row's cursor.
pub const CURSOR_COLUMN: &str = "_cursor";

/// What to read of a list.
#[derive(Debug, Clone, PartialEq)]
pub enum ListRead {
    /// Page n (from 1), by OFFSET.
    Page(i64),
    /// The page after the row with this cursor.
    After(String),
    /// The number of rows (its filter, no sort).
    Count,
    /// The number of rows per value of a column.
    Facets(String),
}

fn list_err(id: &str, why: impl fmt::Display) -> DataFusionError {
    crate::error::SqlError::InvalidList {
        list: id.to_owned(),
        reason: why.to_string(),
    }
    .into()
}

/// One key of a list's order: a column, its direction and where its NULLs go.
struct SortKey {
    column: String,
    descending: bool,
    nulls_first: bool,
}

/// A list checked against its datasource.
struct Checked {
    schema: Arc<TableSchema>,
    table: Arc<dyn TableProvider>,
    filter: Option<Expr>,
    keys: Vec<SortKey>,
    columns: Vec<String>,
}

/// The list's filter as one SQL expression (nothing after it).
fn parse_filter(id: &str, text: &str) -> Result<ast::Expr> {
    let mut parser = Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .map_err(|e| list_err(id, format!("filter '{text}': {e}")))?;
    let e = parser
        .parse_expr()
        .map_err(|e| list_err(id, format!("filter '{text}': {e}")))?;
    parser.expect_token(&Token::EOF).map_err(|e| {
        list_err(
            id,
            format!("filter '{text}' is more than one expression: {e}"),
        )
    })?;
    Ok(e)
}

/// The list's sort as ORDER BY items (nothing after them).
fn parse_sort(id: &str, text: &str) -> Result<Vec<OrderByExpr>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut parser = Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .map_err(|e| list_err(id, format!("sort '{text}': {e}")))?;
    let items = parser
        .parse_comma_separated(Parser::parse_order_by_expr)
        .map_err(|e| list_err(id, format!("sort '{text}': {e}")))?;
    parser
        .expect_token(&Token::EOF)
        .map_err(|e| list_err(id, format!("sort '{text}': {e}")))?;
    Ok(items)
}

/// Checks a list against its datasource, as seen by `state`.
fn check(state: &SessionState, db: &Database, list: &ListConfig) -> Result<Checked> {
    let id = &list.id;
    let (ns, name) = split_name(&list.datasource);
    let visible = state
        .catalog_list()
        .catalog(CATALOG_NAME)
        .and_then(|c| c.schema(ns))
        .is_some_and(|s| s.table_exist(name));
    let access = db
        .table(&list.datasource)
        .filter(|_| visible)
        .ok_or_else(|| {
            list_err(
                id,
                format!("datasource '{}' is not a table", list.datasource),
            )
        })?;
    let schema = access.schema();
    let table: Arc<dyn TableProvider> = Arc::new(QuiverTable::new(access));
    let df_schema = DFSchema::try_from_qualified_schema(name, &table.schema())?;
    for c in &list.columns {
        if schema.column_index(c).is_none() {
            return Err(list_err(
                id,
                format!("column '{c}' is not a column of '{}'", list.datasource),
            ));
        }
    }
    let filter = if list.filters.trim().is_empty() {
        None
    } else {
        let sql = parse_filter(id, &list.filters)?;
        let e = state
            .create_logical_expr_from_sql_expr(
                ast::ExprWithAlias {
                    expr: sql,
                    alias: None,
                },
                &df_schema,
            )
            .map_err(|e| list_err(id, format!("filter '{}': {e}", list.filters)))?;
        let ty = e.get_type(&df_schema)?;
        if ty != DataType::Boolean {
            return Err(list_err(
                id,
                format!("filter '{}' is {ty}, not a condition", list.filters),
            ));
        }
        Some(e)
    };
    let mut keys = Vec::new();
    for item in parse_sort(id, &list.sort)? {
        let column = match &item.expr {
            ast::Expr::Identifier(i) => crate::ddl::ident(i),
            other => {
                return Err(list_err(
                    id,
                    format!("sort '{other}' is not a column: a list sorts by columns"),
                ))
            }
        };
        let Some(pos) = schema.column_index(&column) else {
            return Err(list_err(
                id,
                format!(
                    "sort column '{column}' is not a column of '{}'",
                    list.datasource
                ),
            ));
        };
        if schema.columns[pos].ty.is_list() {
            return Err(list_err(id, format!("sort column '{column}' is a list")));
        }
        let descending = item.options.asc == Some(false);
        keys.push(SortKey {
            column,
            descending,
            // SQL's default: NULLs sort as the largest value.
            nulls_first: item.options.nulls_first.unwrap_or(descending),
        });
    }
    // The primary key breaks ties, in the direction of the last sort key (the direction an
    // index walk yields it in).
    let descending = keys.last().is_some_and(|k| k.descending);
    for pk in &schema.primary_key {
        if !keys.iter().any(|k| &k.column == pk) {
            keys.push(SortKey {
                column: pk.clone(),
                descending,
                nulls_first: descending,
            });
        }
    }
    if list.page_size < 1 {
        return Err(list_err(
            id,
            format!("page_size is {}, it must be at least 1", list.page_size),
        ));
    }
    let columns = if list.columns.is_empty() {
        schema.columns.iter().map(|c| c.name.clone()).collect()
    } else {
        list.columns.clone()
    };
    Ok(Checked {
        schema,
        table,
        filter,
        keys,
        columns,
    })
}

/// The plan of one read of a list.
fn plan(
    state: &SessionState,
    db: &Database,
    list: &ListConfig,
    read: &ListRead,
) -> Result<LogicalPlan> {
    let checked = check(state, db, list)?;
    let (_, name) = split_name(&list.datasource);
    let mut builder =
        LogicalPlanBuilder::scan(name, provider_as_source(checked.table.clone()), None)?;
    if let Some(f) = &checked.filter {
        builder = builder.filter(f.clone())?;
    }
    match read {
        ListRead::Count => {
            return builder
                .aggregate(Vec::<Expr>::new(), vec![count_all().alias("count")])?
                .build()
        }
        ListRead::Facets(column) => {
            if checked.schema.column_index(column).is_none() {
                return Err(list_err(
                    &list.id,
                    format!("facet column '{column}' is not a column"),
                ));
            }
            return builder
                .aggregate(vec![col(column.as_str())], vec![count_all().alias("count")])?
                .build();
        }
        ListRead::After(cursor) => {
            let values = decode_cursor(&list.id, cursor, &checked)?;
            builder = builder.filter(after(&checked, &values))?;
        }
        ListRead::Page(_) => {}
    }
    let sort: Vec<SortExpr> = checked
        .keys
        .iter()
        .map(|k| col(k.column.as_str()).sort(!k.descending, k.nulls_first))
        .collect();
    let skip = match read {
        ListRead::Page(n) if *n < 1 => {
            return Err(list_err(
                &list.id,
                format!("page {n}: pages are numbered from 1"),
            ))
        }
        ListRead::Page(n) => {
            usize::try_from((n - 1).saturating_mul(list.page_size)).unwrap_or(usize::MAX)
        }
        _ => 0,
    };
    let mut output: Vec<Expr> = checked.columns.iter().map(|c| col(c.as_str())).collect();
    let cursor_args = checked
        .keys
        .iter()
        .map(|k| col(k.column.as_str()))
        .collect();
    output.push(cursor_udf().call(cursor_args).alias(CURSOR_COLUMN));
    builder
        .sort(sort)?
        .limit(skip, Some(list.page_size as usize))?
        .project(output)?
        .build()
}

/// Rows after the cursor's key in the list's order: `k1 after v1 OR (k1 = v1 AND k2 after
/// v2) OR ...`, with NULLs where the order puts them. Without NULLs in play this is the
/// expanded row-value comparison the access planner seeks with.
fn after(checked: &Checked, values: &[Value]) -> Expr {
    let mut disjuncts = Vec::new();
    let mut equal: Vec<Expr> = Vec::new();
    for (k, v) in checked.keys.iter().zip(values) {
        let c = col(k.column.as_str());
        let nullable = checked
            .schema
            .column_index(&k.column)
            .is_some_and(|i| checked.schema.columns[i].nullable);
        let value = (!v.is_null()).then(|| literal(&checked.schema, &k.column, v));
        let beyond = match &value {
            // After NULL come the values, when NULLs come first.
            None => k.nulls_first.then(|| c.clone().is_not_null()),
            Some(value) => {
                let past = if k.descending {
                    c.clone().lt(value.clone())
                } else {
                    c.clone().gt(value.clone())
                };
                Some(if nullable && !k.nulls_first {
                    past.or(c.clone().is_null())
                } else {
                    past
                })
            }
        };
        if let Some(beyond) = beyond {
            let conjunct = equal.iter().cloned().fold(beyond, |acc, e| e.and(acc));
            disjuncts.push(conjunct);
        }
        equal.push(match value {
            None => c.is_null(),
            Some(value) => c.eq(value),
        });
    }
    disjuncts
        .into_iter()
        .reduce(Expr::or)
        .unwrap_or_else(|| lit(false))
}

/// A value as a literal of its column's type.
fn literal(schema: &TableSchema, column: &str, v: &Value) -> Expr {
    let ty = schema
        .column_index(column)
        .map(|i| schema.columns[i].ty.clone());
    let scalar = match (ty, v) {
        (Some(ColumnType::Int64), Value::Float(f)) => ScalarValue::Int64(Some(*f as i64)),
        (Some(ColumnType::Float64), Value::Int(i)) => ScalarValue::Float64(Some(*i as f64)),
        (_, Value::Int(i)) => ScalarValue::Int64(Some(*i)),
        (_, Value::Float(f)) => ScalarValue::Float64(Some(*f)),
        (_, Value::Bool(b)) => ScalarValue::Boolean(Some(*b)),
        (_, Value::Text(s)) => ScalarValue::Utf8(Some(s.clone())),
        (_, Value::Bytes(b)) => ScalarValue::Binary(Some(b.clone())),
        (_, Value::Timestamp(t)) => ScalarValue::TimestampMicrosecond(Some(*t), None),
        _ => ScalarValue::Null,
    };
    lit(scalar)
}

fn decode_cursor(id: &str, cursor: &str, checked: &Checked) -> Result<Vec<Value>> {
    let invalid = |why: &str| {
        list_err(
            id,
            format!("invalid cursor '{cursor}': {why}; pass a _cursor value of this list"),
        )
    };
    let bytes = from_hex(cursor).ok_or_else(|| invalid("not hexadecimal"))?;
    let orders = vec![codec::SortOrder::Asc; checked.keys.len()];
    let values = codec::decode_key(&bytes, &orders).map_err(|e| invalid(&e.to_string()))?;
    if values.len() != checked.keys.len() {
        return Err(invalid("it has another number of sort columns"));
    }
    Ok(values)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `list_cursor(k1, k2, ...)`: the key of a row in a list's order, as hex.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ListCursor {
    signature: Signature,
}

fn cursor_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(ListCursor {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

impl ScalarUDFImpl for ListCursor {
    fn name(&self) -> &str {
        "list_cursor"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let orders = vec![codec::SortOrder::Asc; arrays.len()];
        let mut out = StringBuilder::new();
        for row in 0..rows {
            let values = arrays
                .iter()
                .map(|a| {
                    let s = ScalarValue::try_from_array(a, row)?;
                    scalar_to_value(&s).ok_or_else(|| {
                        DataFusionError::Plan(format!("list_cursor: cannot encode {s}"))
                    })
                })
                .collect::<Result<Vec<Value>>>()?;
            out.append_value(to_hex(&codec::encode_key(&values, &orders)));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// The table functions `list`, `list_count` and `list_facets`.
struct ListFunction {
    db: Arc<Database>,
    name: &'static str,
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
            .map_err(crate::store_err)?
            .ok_or_else(|| {
                DataFusionError::Plan(format!("{name}: no list '{id}' in table lists"))
            })?;
        let plan = plan(state, &self.db, &list, &read)?;
        Ok(Arc::new(ListTable(ViewTable::new(plan, None))))
    }
}

/// A read of a list: its plan, planned (and optimized) on its own when scanned. Not inlined
/// into the statement, so that the plan cache, which keeps only plans over Quiver tables,
/// never keeps it: the list may change without any DDL.
#[derive(Debug)]
pub(crate) struct ListTable(ViewTable);

#[async_trait::async_trait]
impl TableProvider for ListTable {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        self.0.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let plan = self.0.scan(state, projection, filters, limit).await?;
        Ok(in_order(plan))
    }
}

/// The plan's partitions merged back into its order. DataFusion may spread a page over
/// several partitions for the projection that computes the cursors, each in order; a page
/// is read as one ordered sequence.
fn in_order(
    plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
) -> Arc<dyn datafusion::physical_plan::ExecutionPlan> {
    use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
    use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
    use datafusion::physical_plan::ExecutionPlanProperties;
    if plan.output_partitioning().partition_count() <= 1 {
        return plan;
    }
    match plan.output_ordering() {
        Some(ordering) => Arc::new(SortPreservingMergeExec::new(ordering.clone(), plan)),
        None => Arc::new(CoalescePartitionsExec::new(plan)),
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

/// Registers `list`, `list_count` and `list_facets` in a session.
pub fn register_list_functions(ctx: &SessionContext, db: Arc<Database>) {
    for name in ["list", "list_count", "list_facets"] {
        ctx.register_udtf(
            name,
            Arc::new(ListFunction {
                db: db.clone(),
                name,
            }),
        );
    }
}

/// The check of rows written to `lists`: a list that could not run is refused, with the
/// reason. Lists are planned in a session of their datasource's namespace, made once per
/// namespace for the statement's rows.
pub(crate) fn row_check(db: Arc<Database>) -> crate::dml::RowCheck {
    let sessions: std::sync::Mutex<std::collections::HashMap<String, SessionContext>> =
        Default::default();
    Arc::new(move |row: &Row| {
        let list = indexed_store::system::list_from_row(row).map_err(crate::store_err)?;
        let namespace = split_name(&list.datasource).0;
        let state = sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(namespace.to_owned())
            .or_insert_with(|| crate::session::namespace_context(db.clone(), namespace))
            .state();
        plan(&state, &db, &list, &ListRead::Page(1)).map(|_| ())
    })
}

/// One page of a list, with the cursor of the page after it.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The rows: the list's columns, then `_cursor`.
    pub batches: Vec<datafusion::arrow::record_batch::RecordBatch>,
    /// The cursor of the page's last row when the page is full (there may be more rows);
    /// None after the last page.
    pub next_cursor: Option<String>,
}

impl crate::Quiver {
    /// A page of the list `id`: the first one, or the one after `after` (a cursor this
    /// list returned). Each page costs the same however deep it is when the list's sort is
    /// served by an index.
    pub async fn list_page(&self, id: &str, after: Option<&str>) -> Result<ListPage> {
        let db = self.database();
        let list = db
            .lists()
            .get(&id.to_owned())
            .map_err(crate::store_err)?
            .ok_or_else(|| list_err(id, "no such list in table lists"))?;
        let read = match after {
            Some(cursor) => ListRead::After(cursor.to_owned()),
            None => ListRead::Page(1),
        };
        let state = self.context().state();
        let plan = plan(&state, db, &list, &read)?;
        let physical = in_order(state.create_physical_plan(&plan).await?);
        let batches =
            datafusion::physical_plan::collect(physical, self.context().task_ctx()).await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let next_cursor = if rows as i64 == list.page_size {
            batches
                .iter()
                .rev()
                .find(|b| b.num_rows() > 0)
                .and_then(|b| {
                    let cursors = b.column(b.num_columns() - 1);
                    ScalarValue::try_from_array(cursors, b.num_rows() - 1)
                        .ok()
                        .and_then(|v| match v {
                            ScalarValue::Utf8(s)
                            | ScalarValue::Utf8View(s)
                            | ScalarValue::LargeUtf8(s) => s,
                            _ => None,
                        })
                })
        } else {
            None
        };
        Ok(ListPage {
            batches,
            next_cursor,
        })
    }
}
