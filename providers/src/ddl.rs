//! Quiver's DDL: CREATE TABLE (types, NOT NULL, PRIMARY KEY, TTL), CREATE [UNIQUE] INDEX
//! (with DESC columns and INCLUDE), DROP TABLE, DROP INDEX. Parsed by DataFusion's SQL
//! parser, executed against the database directly.
//!
//! ```sql
//! CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, seen_at TIMESTAMP)
//!   WITH (ttl = '1h', ttl_column = 'seen_at');
//! CREATE UNIQUE INDEX sessions_user ON sessions (user_id DESC) INCLUDE (seen_at);
//! ```

use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{
    CreateIndex, CreateTable, CreateTableOptions, Expr as SqlExpr, Ident, ObjectName,
    ObjectNamePart, ObjectType, SqlOption, Statement, TableConstraint, Value as SqlValue,
};
use indexed_store::{
    ColumnType, Database, IndexColumn, IndexSpec, SortOrder, StoreError, TableSchema, TtlSpec,
};

use crate::catalog::{stored_name, CATALOG_NAME, DEFAULT_SCHEMA};
use crate::store_err;

/// What a DDL statement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdlOutcome {
    /// A table was created (or existed, with IF NOT EXISTS).
    CreatedTable(String),
    /// An index was created and filled.
    CreatedIndex(String),
    /// A table was dropped.
    DroppedTable(String),
    /// An index was dropped.
    DroppedIndex(String),
    /// A view was created or replaced.
    CreatedView(String),
    /// A view was dropped.
    DroppedView(String),
    /// A table was altered (its name after the change).
    AlteredTable(String),
    /// Nothing to do (IF EXISTS / IF NOT EXISTS).
    Nothing,
}

fn plan_err(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(msg.into())
}

/// An identifier as DataFusion normalises it: unquoted ones lower-cased.
pub(crate) fn ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// A name as a quoted SQL identifier, which DataFusion takes as written.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The stored name for `[catalog.][schema.]table`.
pub(crate) fn table_name(name: &ObjectName, namespace: &str) -> Result<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Ok(ident(i)),
            other => Err(plan_err(format!("unsupported name part {other}"))),
        })
        .collect::<Result<_>>()?;
    match parts.as_slice() {
        [t] => Ok(stored_name(namespace, t)),
        [s, t] => Ok(stored_name(s, t)),
        [c, s, t] if c == CATALOG_NAME => Ok(stored_name(s, t)),
        _ => Err(plan_err(format!("invalid table name '{name}'"))),
    }
}

/// A column type from its SQL spelling.
pub fn parse_type(sql_type: &str) -> Result<ColumnType> {
    let t = sql_type.trim().to_uppercase();
    if let Some(inner) = t.strip_suffix("[]") {
        return Ok(ColumnType::List(Box::new(parse_type(inner)?)));
    }
    if let Some(inner) = t.strip_prefix("ARRAY<").and_then(|s| s.strip_suffix('>')) {
        return Ok(ColumnType::List(Box::new(parse_type(inner)?)));
    }
    let base = t.split('(').next().unwrap_or("").trim();
    Ok(match base {
        "BOOLEAN" | "BOOL" => ColumnType::Boolean,
        "BIGINT" | "INT" | "INTEGER" | "SMALLINT" | "TINYINT" | "INT8" | "INT4" | "INT2" | "INT64" => ColumnType::Int64,
        "DOUBLE" | "DOUBLE PRECISION" | "FLOAT" | "REAL" | "FLOAT8" | "FLOAT4" | "FLOAT64" => ColumnType::Float64,
        "TEXT" | "VARCHAR" | "STRING" | "CHAR" | "CHARACTER VARYING" | "CHARACTER" => ColumnType::Text,
        "BYTEA" | "BLOB" | "BINARY" | "VARBINARY" | "BYTES" => ColumnType::Bytes,
        "TIMESTAMP" | "DATETIME" | "TIMESTAMP WITHOUT TIME ZONE" => ColumnType::Timestamp,
        "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => ColumnType::TimestampTz,
        "DATE" => ColumnType::Date,
        "UUID" => ColumnType::Uuid,
        "JSON" | "JSONB" => ColumnType::Json,
        "DECIMAL" | "NUMERIC" | "DEC" => decimal_type(sql_type, &t)?,
        _ => return Err(plan_err(format!("unsupported column type {sql_type}: use BOOLEAN, BIGINT, DOUBLE, TEXT, BYTEA, TIMESTAMP, TIMESTAMPTZ, DATE, UUID, JSON or a list of these (TEXT[])"))),
    })
}

/// DECIMAL(p, s) (DECIMAL(p) is scale 0; bare DECIMAL is DataFusion's (38, 10)).
fn decimal_type(sql_type: &str, upper: &str) -> Result<ColumnType> {
    let args: Vec<&str> = upper
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .map(|a| a.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let parse = |s: &str| s.parse::<u8>().ok();
    let (precision, scale) = match args.as_slice() {
        [] => (38, 10),
        [p] => (parse(p).unwrap_or(0), 0),
        [p, s] => (parse(p).unwrap_or(0), parse(s).unwrap_or(u8::MAX)),
        _ => (0, 0),
    };
    if !(1..=38).contains(&precision) || scale > precision {
        return Err(plan_err(format!(
            "invalid {sql_type}: precision is 1 to 38 digits and the scale at most the precision, as in DECIMAL(10, 2)"
        )));
    }
    Ok(ColumnType::Decimal { precision, scale })
}

/// The longest TTL: expiry instants are microseconds in an i64.
pub use indexed_store::MAX_TTL_SECONDS;

/// A duration: seconds as a number, or a number with a unit s, m, h or d (`'90s'`, `'1h'`).
pub fn parse_duration(text: &str) -> Result<u64> {
    let t = text.trim().to_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        plan_err(format!(
            "invalid TTL '{text}': expected e.g. 3600, '90s', '15m', '1h', '7d'"
        ))
    })?;
    let mult = match unit.trim() {
        "" | "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        other => {
            return Err(plan_err(format!(
                "invalid TTL unit '{other}' in '{text}': use s, m, h or d"
            )))
        }
    };
    n.checked_mul(mult)
        .filter(|&s| s <= MAX_TTL_SECONDS)
        .ok_or_else(|| {
            plan_err(format!(
                "TTL '{text}' is too long: at most {MAX_TTL_SECONDS} seconds (about 146,000 years)"
            ))
        })
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

fn create_table(
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
    let mut columns = Vec::new();
    let mut primary_key: Vec<String> = Vec::new();
    for c in &ct.columns {
        let (column, primary) = crate::alter::column_def(c)?;
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
    let mut ttl: Option<TtlSpec> = None;
    let mut ttl_column: Option<String> = None;
    let options: &[SqlOption] = match &ct.table_options {
        CreateTableOptions::With(o)
        | CreateTableOptions::Options(o)
        | CreateTableOptions::Plain(o) => o,
        CreateTableOptions::TableProperties(o) => o,
        CreateTableOptions::None => &[],
    };
    let mut loader = crate::loader::LoaderOptions::default();
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
    let schema = TableSchema {
        version: 0,
        name: name.clone(),
        columns,
        primary_key,
        indexes: vec![],
        ttl,
        loader: loader.spec()?,
    };
    if schema.loader.is_some() && only.is_some() {
        // The server would fetch whatever URL a tenant names, from inside its network.
        return Err(crate::error::SqlError::Unsupported {
            what: "a loader".into(),
            context: "in a tenant's session".into(),
            instead: "an all-access session declares tables that load from upstreams".into(),
        }
        .into());
    }
    db.create_table(schema).map_err(store_err)?;
    Ok(DdlOutcome::CreatedTable(name))
}

fn create_index(db: &Database, ci: &CreateIndex, namespace: &str) -> Result<DdlOutcome> {
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

/// True for the statements Quiver runs itself (CREATE TABLE/INDEX, DROP TABLE/INDEX).
pub fn is_ddl(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateTable(_)
            | Statement::CreateIndex(_)
            | Statement::CreateView(_)
            | Statement::AlterTable(_)
            | Statement::Drop {
                object_type: ObjectType::Table | ObjectType::Index | ObjectType::View,
                ..
            }
    )
}

/// Refuses a table outside the only namespace a restricted session may touch.
pub(crate) fn check_namespace(table: &str, only: Option<&str>) -> Result<()> {
    match only {
        Some(ns) if crate::catalog::split_name(table).0 != ns => {
            Err(crate::error::SqlError::OutsideNamespace {
                table: table.to_owned(),
                namespace: ns.to_owned(),
            }
            .into())
        }
        _ => Ok(()),
    }
}

/// The last part of a name (an index as DROP INDEX gives it, a column as INSERT or SET
/// names it), normalised like every identifier (a quoted name keeps its case).
pub(crate) fn last_name(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(i)) => ident(i),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// The stored names a DDL statement touches (tables; for DROP INDEX, the index's table).
fn touched_tables(db: &Database, statement: &Statement, namespace: &str) -> Result<Vec<String>> {
    Ok(match statement {
        Statement::CreateTable(ct) => vec![table_name(&ct.name, namespace)?],
        Statement::CreateIndex(ci) => vec![table_name(&ci.table_name, namespace)?],
        Statement::AlterTable(alter) => vec![table_name(&alter.name, namespace)?],
        Statement::Drop {
            object_type: ObjectType::Table,
            names,
            ..
        } => names
            .iter()
            .map(|n| table_name(n, namespace))
            .collect::<Result<_>>()?,
        Statement::Drop {
            object_type: ObjectType::Index,
            names,
            ..
        } => names
            .iter()
            .filter_map(|n| db.index_owner(&last_name(n)))
            .collect(),
        _ => vec![],
    })
}

/// Runs the statement when it is Quiver DDL; None for everything else. A session restricted
/// to one namespace (`only`) may change only that namespace's tables.
pub fn plan_ddl(
    db: &Database,
    statement: &Statement,
    namespace: String,
    only: Option<&str>,
) -> Result<Option<DdlOutcome>> {
    let namespace = if namespace.is_empty() {
        DEFAULT_SCHEMA.to_owned()
    } else {
        namespace
    };
    if let (
        Some(ns),
        Statement::Drop {
            object_type: ObjectType::Index,
            names,
            ..
        },
    ) = (only, statement)
    {
        // Another namespace's index is not there for this session: answering "outside
        // your namespace" would tell that it exists.
        for n in names {
            let name = last_name(n);
            if db
                .index_owner(&name)
                .is_some_and(|t| crate::catalog::split_name(&t).0 != ns)
            {
                return Err(crate::error::SqlError::IndexNotFound(name).into());
            }
        }
    }
    if is_ddl(statement) {
        for table in touched_tables(db, statement, &namespace)? {
            check_namespace(&table, only)?;
        }
    }
    Ok(Some(match statement {
        Statement::CreateTable(ct) => create_table(db, ct, &namespace, only)?,
        Statement::CreateIndex(ci) => create_index(db, ci, &namespace)?,
        Statement::AlterTable(alter) => crate::alter::alter_table(db, alter, &namespace, only)?,
        Statement::Drop {
            object_type: ObjectType::Table,
            if_exists,
            names,
            cascade,
            ..
        } => {
            let mut last = DdlOutcome::Nothing;
            for n in names {
                let name = table_name(n, &namespace)?;
                if db.table(&name).is_none() && *if_exists {
                    continue;
                }
                db.drop_table_with(&name, *cascade).map_err(store_err)?;
                last = DdlOutcome::DroppedTable(name);
            }
            last
        }
        Statement::Drop {
            object_type: ObjectType::Index,
            if_exists,
            names,
            ..
        } => {
            let mut last = DdlOutcome::Nothing;
            for n in names {
                let name = last_name(n);
                if db.index_owner(&name).is_none() && *if_exists {
                    continue;
                }
                db.drop_index(&name).map_err(store_err)?;
                last = DdlOutcome::DroppedIndex(name);
            }
            last
        }
        _ => return Ok(None),
    }))
}
