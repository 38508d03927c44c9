//! Reads under one snapshot: point gets, full scans, index scans by access path, and the
//! records index entries lead to (from the same snapshot). Counts, distinct values and
//! facets are in `facets.rs`.

use std::ops::Bound;
use std::sync::Arc;

use kv_store::{Direction, KeyRange, KvIter, ReadView};

use super::merge::Merge;
use crate::access::AccessPath;
use crate::encoding::{
    corrupt, from_bytes, record_expiry, record_parts, EntryPayload, Group, KeyReader, RowRef,
    SortOrder, ROW_LAYOUT,
};
use crate::error::{StoreError, StoreResult};
use crate::schema::{decode_record, Entity, EntityKey, Partitions, TableDefinition};
use crate::table::IndexedEntityStore;

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
    pub(crate) view: Box<dyn ReadView + 'a>,
    pub(crate) def: Arc<TableDefinition<K, V>>,
    pub(crate) parts: Arc<Partitions>,
    now: i64,
}

impl<K: EntityKey, V: Entity> IndexedEntityStore<K, V> {
    /// A reader over a snapshot taken now. It owns its snapshot, so threads can share it
    /// and all see one point in time (the partitions of a split scan).
    pub fn reader(&self) -> StoreReader<'static, K, V> {
        let def = self.definition();
        StoreReader {
            view: self.backend.snapshot(),
            parts: def.partitions().clone(),
            def,
            now: self.now(),
        }
    }

    /// A reader over `view`: a statement's snapshot, or a transaction's view (its snapshot
    /// with its own writes).
    pub fn reader_on(&self, view: Arc<dyn ReadView>) -> StoreReader<'static, K, V> {
        let def = self.definition();
        StoreReader {
            view: Box::new(view),
            parts: def.partitions().clone(),
            def,
            now: self.now(),
        }
    }

    /// The entity with this key (one read, no snapshot needed).
    pub fn get(&self, key: &K) -> StoreResult<Option<V>> {
        self.reader().get(key)
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

    pub(super) fn live(&self, expiry: Option<i64>) -> bool {
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
                let (v, expiry) = decode_record(&self.def, &raw, &self.parts.records)?;
                Ok(self.live(expiry).then_some(v))
            })
            .collect()
    }

    /// Partition and key-column orders of the path's index.
    pub(super) fn target(&self, index: Option<&str>) -> StoreResult<(String, Vec<SortOrder>)> {
        Ok(match index {
            None => (self.parts.records.clone(), self.def.pk_orders.clone()),
            Some(name) => {
                let i = self.def.index_position(name)?;
                (
                    self.parts.indexes[i].clone(),
                    self.def.indexes[i].spec.orders(),
                )
            }
        })
    }

    /// The partition a path walks and its byte ranges (with the length of each one's
    /// equality prefix), once the path is checked against the index.
    pub(crate) fn walks(&self, path: &AccessPath) -> StoreResult<(String, Vec<(usize, KeyRange)>)> {
        let (partition, mut orders) = self.target(path.index.as_deref())?;
        if let Some(name) = &path.index {
            // Entries of a non-unique index end with the primary key, so a seek may run on
            // into its columns.
            let unique = self.def.indexes[self.def.index_position(name)?].spec.unique;
            if path.seek.is_some() && !unique {
                orders.extend_from_slice(&self.def.pk_orders);
            }
        }
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
        let ranges = path.key_ranges(&orders);
        Ok((partition, ranges))
    }

    fn raw(&self, path: &AccessPath) -> StoreResult<KvIter<'_>> {
        let (partition, ranges) = self.walks(path)?;
        let mut walks = Vec::new();
        for (skip, range) in ranges {
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
                let i = self.def.index_position(name)?;
                let partition = self.parts.indexes[i].clone();
                let columns = self.def.indexes[i].spec.orders();
                Box::new(raw.filter_map(move |r| {
                    let entry = (|| {
                        let (key, value) = r?;
                        let payload = EntryPayload::decode(&value, &partition)?;
                        if !self.live(payload.expiry) {
                            return Ok(None);
                        }
                        let pk = entry_pk(&key, &payload, &columns)?.to_vec();
                        Ok(Some(IndexEntry { key, pk, payload }))
                    })();
                    entry.transpose()
                }))
            }
        };
        Ok(Box::new(it.skip(path.offset).take(limit)))
    }

    /// Calls `visit` with each live entry a path selects — its key, the encoded primary key
    /// of its row and its payload — in path order, up to its limit, until it returns false.
    /// On the primary key the entries are the records (key and primary key alike, payload
    /// empty). Keys are borrowed from the store, not copied.
    pub fn visit_entries(
        &self,
        path: &AccessPath,
        visit: &mut dyn FnMut(&[u8], &[u8], &EntryPayload) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        self.visit_entries_from(path, None, visit)
    }

    /// [`StoreReader::visit_entries`] of the entries whose keys lie in `within` too: one
    /// piece of a walk split by [`StoreReader::split_points_of`]. Only for a forward path
    /// with one key range.
    pub fn visit_entries_within(
        &self,
        path: &AccessPath,
        within: &KeyRange,
        visit: &mut dyn FnMut(&[u8], &[u8], &EntryPayload) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        let (from, end) = within.half_open();
        self.visit_entries_from(path, from.as_deref(), &mut |key, pk, payload| {
            if end.as_deref().is_some_and(|end| key >= end) {
                return Ok(false);
            }
            visit(key, pk, payload)
        })
    }

    /// [`StoreReader::visit_entries`] from the key `from` on (inclusive) when it lies after
    /// the path's start: a walk that resumes where an earlier one stopped (see
    /// `table/resume.rs`). Only for a forward path with one key range.
    pub fn visit_entries_from(
        &self,
        path: &AccessPath,
        from: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8], &EntryPayload) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        let mut left = path.limit.unwrap_or(usize::MAX);
        if left == 0 {
            return Ok(());
        }
        let (partition, mut ranges) = self.walks(path)?;
        if let Some(from) = from {
            if ranges.len() != 1 || path.direction != Direction::Forward {
                return Err(StoreError::InvalidAccessPath {
                    index: path.index.clone().unwrap_or_else(|| "primary key".into()),
                    reason: "only a forward walk of one key range can resume".into(),
                });
            }
            let start = KeyRange::new(Bound::Included(from.to_vec()), Bound::Unbounded);
            ranges[0].1 = ranges[0].1.intersect(&start);
        }
        if ranges.len() != 1 {
            for e in self.entries(path)? {
                let e = e?;
                if !visit(&e.key, &e.pk, &e.payload)? {
                    break;
                }
            }
            return Ok(());
        }
        let (_, range) = ranges.pop().expect("one range");
        let columns = match &path.index {
            None => vec![],
            Some(name) => self.def.indexes[self.def.index_position(name)?]
                .spec
                .orders(),
        };
        let empty = EntryPayload::default();
        let mut skip = path.offset;
        let mut step = |key: &[u8], value: &[u8]| -> StoreResult<bool> {
            if path.index.is_none() {
                if !self.live(record_expiry(value)) {
                    return Ok(true);
                }
                if skip > 0 {
                    skip -= 1;
                    return Ok(true);
                }
                left -= 1;
                return Ok(visit(key, key, &empty)? && left > 0);
            }
            let decoded;
            let payload = if value.is_empty() {
                &empty
            } else {
                decoded = EntryPayload::decode(value, &partition)?;
                &decoded
            };
            if !self.live(payload.expiry) {
                return Ok(true);
            }
            if skip > 0 {
                skip -= 1;
                return Ok(true);
            }
            let pk = entry_pk(key, payload, &columns)?;
            left -= 1;
            Ok(visit(key, pk, payload)? && left > 0)
        };
        try_visit(&*self.view, &partition, &range, path.direction, &mut step)
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
            return Ok(Box::new(
                self.decode_records(raw).skip(path.offset).take(limit),
            ));
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
                let (v, expiry) = decode_record(&self.def, &value, &self.parts.records)?;
                Ok(self.live(expiry).then_some((key, v)))
            })();
            item.transpose()
        })
    }

    /// Calls `visit` with the row of a stored record unless it has expired; the row is read
    /// in place when the record is in the row layout. Returns what `visit` returned (true
    /// for an expired record: keep going).
    fn visit_record(
        &self,
        raw: &[u8],
        visit: &mut dyn FnMut(RowRef<'_>) -> StoreResult<bool>,
    ) -> StoreResult<bool> {
        let partition = &self.parts.records;
        let parts = record_parts(raw, partition)?;
        if !self.live(parts.expiry) {
            return Ok(true);
        }
        if parts.layout == ROW_LAYOUT {
            let group = Group::parse(parts.body).map_err(|m| corrupt(partition, m))?;
            // A record that ends before a column added with a default reads it through
            // the decoder, which fills it in; past its end a stored row reads NULL.
            let short = group.len() < self.def.schema.columns.len();
            if !(short && self.def.schema.columns.iter().any(|c| c.missing.is_some())) {
                return visit(RowRef::Stored(group));
            }
            if let Some(decode) = &self.def.records.decode_row {
                let v = decode(&group).map_err(|m| corrupt(partition, m))?;
                return visit(RowRef::Values(&self.def.to_row(&v)));
            }
        }
        let v: V = from_bytes(parts.body, partition)?;
        visit(RowRef::Values(&self.def.to_row(&v)))
    }

    /// Calls `visit` with each live row the path selects, in path order, up to its limit,
    /// until it returns false. Rows are read from the stored bytes without copies; the
    /// records of index entries are fetched in sorted batches of up to 4096.
    pub fn visit_rows(
        &self,
        path: &AccessPath,
        visit: &mut dyn FnMut(RowRef<'_>) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        let mut left = path.limit.unwrap_or(usize::MAX);
        if left == 0 {
            return Ok(());
        }
        let mut counted = |row: RowRef<'_>| -> StoreResult<bool> {
            left -= 1;
            Ok(visit(row)? && left > 0)
        };
        if path.index.is_none() {
            let (_, mut ranges) = self.walks(path)?;
            if ranges.len() == 1 {
                let (_, range) = ranges.pop().expect("one range");
                // Skipped records are passed over on their expiry alone, never decoded.
                let mut skip = path.offset;
                return try_visit(
                    &*self.view,
                    &self.parts.records,
                    &range,
                    path.direction,
                    &mut |_, raw| {
                        if skip > 0 {
                            skip -= usize::from(self.live(record_expiry(raw)));
                            return Ok(true);
                        }
                        self.visit_record(raw, &mut counted)
                    },
                );
            }
        }
        // A limit says how many records are wanted: fetch them in one batch. Without one,
        // start small (the caller may stop early) and grow. The walk copies nothing but the
        // primary keys, into one buffer reused from batch to batch.
        let mut chunk = path.limit.map_or(64, |l| l.min(4096));
        let mut pks = KeyBatch::default();
        let mut stopped = false;
        self.visit_entries(path, &mut |_, pk, _| {
            pks.push(pk);
            if pks.len() < chunk {
                return Ok(true);
            }
            chunk = (chunk * 4).min(4096);
            stopped = !self.fetch_rows(&pks, &mut counted)?;
            pks.clear();
            Ok(!stopped)
        })?;
        if !stopped && pks.len() > 0 {
            self.fetch_rows(&pks, &mut counted)?;
        }
        Ok(())
    }

    /// Reads the records of `pks` with one batched read and visits their rows in the order
    /// of `pks`; false when `visit` wants no more.
    fn fetch_rows(
        &self,
        pks: &KeyBatch,
        visit: &mut dyn FnMut(RowRef<'_>) -> StoreResult<bool>,
    ) -> StoreResult<bool> {
        let mut outcome: StoreResult<bool> = Ok(true);
        let partition = &self.parts.records;
        self.view
            .visit_many(partition, &pks.keys(), &mut |_, raw| {
                if !matches!(outcome, Ok(true)) {
                    return;
                }
                outcome = match raw {
                    Some(raw) => self.visit_record(raw, visit),
                    None => Err(StoreError::Corrupt {
                        partition: partition.clone(),
                        reason: "index entry points at a missing record (run verify)".into(),
                    }),
                };
            })?;
        outcome
    }

    /// Calls `visit` with each live row whose encoded primary key lies in `range`, in
    /// `direction` order, until it returns false.
    pub fn visit_range(
        &self,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(RowRef<'_>) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        try_visit(
            &*self.view,
            &self.parts.records,
            range,
            direction,
            &mut |_, raw| self.visit_record(raw, visit),
        )
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
                Some(raw) => match decode_record(&self.reader.def, &raw, partition) {
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

/// The encoded primary key an index entry leads to: its payload's, for unique entries whose
/// key does not end in it, or else the key's bytes after its `columns`.
fn entry_pk<'k>(
    key: &'k [u8],
    payload: &'k EntryPayload,
    columns: &[SortOrder],
) -> StoreResult<&'k [u8]> {
    if let Some(pk) = &payload.pk {
        return Ok(pk);
    }
    let mut reader = KeyReader::new(key);
    for o in columns {
        reader.skip(*o)?;
    }
    Ok(reader.rest())
}

/// Walks `range` like [`ReadView::visit`] with a step that can fail: the first error stops
/// the walk and is returned.
fn try_visit(
    view: &dyn ReadView,
    partition: &str,
    range: &KeyRange,
    direction: Direction,
    step: &mut dyn FnMut(&[u8], &[u8]) -> StoreResult<bool>,
) -> StoreResult<()> {
    let mut outcome: StoreResult<()> = Ok(());
    view.visit(
        partition,
        range,
        direction,
        &mut |key, value| match step(key, value) {
            Ok(more) => more,
            Err(e) => {
                outcome = Err(e);
                false
            }
        },
    )?;
    outcome
}

/// Keys gathered for one batched read, held end to end in one buffer.
#[derive(Default)]
struct KeyBatch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl KeyBatch {
    fn push(&mut self, key: &[u8]) {
        self.bytes.extend_from_slice(key);
        self.ends.push(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// The keys, in the order pushed.
    fn keys(&self) -> Vec<&[u8]> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let key = &self.bytes[start..end];
                start = end;
                key
            })
            .collect()
    }
}
