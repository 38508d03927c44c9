//! The in-memory backend: a persistent ordered map per partition.
//!
//! `imbl::OrdMap` shares structure between versions, so a snapshot is a cheap clone of the
//! partition maps and an iterator walks its own version without holding any lock.

use std::collections::BTreeMap;
use std::ops::Bound;

use imbl::OrdMap;
use parking_lot::RwLock;

use crate::backend::{
    add_to_counter, BatchOp, Direction, KvIter, ReadView, StorageBackend, WriteBatch,
};
use crate::{KeyRange, KvError, KvResult};

type Partition = OrdMap<Vec<u8>, Vec<u8>>;
type Partitions = BTreeMap<String, Partition>;

/// A backend that keeps everything in memory; same semantics as RocksDB, nothing persisted.
#[derive(Default)]
pub struct MemoryBackend {
    partitions: RwLock<Partitions>,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A frozen copy of the partitions.
struct MemorySnapshot {
    partitions: Partitions,
}

fn partition<'a>(parts: &'a Partitions, name: &str) -> KvResult<&'a Partition> {
    parts
        .get(name)
        .ok_or_else(|| KvError::UnknownPartition(name.to_owned()))
}

fn scan_partition(map: Partition, range: &KeyRange, direction: Direction) -> KvIter<'static> {
    let (start, end) = range.half_open();
    if let (Some(s), Some(e)) = (&start, &end) {
        if s >= e {
            return Box::new(std::iter::empty());
        }
    }
    Box::new(Cursor {
        map,
        start,
        end,
        direction,
        last: None,
        done: false,
    })
}

/// Walks an owned map version one key at a time, re-seeking after the last key returned.
struct Cursor {
    map: Partition,
    start: Option<Vec<u8>>,
    end: Option<Vec<u8>>,
    direction: Direction,
    last: Option<Vec<u8>>,
    done: bool,
}

impl Iterator for Cursor {
    type Item = KvResult<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (lower, upper) = match self.direction {
            Direction::Forward => (
                match &self.last {
                    Some(k) => Bound::Excluded(k.clone()),
                    None => self.start.clone().map_or(Bound::Unbounded, Bound::Included),
                },
                self.end.clone().map_or(Bound::Unbounded, Bound::Excluded),
            ),
            Direction::Reverse => (
                self.start.clone().map_or(Bound::Unbounded, Bound::Included),
                match &self.last {
                    Some(k) => Bound::Excluded(k.clone()),
                    None => self.end.clone().map_or(Bound::Unbounded, Bound::Excluded),
                },
            ),
        };
        let mut it = self.map.range((lower, upper));
        let item = match self.direction {
            Direction::Forward => it.next(),
            Direction::Reverse => it.next_back(),
        };
        match item {
            Some((k, v)) => {
                self.last = Some(k.clone());
                Some(Ok((k.clone(), v.clone())))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

/// Walks one map version in place: its entries are borrowed, not cloned.
fn visit_partition(
    map: &Partition,
    range: &KeyRange,
    direction: Direction,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) {
    let (start, end) = range.half_open();
    if let (Some(s), Some(e)) = (&start, &end) {
        if s >= e {
            return;
        }
    }
    let lower = start.map_or(Bound::Unbounded, Bound::Included);
    let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
    let mut it = map.range((lower, upper));
    loop {
        let item = match direction {
            Direction::Forward => it.next(),
            Direction::Reverse => it.next_back(),
        };
        match item {
            Some((k, v)) if visit(k, v) => {}
            _ => return,
        }
    }
}

fn read_get(parts: &Partitions, p: &str, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
    Ok(partition(parts, p)?.get(key).cloned())
}

fn read_multi(parts: &Partitions, p: &str, keys: &[Vec<u8>]) -> KvResult<Vec<Option<Vec<u8>>>> {
    let map = partition(parts, p)?;
    Ok(keys.iter().map(|k| map.get(k).cloned()).collect())
}

impl ReadView for MemorySnapshot {
    fn get(&self, p: &str, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        read_get(&self.partitions, p, key)
    }

    fn multi_get(&self, p: &str, keys: &[Vec<u8>]) -> KvResult<Vec<Option<Vec<u8>>>> {
        read_multi(&self.partitions, p, keys)
    }

    fn scan(&self, p: &str, range: &KeyRange, direction: Direction) -> KvResult<KvIter<'_>> {
        Ok(scan_partition(
            partition(&self.partitions, p)?.clone(),
            range,
            direction,
        ))
    }

    fn visit(
        &self,
        p: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> KvResult<()> {
        visit_partition(partition(&self.partitions, p)?, range, direction, visit);
        Ok(())
    }
}

impl ReadView for MemoryBackend {
    fn get(&self, p: &str, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        read_get(&self.partitions.read(), p, key)
    }

    fn multi_get(&self, p: &str, keys: &[Vec<u8>]) -> KvResult<Vec<Option<Vec<u8>>>> {
        read_multi(&self.partitions.read(), p, keys)
    }

    fn scan(&self, p: &str, range: &KeyRange, direction: Direction) -> KvResult<KvIter<'_>> {
        let map = partition(&self.partitions.read(), p)?.clone();
        Ok(scan_partition(map, range, direction))
    }

    fn visit(
        &self,
        p: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> KvResult<()> {
        // A version of its own: the caller may write from inside the walk.
        let map = partition(&self.partitions.read(), p)?.clone();
        visit_partition(&map, range, direction, visit);
        Ok(())
    }
}

impl StorageBackend for MemoryBackend {
    fn create_partition(&self, name: &str) -> KvResult<()> {
        crate::rocks::check_partition_name(name)?;
        self.partitions.write().entry(name.to_owned()).or_default();
        Ok(())
    }

    fn drop_partition(&self, name: &str) -> KvResult<()> {
        match self.partitions.write().remove(name) {
            Some(_) => Ok(()),
            None => Err(KvError::UnknownPartition(name.to_owned())),
        }
    }

    fn partitions(&self) -> KvResult<Vec<String>> {
        Ok(self.partitions.read().keys().cloned().collect())
    }

    fn has_partition(&self, name: &str) -> bool {
        self.partitions.read().contains_key(name)
    }

    fn write(&self, batch: WriteBatch) -> KvResult<()> {
        let mut parts = self.partitions.write();
        // Check first so that a bad batch changes nothing.
        for op in batch.ops() {
            partition(&parts, op.partition())?;
        }
        for op in batch.ops() {
            let map = parts.get_mut(op.partition()).expect("checked above");
            match op {
                BatchOp::Put { key, value, .. } => {
                    map.insert(key.clone(), value.clone());
                }
                BatchOp::Delete { key, .. } => {
                    map.remove(key);
                }
                BatchOp::Add { key, delta, .. } => {
                    let sum = add_to_counter(map.get(key).map(Vec::as_slice), *delta);
                    map.insert(key.clone(), sum.to_vec());
                }
                BatchOp::DeleteRange { start, end, .. } => {
                    if start < end {
                        let doomed: Vec<Vec<u8>> = map
                            .range((Bound::Included(start.clone()), Bound::Excluded(end.clone())))
                            .map(|(k, _)| k.clone())
                            .collect();
                        for k in doomed {
                            map.remove(&k);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> Box<dyn ReadView> {
        // A frozen copy: cheap, the maps share their nodes.
        Box::new(MemorySnapshot {
            partitions: self.partitions.read().clone(),
        })
    }

    fn flush(&self) -> KvResult<()> {
        Ok(())
    }
}
