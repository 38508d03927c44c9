//! How values become bytes, and bytes values again: the bottom of the store.
//!
//! - `value`: the [`Value`]s Quiver stores and the [`ColumnType`]s that hold them.
//! - `codec`: the order-preserving key codec (tuples to memcomparable bytes); its module doc
//!   is the format's specification.
//! - `record`: the record format rows are stored in (a header, then the row's values found
//!   in O(1)); its module doc is the format's specification.
//! - `payload`: what index entries store beside their keys, and record headers read with
//!   errors that name their partition.
//! - `bytes`: bincode, as catalog entries and typed entities are stored.
//! - `format`: the format markers every persisted layout carries.
//!
//! Nothing here knows tables, indexes or partitions.

mod bytes;
mod codec;
mod format;
mod payload;
mod record;
mod value;

pub use codec::{
    compare, decode_instant, decode_key, encode_instant, encode_key, encode_key_and_lead,
    encode_value, text_prefix, KeyReader, KeyValue, SortOrder,
};
pub use payload::EntryPayload;
pub use record::{
    encode_group, record_header, split_record, Group, HeaderError, ListRef, Malformed, RecordParts,
    RowRef, ValueRef, ENTITY_LAYOUT, RECORD_FORMAT, ROW_LAYOUT,
};
pub use value::{describe, fit_decimal, integral, ColumnType, Value, MICROS_PER_DAY};

pub(crate) use bytes::{from_bytes, to_bytes};
pub(crate) use format::stored_format;
#[cfg(test)]
pub(crate) use payload::encode_entity_record;
pub(crate) use payload::{corrupt, decode_entity_record, record_expiry, record_parts};
