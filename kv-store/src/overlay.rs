//! Writes held in memory over a snapshot: what a transaction has written and not yet
//! committed ([`PendingWrites`]), and the view that reads them merged with the snapshot the
//! transaction started from, in key order ([`Overlay`]).
//!
//! Pending writes are a persistent map (`imbl`), so a statement reads a copy taken when it
//! starts (a clone is O(1)) while its own writes build the next version: a statement never
//! sees the rows it is writing, only those of the statements before it.
//!
//! A pending write of a key is the last thing written to it:
//!
//! | pending | read as |
//! |---|---|
//! | `Put(v)` | `v` |
//! | `Delete` | absent |
//! | `Add(d)` | the snapshot's counter plus `d` (0 when absent) |
//!
//! An add after a put or a delete folds into a put of the counter. At commit the pending
//! writes become one [`WriteBatch`] whose adds are adds: a counter is changed by `d` on top
//! of whatever other writers committed meanwhile, as counters are everywhere.

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use imbl::{HashMap, OrdMap};

use crate::backend::{add_to_counter, BatchOp, Direction, KvIter, KvPair, ReadView, WriteBatch};
use crate::{KeyRange, KvError, KvResult};

/// The last write of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Set to this value.
    Put(Vec<u8>),
    /// Removed.
    Delete,
    /// The counter changed by this much (see [`WriteBatch::add`]).
    Add(i64),
}

/// Writes not yet committed, by partition and key.
#[derive(Debug, Clone, Default)]
pub struct PendingWrites {
    parts: HashMap<Arc<str>, OrdMap<Vec<u8>, Pending>>,
    bytes: usize,
}

impl PendingWrites {
    /// Nothing written yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds the changes of `batch` in, in order. A range delete is refused: nothing a
    /// transaction may run writes one (the bulk paths that do are refused inside one).
    pub fn apply(&mut self, batch: &WriteBatch) -> KvResult<()> {
        if let Some(op) = batch
            .ops()
            .iter()
            .find(|op| matches!(op, BatchOp::DeleteRange { .. }))
        {
            return Err(KvError::Unsupported(format!(
                "a range delete in partition '{}' inside a transaction",
                op.partition()
            )));
        }
        for op in batch.ops() {
            self.bytes += op.encoded_len();
            let part = self.parts.entry(Arc::from(op.partition())).or_default();
            match op {
                BatchOp::Put { key, value, .. } => {
                    part.insert(key.clone(), Pending::Put(value.clone()));
                }
                BatchOp::Delete { key, .. } => {
                    part.insert(key.clone(), Pending::Delete);
                }
                BatchOp::Add { key, delta, .. } => {
                    let next = match part.get(key) {
                        Some(Pending::Put(v)) => {
                            Pending::Put(add_to_counter(Some(v), *delta).to_vec())
                        }
                        Some(Pending::Delete) => {
                            Pending::Put(add_to_counter(None, *delta).to_vec())
                        }
                        Some(Pending::Add(d)) => Pending::Add(d.wrapping_add(*delta)),
                        None => Pending::Add(*delta),
                    };
                    part.insert(key.clone(), next);
                }
                BatchOp::DeleteRange { .. } => {}
            }
        }
        Ok(())
    }

    /// An upper bound of the bytes the writes would take in a batch (every write counted,
    /// also those a later write of the same key replaced): what a transaction's memory cap
    /// is measured against.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.parts.values().all(OrdMap::is_empty)
    }

    /// How many keys are written.
    pub fn len(&self) -> usize {
        self.parts.values().map(OrdMap::len).sum()
    }

    /// The pending write of `key` in `partition`.
    pub fn get(&self, partition: &str, key: &[u8]) -> Option<&Pending> {
        self.parts.get(partition)?.get(key)
    }

    /// Every written key, by partition, in key order within a partition.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &[u8], &Pending)> + '_ {
        self.parts
            .iter()
            .flat_map(|(p, m)| m.iter().map(move |(k, v)| (&**p, k.as_slice(), v)))
    }

    /// The batch that commits the writes.
    pub fn to_batch(&self) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for (partition, key, pending) in self.keys() {
            match pending {
                Pending::Put(v) => batch.put(partition, key.to_vec(), v.clone()),
                Pending::Delete => batch.delete(partition, key.to_vec()),
                Pending::Add(d) => batch.add(partition, key.to_vec(), *d),
            }
        }
        batch
    }

    /// The writes of `partition` in `range`, in `direction` order.
    fn range(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
    ) -> Vec<(Vec<u8>, Pending)> {
        let Some(part) = self.parts.get(partition) else {
            return Vec::new();
        };
        let (start, end) = range.half_open();
        if let (Some(s), Some(e)) = (&start, &end) {
            if s >= e {
                return Vec::new();
            }
        }
        let bounds = (
            start.map_or(Bound::Unbounded, Bound::Included),
            end.map_or(Bound::Unbounded, Bound::Excluded),
        );
        let items = part.range(bounds).map(|(k, v)| (k.clone(), v.clone()));
        match direction {
            Direction::Forward => items.collect(),
            Direction::Reverse => {
                let mut v: Vec<_> = items.collect();
                v.reverse();
                v
            }
        }
    }
}

/// A snapshot with pending writes laid over it: reads see both, the pending ones winning.
pub struct Overlay {
    base: Arc<dyn ReadView>,
    pending: PendingWrites,
}

impl Overlay {
    /// `pending` over `base`.
    pub fn new(base: Arc<dyn ReadView>, pending: PendingWrites) -> Self {
        Overlay { base, pending }
    }

    /// The pending writes read through this view.
    pub fn pending(&self) -> &PendingWrites {
        &self.pending
    }

    fn resolve(&self, partition: &str, key: &[u8], base: Option<Vec<u8>>) -> Option<Vec<u8>> {
        match self.pending.get(partition, key) {
            None => base,
            Some(p) => apply(p, base.as_deref()),
        }
    }
}

/// What a key reads as with `pending` over `base`.
fn apply(pending: &Pending, base: Option<&[u8]>) -> Option<Vec<u8>> {
    match pending {
        Pending::Put(v) => Some(v.clone()),
        Pending::Delete => None,
        Pending::Add(d) => Some(add_to_counter(base, *d).to_vec()),
    }
}

impl ReadView for Overlay {
    fn get(&self, partition: &str, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        match self.pending.get(partition, key) {
            Some(Pending::Put(v)) => Ok(Some(v.clone())),
            Some(Pending::Delete) => {
                // The partition must exist, as for any read.
                self.base.get(partition, key)?;
                Ok(None)
            }
            Some(p @ Pending::Add(_)) => Ok(apply(p, self.base.get(partition, key)?.as_deref())),
            None => self.base.get(partition, key),
        }
    }

    fn multi_get(&self, partition: &str, keys: &[Vec<u8>]) -> KvResult<Vec<Option<Vec<u8>>>> {
        let base = self.base.multi_get(partition, keys)?;
        Ok(keys
            .iter()
            .zip(base)
            .map(|(k, b)| self.resolve(partition, k, b))
            .collect())
    }

    fn scan(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
    ) -> KvResult<KvIter<'_>> {
        let base = self.base.scan(partition, range, direction)?;
        let pending = self.pending.range(partition, range, direction);
        if pending.is_empty() {
            return Ok(base);
        }
        Ok(Box::new(Merged {
            base: base.peekable(),
            pending: pending.into_iter().peekable(),
            direction,
        }))
    }

    fn approximate_size(&self, partition: &str, start: &[u8], end: &[u8]) -> KvResult<u64> {
        self.base.approximate_size(partition, start, end)
    }
}

/// A walk of the snapshot merged with the pending writes of its range.
struct Merged<'a> {
    base: std::iter::Peekable<KvIter<'a>>,
    pending: std::iter::Peekable<std::vec::IntoIter<(Vec<u8>, Pending)>>,
    direction: Direction,
}

impl Iterator for Merged<'_> {
    type Item = KvResult<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let order = match (self.base.peek(), self.pending.peek()) {
                (Some(Err(_)), _) => return self.base.next(),
                (None, None) => return None,
                (Some(_), None) => return self.base.next(),
                (None, Some(_)) => Ordering::Greater,
                (Some(Ok((b, _))), Some((p, _))) => match self.direction {
                    Direction::Forward => b.as_slice().cmp(p),
                    Direction::Reverse => p.as_slice().cmp(b),
                },
            };
            // Less: the snapshot's key comes first; Equal: the pending write replaces it;
            // Greater: a key only the pending writes have.
            let base = match order {
                Ordering::Less => return self.base.next(),
                Ordering::Equal => match self.base.next() {
                    Some(Ok((_, v))) => Some(v),
                    other => return other,
                },
                Ordering::Greater => None,
            };
            let (key, pending) = self.pending.next()?;
            if let Some(value) = apply(&pending, base.as_deref()) {
                return Some(Ok((key, value)));
            }
        }
    }
}
