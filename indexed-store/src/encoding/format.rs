//! Format markers: a u32 (little-endian) stored under a key, naming the format of what a
//! partition holds, so that a later Quiver reads an older database or refuses a newer one by
//! name.

use std::sync::Arc;

use kv_store::StorageBackend;

use crate::error::{StoreError, StoreResult};

/// The format a marker at `key` of `partition` records (None without a marker): a u32,
/// little-endian. A format newer than `supported` is refused, naming `what` is stored in it.
pub(crate) fn stored_format(
    backend: &Arc<dyn StorageBackend>,
    partition: &str,
    key: &[u8],
    what: &str,
    supported: u32,
) -> StoreResult<Option<u32>> {
    let Some(raw) = backend.get(partition, key)? else {
        return Ok(None);
    };
    let found = <[u8; 4]>::try_from(raw.as_slice())
        .map(u32::from_le_bytes)
        .map_err(|_| StoreError::Corrupt {
            partition: partition.into(),
            reason: format!(
                "the format marker '{}' is not 4 bytes",
                String::from_utf8_lossy(key)
            ),
        })?;
    if found > supported {
        return Err(StoreError::UnsupportedFormat {
            what: what.into(),
            found,
            supported,
        });
    }
    Ok(Some(found))
}
