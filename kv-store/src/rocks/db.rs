//! The RocksDB backend: one column family per partition; its options are in `options.rs`.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{
    BlockBasedOptions, BoundColumnFamily, Cache, DBRawIteratorWithThreadMode, DBWithThreadMode,
    MultiThreaded, Options, ReadOptions, SnapshotWithThreadMode, WriteOptions,
};

use super::options::{Durability, RocksOptions};
use crate::backend::{
    add_to_counter, decode_counter, BatchOp, Direction, KvIter, KvPair, ReadView, Step,
    StorageBackend, WriteBatch,
};
use crate::{KeyRange, KvError, KvResult};

type Db = DBWithThreadMode<MultiThreaded>;

/// RocksDB's own column family, always present; Quiver never stores anything in it.
const DEFAULT_CF: &str = "default";

/// The column-family options of each kind of partition.
struct PartitionOptions {
    /// Partitions read by key: with Bloom filters.
    read_by_key: Options,
    /// Partitions only scanned: without.
    scanned: Options,
    scanned_only: fn(&str) -> bool,
    /// Partitions of counters: scanned, with small memtables.
    counters: Options,
    counter_partition: fn(&str) -> bool,
}

impl PartitionOptions {
    /// The options of the partition `name`.
    fn of(&self, name: &str) -> &Options {
        if (self.counter_partition)(name) {
            &self.counters
        } else if (self.scanned_only)(name) {
            &self.scanned
        } else {
            &self.read_by_key
        }
    }
}

/// RocksDB's merge of counter adds ([`WriteBatch::add`]): each operand is a delta, 8 bytes
/// little-endian, summed onto the existing value.
fn add_operands(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let delta = operands
        .into_iter()
        .map(|op| decode_counter(op).unwrap_or(0))
        .fold(0i64, i64::wrapping_add);
    Some(add_to_counter(existing, delta).to_vec())
}

/// A RocksDB database in a directory.
pub struct RocksBackend {
    open: Arc<OpenDb>,
    path: PathBuf,
    partition_options: PartitionOptions,
    write_options: WriteOptions,
    /// A row cache is on: range deletes are written as point deletes.
    row_cache: bool,
}

/// Rejects names RocksDB or Quiver reserve.
pub(crate) fn check_partition_name(name: &str) -> KvResult<()> {
    if name.is_empty() {
        return Err(KvError::InvalidPartitionName(
            name.to_owned(),
            "the name is empty",
        ));
    }
    if name == DEFAULT_CF {
        return Err(KvError::InvalidPartitionName(
            name.to_owned(),
            "'default' is reserved",
        ));
    }
    Ok(())
}

impl RocksBackend {
    /// Opens (or creates) the database in `path` with default options, finding every
    /// partition it already holds.
    pub fn open(path: impl AsRef<Path>) -> KvResult<Self> {
        Self::open_with(path, RocksOptions::default())
    }

    /// Opens (or creates) the database in `path`.
    pub fn open_with(path: impl AsRef<Path>, options: RocksOptions) -> KvResult<Self> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(|source| KvError::Open {
            path: path.display().to_string(),
            source,
        })?;

        let cache = Cache::new_lru_cache(options.block_cache_bytes);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_cache_index_and_filter_blocks(true);
        table.set_block_size(options.block_bytes);
        let mut scanned_cf_options = Options::default();
        scanned_cf_options.set_block_based_table_factory(&table);
        table.set_bloom_filter(10.0, false);

        let mut cf_options = Options::default();
        cf_options.set_block_based_table_factory(&table);
        for cf_options in [&mut cf_options, &mut scanned_cf_options] {
            Self::set_partition_options(cf_options);
        }

        let mut db_options = cf_options.clone();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.increase_parallelism(2);
        db_options.set_max_background_jobs(4);
        // Concurrent writers: the next group's WAL write overlaps this group's memtable
        // inserts (measured: 4 threads submitting jobs, ~70k -> ~95k jobs/s).
        db_options.set_enable_pipelined_write(true);
        // Written files and the WAL are handed to the kernel's writeback every MiB instead
        // of piling up as dirty pages, which the kernel would otherwise flush in bursts that
        // block the writer in `write(2)` (a tail-latency source for small writes).
        db_options.set_bytes_per_sync(1 << 20);
        db_options.set_wal_bytes_per_sync(1 << 20);
        if options.background_at_low_priority {
            let mut env = rocksdb::Env::new().map_err(KvError::rocks("create the environment"))?;
            env.lower_thread_pool_cpu_priority();
            env.lower_high_priority_thread_pool_cpu_priority();
            db_options.set_env(&env);
        }
        if options.row_cache_bytes > 0 {
            db_options.set_row_cache(&Cache::new_lru_cache(options.row_cache_bytes));
        }

        let existing = match Db::list_cf(&db_options, &path) {
            Ok(cfs) => cfs,
            // A directory without a database yet.
            Err(_) => vec![DEFAULT_CF.to_owned()],
        };
        let mut counter_cf_options = scanned_cf_options.clone();
        counter_cf_options.set_write_buffer_size(1 << 20);
        let partition_options = PartitionOptions {
            read_by_key: cf_options,
            scanned: scanned_cf_options,
            scanned_only: options.scanned_only,
            counters: counter_cf_options,
            counter_partition: options.counters,
        };
        let descriptors = existing.iter().map(|name| {
            rocksdb::ColumnFamilyDescriptor::new(name, partition_options.of(name).clone())
        });
        let db = Db::open_cf_descriptors(&db_options, &path, descriptors)
            .map_err(KvError::rocks("open"))?;

        let mut write_options = WriteOptions::default();
        write_options.set_sync(options.durability == Durability::PowerLossSafe);
        Ok(RocksBackend {
            open: Arc::new(OpenDb { db }),
            path,
            partition_options,
            write_options,
            row_cache: options.row_cache_bytes > 0,
        })
    }

    /// What every partition shares but its table format.
    fn set_partition_options(cf_options: &mut Options) {
        cf_options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        cf_options.set_level_compaction_dynamic_level_bytes(true);
        // 16 MiB memtables (RocksDB's default is 64): inserting into a skiplist costs cache
        // misses that grow with its size, and measured bulk loads of the reference workload
        // ran ~15-20% faster than with 64 MiB (see the README's benchmark section).
        cf_options.set_write_buffer_size(16 << 20);
        cf_options.set_max_write_buffer_number(3);
        cf_options.set_level_zero_slowdown_writes_trigger(40);
        cf_options.set_level_zero_stop_writes_trigger(64);
        // Only keys written by `WriteBatch::add` ever hold merge operands.
        cf_options.set_merge_operator_associative("quiver_add", add_operands);
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The open database: all reads need, shared by the backend and its snapshots (a snapshot
/// holds it open).
struct OpenDb {
    db: Db,
}

impl OpenDb {
    fn cf(&self, partition: &str) -> KvResult<Arc<BoundColumnFamily<'_>>> {
        if partition == DEFAULT_CF {
            return Err(KvError::UnknownPartition(partition.to_owned()));
        }
        self.db
            .cf_handle(partition)
            .ok_or_else(|| KvError::UnknownPartition(partition.to_owned()))
    }

    fn read_options(snapshot: Option<&SnapshotWithThreadMode<'_, Db>>) -> ReadOptions {
        let mut opts = ReadOptions::default();
        if let Some(s) = snapshot {
            opts.set_snapshot(s);
        }
        opts
    }

    fn get_at(
        &self,
        snapshot: Option<&SnapshotWithThreadMode<'_, Db>>,
        partition: &str,
        key: &[u8],
    ) -> KvResult<Option<Vec<u8>>> {
        let cf = self.cf(partition)?;
        let opts = Self::read_options(snapshot);
        let value = self
            .db
            .get_pinned_cf_opt(&cf, key, &opts)
            .map_err(KvError::rocks("get"))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn multi_get_at(
        &self,
        snapshot: Option<&SnapshotWithThreadMode<'_, Db>>,
        partition: &str,
        keys: &[Vec<u8>],
    ) -> KvResult<Vec<Option<Vec<u8>>>> {
        let mut values = Vec::with_capacity(keys.len());
        self.visit_many_at(snapshot, partition, keys, &mut |_, v| {
            values.push(v.map(<[u8]>::to_vec))
        })?;
        Ok(values)
    }

    /// A raw iterator over `range`, bounded on both sides so RocksDB stops at the range's end
    /// without the caller comparing keys; None when the range is empty.
    fn raw_at<'a>(
        &'a self,
        snapshot: Option<&SnapshotWithThreadMode<'a, Db>>,
        cf: &Arc<BoundColumnFamily<'a>>,
        range: &KeyRange,
        direction: Direction,
    ) -> Option<DBRawIteratorWithThreadMode<'a, Db>> {
        let (start, end) = range.half_open();
        if let (Some(s), Some(e)) = (&start, &end) {
            if s >= e {
                return None;
            }
        }
        let mut opts = Self::read_options(snapshot);
        if let Some(s) = start {
            opts.set_iterate_lower_bound(s);
        }
        if let Some(e) = end {
            opts.set_iterate_upper_bound(e);
        }
        let mut raw = self.db.raw_iterator_cf_opt(cf, opts);
        match direction {
            Direction::Forward => raw.seek_to_first(),
            Direction::Reverse => raw.seek_to_last(),
        }
        Some(raw)
    }

    fn visit_at<'a>(
        &'a self,
        snapshot: Option<&SnapshotWithThreadMode<'a, Db>>,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> KvResult<()> {
        self.visit_skipping_at(snapshot, partition, range, direction, &mut |key, value| {
            if visit(key, value) {
                Step::Next
            } else {
                Step::Stop
            }
        })
    }

    /// Walks `range` with one raw iterator, calling `visit` on each pair; a visitor that
    /// jumps makes the iterator seek within its bounds instead of being rebuilt (building
    /// one pins every memtable and file of the partition).
    fn visit_skipping_at<'a>(
        &'a self,
        snapshot: Option<&SnapshotWithThreadMode<'a, Db>>,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Step,
    ) -> KvResult<()> {
        let cf = self.cf(partition)?;
        let Some(mut raw) = self.raw_at(snapshot, &cf, range, direction) else {
            return Ok(());
        };
        let (start, end) = range.half_open();
        while let Some((key, value)) = raw.item() {
            match visit(key, value) {
                Step::Next => match direction {
                    Direction::Forward => raw.next(),
                    Direction::Reverse => raw.prev(),
                },
                Step::Stop => return Ok(()),
                // A target outside the range is clamped here rather than left to how
                // RocksDB treats a seek past an iterator's bounds.
                Step::Seek(to) => match direction {
                    Direction::Forward => {
                        if end.as_ref().is_some_and(|e| to >= *e) {
                            return Ok(());
                        }
                        match &start {
                            Some(s) if to < *s => raw.seek(s),
                            _ => raw.seek(&to),
                        }
                    }
                    Direction::Reverse => {
                        if start.as_ref().is_some_and(|s| to <= *s) {
                            return Ok(());
                        }
                        if end.as_ref().is_some_and(|e| to >= *e) {
                            raw.seek_to_last();
                        } else {
                            raw.seek_for_prev(&to);
                            if raw.key() == Some(to.as_slice()) {
                                raw.prev();
                            }
                        }
                    }
                },
            }
        }
        raw.status().map_err(KvError::rocks("iterate"))
    }

    /// Reads `keys` with one MultiGet and calls `visit` with each value in the order the keys
    /// were given.
    fn visit_many_at<K: AsRef<[u8]>>(
        &self,
        snapshot: Option<&SnapshotWithThreadMode<'_, Db>>,
        partition: &str,
        keys: &[K],
        visit: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> KvResult<()> {
        let cf = self.cf(partition)?;
        let opts = Self::read_options(snapshot);
        // RocksDB reads keys in sorted order and sorts them itself through its comparator's
        // virtual calls when told they are not; sorting here on 16-byte prefixes is cheaper.
        let mut sorted: Vec<Keyed<'_, usize>> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Keyed::new(k.as_ref(), i))
            .collect();
        if !sorted.is_sorted_by(|a, b| a.cmp(b).is_le()) {
            sorted.sort_unstable_by(Keyed::cmp);
        }
        let values =
            self.db
                .batched_multi_get_cf_opt(&cf, sorted.iter().map(|k| k.key), true, &opts);
        // Where each key's value landed, to visit them in the order the keys were given.
        let mut at = vec![0; keys.len()];
        for (position, k) in sorted.iter().enumerate() {
            at[k.item] = position;
        }
        for (i, &position) in at.iter().enumerate() {
            let value = values[position]
                .as_ref()
                .map_err(|e| KvError::rocks("multi_get")(e.clone()))?;
            visit(i, value.as_deref());
        }
        Ok(())
    }

    fn approximate_size(&self, partition: &str, start: &[u8], end: &[u8]) -> KvResult<u64> {
        let cf = self.cf(partition)?;
        Ok(self
            .db
            .get_approximate_sizes_cf(&cf, &[rocksdb::Range::new(start, end)])
            .first()
            .copied()
            .unwrap_or(0))
    }

    fn scan_at<'a>(
        &'a self,
        snapshot: Option<&SnapshotWithThreadMode<'a, Db>>,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
    ) -> KvResult<KvIter<'a>> {
        let cf = self.cf(partition)?;
        let Some(raw) = self.raw_at(snapshot, &cf, range, direction) else {
            return Ok(Box::new(std::iter::empty()));
        };
        Ok(Box::new(RocksIter {
            raw,
            direction,
            _cf: cf,
            done: false,
        }))
    }
}

/// Bytes of a RocksDB write batch before its first record (sequence number and count).
const WRITE_BATCH_HEADER: usize = 12;

/// The ops of one partition within a batch, with their keys.
struct Group<'a> {
    name: &'a str,
    ops: Vec<Keyed<'a, &'a BatchOp>>,
    /// Holds a range delete: keep batch order.
    ranged: bool,
}

/// A key with the item it belongs to (a batch op, a position) and the key's first 16 bytes
/// as a number, so that sorting compares numbers held in the array and reads the keys
/// themselves (scattered over the heap) only to break ties.
struct Keyed<'a, T> {
    prefix: u128,
    key: &'a [u8],
    item: T,
}

impl<'a, T> Keyed<'a, T> {
    fn new(key: &'a [u8], item: T) -> Self {
        let mut head = [0u8; 16];
        let n = key.len().min(16);
        head[..n].copy_from_slice(&key[..n]);
        Keyed {
            // Zero padding keeps the order: where two padded prefixes differ, the keys differ
            // the same way (a key that ran out is a prefix of the other, so smaller).
            prefix: u128::from_be_bytes(head),
            key,
            item,
        }
    }

    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.prefix
            .cmp(&other.prefix)
            .then_with(|| self.key.cmp(other.key))
    }
}

/// A RocksDB iterator positioned on its next item. Holds the column family so that it
/// stays alive as long as the walk.
struct RocksIter<'a> {
    raw: DBRawIteratorWithThreadMode<'a, Db>,
    direction: Direction,
    _cf: Arc<BoundColumnFamily<'a>>,
    done: bool,
}

impl Iterator for RocksIter<'_> {
    type Item = KvResult<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.raw.item() {
            Some((k, v)) => (k.to_vec(), v.to_vec()),
            None => {
                self.done = true;
                return match self.raw.status() {
                    Ok(()) => None,
                    Err(e) => Some(Err(KvError::Rocks {
                        operation: "iterate",
                        source: e,
                    })),
                };
            }
        };
        match self.direction {
            Direction::Forward => self.raw.next(),
            Direction::Reverse => self.raw.prev(),
        }
        Some(Ok(item))
    }
}

/// The snapshot a [`RocksSnapshot`] holds.
type DbSnapshot<'a> = SnapshotWithThreadMode<'a, Db>;

self_cell::self_cell!(
    /// A point-in-time view of a RocksDB database that holds the database open for as long
    /// as it lives (`self_cell` keeps the snapshot's borrow of its owner in one value).
    struct RocksSnapshot {
        owner: Arc<OpenDb>,
        #[covariant]
        dependent: DbSnapshot,
    }
);

impl ReadView for RocksSnapshot {
    fn get(&self, partition: &str, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        self.borrow_owner()
            .get_at(Some(self.borrow_dependent()), partition, key)
    }

    fn multi_get(&self, partition: &str, keys: &[Vec<u8>]) -> KvResult<Vec<Option<Vec<u8>>>> {
        self.borrow_owner()
            .multi_get_at(Some(self.borrow_dependent()), partition, keys)
    }

    fn scan(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
    ) -> KvResult<KvIter<'_>> {
        self.borrow_owner()
            .scan_at(Some(self.borrow_dependent()), partition, range, direction)
    }

    fn visit(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> KvResult<()> {
        let snapshot = Some(self.borrow_dependent());
        self.borrow_owner()
            .visit_at(snapshot, partition, range, direction, visit)
    }

    fn visit_skipping(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Step,
    ) -> KvResult<()> {
        let snapshot = Some(self.borrow_dependent());
        self.borrow_owner()
            .visit_skipping_at(snapshot, partition, range, direction, visit)
    }

    fn visit_many(
        &self,
        partition: &str,
        keys: &[&[u8]],
        visit: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> KvResult<()> {
        self.borrow_owner()
            .visit_many_at(Some(self.borrow_dependent()), partition, keys, visit)
    }

    fn approximate_size(&self, partition: &str, start: &[u8], end: &[u8]) -> KvResult<u64> {
        self.borrow_owner().approximate_size(partition, start, end)
    }
}

impl ReadView for RocksBackend {
    fn get(&self, partition: &str, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        self.open.get_at(None, partition, key)
    }

    fn multi_get(&self, partition: &str, keys: &[Vec<u8>]) -> KvResult<Vec<Option<Vec<u8>>>> {
        self.open.multi_get_at(None, partition, keys)
    }

    fn scan(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
    ) -> KvResult<KvIter<'_>> {
        self.open.scan_at(None, partition, range, direction)
    }

    fn visit(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> KvResult<()> {
        self.open.visit_at(None, partition, range, direction, visit)
    }

    fn visit_skipping(
        &self,
        partition: &str,
        range: &KeyRange,
        direction: Direction,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Step,
    ) -> KvResult<()> {
        self.open
            .visit_skipping_at(None, partition, range, direction, visit)
    }

    fn visit_many(
        &self,
        partition: &str,
        keys: &[&[u8]],
        visit: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> KvResult<()> {
        self.open.visit_many_at(None, partition, keys, visit)
    }

    fn approximate_size(&self, partition: &str, start: &[u8], end: &[u8]) -> KvResult<u64> {
        self.open.approximate_size(partition, start, end)
    }
}

impl StorageBackend for RocksBackend {
    fn create_partition(&self, name: &str) -> KvResult<()> {
        check_partition_name(name)?;
        if self.open.db.cf_handle(name).is_some() {
            return Ok(());
        }
        self.open
            .db
            .create_cf(name, self.partition_options.of(name))
            .map_err(KvError::rocks("create partition"))
    }

    fn drop_partition(&self, name: &str) -> KvResult<()> {
        self.open.cf(name)?;
        self.open
            .db
            .drop_cf(name)
            .map_err(KvError::rocks("drop partition"))
    }

    fn partitions(&self) -> KvResult<Vec<String>> {
        let opts = Options::default();
        let mut names: Vec<String> = Db::list_cf(&opts, &self.path)
            .map_err(KvError::rocks("list partitions"))?
            .into_iter()
            .filter(|n| n != DEFAULT_CF && self.open.db.cf_handle(n).is_some())
            .collect();
        names.sort();
        Ok(names)
    }

    fn has_partition(&self, name: &str) -> bool {
        name != DEFAULT_CF && self.open.db.cf_handle(name).is_some()
    }

    fn write(&self, batch: WriteBatch) -> KvResult<()> {
        // RocksDB inserts a batch into each memtable (a skiplist) in batch order, starting
        // each search where the previous insert ended. Random order makes every insert a
        // full descent with cache misses (most of a bulk load's time); key order makes it a
        // short step. So: group the ops by partition (partitions are independent), and sort
        // each group by key. The sort is stable, so changes to one key keep their order; a
        // range delete must stay ordered against the puts it covers, so its group is not
        // sorted.
        let mut groups: Vec<Group<'_>> = Vec::new();
        for op in batch.ops() {
            let name = op.partition();
            let group = match groups.iter().position(|g| g.name == name) {
                Some(i) => &mut groups[i],
                None => {
                    groups.push(Group {
                        name,
                        ops: Vec::new(),
                        ranged: false,
                    });
                    groups.last_mut().expect("just pushed")
                }
            };
            group.ranged |= matches!(op, BatchOp::DeleteRange { .. });
            group.ops.push(Keyed::new(op.key(), op));
        }
        // Reserve the batch's encoded size up front: growing it by doubling copies every
        // byte again and faults in fresh pages on each step.
        let bytes: usize = batch.ops().iter().map(BatchOp::encoded_len).sum();
        let mut wb = rocksdb::WriteBatch::with_capacity_bytes(WRITE_BATCH_HEADER + bytes);
        for group in &mut groups {
            let cf = self.open.cf(group.name)?;
            if !group.ranged && !group.ops.is_sorted_by(|a, b| a.cmp(b).is_le()) {
                group.ops.sort_by(Keyed::cmp);
            }
            for (i, Keyed { item: op, .. }) in group.ops.iter().enumerate() {
                match op {
                    BatchOp::Put { key, value, .. } => wb.put_cf(&cf, key, value),
                    BatchOp::Delete { key, .. } => wb.delete_cf(&cf, key),
                    BatchOp::Add { key, delta, .. } => wb.merge_cf(&cf, key, delta.to_le_bytes()),
                    BatchOp::DeleteRange { start, end, .. } if start < end => {
                        if !self.row_cache {
                            wb.delete_range_cf(&cf, start, end);
                            continue;
                        }
                        // What the range holds now, and what this batch put there before.
                        let range = KeyRange::new(
                            Bound::Included(start.clone()),
                            Bound::Excluded(end.clone()),
                        );
                        if let Some(mut raw) =
                            self.open.raw_at(None, &cf, &range, Direction::Forward)
                        {
                            while let Some(key) = raw.key() {
                                wb.delete_cf(&cf, key);
                                raw.next();
                            }
                            raw.status().map_err(KvError::rocks("scan"))?;
                        }
                        for earlier in &group.ops[..i] {
                            if let BatchOp::Put { key, .. } = earlier.item {
                                if key >= start && key < end {
                                    wb.delete_cf(&cf, key);
                                }
                            }
                        }
                    }
                    BatchOp::DeleteRange { .. } => {}
                }
            }
        }
        self.open
            .db
            .write_opt(wb, &self.write_options)
            .map_err(KvError::rocks("write"))
    }

    fn snapshot(&self) -> Box<dyn ReadView> {
        Box::new(RocksSnapshot::new(Arc::clone(&self.open), |open| {
            open.db.snapshot()
        }))
    }

    fn flush(&self) -> KvResult<()> {
        self.open
            .db
            .flush_wal(true)
            .map_err(KvError::rocks("flush"))
    }

    fn compact(&self) -> KvResult<()> {
        for name in self.partitions()? {
            let cf = self.open.cf(&name)?;
            self.open
                .db
                .compact_range_cf(&cf, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    fn compact_partition(&self, partition: &str) -> KvResult<()> {
        let cf = self.open.cf(partition)?;
        // Flushes the partition's memtable first, so its deletions are dropped too.
        self.open
            .db
            .compact_range_cf(&cf, None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }

    fn disk_size(&self) -> u64 {
        fn dir_size(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| match e.metadata() {
                            Ok(m) if m.is_dir() => dir_size(&e.path()),
                            Ok(m) => m.len(),
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        dir_size(&self.path)
    }
}
