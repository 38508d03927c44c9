//! Which keys were written since a point in time: what a transaction checks at COMMIT to
//! find the writes it would overwrite (a row another writer changed after its snapshot) or
//! the reads another writer invalidated (SERIALIZABLE).
//!
//! Every write batch of the database goes through [`Versioned`], which, while at least one
//! reader is registered ([`Versions::begin`]), gives the batch the next version number and
//! records each key it touches with it. A reader's start version and its snapshot are taken
//! together, while no write is in flight, so a write is either in the snapshot (its version
//! at most the start) or after it (its version above): `written_since(key, start)` is then
//! exactly "changed after the snapshot". Records no registered reader can need any more
//! are dropped when a reader ends; with none registered nothing is recorded at all, so a
//! database without open transactions pays one uncontended lock per write.
//!
//! The log is bounded ([`Versions::with_capacity`], [`DEFAULT_CAPACITY`] keys): a reader
//! held open while many writes land (a client that never commits) would otherwise make it
//! grow without end. Past the bound the older half of the records is dropped and the
//! versions they covered are forgotten: a key checked against a version that old counts as
//! written (a transaction that old fails its commit with a serialization error, "snapshot
//! too old", rather than risk missing a conflict). Reads are not affected.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::backend::{BatchOp, Direction, KvIter, ReadView, Step, StorageBackend, WriteBatch};
use crate::{KeyRange, KvResult};

/// How many written keys the log keeps by default.
pub const DEFAULT_CAPACITY: usize = 1_000_000;

/// The recent writes of one database.
pub struct Versions {
    /// Writers that record hold it shared from their version to their write; `begin` holds
    /// it exclusively, so no write is half done when a reader starts.
    gate: RwLock<()>,
    /// The version of the last write recorded.
    last: AtomicU64,
    /// Registered readers (changed under `gate` held exclusively when one registers).
    open: AtomicUsize,
    log: Mutex<Log>,
    /// The most keys the log keeps.
    capacity: usize,
}

impl Default for Versions {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

#[derive(Default)]
struct Log {
    /// Records of versions up to this one were dropped to bound the log: anything checked
    /// against an older version counts as written.
    forgotten: u64,
    /// Registered readers by start version (several may share one).
    readers: BTreeMap<u64, usize>,
    /// Each key written while readers were registered, with the version of its last write.
    keys: BTreeMap<(Arc<str>, Vec<u8>), u64>,
    /// Range deletes written meanwhile: partition, range, version.
    ranges: Vec<(Arc<str>, KeyRange, u64)>,
}

impl Versions {
    /// A log keeping at most `capacity` written keys (see the module doc).
    pub fn with_capacity(capacity: usize) -> Self {
        Versions {
            gate: RwLock::default(),
            last: AtomicU64::default(),
            open: AtomicUsize::default(),
            log: Mutex::default(),
            capacity: capacity.max(2),
        }
    }

    /// Registers a reader and takes its snapshot: the version to check writes against
    /// ([`written_since`](Self::written_since)) and the view every write up to it is in.
    /// End it with [`end`](Self::end).
    pub fn begin(&self, backend: &dyn StorageBackend) -> (u64, Box<dyn ReadView>) {
        let _no_write_in_flight = self.gate.write();
        let start = self.last.load(Ordering::Acquire);
        *self.log.lock().readers.entry(start).or_default() += 1;
        self.open.fetch_add(1, Ordering::AcqRel);
        (start, backend.snapshot())
    }

    /// The version of the last write: a key read now is checked against it as a reader's
    /// start is (a write after it counts as after the read).
    pub fn current(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    /// Unregisters a reader that began at `start`, dropping the records no other reader
    /// needs.
    pub fn end(&self, start: u64) {
        let mut log = self.log.lock();
        let oldest_before = log.readers.keys().next().copied();
        if let Some(n) = log.readers.get_mut(&start) {
            self.open.fetch_sub(1, Ordering::AcqRel);
            *n -= 1;
            if *n == 0 {
                log.readers.remove(&start);
            }
        }
        match log.readers.keys().next().copied() {
            None => {
                log.keys.clear();
                log.ranges.clear();
            }
            // Only the end of the oldest reader frees records (a walk of the whole log).
            Some(oldest) if Some(oldest) != oldest_before => {
                log.keys.retain(|_, v| *v > oldest);
                log.ranges.retain(|(_, _, v)| *v > oldest);
            }
            Some(_) => {}
        }
    }

    /// Registered readers (open transactions).
    pub fn readers(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// True when `key` of `partition` was written after version `since`.
    pub fn written_since(&self, partition: &str, key: &[u8], since: u64) -> bool {
        let log = self.log.lock();
        if since < log.forgotten {
            return true;
        }
        let by_key = log
            .keys
            .get(&(Arc::from(partition), key.to_vec()))
            .is_some_and(|&v| v > since);
        by_key
            || log
                .ranges
                .iter()
                .any(|(p, r, v)| *v > since && &**p == partition && r.contains(key))
    }

    /// True when a key of `partition` in `range` was written after version `since`.
    pub fn written_in_since(&self, partition: &str, range: &KeyRange, since: u64) -> bool {
        let log = self.log.lock();
        if since < log.forgotten {
            return true;
        }
        let p: Arc<str> = Arc::from(partition);
        let lower = match &range.lower {
            Bound::Included(k) => Bound::Included((p.clone(), k.clone())),
            Bound::Excluded(k) => Bound::Excluded((p.clone(), k.clone())),
            Bound::Unbounded => Bound::Included((p.clone(), Vec::new())),
        };
        let by_key = log
            .keys
            .range((lower, Bound::Unbounded))
            .take_while(|((q, k), _)| **q == *partition && upper_allows(&range.upper, k))
            .any(|(_, &v)| v > since);
        by_key
            || log
                .ranges
                .iter()
                .any(|(q, r, v)| *v > since && **q == *partition && !r.intersect(range).is_empty())
    }

    /// Records the keys of a batch about to be written, under the next version.
    fn record(&self, batch: &WriteBatch) {
        let version = self.last.fetch_add(1, Ordering::AcqRel) + 1;
        let mut log = self.log.lock();
        for op in batch.ops() {
            let partition: Arc<str> = Arc::from(op.partition());
            match op {
                BatchOp::DeleteRange { start, end, .. } => log.ranges.push((
                    partition,
                    KeyRange::new(Bound::Included(start.clone()), Bound::Excluded(end.clone())),
                    version,
                )),
                _ => {
                    log.keys.insert((partition, op.key().to_vec()), version);
                }
            }
        }
        if log.keys.len() + log.ranges.len() > self.capacity {
            Self::forget_older_half(&mut log);
        }
    }

    /// Drops the records of the older half of the versions in the log.
    fn forget_older_half(log: &mut Log) {
        let mut versions: Vec<u64> = log.keys.values().copied().collect();
        versions.extend(log.ranges.iter().map(|(_, _, v)| *v));
        let middle = versions.len() / 2;
        let (_, &mut cut, _) = versions.select_nth_unstable(middle);
        log.keys.retain(|_, v| *v > cut);
        log.ranges.retain(|(_, _, v)| *v > cut);
        log.forgotten = log.forgotten.max(cut);
    }
}

fn upper_allows(upper: &Bound<Vec<u8>>, key: &[u8]) -> bool {
    match upper {
        Bound::Included(u) => key <= u.as_slice(),
        Bound::Excluded(u) => key < u.as_slice(),
        Bound::Unbounded => true,
    }
}

/// A backend whose writes are recorded in [`Versions`] while readers are registered.
pub struct Versioned {
    inner: Arc<dyn StorageBackend>,
    versions: Arc<Versions>,
}

impl Versioned {
    /// `inner`, recording its writes in `versions`.
    pub fn new(inner: Arc<dyn StorageBackend>, versions: Arc<Versions>) -> Self {
        Versioned { inner, versions }
    }

    /// The backend written to.
    pub fn inner(&self) -> &Arc<dyn StorageBackend> {
        &self.inner
    }
}

impl ReadView for Versioned {
    fn get(&self, partition: &str, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        self.inner.get(partition, key)
    }

    fn multi_get(&self, partition: &str, keys: &[Vec<u8>]) -> KvResult<Vec<Option<Vec<u8>>>> {
        self.inner.multi_get(partition, keys)
    }

    fn scan(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
    ) -> KvResult<KvIter<'_>> {
        self.inner.scan(partition, range, direction)
    }

    fn visit(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> KvResult<()> {
        self.inner.visit(partition, range, direction, visit)
    }

    fn visit_skipping(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Step,
    ) -> KvResult<()> {
        self.inner
            .visit_skipping(partition, range, direction, visit)
    }

    fn approximate_size(&self, partition: &str, start: &[u8], end: &[u8]) -> KvResult<u64> {
        self.inner.approximate_size(partition, start, end)
    }

    fn visit_many(
        &self,
        partition: &str,
        keys: &[&[u8]],
        visit: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> KvResult<()> {
        self.inner.visit_many(partition, keys, visit)
    }
}

impl StorageBackend for Versioned {
    fn create_partition(&self, name: &str) -> KvResult<()> {
        self.inner.create_partition(name)
    }

    fn drop_partition(&self, name: &str) -> KvResult<()> {
        self.inner.drop_partition(name)
    }

    fn partitions(&self) -> KvResult<Vec<String>> {
        self.inner.partitions()
    }

    fn has_partition(&self, name: &str) -> bool {
        self.inner.has_partition(name)
    }

    fn write(&self, batch: WriteBatch) -> KvResult<()> {
        let _in_flight = self.versions.gate.read();
        if self.versions.open.load(Ordering::Acquire) > 0 {
            self.versions.record(&batch);
        }
        self.inner.write(batch)
    }

    fn snapshot(&self) -> Box<dyn ReadView> {
        self.inner.snapshot()
    }

    fn flush(&self) -> KvResult<()> {
        self.inner.flush()
    }

    fn compact(&self) -> KvResult<()> {
        self.inner.compact()
    }

    fn compact_partition(&self, partition: &str) -> KvResult<()> {
        self.inner.compact_partition(partition)
    }

    fn disk_size(&self) -> u64 {
        self.inner.disk_size()
    }
}
