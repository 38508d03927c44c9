//! Writes: INSERT, UPDATE and DELETE as [`DmlExec`] (the write happens when the plan runs,
//! as one atomic batch of the store), `ON CONFLICT` (`upsert`), large INSERTs streamed into
//! the bulk path (`bulk_insert`), and what they share (`rows`: the check rows must pass, a
//! row's key, the read-modify-write that acts on each row's current version).

mod bulk_insert;
mod dml;
mod rows;
mod upsert;

pub use bulk_insert::{WriteProgress, STREAM_AFTER};
pub use dml::{DmlExec, DmlKind};

pub(crate) use dml::Returning;
pub(crate) use rows::{key_bytes, run_here_if, values_at, RowCheck};
pub(crate) use upsert::{Conflict, ConflictTarget, ConflictUpdate};
