//! Adding and dropping indexes on a live table. Writers are held off (the store's gate)
//! while an index is built from the existing rows, so no row is missed.

use std::collections::HashMap;
use std::sync::Arc;

use kv_store::{Direction, KeyRange, WriteBatch};

use super::counts;
use super::entries::entries_of;
use super::store::IndexedEntityStore;
use crate::encoding::{decode_key, describe};
use crate::error::{StoreError, StoreResult};
use crate::schema::{decode_record, Entity, EntityKey, IndexDefinition, TableDefinition};

const BUILD_CHUNK: usize = 10_000;

impl<K: EntityKey, V: Entity> IndexedEntityStore<K, V> {
    /// Adds an index and fills it from the existing rows. A unique index that finds two rows
    /// with one value fails, naming it, and leaves nothing behind.
    pub fn add_index(&self, index: IndexDefinition<V>) -> StoreResult<()> {
        let _gate = self.gate.write();
        let old = self.definition();
        let def = (*old).clone().with_index(index)?;
        let parts = def.partitions();
        let position = def.indexes.len() - 1;
        let partition = parts.indexes[position].clone();
        // A partition left by a crashed build or an earlier index of the same name.
        if self.backend.has_partition(&partition) {
            self.backend.drop_partition(&partition)?;
        }
        self.backend.create_partition(&partition)?;
        // Its counts, when it has them, start empty too and are written with the last chunk
        // of entries (their header vouches for a complete build).
        let counts_partition = parts.counts[position].clone();
        if let Some(p) = &counts_partition {
            if self.backend.has_partition(p) {
                self.backend.drop_partition(p)?;
            }
            self.backend.create_partition(p)?;
        }
        let drop_new = || {
            let _ = self.backend.drop_partition(&partition);
            if let Some(p) = &counts_partition {
                let _ = self.backend.drop_partition(p);
            }
        };

        let result = (|| {
            let mut claimed: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            let mut counts = counts::CountDeltas::new(parts);
            let mut batch = WriteBatch::new();
            for item in self
                .backend
                .scan(&parts.records, &KeyRange::all(), Direction::Forward)?
            {
                let (pk, raw) = item?;
                let (v, expiry) = decode_record(&def, &raw, &parts.records)?;
                for e in entries_of(&def, &v, &pk, expiry)
                    .into_iter()
                    .filter(|e| e.index == position)
                {
                    if e.claims {
                        if let Some(other) = claimed.insert(e.key.clone(), pk.clone()) {
                            if other != pk {
                                let spec = &def.indexes[position].spec;
                                return Err(StoreError::UniqueViolation {
                                    table: def.schema.name.clone(),
                                    index: spec.name.clone(),
                                    value: describe(
                                        &decode_key(&e.key, &spec.orders()).unwrap_or_default(),
                                    ),
                                });
                            }
                        }
                    }
                    counts.add(position, &e.key[..e.lead], 1);
                    batch.put(&partition, e.key, e.value);
                }
                if batch.len() >= BUILD_CHUNK {
                    self.backend.write(std::mem::take(&mut batch))?;
                }
            }
            if let Some(p) = &counts_partition {
                counts::fill(&mut batch, p, counts.take(position));
            }
            Ok(self.backend.write(batch)?)
        })();
        if let Err(e) = result {
            drop_new();
            return Err(e);
        }
        *self.def.write() = Arc::new(def);
        Ok(())
    }

    /// Removes an index and its entries.
    pub fn drop_index(&self, name: &str) -> StoreResult<()> {
        let _gate = self.gate.write();
        let old = self.definition();
        let old_parts = old.partitions();
        let position = old.indexes.iter().position(|i| i.spec.name == name);
        let def = (*old).clone().without_index(name)?;
        *self.def.write() = Arc::new(def);
        if let Some(p) = position {
            self.backend.drop_partition(&old_parts.indexes[p])?;
            if let Some(counts) = &old_parts.counts[p] {
                if self.backend.has_partition(counts) {
                    self.backend.drop_partition(counts)?;
                }
            }
        }
        Ok(())
    }

    /// Runs `f` with the table's writers held off: a change of the table's storage (ALTER
    /// TABLE) that no write may interleave with.
    pub(crate) fn while_writers_wait<T>(
        &self,
        f: impl FnOnce(&TableDefinition<K, V>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let _gate = self.gate.write();
        f(&self.definition())
    }

    /// Puts a new definition in force; call it inside [`Self::while_writers_wait`].
    pub(crate) fn set_definition(&self, def: TableDefinition<K, V>) {
        *self.def.write() = Arc::new(def);
    }

    /// Drops every partition of the table (the table's data is gone).
    pub fn drop_storage(&self) -> StoreResult<()> {
        let _gate = self.gate.write();
        let parts = self.definition().partitions().clone();
        for p in parts.all() {
            if self.backend.has_partition(p) {
                self.backend.drop_partition(p)?;
            }
        }
        Ok(())
    }
}
