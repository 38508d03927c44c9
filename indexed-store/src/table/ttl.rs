//! Purging expired rows through the expiry index: a walk over the expired range of
//! `x/<table>` (never over the table), then one batch that deletes the rows, their index
//! entries and the expiry entries walked (point deletes of the keys already in hand: with a
//! row cache the backend would turn a range delete into a second walk of the range).

use std::collections::BTreeSet;
use std::ops::Bound;

use kv_store::{Direction, KeyRange, WriteBatch};

use super::counts::CountDeltas;
use super::entries::entries_of;
use super::store::IndexedEntityStore;
use crate::encoding::{decode_instant, encode_instant};
use crate::error::StoreResult;
use crate::schema::{decode_record, Entity, EntityKey};

impl<K: EntityKey, V: Entity> IndexedEntityStore<K, V> {
    /// Deletes every row that has expired by now, with its index entries; returns how many.
    pub fn purge_expired(&self) -> StoreResult<u64> {
        // Exclusive: no writer may add an expiry entry inside the range being deleted.
        let _gate = self.gate.write();
        let def = self.definition();
        let parts = def.partitions();
        let now = self.now();
        let end = encode_instant(now.saturating_add(1)).to_vec();
        let range = KeyRange::new(Bound::Unbounded, Bound::Excluded(end));
        let mut expired = Vec::new();
        let mut entries = Vec::new();
        for item in self
            .backend
            .scan(&parts.expiry, &range, Direction::Forward)?
        {
            let (key, _) = item?;
            decode_instant(&key)?;
            expired.push(key[8..].to_vec());
            entries.push(key);
        }
        if expired.is_empty() {
            return Ok(0);
        }
        let stripes: BTreeSet<usize> = expired
            .iter()
            .map(|pk| self.locks.stripe(&parts.records, pk))
            .collect();
        let _guards = self.locks.lock_all(&stripes);
        let mut batch = WriteBatch::new();
        let mut counts = CountDeltas::new(parts);
        let mut purged = 0;
        for (pk, raw) in expired
            .iter()
            .zip(self.backend.multi_get(&parts.records, &expired)?)
        {
            let Some(raw) = raw else { continue };
            let (v, expiry) = decode_record(&def, &raw, &parts.records)?;
            if expiry.is_some_and(|e| e <= now) {
                for e in entries_of(&def, &v, pk, expiry) {
                    counts.add(e.index, &e.key[..e.lead], -1);
                    batch.delete(&parts.indexes[e.index], e.key);
                }
                batch.delete(&parts.records, pk.clone());
                purged += 1;
            }
        }
        // The gate is held exclusively: the entries walked are all there are in the range.
        for key in entries {
            batch.delete(&parts.expiry, key);
        }
        counts.write_to(&mut batch);
        self.backend.write(batch)?;
        Ok(purged)
    }
}
