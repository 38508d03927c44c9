//! Table schemas: columns, primary key, index specifications and TTL, as stored in the catalog.

use serde::{Deserialize, Serialize};

use crate::encoding::{ColumnType, SortOrder, Value};
use crate::error::{StoreError, StoreResult};

/// A row of a table: one value per column, in column order.
pub type Row = Vec<Value>;

/// One column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// Name (lower case unless quoted in SQL).
    pub name: String,
    /// Type.
    pub ty: ColumnType,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The SQL expression an INSERT that omits the column stores (`DEFAULT now()`), as
    /// written; the SQL layer plans it.
    pub default: Option<String>,
    /// The value of rows written before the column was added (`ALTER TABLE ... ADD COLUMN
    /// ... DEFAULT 5`): their records end before it. None reads as NULL.
    pub missing: Option<Value>,
}

impl ColumnDef {
    /// A nullable column.
    pub fn new(name: &str, ty: ColumnType) -> Self {
        ColumnDef {
            name: name.to_owned(),
            ty,
            nullable: true,
            default: None,
            missing: None,
        }
    }

    /// The same column, NOT NULL.
    pub fn not_null(mut self) -> Self {
        self.nullable = false;
        self
    }
}

/// One key column of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexColumn {
    /// Column name.
    pub name: String,
    /// Order in the index.
    pub order: SortOrder,
}

/// What an index holds, independent of how values are extracted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSpec {
    /// Name, unique within the table.
    pub name: String,
    /// Key columns.
    pub columns: Vec<IndexColumn>,
    /// Whether two rows may share the key (NULLs never conflict).
    pub unique: bool,
    /// Columns stored in the entry so that a scan needs no record read.
    pub include: Vec<String>,
    /// Whether only some rows have entries (a partial index; never chosen by the planner).
    pub partial: bool,
}

impl IndexSpec {
    /// An ascending, non-unique index on `columns`.
    pub fn new(name: &str, columns: &[&str]) -> Self {
        IndexSpec {
            name: name.to_owned(),
            columns: columns
                .iter()
                .map(|c| IndexColumn {
                    name: (*c).to_owned(),
                    order: SortOrder::Asc,
                })
                .collect(),
            unique: false,
            include: Vec::new(),
            partial: false,
        }
    }

    /// The orders of the key columns.
    pub fn orders(&self) -> Vec<SortOrder> {
        self.columns.iter().map(|c| c.order).collect()
    }
}

/// Why a text does not fit a JSON or UUID column.
fn misfit_text(text: &str, ty: &ColumnType) -> String {
    let shown: String = text.chars().take(40).collect();
    let reason = match ty {
        ColumnType::Json => serde_json::from_str::<serde::de::IgnoredAny>(text)
            .err()
            .map(|e| e.to_string()),
        _ => uuid::Uuid::try_parse(text).err().map(|e| e.to_string()),
    };
    format!("'{shown}', {}", reason.unwrap_or_default())
}

/// A table's time-to-live: rows expire `seconds` after the value of `column` (a TIMESTAMP),
/// or after they were last written when `column` is None.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtlSpec {
    /// The field rows expire by.
    pub column: Option<String>,
    /// Lifetime.
    pub seconds: u64,
}

/// The longest TTL a table may have: expiry instants are microseconds since the epoch in an
/// i64; half that range (about 146,000 years) leaves room for any creation time.
pub const MAX_TTL_SECONDS: u64 = (i64::MAX / 1_000_000) as u64 / 2;

/// Where a table's rows come from when it mirrors another service (see the `loader`
/// module of `providers`): rows are fetched per value of `key_column` (or for the whole
/// table) when a query needs them and they are missing or older than `reload_after_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderSpec {
    /// `http://` or `https://` (REST: GET, JSON array or NDJSON body) or `grpc://` /
    /// `grpcs://` (the `quiver.loader.Loader/Load` stream).
    pub url: String,
    /// The column whose value is loaded at a time; None: the table is loaded whole.
    pub key_column: Option<String>,
    /// Seconds after which loaded rows are fetched again; None: loaded once.
    pub reload_after_secs: Option<u64>,
    /// Headers of the incoming call passed on to the upstream (lower case).
    pub forward_headers: Vec<String>,
    /// Seconds a load may take before it fails.
    pub timeout_secs: u64,
}

/// A table: columns, primary key, indexes, TTL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSchema {
    /// Name, qualified by its namespace when not in `public` (`tenant.table`).
    pub name: String,
    /// Columns in order.
    pub columns: Vec<ColumnDef>,
    /// Primary-key columns, in key order.
    pub primary_key: Vec<String>,
    /// Secondary indexes.
    pub indexes: Vec<IndexSpec>,
    /// Time-to-live.
    pub ttl: Option<TtlSpec>,
    /// Bumped by every ALTER TABLE (0 for a table never altered).
    pub version: u32,
    /// The upstream the table's rows are loaded from, if any.
    pub loader: Option<LoaderSpec>,
}

impl TableSchema {
    /// Position of a column.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Position of a column, or an error naming it.
    pub fn require_column(&self, name: &str) -> StoreResult<usize> {
        self.column_index(name)
            .ok_or_else(|| StoreError::UnknownColumn {
                table: self.name.clone(),
                column: name.to_owned(),
            })
    }

    /// The columns' types, in column order.
    pub fn column_types(&self) -> Vec<ColumnType> {
        self.columns.iter().map(|c| c.ty.clone()).collect()
    }

    /// Positions of the primary-key columns.
    pub fn primary_key_indices(&self) -> Vec<usize> {
        self.primary_key
            .iter()
            .filter_map(|c| self.column_index(c))
            .collect()
    }

    /// The index spec of that name.
    pub fn index(&self, name: &str) -> Option<&IndexSpec> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// True when every entry of `index` holds `column`'s value (in its key, its row's
    /// primary key or its INCLUDE columns), so reading it needs no record. A list column is
    /// never held: its entries hold one element each.
    pub fn index_holds(&self, index: &IndexSpec, column: &str) -> bool {
        let list = self
            .column_index(column)
            .is_some_and(|i| self.columns[i].ty.is_list());
        (!list && index.columns.iter().any(|k| k.name == column))
            || self.primary_key.iter().any(|k| k == column)
            || index.include.iter().any(|k| k == column)
    }

    /// Checks that the schema can work: known, distinct columns; a primary key; indexes on
    /// known columns, none on the TTL field, at most one list column each.
    pub fn validate(&self) -> StoreResult<()> {
        let invalid = |reason: String| StoreError::InvalidDefinition {
            name: self.name.clone(),
            reason,
        };
        if self.columns.is_empty() {
            return Err(invalid("a table needs at least one column".into()));
        }
        for (i, c) in self.columns.iter().enumerate() {
            if self.columns[..i].iter().any(|d| d.name == c.name) {
                return Err(invalid(format!("column '{}' is defined twice", c.name)));
            }
        }
        if self.primary_key.is_empty() {
            return Err(invalid("a table needs a PRIMARY KEY".into()));
        }
        for k in &self.primary_key {
            let i = self.require_column(k)?;
            if self.columns[i].ty.is_list() {
                return Err(invalid(format!(
                    "primary-key column '{k}' cannot be a list"
                )));
            }
        }
        if let Some(ttl) = &self.ttl {
            if ttl.seconds == 0 {
                return Err(invalid("TTL must be at least one second".into()));
            }
            if ttl.seconds > MAX_TTL_SECONDS {
                return Err(invalid(format!(
                    "TTL of {} seconds is too long: at most {MAX_TTL_SECONDS}",
                    ttl.seconds
                )));
            }
            if let Some(c) = &ttl.column {
                let i = self.require_column(c)?;
                if !matches!(
                    self.columns[i].ty,
                    ColumnType::Timestamp | ColumnType::TimestampTz
                ) {
                    return Err(invalid(format!("TTL column '{c}' must be a TIMESTAMP")));
                }
            }
        }
        if let Some(loader) = &self.loader {
            if let Some(k) = &loader.key_column {
                let i = self.require_column(k)?;
                if self.columns[i].ty.is_list() {
                    return Err(invalid(format!("loader key column '{k}' cannot be a list")));
                }
            }
            if loader.timeout_secs == 0 {
                return Err(invalid(
                    "a loader's timeout must be at least one second".into(),
                ));
            }
        }
        for (i, idx) in self.indexes.iter().enumerate() {
            self.validate_index(idx)?;
            if self.indexes[..i].iter().any(|o| o.name == idx.name) {
                return Err(StoreError::IndexExists {
                    table: self.name.clone(),
                    index: idx.name.clone(),
                });
            }
        }
        Ok(())
    }

    /// Checks one index spec against this schema.
    pub fn validate_index(&self, idx: &IndexSpec) -> StoreResult<()> {
        let invalid = |reason: String| StoreError::InvalidDefinition {
            name: idx.name.clone(),
            reason,
        };
        if idx.columns.is_empty() {
            return Err(invalid("an index needs at least one column".into()));
        }
        let mut lists = 0;
        for c in &idx.columns {
            let i = self.require_column(&c.name)?;
            if self.columns[i].ty.is_list() {
                lists += 1;
            }
            if self.ttl.as_ref().and_then(|t| t.column.as_deref()) == Some(c.name.as_str()) {
                return Err(StoreError::IndexOnExpiringField {
                    table: self.name.clone(),
                    index: idx.name.clone(),
                    column: c.name.clone(),
                });
            }
        }
        if lists > 1 {
            return Err(invalid("an index may hold at most one list column".into()));
        }
        for c in &idx.include {
            self.require_column(c)?;
        }
        Ok(())
    }

    /// Checks and converts a row to the column types: arity, types (numbers converted where
    /// exact), NOT NULL and primary-key columns.
    pub fn check_row(&self, row: Row) -> StoreResult<Row> {
        if row.len() != self.columns.len() {
            return Err(StoreError::InvalidDefinition {
                name: self.name.clone(),
                reason: format!(
                    "row has {} values, table has {} columns",
                    row.len(),
                    self.columns.len()
                ),
            });
        }
        row.into_iter()
            .zip(&self.columns)
            .map(|(v, c)| {
                if v.is_null() && (!c.nullable || self.primary_key.contains(&c.name)) {
                    return Err(StoreError::NullViolation {
                        table: self.name.clone(),
                        column: c.name.clone(),
                    });
                }
                // Text that a JSON or UUID column refuses: say why, not only its type.
                let text = match (&v, &c.ty) {
                    (Value::Text(t), ColumnType::Json | ColumnType::Uuid) => Some(t.clone()),
                    _ => None,
                };
                let got = v.kind();
                v.coerce_to(&c.ty).ok_or_else(|| StoreError::TypeMismatch {
                    table: self.name.clone(),
                    column: c.name.clone(),
                    expected: c.ty.to_string(),
                    got: match text {
                        Some(t) => misfit_text(&t, &c.ty),
                        None => got.to_owned(),
                    },
                })
            })
            .collect()
    }
}
