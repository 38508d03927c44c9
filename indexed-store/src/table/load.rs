//! Bulk loading: many new entities, written in atomic batches while the next batch is being
//! encoded on a second thread.
//!
//! `apply` does everything for a batch on the calling thread (encoding is split over two
//! threads, but checking and writing are not), so one core idles while RocksDB inserts.
//! `load` runs the two halves as a pipeline: a producer thread encodes batch N+1 (records,
//! index keys) while the calling thread checks and writes batch N. The result is the same
//! as inserting every row, batch by batch; a failure undoes the batches already written.
//!
//! A load holds the table's gate exclusively, so nothing else writes the table meanwhile.
//! When the table is empty at the start, no key of the load can exist but one the load wrote
//! itself: the producer keeps a Bloom filter of the load's keys (`seen_keys.rs`), and the
//! writer reads back only the keys the filter may have seen (reading every key, a multi_get,
//! was an eighth of a load's time); a failure then undoes by emptying the table.

use std::ops::Bound;
use std::sync::mpsc;

use kv_store::{Direction, KeyRange};

use super::seen_keys::SeenKeys;
use super::store::{IndexedEntityStore, Mutation};
use super::write::{Kind, Prepared, Stored};
use crate::error::{StoreError, StoreResult};
use crate::schema::{Entity, EntityKey, TableDefinition};

/// A batch encoded by the producer, with a copy of its primary keys (the batch gives its
/// own up to the write) when a failure would need them to undo it.
struct Encoded<V> {
    batch: Vec<Prepared<V>>,
    pks: Vec<Vec<u8>>,
    /// What the producer's filter of the load's keys says is stored.
    stored: Stored,
}

/// Rows per atomic batch when the caller has no better idea: big enough that per-batch costs
/// vanish, small enough that a batch's memory stays in the tens of megabytes.
pub const DEFAULT_LOAD_BATCH: usize = 10_000;

impl<K: EntityKey, V: Entity> IndexedEntityStore<K, V> {
    /// Inserts many new entities and returns how many were written.
    ///
    /// Rows are written `batch_rows` at a time (at least one), each batch one atomic write
    /// with all its index entries, while the next batch is encoded on a second thread; this
    /// is the fast way to fill a table. If any row is refused (a duplicate primary key, a
    /// unique violation) the batches already written are deleted again and the error is
    /// returned: the table is as it was. A crash during the load leaves a prefix of whole
    /// batches, each with all its index entries. Other writers of the table, index builds
    /// and TTL purges wait for the load to end; readers see the batches as they land.
    pub fn load<I>(&self, rows: I, batch_rows: usize) -> StoreResult<u64>
    where
        I: IntoIterator<Item = V>,
        I::IntoIter: Send,
    {
        self.load_results(rows.into_iter().map(Ok), batch_rows)
    }

    /// [`load`](Self::load) from a source that may fail part way (a file being read, a
    /// stream being converted): the first `Err` it yields ends the load, the batches already
    /// written are undone, and that error is returned.
    pub fn load_results<I>(&self, rows: I, batch_rows: usize) -> StoreResult<u64>
    where
        I: IntoIterator<Item = StoreResult<V>>,
        I::IntoIter: Send,
    {
        let batch_rows = batch_rows.max(1);
        // Exclusive: other writers of the table wait, so what the table holds is known.
        let _gate = self.gate.write();
        let def = self.definition();
        let now = self.now();
        // Into an empty table, a key can only collide with another key of the load: the
        // producer's filter of the load's keys (see `seen_keys.rs`) clears almost every key,
        // and those need not be read. What a failure must undo is then
        // everything in the table: no keys are kept for it.
        let empty = {
            let records = def.partitions().records.clone();
            let mut stored = self
                .backend
                .scan(&records, &KeyRange::all(), Direction::Forward)?;
            stored.next().transpose()?.is_none()
        };
        // The primary keys of each written batch, to undo them on failure.
        let mut written: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut loaded = 0;
        let failure = std::thread::scope(|scope| {
            // Capacity one: the producer stays at most one batch ahead.
            let (tx, rx) = mpsc::sync_channel::<StoreResult<Encoded<V>>>(1);
            // Written batches go back to the producer to be freed there, off the writer's path.
            let (spent_tx, spent_rx) = mpsc::channel::<Vec<Prepared<V>>>();
            let mut rows = rows.into_iter();
            let def = &def;
            scope.spawn(move || {
                self.encode_batches(def, &mut rows, batch_rows, now, empty, tx, spent_rx)
            });
            for encoded in rx.iter() {
                let Encoded {
                    mut batch,
                    pks,
                    stored,
                } = match encoded {
                    Ok(e) => e,
                    Err(e) => return Some(e),
                };
                match self.commit(def, &mut batch, now, &stored) {
                    Ok(outcome) => {
                        loaded += outcome.inserted;
                        written.push(pks);
                        // The producer may be gone already; then drop here.
                        let _ = spent_tx.send(batch);
                    }
                    // Returning drops the receiver, which stops the producer.
                    Err(e) => return Some(e),
                }
            }
            None
        });
        match failure {
            None => Ok(loaded),
            Some(cause) => match if empty {
                self.unload_all(&def, loaded, batch_rows, now)
            } else {
                self.unload(&def, written.concat(), batch_rows, now)
            } {
                Ok(()) => Err(cause),
                Err((remaining, source)) => Err(StoreError::LoadNotUndone {
                    table: def.schema.name.clone(),
                    cause: cause.to_string(),
                    remaining,
                    source: Box::new(source),
                }),
            },
        }
    }

    /// The producer of a load: encodes the rows `batch_rows` at a time and sends each batch
    /// to the writer, until the rows end, a row fails (its error is sent), or the writer gives
    /// up (the channel closes). Batches the writer is done with come back on `spent` to be
    /// freed here.
    #[allow(clippy::too_many_arguments)]
    fn encode_batches(
        &self,
        def: &TableDefinition<K, V>,
        rows: &mut impl Iterator<Item = StoreResult<V>>,
        batch_rows: usize,
        now: i64,
        empty: bool,
        tx: mpsc::SyncSender<StoreResult<Encoded<V>>>,
        spent_rx: mpsc::Receiver<Vec<Prepared<V>>>,
    ) {
        let mut seen: Option<SeenKeys> = empty.then(SeenKeys::new);
        loop {
            spent_rx.try_iter().for_each(drop);
            let batch: StoreResult<Vec<Prepared<V>>> = rows
                .by_ref()
                .take(batch_rows)
                .map(|v| Ok(self.prepare(def, Mutation::Insert(v?), now)))
                .collect();
            let batch = match batch {
                Ok(batch) if batch.is_empty() => return,
                Ok(batch) => batch,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            // Every key goes into the filter; one it may have seen (a repeat, or
            // rarely a false positive) is read back by the store.
            let stored = match seen.as_mut() {
                Some(s) => Stored::NoneBut(
                    (0..batch.len())
                        .filter(|&i| s.insert(&batch[i].pk))
                        .collect(),
                ),
                None => Stored::Unknown,
            };
            let pks: Vec<Vec<u8>> = if empty {
                Vec::new()
            } else {
                batch.iter().map(|p| p.pk.clone()).collect()
            };
            let encoded = Encoded { batch, pks, stored };
            // A closed channel means the writer gave up.
            if tx.send(Ok(encoded)).is_err() {
                return;
            }
        }
    }

    /// Deletes every row of the table, which a failed load into an empty table wrote (the
    /// load still holds the gate: nothing else wrote it); on failure, about how many remain
    /// and why. Reads the keys a batch at a time, from after the last batch's.
    fn unload_all(
        &self,
        def: &TableDefinition<K, V>,
        loaded: u64,
        batch_rows: usize,
        now: i64,
    ) -> Result<(), (u64, StoreError)> {
        let records = def.partitions().records.clone();
        let mut after: Option<Vec<u8>> = None;
        let mut removed = 0u64;
        loop {
            let remaining = loaded.saturating_sub(removed);
            let range = KeyRange::new(
                after.map_or(Bound::Unbounded, Bound::Excluded),
                Bound::Unbounded,
            );
            let pks: Vec<Vec<u8>> = self
                .backend
                .scan(&records, &range, Direction::Forward)
                .map_err(|e| (remaining, e.into()))?
                .take(batch_rows)
                .map(|item| item.map(|(k, _)| k))
                .collect::<Result<_, _>>()
                .map_err(|e| (remaining, e.into()))?;
            let Some(last) = pks.last().cloned() else {
                return Ok(());
            };
            removed += pks.len() as u64;
            self.unload(def, pks, batch_rows, now)
                .map_err(|(_, e)| (remaining, e))?;
            after = Some(last);
        }
    }

    /// Deletes the rows a failed load wrote; on failure, how many remain and why.
    fn unload(
        &self,
        def: &TableDefinition<K, V>,
        pks: Vec<Vec<u8>>,
        batch_rows: usize,
        now: i64,
    ) -> Result<(), (u64, StoreError)> {
        let mut remaining = pks.len() as u64;
        let mut pks = pks.into_iter().peekable();
        while pks.peek().is_some() {
            let mut batch: Vec<Prepared<V>> = pks
                .by_ref()
                .take(batch_rows)
                .map(|pk| Prepared {
                    kind: Kind::Delete,
                    key_values: Vec::new(),
                    pk,
                    new: None,
                })
                .collect();
            self.commit(def, &mut batch, now, &Stored::Unknown)
                .map_err(|e| (remaining, e))?;
            remaining -= batch.len() as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{workload, AccessPath, Database, Row, StoreError};

    /// A load into an empty table keeps no keys, only a filter of them: a repeat of an early
    /// key, in a batch long after, is refused by the store's check, and the undo (everything
    /// in the table, which was empty) leaves it empty and consistent.
    #[test]
    fn a_repeat_far_into_a_load_is_refused_and_undone() {
        let db = Database::in_memory().unwrap();
        let store = db.create_table(workload::accounts_schema()).unwrap();
        let mut rows: Vec<Row> = workload::accounts(1, 3_000).collect();
        rows.push(rows[5].clone());
        let err = store.load(rows, 250).unwrap_err();
        assert!(matches!(err, StoreError::DuplicateKey { .. }), "{err}");
        assert_eq!(store.reader().count(&AccessPath::primary()).unwrap(), 0);
        assert!(store.verify().unwrap().problems.is_empty());
        // A repeat inside one batch, too.
        let mut rows: Vec<Row> = workload::accounts(3, 10).collect();
        rows.push(rows[3].clone());
        let err = store.load(rows, 250).unwrap_err();
        assert!(matches!(err, StoreError::DuplicateKey { .. }), "{err}");
        assert_eq!(store.reader().count(&AccessPath::primary()).unwrap(), 0);
        let rows: Vec<Row> = workload::accounts(2, 3_000).collect();
        assert_eq!(store.load(rows, 250).unwrap(), 3_000);
    }
}
