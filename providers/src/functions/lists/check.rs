//! Checking a list against its datasource (its table, columns, filter, sort and page size),
//! when it is written and before it is read; what a session keeps of the lists it checked.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::DFSchema;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::sql::sqlparser::ast::{self, OrderByExpr};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use indexed_store::{Database, ListConfig, TableSchema};

use crate::error::SqlError;
use crate::names::{ident, split_name, CATALOG_NAME};
use crate::plan::PlanCache;
use crate::table::QuiverTable;

pub(crate) fn list_err(id: &str, why: impl fmt::Display) -> DataFusionError {
    SqlError::InvalidList {
        list: id.to_owned(),
        reason: why.to_string(),
    }
    .into()
}
/// One key of a list's order: a column, its direction and where its NULLs go.
pub(crate) struct SortKey {
    pub column: String,
    pub descending: bool,
    pub nulls_first: bool,
}

/// A list checked against its datasource.
pub(crate) struct Checked {
    pub schema: Arc<TableSchema>,
    pub table: Arc<dyn TableProvider>,
    /// The filter as SQL, printed from its parse (so nothing after it, not even a comment).
    pub filter: Option<String>,
    pub keys: Vec<SortKey>,
    pub columns: Vec<String>,
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
pub(super) fn check(state: &SessionState, db: &Database, list: &ListConfig) -> Result<Checked> {
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
    let filter = check_filter(state, list, &df_schema)?;
    let keys = sort_keys(list, &schema)?;
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

/// The list's filter checked over its datasource: one boolean SQL expression, without
/// parameters, printed from its parse (None without a filter).
fn check_filter(
    state: &SessionState,
    list: &ListConfig,
    df_schema: &DFSchema,
) -> Result<Option<String>> {
    let id = &list.id;
    if list.filters.trim().is_empty() {
        return Ok(None);
    }
    let sql = parse_filter(id, &list.filters)?;
    let text = sql.to_string();
    let e = state
        .create_logical_expr_from_sql_expr(
            ast::ExprWithAlias {
                expr: sql,
                alias: None,
            },
            df_schema,
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
    let ty = e.get_type(df_schema)?;
    if ty != DataType::Boolean {
        return Err(list_err(
            id,
            format!("filter '{}' is {ty}, not a condition", list.filters),
        ));
    }
    Ok(Some(text))
}

/// The list's sort keys: its sort columns, then the primary key as the tie-breaker.
fn sort_keys(list: &ListConfig, schema: &TableSchema) -> Result<Vec<SortKey>> {
    let id = &list.id;
    let mut keys = Vec::new();
    for item in parse_sort(id, &list.sort)? {
        let column = match &item.expr {
            ast::Expr::Identifier(i) => ident(i),
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
    Ok(keys)
}

/// What a session keeps for reading lists: the plan cache their statements go through (when
/// it has one) and the lists it has checked.
#[derive(Default)]
pub(crate) struct ListReads {
    pub(super) cache: Option<Arc<PlanCache>>,
    pub(super) checked: CheckedLists,
}

impl ListReads {
    /// List reads whose statements `cache` keeps.
    pub(crate) fn new(cache: Option<Arc<PlanCache>>) -> Self {
        ListReads {
            cache,
            checked: CheckedLists::default(),
        }
    }

    /// `list` checked as `state` sees it (again only when its row or the catalog changed).
    pub(crate) fn check(
        &self,
        state: &SessionState,
        db: &Database,
        list: &ListConfig,
    ) -> Result<Arc<Checked>> {
        self.checked.check(state, db, list)
    }
}

/// Lists a session has checked, by id, with the list's row and the catalog version each
/// was checked under: a page of an unchanged list skips parsing its filter again.
#[derive(Default)]
pub(crate) struct CheckedLists(std::sync::Mutex<std::collections::HashMap<String, CheckedList>>);

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
