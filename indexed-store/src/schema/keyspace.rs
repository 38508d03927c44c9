//! The keyspace: every partition name and every key prefix the store writes, decided here and
//! nowhere else.
//!
//! | partition | key | value |
//! |---|---|---|
//! | `t/<table>` | encode(primary key) | the record (`encoding/record.rs`), with its expiry if the table has a TTL |
//! | `i/<table>/<index>` | encode(indexed values…) ++ encode(primary key) | empty, or the entry payload |
//! | `u/<table>/<index>` (unique) | encode(indexed values…) | the entry payload naming the primary key |
//! | `x/<table>` | expiry instant (8 bytes) ++ encode(primary key) | empty: the expiry index purges walk |
//! | `n/<table>/<index>` | encode(leading value) in the index's order; `""` the header | a counter (`table/counts.rs`) |
//! | `catalog` | [`CatalogKey`]: `table/<name>`, `view/<name>`, `load/<table> 00 <key>`, `format/<what>` | definitions, each with its format |
//!
//! A table of a namespace is stored as `<ns>.<table>` in these names. A unique entry whose
//! values hold a NULL never conflicts: it is keyed like a non-unique entry (values ++ primary
//! key), in the same `u/` partition.

use crate::encoding::{encode_instant, SortOrder};

use super::table_schema::{IndexSpec, TableSchema};

/// The partition holding table definitions, views, load records and format markers.
pub const CATALOG: &str = "catalog";

/// A partition of the store, by what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Partition<'a> {
    /// A table's records.
    Records(&'a str),
    /// A table's expiry index.
    Expiry(&'a str),
    /// An index's entries.
    Index {
        table: &'a str,
        index: &'a str,
        unique: bool,
    },
    /// An index's per-value counts.
    Counts { table: &'a str, index: &'a str },
}

impl Partition<'_> {
    /// The partition's name in the backend.
    pub(crate) fn name(&self) -> String {
        match self {
            Partition::Records(t) => format!("t/{t}"),
            Partition::Expiry(t) => format!("x/{t}"),
            Partition::Index {
                table,
                index,
                unique,
            } => format!("{}/{table}/{index}", if *unique { "u" } else { "i" }),
            Partition::Counts { table, index } => format!("n/{table}/{index}"),
        }
    }

    /// A partition only ever read by range: non-unique index entries, expiry entries and
    /// counts. Records are read by key everywhere and unique entries when a value is
    /// claimed, so only they need Bloom filters (see `RocksOptions::scanned_only`).
    pub(crate) fn scanned_only(name: &str) -> bool {
        name.starts_with("i/") || name.starts_with("x/") || Self::holds_counters(name)
    }

    /// True for a partition of records.
    pub(crate) fn is_records(name: &str) -> bool {
        name.starts_with("t/")
    }

    /// The table a partition name belongs to (the whole name when it is no table's).
    pub(crate) fn table_of(name: &str) -> &str {
        match name.split_once('/') {
            Some(("t" | "x" | "i" | "u" | "n", rest)) => rest.split('/').next().unwrap_or(rest),
            _ => name,
        }
    }

    /// A partition of counters (RocksDB gives those a merge operator and small memtables).
    pub(crate) fn holds_counters(name: &str) -> bool {
        name.starts_with("n/")
    }
}

/// The key of a counts partition's header, which vouches for its counters.
pub(crate) const COUNTS_HEADER: &[u8] = b"";

/// Whether an index keeps per-value counts: every non-unique index of a table without a TTL
/// (a unique value has at most one entry; an expired entry would count until purged).
pub fn keeps_counts(schema: &TableSchema, index: &IndexSpec) -> bool {
    !index.unique && schema.ttl.is_none()
}

/// The expiry-index key of a record: expiry instant, then primary key.
pub(crate) fn expiry_key(expiry: i64, pk: &[u8]) -> Vec<u8> {
    let mut k = encode_instant(expiry).to_vec();
    k.extend_from_slice(pk);
    k
}

/// Partition names of a table, worked out once per definition
/// (`TableDefinition::partitions`).
#[derive(Debug, Clone)]
pub(crate) struct Partitions {
    pub records: String,
    pub expiry: String,
    pub indexes: Vec<String>,
    /// The per-value counts of each index, for those that keep them.
    pub counts: Vec<Option<String>>,
}

impl Partitions {
    /// The names for a table (its index specs in the order of its definition's indexes);
    /// read them through `TableDefinition::partitions`, which works them out once.
    pub(crate) fn of(schema: &TableSchema) -> Self {
        let table = schema.name.as_str();
        let specs = schema.indexes.iter();
        Partitions {
            records: Partition::Records(table).name(),
            expiry: Partition::Expiry(table).name(),
            indexes: specs
                .clone()
                .map(|spec| {
                    Partition::Index {
                        table,
                        index: &spec.name,
                        unique: spec.unique,
                    }
                    .name()
                })
                .collect(),
            counts: specs
                .map(|spec| {
                    keeps_counts(schema, spec).then(|| {
                        Partition::Counts {
                            table,
                            index: &spec.name,
                        }
                        .name()
                    })
                })
                .collect(),
        }
    }

    /// Every partition name, records and expiry first.
    pub(crate) fn all(&self) -> impl Iterator<Item = &String> {
        [&self.records, &self.expiry]
            .into_iter()
            .chain(&self.indexes)
            .chain(self.counts.iter().flatten())
    }
}

/// The order of each index's leading column (how its counts are keyed).
pub(crate) fn leading_orders(schema: &TableSchema) -> Vec<SortOrder> {
    schema
        .indexes
        .iter()
        .map(|spec| spec.orders().first().copied().unwrap_or_default())
        .collect()
}

/// A key of the [`CATALOG`] partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CatalogKey<'a> {
    /// `table/<name>`: a SQL table's schema (`schema/catalog_entry.rs`).
    Table(&'a str),
    /// `view/<name>`: a view's definition (`schema/views.rs`).
    View(&'a str),
    /// `load/<table> 00 <key>`: what a table's loader did for one key (`""`: the whole
    /// table).
    Load { table: &'a str, key: &'a str },
    /// `format/<what>`: the format marker of a kind of stored data.
    Format(FormatMarker),
}

/// The kinds of stored data whose format the catalog records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormatMarker {
    /// Every table's records (`encoding/record.rs`).
    Records,
    /// The records of the `jobs` table.
    Jobs,
}

/// Prefixes of the catalog's kinds of keys, for walking one kind.
pub(crate) const TABLES_PREFIX: &[u8] = b"table/";
pub(crate) const VIEWS_PREFIX: &[u8] = b"view/";
pub(crate) const LOADS_PREFIX: &[u8] = b"load/";

impl CatalogKey<'_> {
    /// The key's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            CatalogKey::Table(name) => [TABLES_PREFIX, name.as_bytes()].concat(),
            CatalogKey::View(name) => [VIEWS_PREFIX, name.as_bytes()].concat(),
            CatalogKey::Load { table, key } => {
                let mut k = Self::loads_of(table);
                k.extend_from_slice(key.as_bytes());
                k
            }
            CatalogKey::Format(FormatMarker::Records) => b"format/records".to_vec(),
            CatalogKey::Format(FormatMarker::Jobs) => b"format/jobs".to_vec(),
        }
    }

    /// The prefix of every load record of `table`.
    pub(crate) fn loads_of(table: &str) -> Vec<u8> {
        let mut k = LOADS_PREFIX.to_vec();
        k.extend_from_slice(table.as_bytes());
        k.push(0);
        k
    }

    /// The table and key of a load record's key (None for a key of another kind).
    pub(crate) fn decode_load(key: &[u8]) -> Option<(String, String)> {
        let rest = key.strip_prefix(LOADS_PREFIX)?;
        let split = rest.iter().position(|&b| b == 0)?;
        Some((
            String::from_utf8_lossy(&rest[..split]).into_owned(),
            String::from_utf8_lossy(&rest[split + 1..]).into_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are the layout the module doc gives: a change here is a format change.
    #[test]
    fn names_are_the_documented_layout() {
        assert_eq!(Partition::Records("a.t").name(), "t/a.t");
        assert_eq!(Partition::Expiry("t").name(), "x/t");
        let index = |unique| Partition::Index {
            table: "t",
            index: "by_x",
            unique,
        };
        assert_eq!(index(false).name(), "i/t/by_x");
        assert_eq!(index(true).name(), "u/t/by_x");
        let counts = Partition::Counts {
            table: "t",
            index: "by_x",
        };
        assert_eq!(counts.name(), "n/t/by_x");
        assert!(Partition::holds_counters(&counts.name()));
        assert!(Partition::scanned_only("i/t/by_x") && Partition::scanned_only("x/t"));
        assert!(!Partition::scanned_only("t/t") && !Partition::scanned_only("u/t/by_x"));
        assert_eq!(CatalogKey::Table("t").encode(), b"table/t");
        assert_eq!(CatalogKey::View("ns.v").encode(), b"view/ns.v");
        assert_eq!(
            CatalogKey::Format(FormatMarker::Records).encode(),
            b"format/records"
        );
        assert_eq!(
            CatalogKey::Format(FormatMarker::Jobs).encode(),
            b"format/jobs"
        );
        let load = CatalogKey::Load {
            table: "t",
            key: "k1",
        }
        .encode();
        assert_eq!(load, b"load/t\0k1");
        assert_eq!(
            CatalogKey::decode_load(&load),
            Some(("t".into(), "k1".into()))
        );
        assert!(load.starts_with(&CatalogKey::loads_of("t")));
        assert!(!load.starts_with(&CatalogKey::loads_of("t2")));
    }
}
