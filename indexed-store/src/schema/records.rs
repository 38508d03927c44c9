//! A table's records: its entities encoded by the definition's record codec, after the
//! header (see `encoding/record.rs`), and decoded in whichever layout they were written.

use serde::de::DeserializeOwned;

use super::definition::TableDefinition;
use crate::encoding::{
    corrupt, from_bytes, record_header, record_parts, Group, Malformed, ENTITY_LAYOUT,
};
use crate::error::StoreResult;

/// Encodes a record of `def`'s table: the header (see `encoding/record.rs`), then the body in
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
