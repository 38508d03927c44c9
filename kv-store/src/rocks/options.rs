//! How a RocksDB database is opened: durability, cache and block sizes, and which
//! partitions are only scanned or hold counters.

/// How far an acknowledged write has travelled when `write` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// In the write-ahead log in the OS page cache: survives a crash of the process
    /// (kill -9), not a power loss or kernel crash. RocksDB's default, and ours.
    #[default]
    ProcessCrashSafe,
    /// fsync'd write-ahead log before `write` returns: survives power loss, costs a sync per
    /// batch.
    PowerLossSafe,
}

/// How to open a RocksDB database.
#[derive(Debug, Clone)]
pub struct RocksOptions {
    /// Durability of each write batch.
    pub durability: Durability,
    /// Size of the block cache shared by all partitions, in bytes.
    pub block_cache_bytes: usize,
    /// Size of a table file's data blocks before compression, in bytes. A walk pays a block
    /// cache lookup and an iterator set-up per block, so larger blocks make long scans
    /// cheaper; a read by key decodes within one block, so they make it dearer only when
    /// the block is not cached yet. RocksDB's default is 4 KiB; ours is 16 KiB (see the
    /// README's benchmark section for the measurements behind it).
    pub block_bytes: usize,
    /// Size of the row cache, in bytes (0: none). It answers reads by key (an index scan's
    /// record fetches, point reads) without searching the table files, so rows read again
    /// and again (a list's page) cost a hash lookup. RocksDB refuses range deletes with a
    /// row cache; with one, [`crate::WriteBatch::delete_range`] deletes the keys the range holds
    /// when the batch is written (and those the batch itself put there before), so a key
    /// another writer adds to the range at that moment may survive it.
    pub row_cache_bytes: usize,
    /// Partitions that are only ever read by range (never by [`crate::ReadView::get`] or
    /// `multi_get`): their table files carry no Bloom filter. A full-key filter cannot help
    /// a range scan, and for partitions of short keys (secondary index entries) the filters
    /// are most of what flushes and compactions hold in memory and what the block cache
    /// fills with. `Database::open_with` names its non-unique index and expiry partitions.
    pub scanned_only: fn(&str) -> bool,
    /// Partitions that hold counters ([`crate::WriteBatch::add`]): their memtables are small
    /// (1 MiB), because each add is a merge operand that a read combines until a flush
    /// folds it into one value, and a counter of a busy table gets thousands of adds.
    pub counters: fn(&str) -> bool,
    /// Run flushes and compactions at the lowest CPU priority (nice 19), so on a machine
    /// whose cores are busy they take what foreground reads and writes leave instead of
    /// descheduling them for milliseconds (measured: the job queue's claim p99 at 4 workers
    /// on 2 cores fell from ~4.5 to ~3.4 ms; 1M-row imports ran as fast). A write that
    /// finds every memtable full still waits for its flush, which then gets the CPU.
    /// RocksDB's background threads are shared by the whole process, so this holds for
    /// every database the process opens once one has asked for it.
    pub background_at_low_priority: bool,
}

/// The default of [`RocksOptions::scanned_only`]: every partition gets Bloom filters.
fn every_partition_read_by_key(_: &str) -> bool {
    false
}

/// The default of [`RocksOptions::counters`]: no partition is sized for counters.
fn no_counters(_: &str) -> bool {
    false
}

impl Default for RocksOptions {
    fn default() -> Self {
        RocksOptions {
            durability: Durability::default(),
            block_cache_bytes: 256 << 20,
            block_bytes: 16 << 10,
            row_cache_bytes: 64 << 20,
            scanned_only: every_partition_read_by_key,
            counters: no_counters,
            background_at_low_priority: true,
        }
    }
}
