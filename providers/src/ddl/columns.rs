//! Column definitions as CREATE TABLE and ADD COLUMN declare them: the SQL spellings of
//! Quiver's types, NOT NULL, PRIMARY KEY and DEFAULT.

use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast;
use indexed_store::{ColumnDef, ColumnType};

use crate::expr::default_text;
use crate::names::ident;

fn plan_err(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(msg.into())
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

/// A column as declared in CREATE TABLE or ADD COLUMN, and whether it says PRIMARY KEY.
pub(crate) fn column_def(c: &ast::ColumnDef) -> Result<(ColumnDef, bool)> {
    let name = ident(&c.name);
    let mut column = ColumnDef::new(&name, parse_type(&c.data_type.to_string())?);
    let mut primary = false;
    for opt in &c.options {
        match &opt.option {
            ast::ColumnOption::NotNull => column.nullable = false,
            ast::ColumnOption::Null => {}
            ast::ColumnOption::PrimaryKey(_) => {
                column.nullable = false;
                primary = true;
            }
            ast::ColumnOption::Default(e) => {
                column.default = Some(default_text(e, &name, &column.ty)?);
            }
            other => {
                return Err(DataFusionError::Plan(format!(
                    "unsupported option '{other}' on column '{name}': Quiver knows NOT NULL, NULL, PRIMARY KEY and DEFAULT"
                )))
            }
        }
    }
    Ok((column, primary))
}
