//! How a table's entities map to keys: the primary key, each index's extracted values, the
//! TTL basis, and the mapping to rows that SQL sees.

use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::keyspace::Partitions;
use super::table_schema::{IndexColumn, IndexSpec, Row, TableSchema};
use crate::encoding::{
    encode_group, to_bytes, ColumnType, Group, Malformed, SortOrder, Value, ENTITY_LAYOUT,
    ROW_LAYOUT,
};
use crate::error::{StoreError, StoreResult};

/// What the store needs of an entity type.
pub trait Entity: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Entity for T {}

/// A primary key type: converts to and from the key's column values.
pub trait EntityKey: Clone + Send + Sync + 'static {
    /// The key's column values.
    fn to_values(&self) -> Vec<Value>;
    /// The key back from its values (None when they do not fit).
    fn from_values(values: Vec<Value>) -> Option<Self>;
}

impl EntityKey for String {
    fn to_values(&self) -> Vec<Value> {
        vec![Value::Text(self.clone())]
    }
    fn from_values(values: Vec<Value>) -> Option<Self> {
        match <[Value; 1]>::try_from(values).ok()? {
            [Value::Text(s)] => Some(s),
            _ => None,
        }
    }
}

impl EntityKey for i64 {
    fn to_values(&self) -> Vec<Value> {
        vec![Value::Int(*self)]
    }
    fn from_values(values: Vec<Value>) -> Option<Self> {
        match <[Value; 1]>::try_from(values).ok()? {
            [v] => match v.coerce_to(&ColumnType::Int64)? {
                Value::Int(i) => Some(i),
                _ => None,
            },
        }
    }
}

impl EntityKey for Vec<Value> {
    fn to_values(&self) -> Vec<Value> {
        self.clone()
    }
    fn from_values(values: Vec<Value>) -> Option<Self> {
        Some(values)
    }
}

/// Extracts values from an entity.
pub type Extractor<V> = Arc<dyn Fn(&V) -> Vec<Value> + Send + Sync>;
/// Decides whether an entity belongs in a partial index.
pub type Condition<V> = Arc<dyn Fn(&V) -> bool + Send + Sync>;

/// A secondary index: its spec (name, columns, uniqueness, covered columns) and the functions
/// that extract its key and covered values from an entity.
pub struct IndexDefinition<V> {
    /// Name, columns, uniqueness, INCLUDE columns.
    pub spec: IndexSpec,
    pub(crate) extract: Extractor<V>,
    pub(crate) covered: Option<Extractor<V>>,
    pub(crate) condition: Option<Condition<V>>,
}

impl<V> Clone for IndexDefinition<V> {
    fn clone(&self) -> Self {
        IndexDefinition {
            spec: self.spec.clone(),
            extract: self.extract.clone(),
            covered: self.covered.clone(),
            condition: self.condition.clone(),
        }
    }
}

impl<V: 'static> IndexDefinition<V> {
    /// A non-unique index on `columns` whose key values `extract` returns, one per column
    /// (a `Value::List` in a column makes one entry per element).
    pub fn new(
        name: &str,
        columns: &[(&str, SortOrder)],
        extract: impl Fn(&V) -> Vec<Value> + Send + Sync + 'static,
    ) -> Self {
        IndexDefinition {
            spec: IndexSpec {
                name: name.to_owned(),
                columns: columns
                    .iter()
                    .map(|(c, o)| IndexColumn {
                        name: (*c).to_owned(),
                        order: *o,
                    })
                    .collect(),
                unique: false,
                include: Vec::new(),
                partial: false,
            },
            extract: Arc::new(extract),
            covered: None,
            condition: None,
        }
    }

    /// The same index, unique.
    pub fn unique(mut self) -> Self {
        self.spec.unique = true;
        self
    }

    /// Stores the values of `columns` (returned by `extract`) in every entry.
    pub fn covering(
        mut self,
        columns: &[&str],
        extract: impl Fn(&V) -> Vec<Value> + Send + Sync + 'static,
    ) -> Self {
        self.spec.include = columns.iter().map(|c| (*c).to_owned()).collect();
        self.covered = Some(Arc::new(extract));
        self
    }

    /// Indexes only the entities for which `condition` holds.
    pub fn when(mut self, condition: impl Fn(&V) -> bool + Send + Sync + 'static) -> Self {
        self.spec.partial = true;
        self.condition = Some(Arc::new(condition));
        self
    }

    /// An index from a spec, extracting column values through the table's row mapping.
    pub fn from_spec(spec: IndexSpec, schema: &TableSchema, to_row: ToRow<V>) -> StoreResult<Self> {
        let (key_cols, inc_cols) = spec_columns(&spec, schema)?;
        let key_row = to_row.clone();
        let extract: Extractor<V> = Arc::new(move |v| {
            let row = key_row(v);
            key_cols.iter().map(|&i| row[i].clone()).collect()
        });
        let covered: Option<Extractor<V>> = if inc_cols.is_empty() {
            None
        } else {
            Some(Arc::new(move |v| {
                let row = to_row(v);
                inc_cols.iter().map(|&i| row[i].clone()).collect()
            }))
        };
        Ok(IndexDefinition {
            spec,
            extract,
            covered,
            condition: None,
        })
    }
}

impl IndexDefinition<Row> {
    /// An index from a spec over rows, reading the columns by position (no row copy).
    pub fn for_rows(spec: IndexSpec, schema: &TableSchema) -> StoreResult<Self> {
        let (key_cols, inc_cols) = spec_columns(&spec, schema)?;
        let extract: Extractor<Row> =
            Arc::new(move |row: &Row| key_cols.iter().map(|&i| row[i].clone()).collect());
        let covered: Option<Extractor<Row>> = if inc_cols.is_empty() {
            None
        } else {
            Some(Arc::new(move |row: &Row| {
                inc_cols.iter().map(|&i| row[i].clone()).collect()
            }))
        };
        Ok(IndexDefinition {
            spec,
            extract,
            covered,
            condition: None,
        })
    }
}

/// Positions of an index's key columns and INCLUDE columns, once the spec is checked.
fn spec_columns(spec: &IndexSpec, schema: &TableSchema) -> StoreResult<(Vec<usize>, Vec<usize>)> {
    schema.validate_index(spec)?;
    let key_cols = spec
        .columns
        .iter()
        .map(|c| schema.require_column(&c.name))
        .collect::<StoreResult<_>>()?;
    let inc_cols = spec
        .include
        .iter()
        .map(|c| schema.require_column(c))
        .collect::<StoreResult<_>>()?;
    Ok((key_cols, inc_cols))
}

/// Maps an entity to the row SQL sees.
pub type ToRow<V> = Arc<dyn Fn(&V) -> Row + Send + Sync>;
/// Maps a row back to an entity.
pub type FromRow<V> = Arc<dyn Fn(Row) -> StoreResult<V> + Send + Sync>;

/// Everything the store needs to know about a table of `V`s keyed by `K`.
pub struct TableDefinition<K, V> {
    /// Columns, primary key, index specs and TTL (index specs mirror `indexes`). Build a
    /// changed table as a new definition (or with `with_index` / `without_index`): the
    /// partition names are worked out from it once.
    pub schema: Arc<TableSchema>,
    pub(crate) key: Arc<dyn Fn(&V) -> K + Send + Sync>,
    pub(crate) indexes: Vec<IndexDefinition<V>>,
    pub(crate) ttl_basis: Option<Arc<dyn Fn(&V) -> Option<i64> + Send + Sync>>,
    pub(crate) to_row: ToRow<V>,
    pub(crate) from_row: FromRow<V>,
    /// Orders of the primary-key columns (always ascending).
    pub(crate) pk_orders: Vec<SortOrder>,
    /// How records are written and, for the row layout, read.
    pub(crate) records: RecordCodec<V>,
    /// The partition names, formatted once per definition (every read names them).
    partitions: OnceLock<Arc<Partitions>>,
}

/// How a table's entities become record bodies (see `encoding/record.rs`).
pub(crate) struct RecordCodec<V> {
    /// The layout records are written in.
    pub layout: u8,
    /// Appends an entity's body.
    pub encode: Arc<dyn Fn(&V, &mut Vec<u8>) + Send + Sync>,
    /// Reads a row-layout body (None: the table's records are all entities).
    pub decode_row: Option<Arc<dyn Fn(&Group<'_>) -> Result<V, Malformed> + Send + Sync>>,
}

impl<V> Clone for RecordCodec<V> {
    fn clone(&self) -> Self {
        RecordCodec {
            layout: self.layout,
            encode: self.encode.clone(),
            decode_row: self.decode_row.clone(),
        }
    }
}

impl<K, V> Clone for TableDefinition<K, V> {
    fn clone(&self) -> Self {
        TableDefinition {
            schema: self.schema.clone(),
            key: self.key.clone(),
            indexes: self.indexes.clone(),
            ttl_basis: self.ttl_basis.clone(),
            to_row: self.to_row.clone(),
            from_row: self.from_row.clone(),
            pk_orders: self.pk_orders.clone(),
            records: self.records.clone(),
            partitions: self.partitions.clone(),
        }
    }
}

impl<K: EntityKey, V: 'static> TableDefinition<K, V> {
    /// A table described by `schema` (its index specs are built through `to_row`; TTL by
    /// its column through `to_row` too).
    pub fn new(
        schema: TableSchema,
        key: impl Fn(&V) -> K + Send + Sync + 'static,
        to_row: impl Fn(&V) -> Row + Send + Sync + 'static,
        from_row: impl Fn(Row) -> StoreResult<V> + Send + Sync + 'static,
    ) -> StoreResult<Self>
    where
        V: serde::Serialize,
    {
        schema.validate()?;
        let to_row: ToRow<V> = Arc::new(to_row);
        let indexes = schema
            .indexes
            .iter()
            .map(|spec| IndexDefinition::from_spec(spec.clone(), &schema, to_row.clone()))
            .collect::<StoreResult<Vec<_>>>()?;
        let ttl_basis: Option<Arc<dyn Fn(&V) -> Option<i64> + Send + Sync>> =
            match schema.ttl.as_ref().and_then(|t| t.column.as_ref()) {
                Some(col) => {
                    let i = schema.require_column(col)?;
                    let to_row = to_row.clone();
                    Some(Arc::new(move |v| match to_row(v).get(i) {
                        Some(Value::Timestamp(t)) => Some(*t),
                        _ => None,
                    }))
                }
                None => None,
            };
        let pk_orders = vec![SortOrder::Asc; schema.primary_key.len()];
        Ok(TableDefinition {
            schema: Arc::new(schema),
            key: Arc::new(key),
            indexes,
            ttl_basis,
            to_row,
            from_row: Arc::new(from_row),
            pk_orders,
            records: RecordCodec {
                layout: ENTITY_LAYOUT,
                encode: Arc::new(|v, out| to_bytes(v, out)),
                decode_row: None,
            },
            partitions: OnceLock::new(),
        })
    }

    /// Adds a custom index (its own extractor, covered values or condition); rejected like a
    /// schema index when it cannot work.
    pub fn with_index(mut self, index: IndexDefinition<V>) -> StoreResult<Self> {
        self.schema.validate_index(&index.spec)?;
        if self.schema.index(&index.spec.name).is_some() {
            return Err(StoreError::IndexExists {
                table: self.schema.name.clone(),
                index: index.spec.name.clone(),
            });
        }
        Arc::make_mut(&mut self.schema)
            .indexes
            .push(index.spec.clone());
        self.indexes.push(index);
        self.partitions = OnceLock::new();
        Ok(self)
    }

    /// Position of the named index among [`TableDefinition::indexes`].
    pub fn index_position(&self, name: &str) -> StoreResult<usize> {
        self.indexes
            .iter()
            .position(|i| i.spec.name == name)
            .ok_or_else(|| StoreError::UnknownIndex {
                table: self.schema.name.clone(),
                index: name.to_owned(),
            })
    }

    /// The same table without the named index.
    pub fn without_index(mut self, name: &str) -> StoreResult<Self> {
        let pos = self.index_position(name)?;
        self.indexes.remove(pos);
        Arc::make_mut(&mut self.schema)
            .indexes
            .retain(|i| i.name != name);
        self.partitions = OnceLock::new();
        Ok(self)
    }

    /// The names of the table's partitions in the store.
    pub(crate) fn partitions(&self) -> &Arc<Partitions> {
        self.partitions
            .get_or_init(|| Arc::new(Partitions::of(&self.schema)))
    }

    /// The index definitions.
    pub fn indexes(&self) -> &[IndexDefinition<V>] {
        &self.indexes
    }

    /// The row SQL sees for an entity.
    pub fn to_row(&self, v: &V) -> Row {
        (self.to_row)(v)
    }

    /// The entity for a row.
    pub fn from_row(&self, row: Row) -> StoreResult<V> {
        (self.from_row)(row)
    }

    /// The primary key of an entity.
    pub fn key_of(&self, v: &V) -> K {
        (self.key)(v)
    }
}

/// The definition of a dynamic (SQL-created) table: rows are entities.
pub fn row_table(schema: TableSchema) -> StoreResult<TableDefinition<Vec<Value>, Row>> {
    let pk = schema.primary_key_indices();
    let checker = schema.clone();
    let mut def = TableDefinition::new(
        schema,
        move |row: &Row| pk.iter().map(|&i| row[i].clone()).collect(),
        |row: &Row| row.clone(),
        move |row| checker.check_row(row),
    )?;
    // Rows are stored in the row layout, so scans read single columns from the stored bytes.
    // A record written before columns were added ends early: it holds their `missing` value.
    let missing: Vec<Value> = def
        .schema
        .columns
        .iter()
        .map(|c| c.missing.clone().unwrap_or(Value::Null))
        .collect();
    def.records = RecordCodec {
        layout: ROW_LAYOUT,
        encode: Arc::new(|row: &Row, out: &mut Vec<u8>| encode_group(row, out)),
        decode_row: Some(Arc::new(move |g: &Group<'_>| {
            let mut row = g.to_values()?;
            if row.len() < missing.len() {
                row.extend_from_slice(&missing[row.len()..]);
            }
            Ok(row)
        })),
    };
    // Rows need no mapping: read index columns in place instead of through a row copy.
    def.indexes = def
        .schema
        .indexes
        .iter()
        .map(|s| IndexDefinition::for_rows(s.clone(), &def.schema))
        .collect::<StoreResult<_>>()?;
    Ok(def)
}
