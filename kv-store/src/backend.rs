//! The storage trait every backend implements, and the types it speaks.

use std::ops::Bound;
use std::sync::Arc;

use crate::{KeyRange, KvResult};

/// A key and its value.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// An ordered walk over a partition. Items come in key order (or reverse key order) and
/// the walk stops early when the caller stops pulling.
pub type KvIter<'a> = Box<dyn Iterator<Item = KvResult<KvPair>> + Send + 'a>;

/// Which way an ordered walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Ascending key order.
    #[default]
    Forward,
    /// Descending key order.
    Reverse,
}

impl Direction {
    /// The other direction.
    pub fn reversed(self) -> Self {
        match self {
            Direction::Forward => Direction::Reverse,
            Direction::Reverse => Direction::Forward,
        }
    }
}

/// What a skipping walk ([`ReadView::visit_skipping`]) does after a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Go on to the next pair in the walk's direction.
    Next,
    /// Jump: forward, to the first key at or after this one; in reverse, to the last key
    /// before this one (so a prefix skips everything that starts with it). Never back past
    /// the walk's range.
    Seek(Vec<u8>),
    /// End the walk.
    Stop,
}

/// One change inside a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Set `key` to `value` in `partition`.
    Put {
        partition: Arc<str>,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// Remove `key` from `partition` (no error when absent).
    Delete { partition: Arc<str>, key: Vec<u8> },
    /// Remove every key in `[start, end)` from `partition`.
    DeleteRange {
        partition: Arc<str>,
        start: Vec<u8>,
        end: Vec<u8>,
    },
    /// Add `delta` to the counter at `key` in `partition` (see [`WriteBatch::add`]).
    Add {
        partition: Arc<str>,
        key: Vec<u8>,
        delta: i64,
    },
}

impl BatchOp {
    /// The partition this change touches.
    pub fn partition(&self) -> &str {
        match self {
            BatchOp::Put { partition, .. }
            | BatchOp::Delete { partition, .. }
            | BatchOp::DeleteRange { partition, .. }
            | BatchOp::Add { partition, .. } => partition,
        }
    }

    /// An upper bound of the bytes the op takes in a serialised batch: its key and value
    /// plus a type tag, a partition id and two length prefixes (varints of up to 5 bytes).
    pub fn encoded_len(&self) -> usize {
        const OVERHEAD: usize = 1 + 5 + 5 + 5;
        OVERHEAD
            + match self {
                BatchOp::Put { key, value, .. } => key.len() + value.len(),
                BatchOp::Delete { key, .. } => key.len(),
                BatchOp::DeleteRange { start, end, .. } => start.len() + end.len(),
                BatchOp::Add { key, .. } => key.len() + COUNTER_BYTES,
            }
    }

    /// The key a put or delete touches; the start of a range delete.
    pub fn key(&self) -> &[u8] {
        match self {
            BatchOp::Put { key, .. } | BatchOp::Delete { key, .. } | BatchOp::Add { key, .. } => {
                key
            }
            BatchOp::DeleteRange { start, .. } => start,
        }
    }
}

/// The size of a counter's value (see [`WriteBatch::add`]).
pub const COUNTER_BYTES: usize = 8;

/// A counter's value from its stored bytes (None: not a counter, not 8 bytes).
pub fn decode_counter(raw: &[u8]) -> Option<i64> {
    <[u8; COUNTER_BYTES]>::try_from(raw)
        .ok()
        .map(i64::from_le_bytes)
}

/// `delta` added to the counter stored as `existing` (absent: 0). A value that is not a
/// counter is replaced as if it were 0: adds are only ever made to keys holding counters,
/// and the alternative, failing every later read of the key, would lose the count for good.
pub fn add_to_counter(existing: Option<&[u8]>, delta: i64) -> [u8; COUNTER_BYTES] {
    existing
        .and_then(decode_counter)
        .unwrap_or(0)
        .wrapping_add(delta)
        .to_le_bytes()
}

/// Changes that are applied together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
    /// The partition names the ops share: a batch touches few partitions many times, and
    /// an allocation per op would be a large part of a bulk write's cost.
    names: Vec<Arc<str>>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    fn name(&mut self, partition: &str) -> Arc<str> {
        match self.names.iter().find(|n| &***n == partition) {
            Some(n) => n.clone(),
            None => {
                let n: Arc<str> = Arc::from(partition);
                self.names.push(n.clone());
                n
            }
        }
    }

    /// Adds a put.
    pub fn put(&mut self, partition: &str, key: Vec<u8>, value: Vec<u8>) {
        let partition = self.name(partition);
        self.ops.push(BatchOp::Put {
            partition,
            key,
            value,
        });
    }

    /// Adds a delete.
    pub fn delete(&mut self, partition: &str, key: Vec<u8>) {
        let partition = self.name(partition);
        self.ops.push(BatchOp::Delete { partition, key });
    }

    /// Adds a range delete of `[start, end)`.
    pub fn delete_range(&mut self, partition: &str, start: Vec<u8>, end: Vec<u8>) {
        let partition = self.name(partition);
        self.ops.push(BatchOp::DeleteRange {
            partition,
            start,
            end,
        });
    }

    /// Adds `delta` to the counter at `key`: a signed 64-bit integer stored as 8 bytes,
    /// little-endian, that reads as 0 while absent. Adds from concurrent batches all land
    /// (the backend combines them; no read happens at write time), so a counter needs no
    /// lock. Read a counter with [`decode_counter`]; a put or delete of the key replaces it
    /// as it would any value.
    pub fn add(&mut self, partition: &str, key: Vec<u8>, delta: i64) {
        let partition = self.name(partition);
        self.ops.push(BatchOp::Add {
            partition,
            key,
            delta,
        });
    }

    /// Appends every change of `other`.
    pub fn extend(&mut self, other: WriteBatch) {
        for n in other.names {
            self.name(&n);
        }
        self.ops.extend(other.ops);
    }

    /// The changes, in order.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no change.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Reads: what a backend and its snapshots both offer.
///
/// A read names a partition; reading a partition that does not exist is
/// [`KvError::UnknownPartition`](crate::KvError::UnknownPartition), never an empty answer.
pub trait ReadView: Send + Sync {
    /// The value stored under `key`.
    fn get(&self, partition: &str, key: &[u8]) -> KvResult<Option<Vec<u8>>>;

    /// The values stored under each of `keys`, in the same order.
    fn multi_get(&self, partition: &str, keys: &[Vec<u8>]) -> KvResult<Vec<Option<Vec<u8>>>>;

    /// The pairs whose key lies in `range`, in `direction` order.
    fn scan(&self, partition: &str, range: &KeyRange, direction: Direction)
        -> KvResult<KvIter<'_>>;

    /// Calls `visit` with each pair in `range`, in `direction` order, until it returns false.
    /// The pair is borrowed from the backend: long scans copy nothing per entry.
    fn visit(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> KvResult<()> {
        for item in self.scan(partition, range, direction)? {
            let (key, value) = item?;
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }

    /// Like [`visit`](Self::visit), but the visitor may jump ahead ([`Step::Seek`]): a skip
    /// scan over distinct values reuses one iterator instead of opening one per value.
    fn visit_skipping(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Step,
    ) -> KvResult<()> {
        let mut range = range.clone();
        loop {
            let mut seek = None;
            self.visit(
                partition,
                &range,
                direction,
                &mut |key, value| match visit(key, value) {
                    Step::Next => true,
                    Step::Stop => false,
                    Step::Seek(to) => {
                        seek = Some(to);
                        false
                    }
                },
            )?;
            let Some(to) = seek else {
                return Ok(());
            };
            let rest = match direction {
                Direction::Forward => KeyRange::new(Bound::Included(to), Bound::Unbounded),
                Direction::Reverse => KeyRange::new(Bound::Unbounded, Bound::Excluded(to)),
            };
            range = range.intersect(&rest);
            if range.is_empty() {
                return Ok(());
            }
        }
    }

    /// Approximate bytes on disk of the keys in `[start, end)` of a partition, from the
    /// backend's own index of its files (data not yet flushed counts as 0; 0 in memory).
    /// A snapshot answers for the database as it is now.
    fn approximate_size(&self, _partition: &str, _start: &[u8], _end: &[u8]) -> KvResult<u64> {
        Ok(0)
    }

    /// Calls `visit` with the position and value (None when absent) of each of `keys`, in
    /// the order given, without copying the values.
    fn visit_many(
        &self,
        partition: &str,
        keys: &[&[u8]],
        visit: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> KvResult<()> {
        for (i, key) in keys.iter().enumerate() {
            visit(i, self.get(partition, key)?.as_deref());
        }
        Ok(())
    }
}

/// A shared view reads as the view it shares.
impl<T: ReadView + ?Sized> ReadView for Arc<T> {
    fn get(&self, partition: &str, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        (**self).get(partition, key)
    }

    fn multi_get(&self, partition: &str, keys: &[Vec<u8>]) -> KvResult<Vec<Option<Vec<u8>>>> {
        (**self).multi_get(partition, keys)
    }

    fn scan(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
    ) -> KvResult<KvIter<'_>> {
        (**self).scan(partition, range, direction)
    }

    fn visit(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> KvResult<()> {
        (**self).visit(partition, range, direction, visit)
    }

    fn visit_skipping(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Step,
    ) -> KvResult<()> {
        (**self).visit_skipping(partition, range, direction, visit)
    }

    fn approximate_size(&self, partition: &str, start: &[u8], end: &[u8]) -> KvResult<u64> {
        (**self).approximate_size(partition, start, end)
    }

    fn visit_many(
        &self,
        partition: &str,
        keys: &[&[u8]],
        visit: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> KvResult<()> {
        (**self).visit_many(partition, keys, visit)
    }
}

/// An ordered key-value store with named partitions.
///
/// Backends are shared between threads (`&self` methods, `Send + Sync`); a write batch is
/// atomic, and a snapshot sees the store as it was when taken, whatever is written after.
pub trait StorageBackend: ReadView {
    /// Creates the partition when it does not exist yet (idempotent).
    fn create_partition(&self, name: &str) -> KvResult<()>;

    /// Drops the partition and everything in it; an unknown partition is an error.
    fn drop_partition(&self, name: &str) -> KvResult<()>;

    /// The names of all partitions, sorted.
    fn partitions(&self) -> KvResult<Vec<String>>;

    /// True when the partition exists.
    fn has_partition(&self, name: &str) -> bool;

    /// Applies every change of the batch, or none (an unknown partition fails the whole batch).
    fn write(&self, batch: WriteBatch) -> KvResult<()>;

    /// A consistent point-in-time view for multi-key reads. It owns what it reads from
    /// (it may outlive the backend handle it came from), so readers on several threads can
    /// share one point in time: the partitions of one scan.
    fn snapshot(&self) -> Box<dyn ReadView>;

    /// Makes every acknowledged write durable on disk (no-op in memory).
    fn flush(&self) -> KvResult<()>;

    /// Compacts every partition, so reads merge fewer sorted runs (after a bulk load); a
    /// no-op in memory.
    fn compact(&self) -> KvResult<()> {
        Ok(())
    }

    /// Compacts one partition, so that walks no longer step over the deletions it has
    /// piled up (a queue's index, whose front is deleted as it is consumed); a no-op in
    /// memory.
    fn compact_partition(&self, _partition: &str) -> KvResult<()> {
        Ok(())
    }

    /// Approximate bytes on disk (0 in memory).
    fn disk_size(&self) -> u64 {
        0
    }
}
