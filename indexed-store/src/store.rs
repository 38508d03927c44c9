//! `IndexedEntityStore`: a table of entities whose secondary indexes change in the same
//! atomic write batch as the entities themselves.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use kv_store::{StorageBackend, WriteBatch};
use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{encode_instant, encode_key, encode_key_and_lead, encode_value, SortOrder};
use crate::counts::{self, CountDeltas};
use crate::definition::{EntityKey, TableDefinition};
use crate::error::{describe, StoreError, StoreResult};
use crate::locks::KeyLocks;
use crate::payload::{decode_record, encode_record, EntryPayload};
use crate::resume::{lowest_puts, ResumePoint};
use crate::value::Value;

/// What the store needs of an entity type.
pub trait Entity: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Entity for T {}

/// The current time in µs since the epoch; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(system_now)
}

/// The system time in µs since the epoch (what [`system_clock`] reads).
pub fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// One change to apply.
#[derive(Debug, Clone)]
pub enum Mutation<K, V> {
    /// Add an entity; its key must not exist.
    Insert(V),
    /// Add or replace an entity.
    Upsert(V),
    /// Replace an entity; its key must exist.
    Update(V),
    /// Remove the entity with this key (no error when absent).
    Delete(K),
}

/// How many rows a write changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Rows added.
    pub inserted: u64,
    /// Rows replaced.
    pub updated: u64,
    /// Rows removed.
    pub deleted: u64,
}

impl WriteOutcome {
    /// Rows touched in all.
    pub fn total(&self) -> u64 {
        self.inserted + self.updated + self.deleted
    }
}

/// Partition names of a table.
#[derive(Debug, Clone)]
pub(crate) struct Partitions {
    pub records: String,
    pub expiry: String,
    pub indexes: Vec<String>,
    /// The per-value counts of each index, for those that have them (see [`crate::counts`]).
    pub counts: Vec<Option<String>>,
}

impl Partitions {
    /// A partition only ever read by range: non-unique index entries and expiry entries.
    /// Records are read by key everywhere and unique entries when a value is claimed, so
    /// only they need Bloom filters (see `RocksOptions::scanned_only`).
    pub(crate) fn scanned_only(name: &str) -> bool {
        name.starts_with("i/") || name.starts_with("x/") || counts::is_counts_partition(name)
    }

    /// The names for a definition; read them through [`TableDefinition::partitions`],
    /// which works them out once.
    pub(crate) fn of<K, V>(def: &TableDefinition<K, V>) -> Self {
        let t = &def.schema.name;
        Partitions {
            records: format!("t/{t}"),
            expiry: format!("x/{t}"),
            indexes: def
                .indexes
                .iter()
                .map(|i| {
                    format!(
                        "{}/{t}/{}",
                        if i.spec.unique { "u" } else { "i" },
                        i.spec.name
                    )
                })
                .collect(),
            counts: def
                .indexes
                .iter()
                .map(|i| {
                    counts::kept(&def.schema, &i.spec)
                        .then(|| counts::partition_name(t, &i.spec.name))
                })
                .collect(),
        }
    }

    /// Every partition name, records and expiry first.
    pub(crate) fn all(&self) -> impl Iterator<Item = &String> {
        [&self.records, &self.expiry]
            .into_iter()
            .chain(&self.indexes)
            .chain(self.counts.iter().flatten())
    }
}

/// One index entry of a record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// Position of the index in the definition.
    pub index: usize,
    pub key: Vec<u8>,
    /// The length of the key's leading value (its counter's key: `key[..lead]`).
    pub lead: usize,
    pub value: Vec<u8>,
    /// A unique entry keyed by its values alone (no NULL among them): the key is the claim.
    pub claims: bool,
}

/// The order of each index's leading column.
pub(crate) fn leading_orders<K, V>(def: &TableDefinition<K, V>) -> Vec<SortOrder> {
    def.indexes
        .iter()
        .map(|i| i.spec.orders().first().copied().unwrap_or_default())
        .collect()
}

/// The index entries a record has.
pub(crate) fn entries_of<K, V>(
    def: &TableDefinition<K, V>,
    v: &V,
    pk: &[u8],
    expiry: Option<i64>,
) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, idx) in def.indexes.iter().enumerate() {
        if let Some(cond) = &idx.condition {
            if !cond(v) {
                continue;
            }
        }
        let values = (idx.extract)(v);
        let covered = idx.covered.as_ref().map(|c| c(v));
        let orders = idx.spec.orders();
        for combo in expand_lists(values) {
            let (mut key, lead) = encode_key_and_lead(&combo, &orders);
            let claims = idx.spec.unique && !combo.iter().any(Value::is_null);
            let mut payload = EntryPayload {
                expiry,
                pk: None,
                covered: covered.clone(),
            };
            if claims {
                payload.pk = Some(pk.to_vec());
            } else {
                key.extend_from_slice(pk);
            }
            out.push(Entry {
                index: i,
                key,
                lead,
                value: payload.encode(),
                claims,
            });
        }
    }
    out
}

/// One tuple per combination of list elements (a list column makes one entry per distinct
/// element; an empty list makes none).
fn expand_lists(values: Vec<Value>) -> Vec<Vec<Value>> {
    if !values.iter().any(|v| matches!(v, Value::List(_))) {
        return vec![values];
    }
    let mut combos: Vec<Vec<Value>> = vec![Vec::with_capacity(values.len())];
    for v in values {
        match v {
            Value::List(items) => {
                let mut seen = HashSet::new();
                let distinct: Vec<Value> = items
                    .into_iter()
                    .filter(|item| {
                        let mut k = Vec::new();
                        encode_value(&mut k, item, Default::default());
                        seen.insert(k)
                    })
                    .collect();
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        distinct.iter().map(move |item| {
                            let mut c = c.clone();
                            c.push(item.clone());
                            c
                        })
                    })
                    .collect();
            }
            v => combos.iter_mut().for_each(|c| c.push(v.clone())),
        }
    }
    combos
}

/// A table of `V`s keyed by `K`, with secondary indexes, on any [`StorageBackend`].
pub struct IndexedEntityStore<K, V> {
    pub(crate) backend: Arc<dyn StorageBackend>,
    pub(crate) def: RwLock<Arc<TableDefinition<K, V>>>,
    pub(crate) locks: KeyLocks,
    /// Writers hold it shared; purges and index builds hold it exclusively.
    pub(crate) gate: RwLock<()>,
    pub(crate) clock: Clock,
    /// Walk starts that every write keeps honest (see [`crate::resume`]).
    pub(crate) resume_points: RwLock<Vec<Arc<ResumePoint>>>,
}

/// A record as read for a write: the entity and its expiry.
type Current<V> = Option<(V, Option<i64>)>;

enum Attempt<'p> {
    Done(Vec<Planned<'p>>, WriteOutcome),
    /// A write must purge an expired row whose key it has not locked: lock it and retry.
    NeedLock(Vec<u8>),
}

impl<K: EntityKey, V: Entity> IndexedEntityStore<K, V> {
    /// Opens the table on `backend`, creating its partitions when missing.
    pub fn open(backend: Arc<dyn StorageBackend>, def: TableDefinition<K, V>) -> StoreResult<Self> {
        let parts = def.partitions().clone();
        backend.create_partition(&parts.records)?;
        backend.create_partition(&parts.expiry)?;
        for p in &parts.indexes {
            backend.create_partition(p)?;
        }
        counts::ensure(&backend, &parts, &leading_orders(&def))?;
        Ok(IndexedEntityStore {
            backend,
            def: RwLock::new(Arc::new(def)),
            locks: KeyLocks::default(),
            gate: RwLock::new(()),
            clock: system_clock(),
            resume_points: RwLock::new(Vec::new()),
        })
    }

    /// The same store reading time from `clock` (tests of TTL).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The current definition.
    pub fn definition(&self) -> Arc<TableDefinition<K, V>> {
        self.def.read().clone()
    }

    /// Compacts the named index's partition: walks of an index whose front is deleted as
    /// it is consumed (a queue) stop stepping over the deletions.
    pub fn compact_index(&self, name: &str) -> StoreResult<()> {
        let def = self.definition();
        let i = def.index_position(name)?;
        let partition = def.partitions().indexes[i].clone();
        Ok(self.backend.compact_partition(&partition)?)
    }

    /// The table name.
    pub fn name(&self) -> String {
        self.def.read().schema.name.clone()
    }

    /// The backend the table lives on.
    pub fn backend(&self) -> &Arc<dyn StorageBackend> {
        &self.backend
    }

    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }

    pub(crate) fn pk_bytes(def: &TableDefinition<K, V>, key: &K) -> Vec<u8> {
        encode_key(&key.to_values(), &def.pk_orders)
    }

    fn expiry_of(&self, def: &TableDefinition<K, V>, v: &V, now: i64) -> Option<i64> {
        let ttl = def.schema.ttl.as_ref()?;
        let basis = match &def.ttl_basis {
            Some(f) => f(v)?,
            None => now,
        };
        // Saturating: a TTL past the representable range means "expires never" rather than
        // wrapping into the past and hiding the row at once.
        let micros = i64::try_from(ttl.seconds)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        Some(basis.saturating_add(micros))
    }

    /// Adds an entity; fails with [`StoreError::DuplicateKey`] when its key exists.
    pub fn insert(&self, v: V) -> StoreResult<()> {
        self.apply(vec![Mutation::Insert(v)]).map(|_| ())
    }

    /// Replaces an existing entity; fails with [`StoreError::NotFound`] when absent.
    pub fn update(&self, v: V) -> StoreResult<()> {
        self.apply(vec![Mutation::Update(v)]).map(|_| ())
    }

    /// Adds or replaces an entity.
    pub fn upsert(&self, v: V) -> StoreResult<()> {
        self.apply(vec![Mutation::Upsert(v)]).map(|_| ())
    }

    /// Removes an entity; returns whether it existed.
    pub fn delete(&self, key: &K) -> StoreResult<bool> {
        self.apply(vec![Mutation::Delete(key.clone())])
            .map(|o| o.deleted == 1)
    }

    /// Adds many entities in one atomic batch (all or none).
    pub fn insert_many(&self, vs: Vec<V>) -> StoreResult<WriteOutcome> {
        self.apply(vs.into_iter().map(Mutation::Insert).collect())
    }

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
            match self.try_apply(def, parts, prepared, now, &stripes, stored, None)? {
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

    /// The resume point over the entries of `index` that start with `prefix`, shared by
    /// every caller asking for the same one.
    pub fn resume_point(&self, index: &str, prefix: Vec<Value>) -> StoreResult<Arc<ResumePoint>> {
        let def = self.definition();
        let position = def.index_position(index)?;
        let partition = def.partitions().indexes[position].clone();
        let orders = def.indexes[position].spec.orders();
        let path = crate::access::AccessPath::index(index).eq(prefix);
        let Some((_, range)) = path.key_ranges(&orders).pop() else {
            return Err(StoreError::InvalidAccessPath {
                index: index.into(),
                reason: "a resume point needs one key range".into(),
            });
        };
        let found = |points: &[Arc<ResumePoint>]| {
            points
                .iter()
                .find(|p| p.watches(&partition, &range))
                .cloned()
        };
        // Looked up on every claim: the write lock only to add one.
        if let Some(p) = found(&self.resume_points.read()) {
            return Ok(p);
        }
        let mut points = self.resume_points.write();
        if let Some(p) = found(&points) {
            return Ok(p);
        }
        let point = Arc::new(ResumePoint::new(partition, range));
        points.push(point.clone());
        Ok(point)
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
            for ((key, pk), current) in keys.iter().zip(&pks).zip(self.read_current(parts, &pks)?) {
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
            match self.try_apply(&def, parts, &prepared, now, &stripes, &stored, Some(read))? {
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

    fn read_current(&self, parts: &Partitions, pks: &[Vec<u8>]) -> StoreResult<Vec<Current<V>>> {
        let def = self.definition();
        self.backend
            .multi_get(&parts.records, pks)?
            .into_iter()
            .map(|raw| {
                raw.map(|b| decode_record(&def, &b, &parts.records))
                    .transpose()
            })
            .collect()
    }

    /// Checks the mutations against the stored rows and plans the batch that applies them.
    /// `read` is the state of keys the caller read under the locks it holds: those are not
    /// read again.
    #[allow(clippy::too_many_arguments)]
    fn try_apply<'p>(
        &self,
        def: &TableDefinition<K, V>,
        parts: &'p Partitions,
        prepared: &[Prepared<V>],
        now: i64,
        locked: &BTreeSet<usize>,
        stored: &Stored,
        read: Option<HashMap<Vec<u8>, Current<V>>>,
    ) -> StoreResult<Attempt<'p>> {
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
            self.read_current(parts, &keys)?
        };
        // The stored state of every key the batch touches, as the batch goes (a key missing
        // here is not stored).
        let mut state: HashMap<Vec<u8>, Current<V>> = read.unwrap_or_default();
        state.extend(keys.into_iter().zip(fetched));
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
                            locked,
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
        locked: &BTreeSet<usize>,
        state: &mut HashMap<Vec<u8>, Current<V>>,
        owners: &mut HashMap<(usize, Vec<u8>), Option<Vec<u8>>>,
        plan: &mut Vec<Planned<'p>>,
    ) -> StoreResult<Option<Attempt<'p>>> {
        let partition = &parts.indexes[e.index];
        let violation = || {
            let spec = &def.indexes[e.index].spec;
            let values = crate::codec::decode_key(&e.key, &spec.orders()).unwrap_or_default();
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
            None => match self.backend.get(partition, &e.key)? {
                Some(raw) => EntryPayload::decode(&raw, partition)?.pk,
                None => None,
            },
        };
        if let Some(owner) = owner.filter(|o| o.as_slice() != pk) {
            let current = match state.get(&owner) {
                Some(c) => c.clone(),
                None => self
                    .read_current(parts, std::slice::from_ref(&owner))?
                    .pop()
                    .flatten(),
            };
            match current {
                Some((v, Some(exp))) if exp <= now => {
                    if !locked.contains(&self.locks.stripe(&parts.records, &owner)) {
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
enum Planned<'p> {
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
fn materialise<V>(
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

/// The expiry-index key of a record: expiry instant, then primary key.
pub(crate) fn expiry_key(expiry: i64, pk: &[u8]) -> Vec<u8> {
    let mut k = encode_instant(expiry).to_vec();
    k.extend_from_slice(pk);
    k
}
