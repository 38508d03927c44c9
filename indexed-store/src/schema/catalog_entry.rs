//! How a table's schema is kept in the catalog (key `table/<name>`).
//!
//! ```text
//! format 1 (Quiver 0.1 until ALTER TABLE):  bincode(TableSchemaV1)
//! format 2:                                 FF 'Q' 'T' 02 bincode(TableSchemaV2)
//! format 3:                                 FF 'Q' 'T' 03 bincode(TableSchema)
//! ```
//!
//! A format-1 entry is bare bincode (standard configuration), which starts with the varint
//! length of the table's name: a first byte of 0xFF is never valid there (varints use 0xFB
//! to 0xFE as width markers and leave 0xFF unused), so the marker tells the formats apart.
//! Format 2 adds column defaults, the values of rows written before a column was added, and
//! the schema version every ALTER TABLE bumps. A format-1 entry reads as a table never
//! altered, without defaults; it is rewritten in format 2 by the next change to the table.
//! Format 3 adds the table's loader; a format-2 entry reads as a table without one.
//! An entry of a newer format is refused with what to do.

use serde::{Deserialize, Serialize};

use super::table_schema::{ColumnDef, IndexSpec, TableSchema, TtlSpec};
use crate::encoding::{from_bytes, to_bytes, ColumnType};
use crate::error::{StoreError, StoreResult};

/// The format table entries are written in.
pub const TABLE_FORMAT: u8 = 3;

const MARKER: [u8; 3] = [0xFF, b'Q', b'T'];

/// The catalog entry of a table.
pub(crate) fn encode_table(schema: &TableSchema) -> Vec<u8> {
    let mut out = MARKER.to_vec();
    out.push(TABLE_FORMAT);
    to_bytes(schema, &mut out);
    out
}

/// A table's schema from its catalog entry, in any format this Quiver reads.
pub(crate) fn decode_table(raw: &[u8], partition: &str) -> StoreResult<TableSchema> {
    let Some(rest) = raw.strip_prefix(&MARKER) else {
        let v1: TableSchemaV1 = from_bytes(raw, partition)?;
        return Ok(v1.into());
    };
    match rest.split_first() {
        Some((&TABLE_FORMAT, body)) => from_bytes(body, partition),
        Some((2, body)) => Ok(from_bytes::<TableSchemaV2>(body, partition)?.into()),
        Some((&found, _)) => Err(StoreError::UnsupportedFormat {
            what: "a table's catalog entry".into(),
            found: found.into(),
            supported: TABLE_FORMAT.into(),
        }),
        None => Err(StoreError::Corrupt {
            partition: partition.to_owned(),
            reason: "a table entry ends after its marker".into(),
        }),
    }
}

/// A table as format 2 stored it: no loader.
#[derive(Deserialize, Serialize)]
struct TableSchemaV2 {
    name: String,
    columns: Vec<ColumnDef>,
    primary_key: Vec<String>,
    indexes: Vec<IndexSpec>,
    ttl: Option<TtlSpec>,
    version: u32,
}

impl From<TableSchemaV2> for TableSchema {
    fn from(v2: TableSchemaV2) -> Self {
        TableSchema {
            name: v2.name,
            columns: v2.columns,
            primary_key: v2.primary_key,
            indexes: v2.indexes,
            ttl: v2.ttl,
            version: v2.version,
            loader: None,
        }
    }
}

/// A column as format 1 stored it.
#[derive(Deserialize, Serialize)]
struct ColumnDefV1 {
    name: String,
    ty: ColumnType,
    nullable: bool,
}

/// A table as format 1 stored it.
#[derive(Deserialize, Serialize)]
struct TableSchemaV1 {
    name: String,
    columns: Vec<ColumnDefV1>,
    primary_key: Vec<String>,
    indexes: Vec<IndexSpec>,
    ttl: Option<TtlSpec>,
}

impl From<TableSchemaV1> for TableSchema {
    fn from(v1: TableSchemaV1) -> Self {
        TableSchema {
            name: v1.name,
            columns: v1
                .columns
                .into_iter()
                .map(|c| ColumnDef {
                    nullable: c.nullable,
                    ..ColumnDef::new(&c.name, c.ty)
                })
                .collect(),
            primary_key: v1.primary_key,
            indexes: v1.indexes,
            ttl: v1.ttl,
            version: 0,
            loader: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::Value;

    fn schema() -> TableSchema {
        let mut s = crate::workload::accounts_schema();
        s.columns[5].default = Some("0.5".into());
        s.columns.push(ColumnDef {
            missing: Some(Value::Int(7)),
            ..ColumnDef::new("added", ColumnType::Int64)
        });
        s.version = 3;
        s
    }

    #[test]
    fn an_entry_round_trips() {
        let s = schema();
        assert_eq!(decode_table(&encode_table(&s), "catalog").unwrap(), s);
    }

    /// An entry written by Quiver before ALTER TABLE (bare bincode of the first layout)
    /// reads as the same table without defaults, never altered.
    #[test]
    fn a_format_1_entry_reads_as_a_table_never_altered() {
        let s = crate::workload::accounts_schema();
        let v1 = TableSchemaV1 {
            name: s.name.clone(),
            columns: s
                .columns
                .iter()
                .map(|c| ColumnDefV1 {
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                    nullable: c.nullable,
                })
                .collect(),
            primary_key: s.primary_key.clone(),
            indexes: s.indexes.clone(),
            ttl: s.ttl.clone(),
        };
        let mut raw = Vec::new();
        to_bytes(&v1, &mut raw);
        assert_ne!(raw[0], 0xFF);
        assert_eq!(decode_table(&raw, "catalog").unwrap(), s);
    }

    /// An entry written before loaders (format 2) reads as the same table without one.
    #[test]
    fn a_format_2_entry_reads_as_a_table_without_a_loader() {
        let s = schema();
        let v2 = TableSchemaV2 {
            name: s.name.clone(),
            columns: s.columns.clone(),
            primary_key: s.primary_key.clone(),
            indexes: s.indexes.clone(),
            ttl: s.ttl.clone(),
            version: s.version,
        };
        let mut raw = MARKER.to_vec();
        raw.push(2);
        to_bytes(&v2, &mut raw);
        assert_eq!(decode_table(&raw, "catalog").unwrap(), s);
    }

    #[test]
    fn a_loader_round_trips() {
        let mut s = schema();
        s.loader = Some(crate::schema::LoaderSpec {
            url: "http://127.0.0.1:8080/accounts".into(),
            key_column: Some("owner".into()),
            reload_after_secs: Some(3600),
            forward_headers: vec!["authorization".into()],
            timeout_secs: 30,
        });
        assert_eq!(decode_table(&encode_table(&s), "catalog").unwrap(), s);
    }

    #[test]
    fn a_newer_format_is_refused_by_name() {
        let mut raw = encode_table(&schema());
        raw[3] = TABLE_FORMAT + 1;
        let e = decode_table(&raw, "catalog").unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::UnsupportedFormat {
                    found: 4,
                    supported: 3,
                    ..
                }
            ),
            "{e}"
        );
    }
}
