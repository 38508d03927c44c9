//! A table: [`IndexedEntityStore`], whose records and index entries (and the per-value
//! counters of its indexes) change in one atomic write batch.
//!
//! - `store`: the table's handle (backend, definition, key locks, the writers' gate).
//! - `write`: a batch of mutations checked and written as one batch; `entries`, the index
//!   entries of a record; `locks`, the striped key locks writers take.
//! - `counts`: the per-value index counts, their format and how every write keeps them.
//! - `resume`: resume points, which every write keeps honest for walks that consume an
//!   index from the front (the job queue's claims).
//! - `load` (with `seen_keys`): the bulk path. `index_build`, `ttl`, `verify`: adding and
//!   dropping indexes, purging expired rows, the integrity check.

mod counts;
mod entries;
mod index_build;
mod load;
mod locks;
mod resume;
mod seen_keys;
mod staging;
mod store;
mod ttl;
mod verify;
mod write;

pub use counts::COUNTS_FORMAT;
pub use load::DEFAULT_LOAD_BATCH;
pub use resume::{ResumePoint, Walk};
pub use staging::{Held, Participant, Staging};
pub use store::{system_clock, system_now, Clock, IndexedEntityStore, Mutation, WriteOutcome};
pub use verify::{Problem, VerifyReport};

pub(crate) use counts::{ensure as ensure_counts, invalidate as invalidate_counts, read_counters};
pub(crate) use entries::entries_of;
