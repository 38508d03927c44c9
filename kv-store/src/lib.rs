//! Byte-level storage for Quiver.
//!
//! A [`StorageBackend`] holds named partitions (RocksDB column families) of ordered byte keys.
//! It offers point reads, ordered iteration between bounds in either direction, atomic write
//! batches that span partitions, and consistent snapshots. Nothing above this crate touches
//! RocksDB directly, so the in-memory backend can stand in for it anywhere.

pub mod backend;
pub mod error;
pub mod memory;
pub mod overlay;
pub mod range;
pub mod reads;
pub mod rocks;
pub mod versions;

pub use backend::{
    decode_counter, BatchOp, Direction, KvIter, KvPair, ReadView, Step, StorageBackend, WriteBatch,
    COUNTER_BYTES,
};
pub use error::{KvError, KvResult};
pub use memory::MemoryBackend;
pub use overlay::{Overlay, Pending, PendingWrites};
pub use range::KeyRange;
pub use reads::{ReadSet, Recording};
pub use rocks::{Durability, RocksBackend, RocksOptions};
pub use versions::{Versioned, Versions};
