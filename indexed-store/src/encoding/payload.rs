//! The values stored next to keys: record headers read with errors that name their
//! partition, and index entry payloads.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::bytes::{from_bytes, to_bytes};
use super::record::{
    split_record, HeaderError, Malformed, RecordParts, ENTITY_LAYOUT, RECORD_FORMAT,
};
use super::value::Value;
use crate::error::{StoreError, StoreResult};

/// Encodes a record whose body is the bincode entity (layout 0), whatever its table: how
/// Quiver 0.1 wrote every record (tests write old databases with it).
#[cfg(test)]
pub(crate) fn encode_entity_record<V: Serialize>(v: &V, expiry: Option<i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    super::record::record_header(ENTITY_LAYOUT, expiry, &mut out);
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
