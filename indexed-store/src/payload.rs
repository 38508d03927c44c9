//! The values stored next to keys: records with their expiry, and index entry payloads.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};
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

/// Encodes a record: a header byte (0, or 1 followed by the expiry in µs), then the entity.
pub(crate) fn encode_record<V: Serialize>(v: &V, expiry: Option<i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    match expiry {
        None => out.push(0),
        Some(t) => {
            out.push(1);
            out.extend_from_slice(&t.to_le_bytes());
        }
    }
    to_bytes(v, &mut out);
    out
}

/// Decodes [`encode_record`].
pub(crate) fn decode_record<V: DeserializeOwned>(
    bytes: &[u8],
    partition: &str,
) -> StoreResult<(V, Option<i64>)> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        partition: partition.to_owned(),
        reason: reason.to_owned(),
    };
    match bytes.first() {
        Some(0) => Ok((from_bytes(&bytes[1..], partition)?, None)),
        Some(1) if bytes.len() >= 9 => {
            let expiry = i64::from_le_bytes(bytes[1..9].try_into().map_err(|_| corrupt("expiry"))?);
            Ok((from_bytes(&bytes[9..], partition)?, Some(expiry)))
        }
        _ => Err(corrupt("record header")),
    }
}

/// Reads only the expiry of an encoded record.
pub(crate) fn record_expiry(bytes: &[u8]) -> Option<i64> {
    match bytes.first() {
        Some(1) if bytes.len() >= 9 => bytes[1..9].try_into().ok().map(i64::from_le_bytes),
        _ => None,
    }
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
