//! Counts, distinct values and facets of what a path selects: read from the per-value
//! counters when they answer the path, by skip scans otherwise (one seek per distinct
//! value), and counts of long walks split across cores.

use std::ops::Bound;

use kv_store::range::prefix_successor;
use kv_store::{Direction, KeyRange, Step};

use super::reader::{IndexEntry, StoreReader};
use super::splits::split_range;
use crate::access::AccessPath;
use crate::encoding::{record_expiry, EntryPayload, KeyReader, Value};
use crate::error::{StoreError, StoreResult};
use crate::schema::{Entity, EntityKey};

impl<K: EntityKey, V: Entity> StoreReader<'_, K, V> {
    /// Number of live entries the path selects, read from the index alone.
    pub fn count(&self, path: &AccessPath) -> StoreResult<u64> {
        if let Some(values) = self.counted(path, 0)? {
            let n: u64 = values.iter().map(|(_, n)| n).sum();
            return Ok(path.limit.map_or(n, |l| n.min(l as u64)));
        }
        if self.def.schema.ttl.is_none() && path.offset == 0 {
            // Nothing expires (and nothing is skipped, which a count over an OFFSET page
            // would need): count keys without decoding (or copying) anything.
            let limit = path.limit.map_or(u64::MAX, |l| l as u64);
            let (partition, ranges) = self.walks(path)?;
            if let [(_, range)] = ranges.as_slice() {
                if let Some(parts) = self.parallel_parts(&partition, range, path.limit)? {
                    return Ok(self.count_ranges(&partition, parts.iter())?.iter().sum());
                }
            }
            let mut n = 0u64;
            for (_, range) in ranges {
                if n >= limit {
                    break;
                }
                self.view
                    .visit(&partition, &range, path.direction, &mut |_, _| {
                        n += 1;
                        n < limit
                    })?;
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
                let i = self.def.index_position(name)?;
                KeyReader::new(&entry.key).read_tuple(&self.def.indexes[i].spec.orders())?
            }
        };
        Ok((key_values, pk_values))
    }

    /// The distinct values of the first `columns` key columns of the path's index (None: the
    /// primary key) among the entries the path selects, in path order, up to its limit,
    /// found by skipping: one seek per distinct value, never a walk over duplicates. The
    /// path must have one equality prefix (an IN-list would need a merge).
    pub fn distinct(&self, path: &AccessPath, columns: usize) -> StoreResult<Vec<Vec<Value>>> {
        let (partition, orders) = self.target(path.index.as_deref())?;
        let orders = &orders[..columns.min(orders.len())];
        if let Some(values) = self.counted(path, columns)? {
            return values
                .iter()
                .map(|(lead, _)| Ok(KeyReader::new(lead).read_tuple(orders)?))
                .collect();
        }
        let (_, mut walks) = self.walks(path)?;
        if walks.is_empty() {
            // The path's ranges are empty (`x BETWEEN 5 AND 1`): nothing to walk.
            return Ok(Vec::new());
        }
        if walks.len() != 1 {
            return Err(StoreError::InvalidAccessPath {
                index: path.index.clone().unwrap_or_else(|| "primary key".into()),
                reason: "a distinct walk takes one equality prefix".into(),
            });
        }
        let (_, range) = walks.pop().expect("one walk");
        let mut out = Vec::new();
        let mut failed: Option<StoreError> = None;
        // One iterator for the whole walk: after each value found, it seeks past the rest of
        // that value's entries.
        self.view
            .visit_skipping(&partition, &range, path.direction, &mut |key, value| {
                let found = (|| -> StoreResult<Option<(Vec<Value>, usize)>> {
                    let mut reader = KeyReader::new(key);
                    let values = reader.read_tuple(orders)?;
                    let expiry = match path.index {
                        None => record_expiry(value),
                        Some(_) => EntryPayload::decode(value, &partition)?.expiry,
                    };
                    Ok(self.live(expiry).then(|| (values, reader.position())))
                })();
                let (values, end) = match found {
                    Ok(Some(found)) => found,
                    // An expired entry: its value may still have live entries after it.
                    Ok(None) => return Step::Next,
                    Err(e) => {
                        failed = Some(e);
                        return Step::Stop;
                    }
                };
                out.push(values);
                if path.limit.is_some_and(|l| out.len() >= l) {
                    return Step::Stop;
                }
                let prefix = &key[..end];
                match path.direction {
                    Direction::Forward => prefix_successor(prefix).map_or(Step::Stop, Step::Seek),
                    Direction::Reverse => Step::Seek(prefix.to_vec()),
                }
            })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// The distinct values of the first `columns` key columns among the entries the path
    /// selects, each with the number of entries that hold it, counted without decoding
    /// them: one forward walk that steps over values with few entries and skips ahead past
    /// long ones (counting their range). Up to the path's limit of values; forward only, and
    /// not on tables with a TTL (an entry's liveness needs its payload).
    pub fn facets(&self, path: &AccessPath, columns: usize) -> StoreResult<Vec<(Vec<Value>, u64)>> {
        let invalid = |reason: &str| StoreError::InvalidAccessPath {
            index: path.index.clone().unwrap_or_else(|| "primary key".into()),
            reason: reason.into(),
        };
        if self.def.schema.ttl.is_some() || path.direction == Direction::Reverse {
            return Err(invalid(
                "facets are counted forward on tables without a TTL",
            ));
        }
        let (partition, orders) = self.target(path.index.as_deref())?;
        let orders = &orders[..columns.min(orders.len())];
        if let Some(values) = self.counted(path, columns)? {
            return values
                .into_iter()
                .map(|(lead, n)| Ok((KeyReader::new(&lead).read_tuple(orders)?, n)))
                .collect();
        }
        let (_, mut walks) = self.walks(path)?;
        if walks.is_empty() {
            return Ok(Vec::new());
        }
        if walks.len() != 1 {
            return Err(invalid("a facet walk takes one equality prefix"));
        }
        let (_, range) = walks.pop().expect("one walk");
        // One forward walk counts the entries of each value as it passes them, so values
        // with few entries cost no seek. A value still going after RUN entries is counted
        // from there by `count_ranges` (in parallel when long) and the walk resumes after it.
        const RUN: u64 = 256;
        let mut found: Vec<(Vec<Value>, u64)> = Vec::new();
        let mut from = range.clone();
        loop {
            let mut current: Option<(Vec<u8>, Vec<Value>, u64)> = None;
            let mut long_run: Option<Vec<u8>> = None;
            let mut failed: Option<StoreError> = None;
            self.view
                .visit(&partition, &from, Direction::Forward, &mut |key, _| {
                    if let Some((prefix, _, n)) = current.as_mut() {
                        if key.starts_with(prefix) {
                            *n += 1;
                            if *n >= RUN {
                                long_run = Some(key.to_vec());
                                return false;
                            }
                            return true;
                        }
                    }
                    if let Some((_, values, n)) = current.take() {
                        found.push((values, n));
                    }
                    if path.limit.is_some_and(|l| found.len() >= l) {
                        return false;
                    }
                    let mut reader = KeyReader::new(key);
                    match reader.read_tuple(orders) {
                        Ok(values) => {
                            current = Some((key[..reader.position()].to_vec(), values, 1));
                            true
                        }
                        Err(e) => {
                            failed = Some(e.into());
                            false
                        }
                    }
                })?;
            if let Some(e) = failed {
                return Err(e);
            }
            let Some((prefix, values, n)) = current else {
                break;
            };
            let Some(last) = long_run else {
                found.push((values, n));
                break;
            };
            // The rest of this value's entries, after the last one counted.
            let stop = prefix_successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
            let rest = KeyRange::new(Bound::Excluded(last), stop.clone()).intersect(&range);
            let pieces = self
                .parallel_parts(&partition, &rest, None)?
                .unwrap_or_else(|| vec![rest.clone()]);
            let more: u64 = self.count_ranges(&partition, pieces.iter())?.iter().sum();
            found.push((values, n + more));
            match stop {
                Bound::Excluded(next) => {
                    from = KeyRange::new(Bound::Included(next), Bound::Unbounded).intersect(&range)
                }
                _ => break,
            }
            if from.is_empty() || path.limit.is_some_and(|l| found.len() >= l) {
                break;
            }
        }
        Ok(found)
    }

    /// A long range, unlimited, split into one piece per core by the store's size
    /// estimate (None: count it on one core; below a mebibyte threads cost more than
    /// they save).
    fn parallel_parts(
        &self,
        partition: &str,
        range: &KeyRange,
        limit: Option<usize>,
    ) -> StoreResult<Option<Vec<KeyRange>>> {
        const WORTH_SPLITTING: u64 = 1 << 20;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if limit.is_some() {
            return Ok(None);
        }
        let points = split_range(&*self.view, partition, range, cores, WORTH_SPLITTING)?;
        Ok((!points.is_empty()).then(|| range.split_at(points)))
    }

    /// The number of entries in each range, counted on every core: threads take the next
    /// uncounted range until none is left, so a few large ranges and many small ones both
    /// spread evenly enough.
    fn count_ranges<'r>(
        &self,
        partition: &str,
        ranges: impl Iterator<Item = &'r KeyRange>,
    ) -> StoreResult<Vec<u64>> {
        let ranges: Vec<&KeyRange> = ranges.collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(ranges.len());
        let count_some = || -> StoreResult<Vec<(usize, u64)>> {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(range) = ranges.get(i) else {
                    return Ok(done);
                };
                let mut n = 0u64;
                self.view
                    .visit(partition, range, Direction::Forward, &mut |_, _| {
                        n += 1;
                        true
                    })?;
                done.push((i, n));
            }
        };
        let parts: Vec<StoreResult<Vec<(usize, u64)>>> = std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(count_some)).collect();
            let mut parts = vec![count_some()];
            for h in helpers {
                parts.push(h.join().unwrap_or_else(|_| {
                    Err(StoreError::Corrupt {
                        partition: partition.to_owned(),
                        reason: "a counting thread panicked".into(),
                    })
                }));
            }
            parts
        });
        let mut counts = vec![0u64; ranges.len()];
        for part in parts {
            for (i, n) in part? {
                counts[i] = n;
            }
        }
        Ok(counts)
    }
}
