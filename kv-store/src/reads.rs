//! What a SERIALIZABLE transaction read ([`ReadSet`]), recorded by the view it reads through
//! ([`Recording`]): the keys it got, and the key ranges its walks covered (from where a walk
//! started to the last key it took, so a walk stopped by a LIMIT covers only what it read).
//! At COMMIT, a key or range another writer changed after the transaction's snapshot means
//! the transaction's reads are stale, and it is refused ([`ReadSet::written_since`]).

use std::ops::Bound;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::backend::{Direction, KvIter, KvPair, ReadView};
use crate::versions::Versions;
use crate::{KeyRange, KvResult};

/// Keys and ranges read, by partition.
#[derive(Debug, Default)]
pub struct ReadSet {
    keys: Mutex<Vec<(Arc<str>, Vec<u8>)>>,
    ranges: Mutex<Vec<(Arc<str>, KeyRange)>>,
}

impl ReadSet {
    /// Nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn key(&self, partition: &str, key: &[u8]) {
        self.keys.lock().push((Arc::from(partition), key.to_vec()));
    }

    fn range(&self, partition: &str, range: KeyRange) {
        if !range.is_empty() {
            self.ranges.lock().push((Arc::from(partition), range));
        }
    }

    /// Forgets everything recorded.
    pub fn clear(&self) {
        self.keys.lock().clear();
        self.ranges.lock().clear();
    }

    /// How many keys and ranges were recorded.
    pub fn len(&self) -> usize {
        self.keys.lock().len() + self.ranges.lock().len()
    }

    /// True when nothing was read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The partition of a read that a write after version `since` invalidated, if any.
    pub fn written_since(&self, versions: &Versions, since: u64) -> Option<String> {
        if let Some((p, _)) = self
            .keys
            .lock()
            .iter()
            .find(|(p, k)| versions.written_since(p, k, since))
        {
            return Some(p.to_string());
        }
        self.ranges
            .lock()
            .iter()
            .find(|(p, r)| versions.written_in_since(p, r, since))
            .map(|(p, _)| p.to_string())
    }
}

/// A view that records in a [`ReadSet`] what is read through it.
pub struct Recording {
    inner: Arc<dyn ReadView>,
    reads: Arc<ReadSet>,
}

impl Recording {
    /// Reads of `inner`, recorded in `reads`.
    pub fn new(inner: Arc<dyn ReadView>, reads: Arc<ReadSet>) -> Self {
        Recording { inner, reads }
    }
}

impl ReadView for Recording {
    fn get(&self, partition: &str, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        self.reads.key(partition, key);
        self.inner.get(partition, key)
    }

    fn multi_get(&self, partition: &str, keys: &[Vec<u8>]) -> KvResult<Vec<Option<Vec<u8>>>> {
        for k in keys {
            self.reads.key(partition, k);
        }
        self.inner.multi_get(partition, keys)
    }

    fn scan(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
    ) -> KvResult<KvIter<'_>> {
        Ok(Box::new(Walked {
            inner: self.inner.scan(partition, range, direction)?,
            reads: self.reads.clone(),
            partition: Arc::from(partition),
            range: range.clone(),
            direction,
            last: None,
            done: false,
        }))
    }

    fn approximate_size(&self, partition: &str, start: &[u8], end: &[u8]) -> KvResult<u64> {
        self.inner.approximate_size(partition, start, end)
    }
}

/// A walk that records, when dropped, the part of its range it covered.
struct Walked<'a> {
    inner: KvIter<'a>,
    reads: Arc<ReadSet>,
    partition: Arc<str>,
    range: KeyRange,
    direction: Direction,
    last: Option<Vec<u8>>,
    /// The walk reached the end of its range (or failed): it covered all of it.
    done: bool,
}

impl Iterator for Walked<'_> {
    type Item = KvResult<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.inner.next() {
            Some(Ok((k, v))) => {
                self.last = Some(k.clone());
                Some(Ok((k, v)))
            }
            other => {
                self.done = true;
                other
            }
        }
    }
}

impl Drop for Walked<'_> {
    fn drop(&mut self) {
        let covered = match (&self.last, self.done) {
            (_, true) => self.range.clone(),
            // Nothing taken: the walk looked at its first key at most; count the range up to
            // where that would be, conservatively the whole range.
            (None, false) => self.range.clone(),
            (Some(last), false) => match self.direction {
                Direction::Forward => {
                    KeyRange::new(self.range.lower.clone(), Bound::Included(last.clone()))
                }
                Direction::Reverse => {
                    KeyRange::new(Bound::Included(last.clone()), self.range.upper.clone())
                }
            },
        };
        self.reads.range(&self.partition, covered);
    }
}
