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
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{DFSchema, ParamValues, ScalarValue};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::SessionState;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{self, OrderByExpr};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use futures::{StreamExt, TryStreamExt};
use indexed_store::{codec, ColumnType, Database, ListConfig, Row, TableSchema, Value};

use crate::catalog::{split_name, CATALOG_NAME};
use crate::ddl::quote_ident as quote;
use crate::plan_cache::PlanCache;
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
    /// The filter as SQL, printed from its parse (so nothing after it, not even a comment).
    filter: Option<String>,
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
        let text = sql.to_string();
        let e = state
            .create_logical_expr_from_sql_expr(
                ast::ExprWithAlias {
                    expr: sql,
                    alias: None,
                },
                &df_schema,
            )
            .map_err(|e| list_err(id, format!("filter '{}': {e}", list.filters)))?;
        // A list's reads bind their own parameters (the cursor's values).
        let placeholder = e
            .exists(|e| Ok(matches!(e, Expr::Placeholder(_))))
            .unwrap_or(true);
        if placeholder {
            return Err(list_err(
                id,
                format!(
                    "filter '{}' has a parameter; a list's filter is constant",
                    list.filters
                ),
            ));
        }
        let ty = e.get_type(&df_schema)?;
        if ty != DataType::Boolean {
            return Err(list_err(
                id,
                format!("filter '{}' is {ty}, not a condition", list.filters),
            ));
        }
        Some(text)
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

/// What a session keeps for reading lists: the plan cache their statements go through (when
/// it has one) and the lists it has checked.
#[derive(Default)]
pub(crate) struct ListReads {
    cache: Option<Arc<PlanCache>>,
    checked: CheckedLists,
}

impl ListReads {
    /// List reads whose statements `cache` keeps.
    pub(crate) fn new(cache: Option<Arc<PlanCache>>) -> Self {
        ListReads {
            cache,
            checked: CheckedLists::default(),
        }
    }
}

/// Lists a session has checked, by id, with the list's row and the catalog version each
/// was checked under: a page of an unchanged list skips parsing its filter again.
#[derive(Default)]
struct CheckedLists(std::sync::Mutex<std::collections::HashMap<String, CheckedList>>);

type CheckedList = (ListConfig, u64, Arc<Checked>);

/// Most lists a session keeps checked; past it the oldest checks are all dropped.
const CHECKED_LISTS: usize = 256;

impl CheckedLists {
    /// `list` checked as `state` sees it, again only when its row or the catalog changed.
    fn check(
        &self,
        state: &SessionState,
        db: &Database,
        list: &ListConfig,
    ) -> Result<Arc<Checked>> {
        let version = db.catalog_version();
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((config, at, checked)) = kept.get(&list.id) {
            if config == list && *at == version {
                return Ok(checked.clone());
            }
        }
        let checked = Arc::new(check(state, db, list)?);
        if kept.len() >= CHECKED_LISTS {
            kept.clear();
        }
        kept.insert(list.id.clone(), (list.clone(), version, checked.clone()));
        Ok(checked)
    }
}

/// A read of a list as one SQL statement over its datasource, with the cursor's values as
/// its parameters: every page after a cursor is the same text, which the plan cache plans
/// once and the fast path then runs as one index seek.
struct ReadStatement {
    sql: String,
    params: Vec<ScalarValue>,
    /// For pages, how to make `_cursor`: the statement yields the list's columns, then the
    /// sort columns it does not show.
    cursor: Option<CursorColumns>,
}

/// Where a page's `_cursor` comes from in the statement's output.
#[derive(Clone)]
struct CursorColumns {
    /// The list's columns, first in the output.
    shown: usize,
    /// The sort key's columns (sort columns, then primary key) by output position.
    keys: Vec<usize>,
}

/// The statement that reads `read` of a checked list.
fn read_statement(list: &ListConfig, checked: &Checked, read: &ListRead) -> Result<ReadStatement> {
    let (ns, name) = split_name(&list.datasource);
    let from = format!("{}.{}.{}", quote(CATALOG_NAME), quote(ns), quote(name));
    let mut conditions: Vec<String> = checked.filter.iter().map(|f| format!("({f})")).collect();
    let mut params = Vec::new();
    // `FROM table [WHERE ...]` once the conditions are all there.
    let source = |conditions: &[String]| match conditions {
        [] => from.clone(),
        c => format!("{from} WHERE {}", c.join(" AND ")),
    };
    let grouped = |select: String, group: &str| ReadStatement {
        sql: format!("SELECT {select} FROM {}{group}", source(&conditions)),
        params: Vec::new(),
        cursor: None,
    };
    match read {
        ListRead::Count => return Ok(grouped("count(*) AS \"count\"".into(), "")),
        ListRead::Facets(column) => {
            if checked.schema.column_index(column).is_none() {
                return Err(list_err(
                    &list.id,
                    format!("facet column '{column}' is not a column"),
                ));
            }
            let c = quote(column);
            return Ok(grouped(
                format!("{c}, count(*) AS \"count\""),
                &format!(" GROUP BY {c}"),
            ));
        }
        ListRead::After(cursor) => {
            let values = decode_cursor(&list.id, cursor, checked)?;
            conditions.push(format!("({})", after(checked, &values, &mut params)));
        }
        ListRead::Page(_) => {}
    }
    let skip = match read {
        ListRead::Page(n) if *n < 1 => {
            return Err(list_err(
                &list.id,
                format!("page {n}: pages are numbered from 1"),
            ))
        }
        ListRead::Page(n) => (n - 1).saturating_mul(list.page_size),
        _ => 0,
    };
    let mut output = checked.columns.clone();
    let keys = checked
        .keys
        .iter()
        .map(|k| match output.iter().position(|c| c == &k.column) {
            Some(i) => i,
            None => {
                output.push(k.column.clone());
                output.len() - 1
            }
        })
        .collect();
    let order: Vec<String> = checked
        .keys
        .iter()
        .map(|k| {
            format!(
                "{} {} NULLS {}",
                quote(&k.column),
                if k.descending { "DESC" } else { "ASC" },
                if k.nulls_first { "FIRST" } else { "LAST" }
            )
        })
        .collect();
    let select: Vec<String> = output.iter().map(|c| quote(c)).collect();
    let mut sql = format!(
        "SELECT {} FROM {} ORDER BY {} LIMIT {}",
        select.join(", "),
        source(&conditions),
        order.join(", "),
        list.page_size
    );
    if skip > 0 {
        sql.push_str(&format!(" OFFSET {skip}"));
    }
    Ok(ReadStatement {
        sql,
        params,
        cursor: Some(CursorColumns {
            shown: checked.columns.len(),
            keys,
        }),
    })
}

/// Rows after the cursor's key in the list's order: `k1 after $1 OR (k1 = $1 AND k2 after
/// $2) OR ...`, with NULLs where the order puts them (a NULL value is written in, not a
/// parameter). Without NULLs in play this is the expanded row-value comparison the access
/// planner seeks with.
fn after(checked: &Checked, values: &[Value], params: &mut Vec<ScalarValue>) -> String {
    let mut disjuncts = Vec::new();
    let mut equal: Vec<String> = Vec::new();
    for (k, v) in checked.keys.iter().zip(values) {
        let c = quote(&k.column);
        let nullable = checked
            .schema
            .column_index(&k.column)
            .is_some_and(|i| checked.schema.columns[i].nullable);
        let value = (!v.is_null()).then(|| {
            params.push(scalar(&checked.schema, &k.column, v));
            format!("${}", params.len())
        });
        let beyond = match &value {
            // After NULL come the values, when NULLs come first.
            None => k.nulls_first.then(|| format!("{c} IS NOT NULL")),
            Some(value) => {
                let past = format!("{c} {} {value}", if k.descending { "<" } else { ">" });
                Some(if nullable && !k.nulls_first {
                    format!("({past} OR {c} IS NULL)")
                } else {
                    past
                })
            }
        };
        if let Some(beyond) = beyond {
            let conjunct = equal
                .iter()
                .cloned()
                .chain(std::iter::once(beyond))
                .collect::<Vec<_>>()
                .join(" AND ");
            disjuncts.push(format!("({conjunct})"));
        }
        equal.push(match value {
            None => format!("{c} IS NULL"),
            Some(value) => format!("{c} = {value}"),
        });
    }
    if disjuncts.is_empty() {
        "false".into()
    } else {
        disjuncts.join(" OR ")
    }
}

/// A value as a scalar of its column's type.
fn scalar(schema: &TableSchema, column: &str, v: &Value) -> ScalarValue {
    let ty = schema
        .column_index(column)
        .map(|i| schema.columns[i].ty.clone());
    match (ty, v) {
        (Some(ColumnType::Int64), Value::Float(f)) => ScalarValue::Int64(Some(*f as i64)),
        (Some(ColumnType::Float64), Value::Int(i)) => ScalarValue::Float64(Some(*i as f64)),
        (_, Value::Int(i)) => ScalarValue::Int64(Some(*i)),
        (_, Value::Float(f)) => ScalarValue::Float64(Some(*f)),
        (_, Value::Bool(b)) => ScalarValue::Boolean(Some(*b)),
        (_, Value::Text(s)) => ScalarValue::Utf8(Some(s.clone())),
        (_, Value::Bytes(b)) => ScalarValue::Binary(Some(b.clone())),
        (_, Value::Timestamp(t)) => ScalarValue::TimestampMicrosecond(Some(*t), None),
        _ => ScalarValue::Null,
    }
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

/// Appends `bytes` as lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
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

/// A page batch as the list shows it: its columns, then `_cursor`, each row's sort key in
/// the store's key codec as hex.
fn with_cursor(
    batch: &RecordBatch,
    cursor: &CursorColumns,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let keys = crate::convert::batch_to_rows(&batch.project(&cursor.keys)?)?;
    let mut out = StringBuilder::with_capacity(keys.len(), keys.len() * 32);
    let mut hex = String::new();
    for key in &keys {
        hex.clear();
        push_hex(&mut hex, &codec::encode_key(key, &[]));
        out.append_value(&hex);
    }
    let mut columns: Vec<ArrayRef> = batch.columns()[..cursor.shown].to_vec();
    columns.push(Arc::new(out.finish()));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The rows a read of a list yields: the list's columns and `_cursor` for a page, `count`,
/// or a facet column and `count`.
fn read_schema(checked: &Checked, read: &ListRead) -> Result<SchemaRef> {
    let table = checked.table.schema();
    let count = Field::new("count", DataType::Int64, false);
    let fields = match read {
        ListRead::Count => vec![count],
        ListRead::Facets(column) => vec![table.field_with_name(column)?.clone(), count],
        ListRead::Page(_) | ListRead::After(_) => checked
            .columns
            .iter()
            .map(|c| Ok(table.field_with_name(c)?.clone()))
            .chain(std::iter::once(Ok(Field::new(
                CURSOR_COLUMN,
                DataType::Utf8,
                false,
            ))))
            .collect::<Result<Vec<_>>>()?,
    };
    Ok(Arc::new(Schema::new(fields)))
}

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
            .map_err(crate::store_err)?
            .ok_or_else(|| {
                DataFusionError::Plan(format!("{name}: no list '{id}' in table lists"))
            })?;
        let checked = self.reads.checked.check(state, &self.db, &list)?;
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
        let scope = crate::session::scope_of(state);
        let found = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&scope, sql, version));
        let statement = match found {
            Some(s) => s,
            None => {
                let parsed = crate::session::one_statement(sql, "a list read")?;
                let (s, cacheable) =
                    crate::session::plan_entry(state, sql, parsed, &scope, version).await?;
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
    statement: Arc<crate::plan_cache::CachedStatement>,
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
            crate::statement::run_in_state(&state, cache.as_deref(), &statement, params, context)
                .await
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
/// every time (a [`crate::Quiver`] session keeps them in its plan cache).
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
        let checked = check(&state, &db, &list)?;
        read_statement(&list, &checked, &ListRead::Page(1)).map(|_| ())
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
        let (checked, schema) = {
            let state = self.context().state_ref();
            let state = state.read();
            let checked = self.list_reads().checked.check(&state, db, &list)?;
            let schema = read_schema(&checked, &read)?;
            (checked, schema)
        };
        let statement = read_statement(&list, &checked, &read)?;
        let prepared = self.prepare(&statement.sql).await?;
        let rows = prepared.query(statement.params).await?;
        let cursor = statement.cursor.as_ref().ok_or_else(|| {
            DataFusionError::Internal("a list page is read without its cursor".into())
        })?;
        let batches = rows
            .iter()
            .map(|b| with_cursor(b, cursor, &schema))
            .collect::<Result<Vec<_>>>()?;
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
