//! The values stored next to keys: records with their expiry, and index entry payloads.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::definition::TableDefinition;
use crate::error::{StoreError, StoreResult};
use crate::record::{
    record_header, split_record, Group, HeaderError, Malformed, RecordParts, ENTITY_LAYOUT,
    RECORD_FORMAT,
};
use crate::value::Value;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Serialises with bincode.
pub(crate) fn to_bytes<T: Serialize>(v: &T, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail, and our types serialise without error.
    bincode::serde::encode_into_std_write(v, out, config()).expect("bincode encode into Vec");
}

/// Deserialises with bincode, naming the partition on failure.
pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8], partition: &str) -> StoreResult<T> {
    bincode::serde::decode_from_slice(bytes, config())
        .map(|(v, _)| v)
        .map_err(|e| StoreError::Corrupt {
            partition: partition.to_owned(),
            reason: e.to_string(),
        })
}

/// Encodes a record of `def`'s table: the header (see [`crate::record`]), then the body in
/// the table's layout.
pub(crate) fn encode_record<K, V>(
    def: &TableDefinition<K, V>,
    v: &V,
    expiry: Option<i64>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    record_header(def.records.layout, expiry, &mut out);
    (def.records.encode)(v, &mut out);
    out
}

/// Encodes a record whose body is the bincode entity (layout 0), whatever its table: how
/// Quiver 0.1 wrote every record (tests write old databases with it).
#[cfg(test)]
pub(crate) fn encode_entity_record<V: Serialize>(v: &V, expiry: Option<i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    record_header(ENTITY_LAYOUT, expiry, &mut out);
    to_bytes(v, &mut out);
    out
}

/// The header fields and body of a record, with errors that name the partition.
pub(crate) fn record_parts<'a>(bytes: &'a [u8], partition: &str) -> StoreResult<RecordParts<'a>> {
    split_record(bytes).map_err(|e| match e {
        HeaderError::Malformed(m) => corrupt(partition, m),
        HeaderError::UnknownLayout(layout) => StoreError::UnsupportedFormat {
            what: format!("a record in partition '{partition}'"),
            found: u32::from(layout) + 1,
            supported: RECORD_FORMAT,
        },
    })
}

/// A malformed stored value as the store's error.
pub(crate) fn corrupt(partition: &str, m: Malformed) -> StoreError {
    StoreError::Corrupt {
        partition: partition.to_owned(),
        reason: m.to_string(),
    }
}

/// Decodes a record of `def`'s table, in whichever layout it was written.
pub(crate) fn decode_record<K, V: DeserializeOwned>(
    def: &TableDefinition<K, V>,
    bytes: &[u8],
    partition: &str,
) -> StoreResult<(V, Option<i64>)> {
    let parts = record_parts(bytes, partition)?;
    let v = match (parts.layout, &def.records.decode_row) {
        (ENTITY_LAYOUT, _) => from_bytes(parts.body, partition)?,
        (_, Some(decode)) => Group::parse(parts.body)
            .and_then(|g| decode(&g))
            .map_err(|m| corrupt(partition, m))?,
        (_, None) => {
            return Err(corrupt(
                partition,
                Malformed("a row-layout record in a table of typed entities"),
            ))
        }
    };
    Ok((v, parts.expiry))
}

/// Decodes a record whose body is a bincode entity (layout 0).
pub(crate) fn decode_entity_record<V: DeserializeOwned>(
    bytes: &[u8],
    partition: &str,
) -> StoreResult<(V, Option<i64>)> {
    let parts = record_parts(bytes, partition)?;
    if parts.layout != ENTITY_LAYOUT {
        return Err(corrupt(partition, Malformed("expected an entity record")));
    }
    Ok((from_bytes(parts.body, partition)?, parts.expiry))
}

/// Reads only the expiry of an encoded record.
pub(crate) fn record_expiry(bytes: &[u8]) -> Option<i64> {
    split_record(bytes).ok().and_then(|p| p.expiry)
}

/// What an index entry stores beside its key. Empty bytes mean all fields are None.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EntryPayload {
    /// When the row expires (TTL tables).
    pub expiry: Option<i64>,
    /// The primary key, for unique entries whose key does not end in it.
    pub pk: Option<Vec<u8>>,
    /// Covered (INCLUDE) values.
    pub covered: Option<Vec<Value>>,
}

impl EntryPayload {
    pub(crate) fn encode(&self) -> Vec<u8> {
        if self.expiry.is_none() && self.pk.is_none() && self.covered.is_none() {
            return Vec::new();
        }
        let mut out = Vec::new();
        to_bytes(self, &mut out);
        out
    }

    pub(crate) fn decode(bytes: &[u8], partition: &str) -> StoreResult<Self> {
        if bytes.is_empty() {
            return Ok(EntryPayload::default());
        }
        from_bytes(bytes, partition)
    }
}
