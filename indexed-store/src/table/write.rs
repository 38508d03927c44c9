//! Writing a batch of mutations as one atomic write: each is encoded (`prepare`), checked
//! against the stored rows under the locks of every key and unique value it touches
//! (`try_apply`), and the planned changes of records, entries and counters are moved into
//! one write batch (`materialise`).

use std::collections::{BTreeSet, HashMap};

use kv_store::{ReadView, WriteBatch};

use super::counts::CountDeltas;
use super::entries::{entries_of, Entry};
use super::resume::lowest_puts;
use super::store::{IndexedEntityStore, Mutation, WriteOutcome};
use crate::encoding::{decode_key, describe, EntryPayload, Value};
use crate::error::{StoreError, StoreResult};
use crate::schema::{
    decode_record, encode_record, expiry_key, Entity, EntityKey, Partitions, TableDefinition,
};

/// A record as read for a write: the entity and its expiry.
pub(super) type Current<V> = Option<(V, Option<i64>)>;

/// Where a write reads the stored state it checks against, and which lock stripes it holds:
/// the database under its locks (autocommit), or a transaction's view, which no other
/// writer changes (no locks; conflicts are found when it commits).
pub(super) struct Reads<'a> {
    pub source: &'a dyn ReadView,
    /// The stripes held; None in a transaction.
    pub locked: Option<&'a BTreeSet<usize>>,
}

pub(super) enum Attempt<'p> {
    Done(Vec<Planned<'p>>, WriteOutcome),
    /// A write must purge an expired row whose key it has not locked: lock it and retry.
    NeedLock(Vec<u8>),
}

impl<K: EntityKey, V: Entity> IndexedEntityStore<K, V> {
    /// Applies the mutations in order, as one atomic write: either every one takes effect
    /// with all its index entries, or (on the first error) nothing is written.
    pub fn apply(&self, mutations: Vec<Mutation<K, V>>) -> StoreResult<WriteOutcome> {
        if mutations.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let _gate = self.gate.read();
        let def = self.definition();
        let now = self.now();
        let prepare = |m| self.prepare(&def, m, now);
        // Encoding records and index entries is most of a large write's work: split it
        // over two threads.
        let mut prepared: Vec<Prepared<V>> = if mutations.len() >= 2048 {
            let mut mutations = mutations;
            let second = mutations.split_off(mutations.len() / 2);
            std::thread::scope(|scope| {
                let other = scope.spawn(|| second.into_iter().map(prepare).collect::<Vec<_>>());
                let mut first: Vec<Prepared<V>> = mutations.into_iter().map(prepare).collect();
                first.extend(other.join().expect("prepare thread"));
                first
            })
        } else {
            mutations.into_iter().map(prepare).collect()
        };
        self.commit(&def, &mut prepared, now, &Stored::Unknown)
    }

    /// Encodes a mutation: its primary key and, for a new entity, its record and entries.
    pub(crate) fn prepare(
        &self,
        def: &TableDefinition<K, V>,
        m: Mutation<K, V>,
        now: i64,
    ) -> Prepared<V> {
        let (kind, key, new) = match m {
            Mutation::Insert(v) => (Kind::Insert, def.key_of(&v), Some(v)),
            Mutation::Upsert(v) => (Kind::Upsert, def.key_of(&v), Some(v)),
            Mutation::Update(v) => (Kind::Update, def.key_of(&v), Some(v)),
            Mutation::Delete(k) => (Kind::Delete, k, None),
        };
        let pk = Self::pk_bytes(def, &key);
        let new = new.map(|v| {
            let expiry = self.expiry_of(def, &v, now);
            let entries = entries_of(def, &v, &pk, expiry);
            let record = encode_record(def, &v, expiry);
            (v, expiry, entries, record)
        });
        Prepared {
            kind,
            key_values: key.to_values(),
            pk,
            new,
        }
    }

    /// Checks prepared mutations against the stored rows and writes them as one batch, under
    /// the locks of every key they touch. The keys and values of `prepared` are moved into
    /// the batch: what is left is for the caller to drop. The caller holds the gate shared,
    /// or exclusively and then may say which keys can be [`Stored`].
    pub(crate) fn commit(
        &self,
        def: &TableDefinition<K, V>,
        prepared: &mut [Prepared<V>],
        now: i64,
        stored: &Stored,
    ) -> StoreResult<WriteOutcome> {
        let parts = def.partitions();
        let mut stripes = match stored {
            Stored::Unknown => self.stripes_of(parts, prepared),
            // The gate is held exclusively: no other writer to lock out.
            Stored::NoneBut(_) => BTreeSet::new(),
        };
        loop {
            let _guards = self.locks.lock_all(&stripes);
            let reads = Reads {
                source: &*self.backend,
                locked: Some(&stripes),
            };
            match self.try_apply(def, parts, prepared, now, &reads, stored, None)? {
                Attempt::Done(plan, outcome) => {
                    self.write_planned(parts, plan, prepared)?;
                    return Ok(outcome);
                }
                Attempt::NeedLock(pk) => {
                    stripes.insert(self.locks.stripe(&parts.records, &pk));
                }
            }
        }
    }

    /// Writes a planned batch, then lowers the resume points its index entries land behind
    /// (only once the write is visible: see [`crate::resume`]).
    fn write_planned(
        &self,
        parts: &Partitions,
        plan: Vec<Planned<'_>>,
        prepared: &mut [Prepared<V>],
    ) -> StoreResult<()> {
        let behind = {
            let points = self.resume_points.read();
            let puts = plan.iter().filter_map(|op| match op {
                Planned::Entry { item, entry, .. } => {
                    let (_, _, entries, _) = prepared[*item].new.as_ref()?;
                    let e = &entries[*entry];
                    Some((parts.indexes[e.index].as_str(), e.key.as_slice()))
                }
                _ => None,
            });
            lowest_puts(&points, puts)
        };
        self.backend.write(materialise(parts, plan, prepared))?;
        for (point, key) in behind {
            point.put(&key);
        }
        Ok(())
    }

    /// The lock stripes of every primary key and claimed unique value of a batch.
    fn stripes_of(&self, parts: &Partitions, prepared: &[Prepared<V>]) -> BTreeSet<usize> {
        let mut stripes = BTreeSet::new();
        for p in prepared {
            stripes.insert(self.locks.stripe(&parts.records, &p.pk));
            for e in p
                .new
                .iter()
                .flat_map(|(_, _, es, _)| es)
                .filter(|e| e.claims)
            {
                stripes.insert(self.locks.stripe(&parts.indexes[e.index], &e.key));
            }
        }
        stripes
    }

    /// A read-modify-write of the entities with these keys, as one atomic batch: under the
    /// locks of the keys, reads each one's current version (None when absent or expired)
    /// and asks `decide` what to write for it. No other writer can change a key between
    /// that read and the write, so a decision is never based on a stale version.
    ///
    /// `decide` may be called more than once for a key: when its mutations touch keys or
    /// unique values whose locks are not held, every lock is released, the larger set is
    /// taken in order (so no deadlock), and the rows are read and decided again.
    pub fn apply_decided<F>(&self, keys: &[K], mut decide: F) -> StoreResult<WriteOutcome>
    where
        F: FnMut(&K, Option<&V>) -> StoreResult<Vec<Mutation<K, V>>>,
    {
        if keys.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let _gate = self.gate.read();
        let def = self.definition();
        let parts = def.partitions();
        let pks: Vec<Vec<u8>> = keys.iter().map(|k| Self::pk_bytes(&def, k)).collect();
        let mut stripes: BTreeSet<usize> = pks
            .iter()
            .map(|pk| self.locks.stripe(&parts.records, pk))
            .collect();
        loop {
            let _guards = self.locks.lock_all(&stripes);
            let now = self.now();
            let mut mutations = Vec::new();
            let mut read: HashMap<Vec<u8>, Current<V>> = HashMap::with_capacity(pks.len());
            for ((key, pk), current) in
                keys.iter()
                    .zip(&pks)
                    .zip(self.read_current(&*self.backend, parts, &pks)?)
            {
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
            let needed = self.stripes_of(parts, &prepared);
            if !needed.is_subset(&stripes) {
                stripes.extend(needed);
                continue;
            }
            let stored = Stored::Unknown;
            let reads = Reads {
                source: &*self.backend,
                locked: Some(&stripes),
            };
            match self.try_apply(&def, parts, &prepared, now, &reads, &stored, Some(read))? {
                Attempt::Done(plan, outcome) => {
                    self.write_planned(parts, plan, &mut prepared)?;
                    return Ok(outcome);
                }
                Attempt::NeedLock(pk) => {
                    stripes.insert(self.locks.stripe(&parts.records, &pk));
                }
            }
        }
    }

    pub(super) fn read_current(
        &self,
        source: &dyn ReadView,
        parts: &Partitions,
        pks: &[Vec<u8>],
    ) -> StoreResult<Vec<Current<V>>> {
        let def = self.definition();
        source
            .multi_get(&parts.records, pks)?
            .into_iter()
            .map(|raw| {
                raw.map(|b| decode_record(&def, &b, &parts.records))
                    .transpose()
            })
            .collect()
    }

    /// The stored state of every key a batch touches (a key missing from it is not stored):
    /// `read`, plus the keys the caller cannot rule out read now; and whether a key repeats
    /// in the batch (then each one's new state must be remembered as the batch goes).
    fn stored_state(
        &self,
        source: &dyn ReadView,
        parts: &Partitions,
        prepared: &[Prepared<V>],
        stored: &Stored,
        read: Option<HashMap<Vec<u8>, Current<V>>>,
    ) -> StoreResult<(HashMap<Vec<u8>, Current<V>>, bool)> {
        // The keys to read: every key, or only those the caller cannot rule out.
        let mut keys: Vec<Vec<u8>> = match stored {
            Stored::Unknown => prepared.iter().map(|p| p.pk.clone()).collect(),
            Stored::NoneBut(maybe) => maybe.iter().map(|&i| prepared[i].pk.clone()).collect(),
        };
        keys.sort();
        keys.dedup();
        // Only a key that appears twice in the batch needs its new state remembered; a
        // repeat the caller cannot rule out is among the keys it names.
        let repeats = match stored {
            Stored::Unknown => keys.len() != prepared.len(),
            Stored::NoneBut(maybe) => !maybe.is_empty(),
        };
        if let Some(read) = &read {
            keys.retain(|k| !read.contains_key(k));
        }
        let fetched = if keys.is_empty() {
            Vec::new()
        } else {
            self.read_current(source, parts, &keys)?
        };
        let mut state: HashMap<Vec<u8>, Current<V>> = read.unwrap_or_default();
        state.extend(keys.into_iter().zip(fetched));
        Ok((state, repeats))
    }

    /// Checks the mutations against the stored rows and plans the batch that applies them.
    /// `read` is the state of keys the caller read under the locks it holds: those are not
    /// read again.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn try_apply<'p>(
        &self,
        def: &TableDefinition<K, V>,
        parts: &'p Partitions,
        prepared: &[Prepared<V>],
        now: i64,
        reads: &Reads<'_>,
        stored: &Stored,
        read: Option<HashMap<Vec<u8>, Current<V>>>,
    ) -> StoreResult<Attempt<'p>> {
        let (mut state, repeats) =
            self.stored_state(reads.source, parts, prepared, stored, read)?;
        // Who holds each claimed unique key, as the batch goes.
        let mut owners: HashMap<(usize, Vec<u8>), Option<Vec<u8>>> = HashMap::new();
        let mut plan: Vec<Planned<'p>> = Vec::new();
        let mut outcome = WriteOutcome::default();
        let live = |c: &Current<V>| {
            c.as_ref()
                .is_some_and(|(_, exp)| exp.is_none_or(|e| e > now))
        };

        for (item, p) in prepared.iter().enumerate() {
            let current = state.get(&p.pk).cloned().flatten();
            let is_live = live(&current);
            match p.kind {
                Kind::Insert if is_live => {
                    return Err(StoreError::DuplicateKey {
                        table: def.schema.name.clone(),
                        key: describe(&p.key_values),
                    })
                }
                Kind::Update if !is_live => {
                    return Err(StoreError::NotFound {
                        table: def.schema.name.clone(),
                        key: describe(&p.key_values),
                    })
                }
                Kind::Delete if current.is_none() => continue,
                Kind::Insert => outcome.inserted += 1,
                Kind::Upsert if is_live => outcome.updated += 1,
                Kind::Upsert => outcome.inserted += 1,
                Kind::Update => outcome.updated += 1,
                Kind::Delete if is_live => outcome.deleted += 1,
                Kind::Delete => {}
            }
            let new_entries: &[Entry] = p.new.as_ref().map_or(&[], |(_, _, es, _)| es);
            let stored = match &current {
                Some((old, old_expiry)) => self.remove_record(
                    def,
                    parts,
                    &p.pk,
                    old,
                    *old_expiry,
                    new_entries,
                    &mut plan,
                    &mut owners,
                ),
                None => vec![None; new_entries.len()],
            };
            if let Some((v, expiry, entries, _)) = &p.new {
                for (entry, e) in entries.iter().enumerate() {
                    if stored[entry] == Some(true) {
                        // Stored as it is, and the row already holds its unique value.
                        if e.claims {
                            owners.insert((e.index, e.key.clone()), Some(p.pk.clone()));
                        }
                        continue;
                    }
                    if e.claims {
                        if let Some(attempt) = self.claim(
                            def,
                            parts,
                            e,
                            &p.pk,
                            now,
                            reads,
                            &mut state,
                            &mut owners,
                            &mut plan,
                        )? {
                            return Ok(attempt);
                        }
                    }
                    plan.push(Planned::Entry {
                        item,
                        entry,
                        new_key: stored[entry].is_none(),
                    });
                }
                plan.push(Planned::Record { item });
                if repeats {
                    state.insert(p.pk.clone(), Some((v.clone(), *expiry)));
                }
            } else {
                plan.push(Planned::Delete(&parts.records, p.pk.clone()));
                state.insert(p.pk.clone(), None);
            }
        }
        Ok(Attempt::Done(plan, outcome))
    }

    /// Deletes a record's entries (except those `keep` rewrites) and its expiry entry.
    /// Returns, for each entry of `keep`, whether the record has its key (None: a new key)
    /// and if so whether the value is the same too (then it need not be written again).
    #[allow(clippy::too_many_arguments)]
    fn remove_record<'p>(
        &self,
        def: &TableDefinition<K, V>,
        parts: &'p Partitions,
        pk: &[u8],
        old: &V,
        old_expiry: Option<i64>,
        keep: &[Entry],
        plan: &mut Vec<Planned<'p>>,
        owners: &mut HashMap<(usize, Vec<u8>), Option<Vec<u8>>>,
    ) -> Vec<Option<bool>> {
        let mut stored = vec![None; keep.len()];
        for e in entries_of(def, old, pk, old_expiry) {
            if let Some(i) = keep
                .iter()
                .position(|k| k.index == e.index && k.key == e.key)
            {
                stored[i] = Some(keep[i].value == e.value);
                continue;
            }
            if e.claims {
                owners.insert((e.index, e.key.clone()), None);
            }
            plan.push(Planned::Unindex(e));
        }
        if let Some(exp) = old_expiry {
            plan.push(Planned::Delete(&parts.expiry, expiry_key(exp, pk)));
        }
        stored
    }

    /// Claims a unique key for `pk`: free, already ours, or held by an expired row (which is
    /// purged in the same batch). Held by a live row: a unique violation.
    #[allow(clippy::too_many_arguments)]
    fn claim<'p>(
        &self,
        def: &TableDefinition<K, V>,
        parts: &'p Partitions,
        e: &Entry,
        pk: &[u8],
        now: i64,
        reads: &Reads<'_>,
        state: &mut HashMap<Vec<u8>, Current<V>>,
        owners: &mut HashMap<(usize, Vec<u8>), Option<Vec<u8>>>,
        plan: &mut Vec<Planned<'p>>,
    ) -> StoreResult<Option<Attempt<'p>>> {
        let partition = &parts.indexes[e.index];
        let violation = || {
            let spec = &def.indexes[e.index].spec;
            let values = decode_key(&e.key, &spec.orders()).unwrap_or_default();
            StoreError::UniqueViolation {
                table: def.schema.name.clone(),
                index: spec.name.clone(),
                value: describe(&values),
            }
        };
        let owner = match owners.get(&(e.index, e.key.clone())) {
            // Claimed earlier in this batch by a row written in it: live by definition.
            Some(Some(o)) if o.as_slice() != pk => return Err(violation()),
            Some(o) => o.clone(),
            None => match reads.source.get(partition, &e.key)? {
                Some(raw) => EntryPayload::decode(&raw, partition)?.pk,
                None => None,
            },
        };
        if let Some(owner) = owner.filter(|o| o.as_slice() != pk) {
            let current = match state.get(&owner) {
                Some(c) => c.clone(),
                None => self
                    .read_current(reads.source, parts, std::slice::from_ref(&owner))?
                    .pop()
                    .flatten(),
            };
            match current {
                Some((v, Some(exp))) if exp <= now => {
                    let stripe = self.locks.stripe(&parts.records, &owner);
                    if reads.locked.is_some_and(|held| !held.contains(&stripe)) {
                        return Ok(Some(Attempt::NeedLock(owner)));
                    }
                    self.remove_record(def, parts, &owner, &v, Some(exp), &[], plan, owners);
                    plan.push(Planned::Delete(&parts.records, owner.clone()));
                    state.insert(owner, None);
                }
                Some(_) => return Err(violation()),
                // A claim by a row that is gone: stale only within this batch.
                None => {}
            }
        }
        owners.insert((e.index, e.key.clone()), Some(pk.to_vec()));
        Ok(None)
    }
}

/// What a writer knows of which primary keys of a batch are stored.
pub(crate) enum Stored {
    /// Nothing: every key is read.
    Unknown,
    /// None is stored and the batch repeats none, except perhaps the keys at these
    /// positions, which alone are read. Only for a writer holding the gate exclusively.
    NoneBut(Vec<usize>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Insert,
    Upsert,
    Update,
    Delete,
}

/// A mutation encoded for writing.
pub(crate) struct Prepared<V> {
    pub(crate) kind: Kind,
    /// The primary key's values, for error messages.
    pub(crate) key_values: Vec<Value>,
    pub(crate) pk: Vec<u8>,
    /// The new entity, its expiry, its index entries and its encoded record.
    pub(crate) new: Option<(V, Option<i64>, Vec<Entry>, Vec<u8>)>,
}

/// One change of a planned batch. The new record and entries are named by position rather
/// than copied: a plan is thrown away when the batch must be retried, and only a plan that
/// passed every check moves them into the batch.
pub(super) enum Planned<'p> {
    /// Put entry `entry` of mutation `item` (`new_key`: the row had no entry with its key,
    /// so the entry counts one more).
    Entry {
        item: usize,
        entry: usize,
        new_key: bool,
    },
    /// Delete a stored index entry (it counts one less).
    Unindex(Entry),
    /// Put the record of mutation `item`, and its expiry entry if it has one.
    Record { item: usize },
    /// Delete a key found in the stored rows.
    Delete(&'p str, Vec<u8>),
}

/// The write batch of a plan, taking the keys, records and entries out of `prepared`.
pub(super) fn materialise<V>(
    parts: &Partitions,
    plan: Vec<Planned<'_>>,
    prepared: &mut [Prepared<V>],
) -> WriteBatch {
    let mut batch = WriteBatch::new();
    let mut counts = CountDeltas::new(parts);
    for op in plan {
        match op {
            Planned::Entry {
                item,
                entry,
                new_key,
            } => {
                if let Some((_, _, entries, _)) = &mut prepared[item].new {
                    let e = &mut entries[entry];
                    let key = std::mem::take(&mut e.key);
                    if new_key {
                        counts.add(e.index, &key[..e.lead], 1);
                    }
                    batch.put(&parts.indexes[e.index], key, std::mem::take(&mut e.value));
                }
            }
            Planned::Unindex(e) => {
                counts.add(e.index, &e.key[..e.lead], -1);
                batch.delete(&parts.indexes[e.index], e.key);
            }
            Planned::Record { item } => {
                let p = &mut prepared[item];
                if let Some((_, expiry, _, record)) = &mut p.new {
                    if let Some(exp) = expiry {
                        batch.put(&parts.expiry, expiry_key(*exp, &p.pk), Vec::new());
                    }
                    batch.put(
                        &parts.records,
                        std::mem::take(&mut p.pk),
                        std::mem::take(record),
                    );
                }
            }
            Planned::Delete(partition, key) => batch.delete(partition, key),
        }
    }
    counts.write_to(&mut batch);
    batch
}
