//! Per-value counts of index entries, kept in the same write batch as the entries: how many
//! entries of an index start with each value of its leading column. They answer
//! `count(*) WHERE col = v`, the facet `SELECT col, count(*) ... GROUP BY col` and
//! `SELECT DISTINCT col [WHERE col <range>]` by reading one small counter per value instead
//! of walking every entry.
//!
//! ```text
//! partition  n/<table>/<index>   every non-unique index of a table without a TTL
//! key 00..   the leading value, encoded by the key codec in the index's order
//!            (exactly the first bytes of each of its entries' keys)
//! value      counter: i64, 8 bytes little-endian (kv-store's WriteBatch::add)
//! key ""     header: COUNTS_FORMAT as u32 little-endian
//! ```
//!
//! Invariant: under any snapshot, a value's counter equals the number of entries of the
//! index whose key starts with its encoding. A counter may rest at 0 after its value's last
//! entry is gone; readers skip it. Writers add +1 per new entry key and -1 per deleted one
//! (a rewrite of an entry under the same key adds nothing), summed per batch, as merge
//! operands: concurrent writers need no lock between them.
//!
//! The header is written in the same batch as the counters it vouches for, so a partition
//! without it (a database written before counts, a crash in the middle of a build, an upgrade
//! that rewrote entries) is rebuilt from its index when the table opens. Unique indexes have
//! no counts (a value has at most one entry, or NULLs); tables with a TTL have none (an
//! expired entry still counts until it is purged, and a count must not include it).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kv_store::{decode_counter, Direction, KeyRange, ReadView, StorageBackend, WriteBatch};

use crate::encoding::{stored_format, KeyReader, SortOrder};
use crate::error::{StoreError, StoreResult};
use crate::schema::{Partitions, COUNTS_HEADER};

/// The layout of the counts partitions this build writes and reads.
pub const COUNTS_FORMAT: u32 = 1;

/// The length of an entry key's leading value (the counter key is that prefix).
pub(crate) fn lead_len(key: &[u8], order: SortOrder, partition: &str) -> StoreResult<usize> {
    let mut reader = KeyReader::new(key);
    reader.skip(order).map_err(|e| StoreError::Corrupt {
        partition: partition.to_owned(),
        reason: format!("an index key's leading value does not decode: {e}"),
    })?;
    Ok(reader.position())
}

/// The counter changes of one write batch, summed per index and value before they are
/// written (a bulk load adds one operand per value, not one per row).
pub(crate) struct CountDeltas<'p> {
    parts: &'p Partitions,
    /// Per index: the changes by leading value (None: the index keeps no counts).
    deltas: Vec<Option<HashMap<Vec<u8>, i64>>>,
}

impl<'p> CountDeltas<'p> {
    /// No changes yet, for the indexes of `parts` that keep counts.
    pub(crate) fn new(parts: &'p Partitions) -> Self {
        let deltas = parts
            .counts
            .iter()
            .map(|c| c.as_ref().map(|_| HashMap::new()));
        CountDeltas {
            parts,
            deltas: deltas.collect(),
        }
    }

    /// Counts `delta` entries of index `index` under the leading value `lead` (nothing for
    /// an index without counts).
    pub(crate) fn add(&mut self, index: usize, lead: &[u8], delta: i64) {
        let Some(Some(deltas)) = self.deltas.get_mut(index) else {
            return;
        };
        // Looked up by slice: a value seen before in the batch costs no allocation.
        match deltas.get_mut(lead) {
            Some(n) => *n += delta,
            None => {
                deltas.insert(lead.to_vec(), delta);
            }
        }
    }

    /// The changes of one index, by leading value (an index build's counts, all of them).
    pub(crate) fn take(&mut self, index: usize) -> HashMap<Vec<u8>, i64> {
        self.deltas
            .get_mut(index)
            .and_then(Option::take)
            .unwrap_or_default()
    }

    /// Adds the changes to `batch`.
    pub(crate) fn write_to(self, batch: &mut WriteBatch) {
        for (partition, deltas) in self.parts.counts.iter().zip(self.deltas) {
            let (Some(partition), Some(deltas)) = (partition, deltas) else {
                continue;
            };
            for (lead, delta) in deltas {
                if delta != 0 {
                    batch.add(partition, lead, delta);
                }
            }
        }
    }
}

/// The counters of an index partition as they should be: entries per leading value.
pub(crate) fn tally(
    view: &dyn ReadView,
    index_partition: &str,
    order: SortOrder,
) -> StoreResult<BTreeMap<Vec<u8>, i64>> {
    let mut counts: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    let mut current: Option<(Vec<u8>, i64)> = None;
    let mut failed = None;
    view.visit(
        index_partition,
        &KeyRange::all(),
        Direction::Forward,
        &mut |key, _| {
            // Keys come in order and the codec is prefix-free, so a key starting with the
            // previous one's leading value has that value.
            if let Some((lead, n)) = current.as_mut() {
                if key.starts_with(lead) {
                    *n += 1;
                    return true;
                }
            }
            match lead_len(key, order, index_partition) {
                Ok(len) => {
                    if let Some((lead, n)) = current.replace((key[..len].to_vec(), 1)) {
                        counts.insert(lead, n);
                    }
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        },
    )?;
    if let Some(e) = failed {
        return Err(e);
    }
    if let Some((lead, n)) = current {
        counts.insert(lead, n);
    }
    Ok(counts)
}

/// Puts, in `batch`, the counters `counts` and the header that vouches for them, into an
/// empty counts partition.
pub(crate) fn fill(
    batch: &mut WriteBatch,
    partition: &str,
    counts: impl IntoIterator<Item = (Vec<u8>, i64)>,
) {
    for (lead, n) in counts {
        batch.put(partition, lead, n.to_le_bytes().to_vec());
    }
    batch.put(
        partition,
        COUNTS_HEADER.to_vec(),
        COUNTS_FORMAT.to_le_bytes().to_vec(),
    );
}

/// Removes the header of every counts partition of a table, in `batch`: written together
/// with index entries that bypass the counters, it makes [`ensure`] rebuild them.
pub(crate) fn invalidate(batch: &mut WriteBatch, parts: &Partitions) {
    for partition in parts.counts.iter().flatten() {
        batch.delete(partition, COUNTS_HEADER.to_vec());
    }
}

/// Whether a counts partition has its header (its counters are complete).
pub(crate) fn vouched(view: &dyn ReadView, partition: &str) -> StoreResult<bool> {
    Ok(view.get(partition, COUNTS_HEADER)?.is_some())
}

/// Creates the counts partitions of a table and rebuilds each one that has no header from
/// its index; a header of a newer format is refused.
pub(crate) fn ensure(
    backend: &Arc<dyn StorageBackend>,
    parts: &Partitions,
    leading_orders: &[SortOrder],
) -> StoreResult<()> {
    for (i, partition) in parts.counts.iter().enumerate() {
        let Some(partition) = partition else { continue };
        if backend.has_partition(partition) {
            let what = format!("the index counts in partition '{partition}'");
            if stored_format(backend, partition, COUNTS_HEADER, &what, COUNTS_FORMAT)?.is_some() {
                continue;
            }
            // Whatever counters are there are not vouched for: start from nothing.
            backend.drop_partition(partition)?;
        }
        backend.create_partition(partition)?;
        let view = backend.snapshot();
        let counts = tally(&*view, &parts.indexes[i], leading_orders[i])?;
        drop(view);
        let mut batch = WriteBatch::new();
        fill(&mut batch, partition, counts);
        backend.write(batch)?;
    }
    Ok(())
}

/// The non-zero counters of `partition` in `ranges` (byte ranges over leading values), in
/// `direction`, until `enough` says stop after a value: (encoded value, count) pairs.
pub(crate) fn read_counters(
    view: &dyn ReadView,
    partition: &str,
    ranges: &[KeyRange],
    direction: Direction,
    enough: &mut dyn FnMut(&[(Vec<u8>, i64)]) -> bool,
) -> StoreResult<Vec<(Vec<u8>, i64)>> {
    let mut out: Vec<(Vec<u8>, i64)> = Vec::new();
    let mut failed = None;
    for range in ranges {
        view.visit(partition, range, direction, &mut |key, raw| {
            if key == COUNTS_HEADER {
                return true;
            }
            match decode_counter(raw) {
                Some(0) => true,
                Some(n) => {
                    out.push((key.to_vec(), n));
                    !enough(&out)
                }
                None => {
                    failed = Some(StoreError::Corrupt {
                        partition: partition.to_owned(),
                        reason: format!("the counter of a value is {raw:02x?}"),
                    });
                    false
                }
            }
        })?;
        if failed.is_some() || enough(&out) {
            break;
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
