//! What a table's loader has done, per key: when the key's rows were last loaded, how
//! many, and the last failure. Kept in the catalog partition:
//!
//! ```text
//! key:   "load/" <table> 00 <key text>          (key text "" when the table loads whole)
//! value: <format: u8 = LOAD_FORMAT> bincode(LoadRecord)
//! ```
//!
//! A record is written after the rows it describes, so a crash between the two at worst
//! loads the key again. Dropping or renaming a table forgets its records.

use serde::{Deserialize, Serialize};

use kv_store::{Direction, KeyRange, WriteBatch};

use super::handle::Database;
use crate::encoding::{from_bytes, to_bytes};
use crate::error::{StoreError, StoreResult};
use crate::schema::{CatalogKey, CATALOG, LOADS_PREFIX};

/// The format load records are written in.
pub const LOAD_FORMAT: u8 = 1;

/// The loader's record of one key of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LoadRecord {
    /// When the key's rows were last loaded (µs since the epoch); None: never.
    pub loaded_at: Option<i64>,
    /// Rows the last successful load wrote.
    pub rows: u64,
    /// When a load was last tried (µs).
    pub attempted_at: i64,
    /// Why the last try failed; None when it succeeded.
    pub last_error: Option<String>,
}

fn decode(raw: &[u8]) -> StoreResult<LoadRecord> {
    match raw.split_first() {
        Some((&LOAD_FORMAT, body)) => from_bytes(body, CATALOG),
        Some((&found, _)) => Err(StoreError::UnsupportedFormat {
            what: "a load record".into(),
            found: found.into(),
            supported: LOAD_FORMAT.into(),
        }),
        None => Err(StoreError::Corrupt {
            partition: CATALOG.into(),
            reason: "an empty load record".into(),
        }),
    }
}

impl Database {
    /// The load record of one key of a table (key "" for a table loaded whole).
    pub fn load_record(&self, table: &str, key: &str) -> StoreResult<Option<LoadRecord>> {
        self.backend()
            .get(CATALOG, &CatalogKey::Load { table, key }.encode())?
            .map(|raw| decode(&raw))
            .transpose()
    }

    /// Writes the load record of one key of a table.
    pub fn set_load_record(&self, table: &str, key: &str, record: &LoadRecord) -> StoreResult<()> {
        let mut value = vec![LOAD_FORMAT];
        to_bytes(record, &mut value);
        let mut batch = WriteBatch::new();
        batch.put(CATALOG, CatalogKey::Load { table, key }.encode(), value);
        Ok(self.backend().write(batch)?)
    }

    /// Every load record: table, key, record; by table, then key.
    pub fn load_records(&self) -> StoreResult<Vec<(String, String, LoadRecord)>> {
        let mut out = Vec::new();
        for item in
            self.backend()
                .scan(CATALOG, &KeyRange::prefix(LOADS_PREFIX), Direction::Forward)?
        {
            let (k, raw) = item?;
            let Some((table, key)) = CatalogKey::decode_load(&k) else {
                continue;
            };
            out.push((table, key, decode(&raw)?));
        }
        Ok(out)
    }

    /// Deletes a table's load records into `batch` (when the table is dropped or renamed).
    pub(crate) fn forget_loads(&self, table: &str, batch: &mut WriteBatch) -> StoreResult<()> {
        for item in self.backend().scan(
            CATALOG,
            &KeyRange::prefix(&CatalogKey::loads_of(table)),
            Direction::Forward,
        )? {
            batch.delete(CATALOG, item?.0);
        }
        Ok(())
    }
}
