//! CREATE TABLE (types, NOT NULL, PRIMARY KEY, DEFAULT, TTL, loader) and CREATE [UNIQUE]
//! INDEX (with DESC columns and INCLUDE).
//!
//! ```sql
//! CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, seen_at TIMESTAMP)
//!   WITH (ttl = '1h', ttl_column = 'seen_at');
//! CREATE UNIQUE INDEX sessions_user ON sessions (user_id DESC) INCLUDE (seen_at);
//! ```

use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{
    CreateIndex, CreateTable, CreateTableOptions, Expr as SqlExpr, SqlOption, TableConstraint,
    Value as SqlValue,
};
use indexed_store::{
    ColumnDef, Database, IndexColumn, IndexSpec, LoaderSpec, SortOrder, StoreError, TableSchema,
    TtlSpec,
};

use super::columns::column_def;
use super::dispatch::DdlOutcome;
use crate::convert::parse_duration;
use crate::error::{store_err, SqlError};
use crate::names::{ident, last_name, table_name};
use crate::table::LoaderOptions;

fn plan_err(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(msg.into())
}

fn option_text(v: &SqlExpr) -> Result<String> {
    match v {
        SqlExpr::Value(v) => match &v.value {
            SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => Ok(s.clone()),
            SqlValue::Number(n, _) => Ok(n.clone()),
            other => Err(plan_err(format!("unsupported option value {other}"))),
        },
        SqlExpr::Identifier(i) => Ok(ident(i)),
        other => Err(plan_err(format!("unsupported option value {other}"))),
    }
}

pub(super) fn create_table(
    db: &Database,
    ct: &CreateTable,
    namespace: &str,
    only: Option<&str>,
) -> Result<DdlOutcome> {
    let name = table_name(&ct.name, namespace)?;
    if ct.query.is_some() {
        return Err(plan_err("CREATE TABLE ... AS SELECT is not supported: create the table, then INSERT INTO ... SELECT"));
    }
    if db.table(&name).is_some() {
        return if ct.if_not_exists {
            Ok(DdlOutcome::Nothing)
        } else {
            Err(store_err(StoreError::TableExists(name)))
        };
    }
    let (columns, primary_key) = columns_and_key(ct, &name)?;
    let (ttl, loader) = table_options(ct)?;
    let schema = TableSchema {
        version: 0,
        name: name.clone(),
        columns,
        primary_key,
        indexes: vec![],
        ttl,
        loader,
    };
    if schema.loader.is_some() && only.is_some() {
        // The server would fetch whatever URL a tenant names, from inside its network.
        return Err(SqlError::Unsupported {
            what: "a loader".into(),
            context: "in a tenant's session".into(),
            instead: "an all-access session declares tables that load from upstreams".into(),
        }
        .into());
    }
    db.create_table(schema).map_err(store_err)?;
    Ok(DdlOutcome::CreatedTable(name))
}

/// The table's columns and its primary key (declared on a column or as a constraint), the
/// key's columns made NOT NULL.
fn columns_and_key(ct: &CreateTable, name: &str) -> Result<(Vec<ColumnDef>, Vec<String>)> {
    let mut columns = Vec::new();
    let mut primary_key: Vec<String> = Vec::new();
    for c in &ct.columns {
        let (column, primary) = column_def(c)?;
        if primary {
            primary_key.push(column.name.clone());
        }
        columns.push(column);
    }
    for constraint in &ct.constraints {
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                if !primary_key.is_empty() {
                    return Err(plan_err(format!(
                        "table '{name}' declares its PRIMARY KEY twice"
                    )));
                }
                for c in &pk.columns {
                    match &c.column.expr {
                        SqlExpr::Identifier(i) => primary_key.push(ident(i)),
                        other => {
                            return Err(plan_err(format!(
                                "PRIMARY KEY column must be a name, got {other}"
                            )))
                        }
                    }
                }
            }
            other => {
                return Err(plan_err(format!(
                    "unsupported table constraint '{other}': create indexes with CREATE INDEX"
                )))
            }
        }
    }
    if primary_key.is_empty() {
        return Err(plan_err(format!("table '{name}' needs a PRIMARY KEY")));
    }
    for k in &primary_key {
        if let Some(c) = columns.iter_mut().find(|c| &c.name == k) {
            c.nullable = false;
        }
    }
    Ok((columns, primary_key))
}

/// The table's `WITH` options: its TTL and its loader.
fn table_options(ct: &CreateTable) -> Result<(Option<TtlSpec>, Option<LoaderSpec>)> {
    let mut ttl: Option<TtlSpec> = None;
    let mut ttl_column: Option<String> = None;
    let options: &[SqlOption] = match &ct.table_options {
        CreateTableOptions::With(o)
        | CreateTableOptions::Options(o)
        | CreateTableOptions::Plain(o) => o,
        CreateTableOptions::TableProperties(o) => o,
        CreateTableOptions::None => &[],
    };
    let mut loader = LoaderOptions::default();
    for o in options {
        let SqlOption::KeyValue { key, value } = o else {
            return Err(plan_err(format!(
                "unsupported table option {o}: use WITH (ttl = '1h', ttl_column = 'col')"
            )));
        };
        match ident(key).as_str() {
            "ttl" => {
                ttl = Some(TtlSpec {
                    column: None,
                    seconds: parse_duration(&option_text(value)?)?,
                })
            }
            "ttl_column" => ttl_column = Some(option_text(value)?.to_lowercase()),
            other => {
                if !loader.take(other, option_text(value)?)? {
                    return Err(plan_err(format!(
                        "unknown table option '{other}': Quiver knows ttl, ttl_column, loader, loader_key, reload_after, loader_timeout and forward_headers"
                    )));
                }
            }
        }
    }
    match (&mut ttl, ttl_column) {
        (Some(t), c) => t.column = c,
        (None, Some(_)) => return Err(plan_err("ttl_column given without ttl")),
        (None, None) => {}
    }
    Ok((ttl, loader.spec()?))
}

pub(super) fn create_index(db: &Database, ci: &CreateIndex, namespace: &str) -> Result<DdlOutcome> {
    let table = table_name(&ci.table_name, namespace)?;
    let name = ci
        .name
        .as_ref()
        .map(last_name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            plan_err("CREATE INDEX needs a name: CREATE INDEX name ON table (columns)")
        })?;
    if ci.predicate.is_some() {
        return Err(plan_err(format!(
            "partial index '{name}': CREATE INDEX ... WHERE is not supported"
        )));
    }
    if db.index_owner(&name).is_some() {
        return if ci.if_not_exists {
            Ok(DdlOutcome::Nothing)
        } else {
            Err(store_err(StoreError::IndexExists { table, index: name }))
        };
    }
    let mut columns = Vec::new();
    for c in &ci.columns {
        let SqlExpr::Identifier(i) = &c.column.expr else {
            return Err(plan_err(format!(
                "index '{name}': only plain columns can be indexed, got {}",
                c.column.expr
            )));
        };
        if c.column.options.nulls_first.is_some() {
            return Err(plan_err(format!("index '{name}': NULLS FIRST/LAST is fixed (NULLs sort last ascending, first descending)")));
        }
        let order = if c.column.options.asc == Some(false) {
            SortOrder::Desc
        } else {
            SortOrder::Asc
        };
        columns.push(IndexColumn {
            name: ident(i),
            order,
        });
    }
    let spec = IndexSpec {
        name: name.clone(),
        columns,
        unique: ci.unique,
        include: ci.include.iter().map(ident).collect(),
        partial: false,
    };
    if db.table(&table).is_none() {
        return Err(store_err(StoreError::UnknownTable(table)));
    }
    db.create_index(&table, spec).map_err(store_err)?;
    Ok(DdlOutcome::CreatedIndex(name))
}
