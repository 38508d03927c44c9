//! Writes into a transaction: a batch of mutations checked against what the transaction
//! sees (its snapshot with its own writes) and added to its pending writes, instead of
//! written. Nothing reaches the database until the transaction commits
//! (`database/transaction.rs`), which then needs of each table it wrote a
//! [`Participant`]: the table's gate and key locks, whether its definition is still the one
//! the writes were made with, and the resume points its new index entries must lower.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use kv_store::{ReadView, WriteBatch};
use parking_lot::RwLock;

use super::locks::KeyLocks;
use super::resume::{lowest_puts, ResumePoint};
use super::store::{IndexedEntityStore, Mutation, WriteOutcome};
use super::write::{materialise, Attempt, Current, Prepared, Reads, Stored};
use crate::error::{StoreError, StoreResult};
use crate::schema::{Entity, EntityKey, TableDefinition};

/// A transaction as the tables it writes see it.
pub trait Staging: Send + Sync {
    /// What the transaction reads now: its snapshot with its writes so far.
    fn view(&self) -> Arc<dyn ReadView>;

    /// The version of the database's last write (see `kv_store::Versions::current`): a row
    /// read now from the database itself, not the snapshot, is checked at commit against
    /// writes after it ([`Staging::based_on`]).
    fn current_version(&self) -> u64;

    /// Fails with [`StoreError::SerializationFailure`] when another writer committed `key` of
    /// `partition` after the transaction's snapshot: a write to it would overwrite a change
    /// the transaction never saw.
    fn check_unchanged(&self, table: &str, partition: &str, key: &[u8]) -> StoreResult<()>;

    /// Says that the transaction's write of `key` is based on the database as of `version`
    /// (read from the database, after the snapshot): at commit it conflicts only with
    /// writes after that.
    fn based_on(&self, partition: &str, key: &[u8], version: u64);

    /// Adds a batch of `participant`'s writes to the transaction's pending writes.
    fn stage(&self, participant: Arc<dyn Participant>, batch: WriteBatch) -> StoreResult<()>;

    /// Runs `undo` if the transaction rolls back (or is abandoned): what undoes a change
    /// that took effect at once (a job claim).
    fn on_rollback(&self, undo: Box<dyn FnOnce() + Send>);
}

/// Something held until a commit's write is done (a gate and key locks).
pub trait Held {}
impl<T> Held for T {}

/// A table a transaction wrote, as its commit needs it.
pub trait Participant: Send + Sync {
    /// The table's name.
    fn table(&self) -> String;

    /// Whether `partition` belongs to the table.
    fn owns(&self, partition: &str) -> bool;

    /// Holds off DDL and purges of the table (its gate, shared) and other writers of the
    /// keys the commit writes (their lock stripes, in order), until the guard is dropped.
    fn lock<'a>(&'a self, keys: &[(&str, &[u8])]) -> Box<dyn Held + 'a>;

    /// False when the table's definition changed (an index created or dropped, the table
    /// altered) since the transaction wrote it: its entries were made for the old one.
    fn unchanged(&self) -> bool;

    /// After the commit's write is visible: lowers the resume points behind its new index
    /// entries (see `resume.rs`).
    fn committed(&self, batch: &WriteBatch);
}

/// A table's shared parts, with the definition a transaction's writes were made with.
struct TableShare<K, V> {
    def: Arc<TableDefinition<K, V>>,
    current: Arc<RwLock<Arc<TableDefinition<K, V>>>>,
    gate: Arc<RwLock<()>>,
    locks: Arc<KeyLocks>,
    resume_points: Arc<RwLock<Vec<Arc<ResumePoint>>>>,
}

impl<K: EntityKey, V: Entity> Participant for TableShare<K, V> {
    fn table(&self) -> String {
        self.def.schema.name.clone()
    }

    fn owns(&self, partition: &str) -> bool {
        self.def.partitions().all().any(|p| p == partition)
    }

    fn lock<'a>(&'a self, keys: &[(&str, &[u8])]) -> Box<dyn Held + 'a> {
        let gate = self.gate.read();
        let stripes: BTreeSet<usize> = keys.iter().map(|(p, k)| self.locks.stripe(p, k)).collect();
        let guards = self.locks.lock_all(&stripes);
        Box::new((gate, guards))
    }

    fn unchanged(&self) -> bool {
        Arc::ptr_eq(&self.current.read(), &self.def)
    }

    fn committed(&self, batch: &WriteBatch) {
        let behind = {
            let points = self.resume_points.read();
            let puts = batch.ops().iter().filter_map(|op| match op {
                kv_store::BatchOp::Put { partition, key, .. } => {
                    Some((&**partition, key.as_slice()))
                }
                _ => None,
            });
            lowest_puts(&points, puts)
        };
        for (point, key) in behind {
            point.put(&key);
        }
    }
}

impl<K: EntityKey, V: Entity> IndexedEntityStore<K, V> {
    /// The table as a transaction's commit needs it, with the definition `def`.
    fn participant(&self, def: &Arc<TableDefinition<K, V>>) -> Arc<dyn Participant> {
        Arc::new(TableShare {
            def: def.clone(),
            current: self.def.clone(),
            gate: self.gate.clone(),
            locks: self.locks.clone(),
            resume_points: self.resume_points.clone(),
        })
    }

    /// [`apply`](Self::apply) inside a transaction: the mutations are checked against what
    /// the transaction sees and added to its pending writes. A row another writer committed
    /// after the transaction's snapshot fails it with
    /// [`StoreError::SerializationFailure`].
    pub fn apply_staged(
        &self,
        tx: &dyn Staging,
        mutations: Vec<Mutation<K, V>>,
    ) -> StoreResult<WriteOutcome> {
        if mutations.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let def = self.definition();
        let now = self.now();
        let mut prepared: Vec<Prepared<V>> = mutations
            .into_iter()
            .map(|m| self.prepare(&def, m, now))
            .collect();
        let view = tx.view();
        self.stage_prepared(tx, &def, &mut prepared, now, &*view, None, None)
    }

    /// [`apply_decided`](Self::apply_decided) inside a transaction. With `latest`, each row
    /// is read from the database as it is now, not from the transaction's snapshot, and the
    /// write conflicts at commit only with what is written after that read (what the job
    /// queue's operations inside a transaction need: the job as its worker holds it now);
    /// otherwise from the transaction's view, and a row changed by another writer since its
    /// snapshot fails with [`StoreError::SerializationFailure`] (PostgreSQL's "could not
    /// serialize access due to concurrent update").
    pub fn apply_decided_staged<F>(
        &self,
        tx: &dyn Staging,
        keys: &[K],
        latest: bool,
        mut decide: F,
    ) -> StoreResult<WriteOutcome>
    where
        F: FnMut(&K, Option<&V>) -> StoreResult<Vec<Mutation<K, V>>>,
    {
        if keys.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let def = self.definition();
        let parts = def.partitions();
        let now = self.now();
        let pks: Vec<Vec<u8>> = keys.iter().map(|k| Self::pk_bytes(&def, k)).collect();
        let version = tx.current_version();
        let view: Arc<dyn ReadView> = if latest {
            Arc::clone(&self.backend) as Arc<dyn ReadView>
        } else {
            tx.view()
        };
        let mut mutations = Vec::new();
        let mut read: HashMap<Vec<u8>, Current<V>> = HashMap::with_capacity(pks.len());
        for ((key, pk), current) in keys
            .iter()
            .zip(&pks)
            .zip(self.read_current(&*view, parts, &pks)?)
        {
            if !latest {
                tx.check_unchanged(&def.schema.name, &parts.records, pk)?;
            }
            let live = current
                .as_ref()
                .filter(|(_, exp)| exp.is_none_or(|e| e > now))
                .map(|(v, _)| v);
            mutations.extend(decide(key, live)?);
            read.insert(pk.clone(), current);
        }
        if mutations.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let mut prepared: Vec<Prepared<V>> = mutations
            .into_iter()
            .map(|m| self.prepare(&def, m, now))
            .collect();
        let base = latest.then_some(version);
        self.stage_prepared(tx, &def, &mut prepared, now, &*view, Some(read), base)
    }

    /// Checks prepared mutations against `source` and stages the batch they make. With
    /// `base`, the batch was made from the database as of that version (not the snapshot):
    /// each key it writes (the record and its index entries) conflicts at commit only with
    /// writes after it.
    #[allow(clippy::too_many_arguments)]
    fn stage_prepared(
        &self,
        tx: &dyn Staging,
        def: &Arc<TableDefinition<K, V>>,
        prepared: &mut [Prepared<V>],
        now: i64,
        source: &dyn ReadView,
        read: Option<HashMap<Vec<u8>, Current<V>>>,
        base: Option<u64>,
    ) -> StoreResult<WriteOutcome> {
        let parts = def.partitions();
        let reads = Reads {
            source,
            locked: None,
        };
        let (plan, outcome) =
            match self.try_apply(def, parts, prepared, now, &reads, &Stored::Unknown, read)? {
                Attempt::Done(plan, outcome) => (plan, outcome),
                Attempt::NeedLock(_) => {
                    return Err(StoreError::Task(
                        "a staged write asked for a lock: no lock is held in a transaction".into(),
                    ))
                }
            };
        let batch = materialise(parts, plan, prepared);
        if let Some(version) = base {
            for op in batch.ops() {
                if !matches!(op, kv_store::BatchOp::Add { .. }) {
                    tx.based_on(op.partition(), op.key(), version);
                }
            }
        }
        tx.stage(self.participant(def), batch)?;
        Ok(outcome)
    }
}
