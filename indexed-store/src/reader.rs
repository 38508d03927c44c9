//! Reads under one snapshot: point gets, full scans, index scans by access path, counts and
//! distinct values. Index entries and the records they lead to come from the same snapshot.

use std::ops::Bound;
use std::sync::Arc;

use kv_store::range::prefix_successor;
use kv_store::{Direction, KeyRange, KvIter, KvPair, ReadView};

use crate::access::AccessPath;
use crate::codec::{KeyReader, SortOrder};
use crate::definition::{EntityKey, TableDefinition};
use crate::error::{StoreError, StoreResult};
use crate::payload::{decode_record, record_expiry, EntryPayload};
use crate::store::{Entity, IndexedEntityStore, Partitions};
use crate::value::Value;

/// One entry found by an index scan.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    /// The entry's key bytes.
    pub key: Vec<u8>,
    /// The encoded primary key of its row.
    pub pk: Vec<u8>,
    /// Covered values and expiry.
    pub payload: EntryPayload,
}

/// A consistent view of one table.
pub struct StoreReader<'a, K, V> {
    view: Box<dyn ReadView + 'a>,
    def: Arc<TableDefinition<K, V>>,
    parts: Partitions,
    now: i64,
}

impl<K: EntityKey, V: Entity> IndexedEntityStore<K, V> {
    /// A reader over a snapshot taken now.
    pub fn reader(&self) -> StoreReader<'_, K, V> {
        let def = self.definition();
        StoreReader {
            view: self.backend.snapshot(),
            parts: Partitions::of(&def),
            def,
            now: self.now(),
        }
    }

    /// The entity with this key (one read, no snapshot needed).
    pub fn get(&self, key: &K) -> StoreResult<Option<V>> {
        self.reader().get(key)
    }
}

/// Merges several ordered walks on the bytes after each walk's prefix.
struct Merge<'a> {
    walks: Vec<(usize, KvIter<'a>, Option<KvPair>)>,
    direction: Direction,
}

impl Iterator for Merge<'_> {
    type Item = kv_store::KvResult<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<usize> = None;
        for i in 0..self.walks.len() {
            if self.walks[i].2.is_none() {
                match self.walks[i].1.next() {
                    Some(Ok(kv)) => self.walks[i].2 = Some(kv),
                    Some(Err(e)) => return Some(Err(e)),
                    None => continue,
                }
            }
            let (skip, _, Some((key, _))) = &self.walks[i] else {
                continue;
            };
            if let Some(b) = best {
                let (bskip, _, Some((bkey, _))) = &self.walks[b] else {
                    continue;
                };
                let ord = key[*skip..].cmp(&bkey[*bskip..]);
                let better = match self.direction {
                    Direction::Forward => ord.is_lt(),
                    Direction::Reverse => ord.is_gt(),
                };
                if better {
                    best = Some(i);
                }
            } else {
                best = Some(i);
            }
        }
        best.and_then(|b| self.walks[b].2.take()).map(Ok)
    }
}

impl<'a, K: EntityKey, V: Entity> StoreReader<'a, K, V> {
    /// The definition the snapshot is read with.
    pub fn definition(&self) -> &Arc<TableDefinition<K, V>> {
        &self.def
    }

    /// The instant (µs) rows are judged expired against.
    pub fn now(&self) -> i64 {
        self.now
    }

    fn live(&self, expiry: Option<i64>) -> bool {
        expiry.is_none_or(|e| e > self.now)
    }

    /// The entity with this key, unless absent or expired.
    pub fn get(&self, key: &K) -> StoreResult<Option<V>> {
        let pk = IndexedEntityStore::<K, V>::pk_bytes(&self.def, key);
        Ok(self.get_many(&[pk])?.pop().flatten())
    }

    /// The entities with these encoded primary keys, in order (None when absent or expired).
    pub fn get_many(&self, pks: &[Vec<u8>]) -> StoreResult<Vec<Option<V>>> {
        self.view
            .multi_get(&self.parts.records, pks)?
            .into_iter()
            .map(|raw| {
                let Some(raw) = raw else { return Ok(None) };
                let (v, expiry) = decode_record::<V>(&raw, &self.parts.records)?;
                Ok(self.live(expiry).then_some(v))
            })
            .collect()
    }

    fn index_position(&self, name: &str) -> StoreResult<usize> {
        self.def
            .indexes
            .iter()
            .position(|i| i.spec.name == name)
            .ok_or_else(|| StoreError::UnknownIndex {
                table: self.def.schema.name.clone(),
                index: name.to_owned(),
            })
    }

    /// Partition and key-column orders of the path's index.
    fn target(&self, index: Option<&str>) -> StoreResult<(String, Vec<SortOrder>)> {
        Ok(match index {
            None => (self.parts.records.clone(), self.def.pk_orders.clone()),
            Some(name) => {
                let i = self.index_position(name)?;
                (
                    self.parts.indexes[i].clone(),
                    self.def.indexes[i].spec.orders(),
                )
            }
        })
    }

    fn raw(&self, path: &AccessPath) -> StoreResult<KvIter<'_>> {
        let (partition, orders) = self.target(path.index.as_deref())?;
        if path.constrained_columns() > orders.len() {
            return Err(StoreError::InvalidAccessPath {
                index: path.index.clone().unwrap_or_else(|| "primary key".into()),
                reason: format!(
                    "{} columns constrained, the index has {}",
                    path.constrained_columns(),
                    orders.len()
                ),
            });
        }
        let mut walks = Vec::new();
        for (skip, range) in path.key_ranges(&orders) {
            walks.push((
                skip,
                self.view.scan(&partition, &range, path.direction)?,
                None,
            ));
        }
        Ok(match walks.len() {
            1 => walks.pop().map(|(_, w, _)| w).expect("one walk"),
            _ => Box::new(Merge {
                walks,
                direction: path.direction,
            }),
        })
    }

    /// The live entries an access path selects, in path order, up to its limit. On the
    /// primary key the entries are the records themselves (payload empty).
    pub fn entries(
        &self,
        path: &AccessPath,
    ) -> StoreResult<Box<dyn Iterator<Item = StoreResult<IndexEntry>> + '_>> {
        let raw = self.raw(path)?;
        let limit = path.limit.unwrap_or(usize::MAX);
        let it: Box<dyn Iterator<Item = StoreResult<IndexEntry>> + '_> = match &path.index {
            None => Box::new(raw.filter_map(move |r| match r {
                Ok((key, value)) => self.live(record_expiry(&value)).then(|| {
                    Ok(IndexEntry {
                        pk: key.clone(),
                        key,
                        payload: EntryPayload::default(),
                    })
                }),
                Err(e) => Some(Err(e.into())),
            })),
            Some(name) => {
                let i = self.index_position(name)?;
                let partition = self.parts.indexes[i].clone();
                let columns = self.def.indexes[i].spec.orders();
                Box::new(raw.filter_map(move |r| {
                    let entry = (|| {
                        let (key, value) = r?;
                        let payload = EntryPayload::decode(&value, &partition)?;
                        if !self.live(payload.expiry) {
                            return Ok(None);
                        }
                        let pk = match &payload.pk {
                            Some(pk) => pk.clone(),
                            None => {
                                let mut reader = KeyReader::new(&key);
                                for o in &columns {
                                    reader.skip(*o)?;
                                }
                                reader.rest().to_vec()
                            }
                        };
                        Ok(Some(IndexEntry { key, pk, payload }))
                    })();
                    entry.transpose()
                }))
            }
        };
        Ok(Box::new(it.take(limit)))
    }

    /// The live records an access path selects, in path order, up to its limit. Records of
    /// index entries are fetched in growing batches, so a small limit reads little.
    pub fn records(
        &self,
        path: &AccessPath,
    ) -> StoreResult<Box<dyn Iterator<Item = StoreResult<(Vec<u8>, V)>> + '_>> {
        if path.index.is_none() {
            let raw = self.raw(path)?;
            let limit = path.limit.unwrap_or(usize::MAX);
            return Ok(Box::new(self.decode_records(raw).take(limit)));
        }
        let entries = self.entries(path)?;
        Ok(Box::new(RecordFetch {
            reader: self,
            entries,
            buffer: Vec::new().into_iter(),
            chunk: 16,
        }))
    }

    fn decode_records<'s>(
        &'s self,
        raw: KvIter<'s>,
    ) -> impl Iterator<Item = StoreResult<(Vec<u8>, V)>> + 's {
        raw.filter_map(move |r| {
            let item = (|| {
                let (key, value) = r?;
                let (v, expiry) = decode_record::<V>(&value, &self.parts.records)?;
                Ok(self.live(expiry).then_some((key, v)))
            })();
            item.transpose()
        })
    }

    /// Every live record whose encoded primary key lies in `range`.
    pub fn scan_records(
        &self,
        range: &KeyRange,
        direction: Direction,
    ) -> StoreResult<impl Iterator<Item = StoreResult<(Vec<u8>, V)>> + '_> {
        let raw = self.view.scan(&self.parts.records, range, direction)?;
        Ok(self.decode_records(raw))
    }

    /// Every live entity, in primary-key order.
    pub fn scan_all(&self) -> StoreResult<impl Iterator<Item = StoreResult<V>> + '_> {
        Ok(self
            .scan_records(&KeyRange::all(), Direction::Forward)?
            .map(|r| r.map(|(_, v)| v)))
    }

    /// Number of live entries the path selects, read from the index alone.
    pub fn count(&self, path: &AccessPath) -> StoreResult<u64> {
        if self.def.schema.ttl.is_none() {
            // Nothing expires: count keys without decoding anything.
            let mut n = 0u64;
            for item in self.raw(path)?.take(path.limit.unwrap_or(usize::MAX)) {
                item?;
                n += 1;
            }
            return Ok(n);
        }
        let mut n = 0;
        for e in self.entries(path)? {
            e?;
            n += 1;
        }
        Ok(n)
    }

    /// The index key and primary-key values of an entry.
    pub fn decode_entry(
        &self,
        index: Option<&str>,
        entry: &IndexEntry,
    ) -> StoreResult<(Vec<Value>, Vec<Value>)> {
        let pk_values = KeyReader::new(&entry.pk).read_tuple(&self.def.pk_orders)?;
        let key_values = match index {
            None => pk_values.clone(),
            Some(name) => {
                let i = self.index_position(name)?;
                KeyReader::new(&entry.key).read_tuple(&self.def.indexes[i].spec.orders())?
            }
        };
        Ok((key_values, pk_values))
    }

    /// The distinct values of the first `columns` key columns of an index (None: the primary
    /// key), found by skipping: one seek per distinct value, never a walk over duplicates.
    pub fn distinct(
        &self,
        index: Option<&str>,
        columns: usize,
        direction: Direction,
        limit: Option<usize>,
    ) -> StoreResult<Vec<Vec<Value>>> {
        let (partition, orders) = self.target(index)?;
        let orders = &orders[..columns.min(orders.len())];
        let mut out = Vec::new();
        let mut range = KeyRange::all();
        while limit.is_none_or(|l| out.len() < l) {
            let mut found = None;
            for item in self.view.scan(&partition, &range, direction)? {
                let (key, value) = item?;
                let mut reader = KeyReader::new(&key);
                let values = reader.read_tuple(orders)?;
                let prefix = key[..reader.position()].to_vec();
                let expiry = match index {
                    None => record_expiry(&value),
                    Some(_) => EntryPayload::decode(&value, &partition)?.expiry,
                };
                if self.live(expiry) {
                    found = Some((values, prefix));
                    break;
                }
            }
            let Some((values, prefix)) = found else { break };
            out.push(values);
            range = match direction {
                Direction::Forward => match prefix_successor(&prefix) {
                    Some(next) => KeyRange::new(Bound::Included(next), range.upper.clone()),
                    None => break,
                },
                Direction::Reverse => KeyRange::new(range.lower.clone(), Bound::Excluded(prefix)),
            };
        }
        Ok(out)
    }

    /// The first and last encoded primary keys, for splitting full scans.
    pub fn key_bounds(&self) -> StoreResult<Option<(Vec<u8>, Vec<u8>)>> {
        let first = self
            .view
            .scan(&self.parts.records, &KeyRange::all(), Direction::Forward)?
            .next()
            .transpose()?;
        let last = self
            .view
            .scan(&self.parts.records, &KeyRange::all(), Direction::Reverse)?
            .next()
            .transpose()?;
        Ok(first.zip(last).map(|((f, _), (l, _))| (f, l)))
    }
}

/// Turns index entries into records, fetching them in batches that double up to 1024.
struct RecordFetch<'r, 'a, K, V> {
    reader: &'r StoreReader<'a, K, V>,
    entries: Box<dyn Iterator<Item = StoreResult<IndexEntry>> + 'r>,
    buffer: std::vec::IntoIter<StoreResult<(Vec<u8>, V)>>,
    chunk: usize,
}

impl<K: EntityKey, V: Entity> Iterator for RecordFetch<'_, '_, K, V> {
    type Item = StoreResult<(Vec<u8>, V)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.buffer.next() {
            return Some(item);
        }
        let mut pks = Vec::with_capacity(self.chunk);
        for e in self.entries.by_ref().take(self.chunk) {
            match e {
                Ok(e) => pks.push(e.pk),
                Err(err) => return Some(Err(err)),
            }
        }
        if pks.is_empty() {
            return None;
        }
        self.chunk = (self.chunk * 2).min(1024);
        let records = match self.reader.view.multi_get(&self.reader.parts.records, &pks) {
            Ok(r) => r,
            Err(e) => return Some(Err(e.into())),
        };
        let partition = &self.reader.parts.records;
        let items: Vec<StoreResult<(Vec<u8>, V)>> = pks
            .into_iter()
            .zip(records)
            .filter_map(|(pk, raw)| match raw {
                None => Some(Err(StoreError::Corrupt {
                    partition: partition.clone(),
                    reason: "index entry points at a missing record (run verify)".into(),
                })),
                Some(raw) => match decode_record::<V>(&raw, partition) {
                    // Expired between entry and record only if the entry had no expiry: skip.
                    Ok((v, expiry)) => self.reader.live(expiry).then_some(Ok((pk, v))),
                    Err(e) => Some(Err(e)),
                },
            })
            .collect();
        self.buffer = items.into_iter();
        self.buffer.next().or_else(|| self.next())
    }
}
