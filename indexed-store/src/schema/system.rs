//! The typed system tables `users` and `lists`, with their indexes, and what the typed
//! tables share (`jobs` is in `jobs.rs`).

use serde::{Deserialize, Serialize};

use super::definition::{IndexDefinition, TableDefinition};
use super::table_schema::{ColumnDef, Row, TableSchema};
use crate::encoding::{ColumnType, SortOrder, Value};
use crate::error::{StoreError, StoreResult};

/// A user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Primary key.
    pub user_id: String,
    /// Login name (unique).
    pub username: String,
    /// Role (indexed).
    pub role: String,
    /// Created (µs).
    pub created_at: i64,
}

/// A saved query over a datasource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListConfig {
    /// Primary key.
    pub id: String,
    /// The table queried.
    pub datasource: String,
    /// Columns shown.
    pub columns: Vec<String>,
    /// Filter (SQL expression text).
    pub filters: String,
    /// Sort (SQL ORDER BY text).
    pub sort: String,
    /// Rows per page.
    pub page_size: i64,
}

pub(super) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

pub(super) fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
    v.map_or(Value::Null, f)
}

/// Pulls typed fields out of a row, naming the column that does not fit.
pub(super) struct Fields {
    table: &'static str,
    names: Vec<String>,
    values: std::vec::IntoIter<Value>,
    at: usize,
}

impl Fields {
    pub(super) fn new(table: &'static str, schema: &TableSchema, row: Row) -> StoreResult<Self> {
        let row = schema.check_row(row)?;
        Ok(Fields {
            table,
            names: schema.columns.iter().map(|c| c.name.clone()).collect(),
            values: row.into_iter(),
            at: 0,
        })
    }

    fn next(&mut self) -> (String, Value) {
        let name = self.names.get(self.at).cloned().unwrap_or_default();
        self.at += 1;
        (name, self.values.next().unwrap_or(Value::Null))
    }

    fn err(&self, column: String, got: &Value, expected: &str) -> StoreError {
        StoreError::TypeMismatch {
            table: self.table.into(),
            column,
            expected: expected.into(),
            got: got.kind().into(),
        }
    }

    pub(super) fn text(&mut self) -> StoreResult<String> {
        match self.next() {
            (_, Value::Text(s)) => Ok(s),
            (c, v) => Err(self.err(c, &v, "TEXT")),
        }
    }

    pub(super) fn opt_text(&mut self) -> StoreResult<Option<String>> {
        match self.next() {
            (_, Value::Null) => Ok(None),
            (_, Value::Text(s)) => Ok(Some(s)),
            (c, v) => Err(self.err(c, &v, "TEXT")),
        }
    }

    pub(super) fn int(&mut self) -> StoreResult<i64> {
        match self.next() {
            (_, Value::Int(i)) | (_, Value::Timestamp(i)) => Ok(i),
            (c, v) => Err(self.err(c, &v, "BIGINT")),
        }
    }

    pub(super) fn opt_int(&mut self) -> StoreResult<Option<i64>> {
        match self.next() {
            (_, Value::Null) => Ok(None),
            (_, Value::Int(i)) | (_, Value::Timestamp(i)) => Ok(Some(i)),
            (c, v) => Err(self.err(c, &v, "BIGINT")),
        }
    }

    pub(super) fn text_list(&mut self) -> StoreResult<Vec<String>> {
        match self.next() {
            (_, Value::Null) => Ok(Vec::new()),
            (c, Value::List(items)) => items
                .into_iter()
                .map(|i| match i {
                    Value::Text(s) => Ok(s),
                    other => Err(self.err(c.clone(), &other, "TEXT[]")),
                })
                .collect(),
            (c, v) => Err(self.err(c, &v, "TEXT[]")),
        }
    }
}

pub(super) fn schema(name: &str, columns: Vec<ColumnDef>, key: &str) -> TableSchema {
    TableSchema {
        version: 0,
        loader: None,
        name: name.into(),
        columns,
        primary_key: vec![key.into()],
        indexes: vec![],
        ttl: None,
    }
}

/// The `users` table: unique `(username)`, `(role)`.
pub fn users_definition() -> StoreResult<TableDefinition<String, User>> {
    use ColumnType::*;
    let s = schema(
        "users",
        vec![
            ColumnDef::new("user_id", Text).not_null(),
            ColumnDef::new("username", Text).not_null(),
            ColumnDef::new("role", Text).not_null(),
            ColumnDef::new("created_at", Timestamp).not_null(),
        ],
        "user_id",
    );
    let from_schema = s.clone();
    TableDefinition::new(
        s,
        |u: &User| u.user_id.clone(),
        |u: &User| {
            vec![
                text(&u.user_id),
                text(&u.username),
                text(&u.role),
                Value::Timestamp(u.created_at),
            ]
        },
        move |row| {
            let mut f = Fields::new("users", &from_schema, row)?;
            Ok(User {
                user_id: f.text()?,
                username: f.text()?,
                role: f.text()?,
                created_at: f.int()?,
            })
        },
    )?
    .with_index(
        IndexDefinition::new(
            "users_username",
            &[("username", SortOrder::Asc)],
            |u: &User| vec![text(&u.username)],
        )
        .unique(),
    )?
    .with_index(IndexDefinition::new(
        "users_role",
        &[("role", SortOrder::Asc)],
        |u: &User| vec![text(&u.role)],
    ))
}

/// A `lists` row as the list it describes.
pub fn list_from_row(row: &Row) -> StoreResult<ListConfig> {
    lists_definition()?.from_row(row.clone())
}

/// The `lists` table: saved queries, keyed by id, indexed by datasource.
pub fn lists_definition() -> StoreResult<TableDefinition<String, ListConfig>> {
    use ColumnType::*;
    let s = schema(
        "lists",
        vec![
            ColumnDef::new("id", Text).not_null(),
            ColumnDef::new("datasource", Text).not_null(),
            ColumnDef::new("columns", List(Box::new(Text))),
            ColumnDef::new("filters", Text).not_null(),
            ColumnDef::new("sort", Text).not_null(),
            ColumnDef::new("page_size", Int64).not_null(),
        ],
        "id",
    );
    let from_schema = s.clone();
    TableDefinition::new(
        s,
        |l: &ListConfig| l.id.clone(),
        |l: &ListConfig| {
            vec![
                text(&l.id),
                text(&l.datasource),
                Value::List(l.columns.iter().map(|c| text(c)).collect()),
                text(&l.filters),
                text(&l.sort),
                Value::Int(l.page_size),
            ]
        },
        move |row| {
            let mut f = Fields::new("lists", &from_schema, row)?;
            Ok(ListConfig {
                id: f.text()?,
                datasource: f.text()?,
                columns: f.text_list()?,
                filters: f.text()?,
                sort: f.text()?,
                page_size: f.int()?,
            })
        },
    )?
    .with_index(IndexDefinition::new(
        "lists_datasource",
        &[("datasource", SortOrder::Asc)],
        |l: &ListConfig| vec![text(&l.datasource)],
    ))
}
