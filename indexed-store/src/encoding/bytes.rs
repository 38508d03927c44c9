//! Bincode, as Quiver stores serde values (catalog entries, typed entities, payloads).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{StoreError, StoreResult};

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
