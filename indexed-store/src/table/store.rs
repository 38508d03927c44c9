//! `IndexedEntityStore`: a table of entities whose secondary indexes change in the same
//! atomic write batch as the entities themselves. Writes are in `write.rs`, index entries
//! in `entries.rs`.

use std::sync::Arc;

use kv_store::StorageBackend;
use parking_lot::RwLock;

use super::counts;
use super::locks::KeyLocks;
use super::resume::ResumePoint;
use crate::access::AccessPath;
use crate::encoding::{encode_key, Value};
use crate::error::{StoreError, StoreResult};
use crate::schema::{leading_orders, Entity, EntityKey, TableDefinition};

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

/// A table of `V`s keyed by `K`, with secondary indexes, on any [`StorageBackend`].
pub struct IndexedEntityStore<K, V> {
    pub(crate) backend: Arc<dyn StorageBackend>,
    pub(crate) def: Arc<RwLock<Arc<TableDefinition<K, V>>>>,
    pub(crate) locks: Arc<KeyLocks>,
    /// Writers hold it shared; purges and index builds hold it exclusively.
    pub(crate) gate: Arc<RwLock<()>>,
    pub(crate) clock: Clock,
    /// Walk starts that every write keeps honest (see `resume.rs`).
    pub(crate) resume_points: Arc<RwLock<Vec<Arc<ResumePoint>>>>,
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
        counts::ensure(&backend, &parts, &leading_orders(&def.schema))?;
        Ok(IndexedEntityStore {
            backend,
            def: Arc::new(RwLock::new(Arc::new(def))),
            locks: Arc::default(),
            gate: Arc::default(),
            clock: system_clock(),
            resume_points: Arc::default(),
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

    pub(super) fn expiry_of(&self, def: &TableDefinition<K, V>, v: &V, now: i64) -> Option<i64> {
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

    /// The resume point over the entries of `index` that start with `prefix`, shared by
    /// every caller asking for the same one.
    pub fn resume_point(&self, index: &str, prefix: Vec<Value>) -> StoreResult<Arc<ResumePoint>> {
        let def = self.definition();
        let position = def.index_position(index)?;
        let partition = def.partitions().indexes[position].clone();
        let orders = def.indexes[position].spec.orders();
        let path = AccessPath::index(index).eq(prefix);
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
}
