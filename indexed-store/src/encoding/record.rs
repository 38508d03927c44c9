//! The record format: how a table's rows are stored under their primary keys, laid out so
//! that a scan reads the columns it needs straight from the stored bytes, without decoding
//! (or allocating for) the others.
//!
//! # Record
//!
//! | bytes | meaning |
//! |---|---|
//! | 1 | header: bit 0 set when an expiry follows; bits 4-7 the body's layout |
//! | 8 | expiry in µs since the epoch, i64 little-endian (only when bit 0 is set) |
//! | rest | the body, in the layout the header names |
//!
//! | layout | format | body |
//! |---|---|---|
//! | 0 | 1 | the entity in bincode's standard configuration (every record of Quiver 0.1; typed system tables still) |
//! | 1 | 2 | a *group* of the row's values (SQL tables) |
//!
//! A layout above 1 was written by a newer Quiver: reading it fails with
//! `StoreError::UnsupportedFormat` rather than
//! guessing. Format-1 records of SQL tables stay readable, so a database written by Quiver
//! 0.1 opens as it is and its rows move to format 2 as they are rewritten.
//!
//! # Group
//!
//! `n` values, each found in O(1) from the table of end offsets:
//!
//! | bytes | meaning |
//! |---|---|
//! | 4 | `n`, u32 little-endian |
//! | 4 × n | `ends`: where value `i` ends, u32 little-endian, counted from the start of `data` |
//! | rest | `data`: value `i` is `data[ends[i-1]..ends[i]]` (with `ends[-1] = 0`) |
//!
//! Every value starts with a tag, so a value is read without knowing its column's type:
//!
//! | tag | value | then |
//! |---|---|---|
//! | `00` | NULL | nothing |
//! | `01` / `02` | `false` / `true` | nothing |
//! | `03` | BIGINT | 8 bytes, i64 little-endian |
//! | `04` | DOUBLE | 8 bytes, f64 bits little-endian |
//! | `05` | TIMESTAMP | 8 bytes, µs since the epoch, i64 little-endian |
//! | `06` | TEXT | its UTF-8 bytes |
//! | `07` | BYTEA | its bytes |
//! | `08` | LIST | a group of its elements |
//! | `09` | DECIMAL | 16 bytes, the unscaled i128 little-endian, then 1 byte scale (format 3) |
//!
//! A row holding fewer values than its table has columns reads the missing ones as NULL,
//! so adding a column needs no rewrite of the rows already stored.

use std::fmt;

use super::value::Value;

/// The record format this build writes for SQL tables (and the newest it reads). Format 3 is
/// format 2 with the DECIMAL tag: a database marked 3 may hold values an older Quiver cannot
/// read, so it refuses the database rather than fail on a row. Format 4 keeps the records
/// of format 3 and adds the per-value index counts (`table/counts.rs`) that every write
/// must keep: an older Quiver would write rows without counting them, so it refuses a
/// database marked 4 (this build raises the marker when it opens an older database, after
/// building the counts).
pub const RECORD_FORMAT: u32 = 4;

/// Layout number of a bincode entity body (format 1).
pub const ENTITY_LAYOUT: u8 = 0;
/// Layout number of a row group body (format 2).
pub const ROW_LAYOUT: u8 = 1;

const TAG_NULL: u8 = 0x00;
const TAG_FALSE: u8 = 0x01;
const TAG_TRUE: u8 = 0x02;
const TAG_INT: u8 = 0x03;
const TAG_FLOAT: u8 = 0x04;
const TAG_TIMESTAMP: u8 = 0x05;
const TAG_TEXT: u8 = 0x06;
const TAG_BYTES: u8 = 0x07;
const TAG_LIST: u8 = 0x08;
const TAG_DECIMAL: u8 = 0x09;

/// Stored bytes that do not follow the format; the reason names what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Malformed {}

/// One row as a scan sees it: its values read on demand, by table column position.
#[derive(Debug, Clone, Copy)]
pub enum RowRef<'a> {
    /// A row-layout record, still in its stored bytes.
    Stored(Group<'a>),
    /// A decoded row (typed entities, format-1 records, index entries).
    Values(&'a [Value]),
}

impl<'a> RowRef<'a> {
    /// The value of table column `column` (NULL past the row's end).
    pub fn get(&self, column: usize) -> Result<ValueRef<'a>, Malformed> {
        match self {
            RowRef::Stored(g) => g.get(column),
            RowRef::Values(v) => Ok(v.get(column).map_or(ValueRef::Null, ValueRef::from)),
        }
    }

    /// The values of these table columns, owned (a row's primary key, say).
    pub fn values_at(&self, columns: &[usize]) -> Result<Vec<Value>, Malformed> {
        columns
            .iter()
            .map(|&i| self.get(i).and_then(|v| v.to_value()))
            .collect()
    }
}

/// A value borrowed from stored bytes (or from a decoded row).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// SQL NULL.
    Null,
    /// BOOLEAN.
    Bool(bool),
    /// BIGINT.
    Int(i64),
    /// DOUBLE.
    Float(f64),
    /// TEXT.
    Text(&'a str),
    /// BYTEA.
    Bytes(&'a [u8]),
    /// TIMESTAMP (µs).
    Timestamp(i64),
    /// A list.
    List(ListRef<'a>),
    /// DECIMAL: unscaled, scale.
    Decimal(i128, u8),
}

/// The elements of a list value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ListRef<'a> {
    /// Still in stored form.
    Stored(Group<'a>),
    /// Already decoded.
    Values(&'a [Value]),
}

impl<'a> ListRef<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ListRef::Stored(g) => g.len(),
            ListRef::Values(v) => v.len(),
        }
    }

    /// True without elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i`.
    pub fn get(&self, i: usize) -> Result<ValueRef<'a>, Malformed> {
        match self {
            ListRef::Stored(g) => g.get(i),
            ListRef::Values(v) => Ok(v.get(i).map_or(ValueRef::Null, ValueRef::from)),
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Bytes(b) => ValueRef::Bytes(b),
            Value::Timestamp(t) => ValueRef::Timestamp(*t),
            Value::Decimal(v, s) => ValueRef::Decimal(*v, *s),
            Value::List(items) => ValueRef::List(ListRef::Values(items)),
        }
    }
}

impl ValueRef<'_> {
    /// The owned value.
    pub fn to_value(&self) -> Result<Value, Malformed> {
        Ok(match *self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueRef::Timestamp(t) => Value::Timestamp(t),
            ValueRef::Decimal(v, s) => Value::Decimal(v, s),
            ValueRef::List(list) => Value::List(
                (0..list.len())
                    .map(|i| list.get(i)?.to_value())
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// A group of stored values, checked only as far as finding each value needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Group<'a> {
    n: usize,
    ends: &'a [u8],
    data: &'a [u8],
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn i64_of(bytes: &[u8]) -> Result<i64, Malformed> {
    let b: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Malformed("a number is not 8 bytes"))?;
    Ok(i64::from_le_bytes(b))
}

impl<'a> Group<'a> {
    /// The group `bytes` hold.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Malformed> {
        let n = u32_at(bytes, 0).ok_or(Malformed("group shorter than its count"))? as usize;
        let table_end = n
            .checked_mul(4)
            .and_then(|t| t.checked_add(4))
            .filter(|&t| t <= bytes.len())
            .ok_or(Malformed("group shorter than its offset table"))?;
        Ok(Group {
            n,
            ends: &bytes[4..table_end],
            data: &bytes[table_end..],
        })
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True without values.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Value `i` (NULL past the end: a column added after the row was written).
    pub fn get(&self, i: usize) -> Result<ValueRef<'a>, Malformed> {
        if i >= self.n {
            return Ok(ValueRef::Null);
        }
        let start = match i {
            0 => 0,
            _ => u32_at(self.ends, (i - 1) * 4).unwrap_or(0) as usize,
        };
        let end = u32_at(self.ends, i * 4).unwrap_or(0) as usize;
        let bytes = self
            .data
            .get(start..end)
            .filter(|b| !b.is_empty())
            .ok_or(Malformed("value offsets out of order or out of bounds"))?;
        let body = &bytes[1..];
        Ok(match bytes[0] {
            TAG_NULL => ValueRef::Null,
            TAG_FALSE => ValueRef::Bool(false),
            TAG_TRUE => ValueRef::Bool(true),
            TAG_INT => ValueRef::Int(i64_of(body)?),
            TAG_FLOAT => ValueRef::Float(f64::from_bits(i64_of(body)? as u64)),
            TAG_TIMESTAMP => ValueRef::Timestamp(i64_of(body)?),
            TAG_TEXT => ValueRef::Text(
                std::str::from_utf8(body).map_err(|_| Malformed("TEXT value is not UTF-8"))?,
            ),
            TAG_BYTES => ValueRef::Bytes(body),
            TAG_LIST => ValueRef::List(ListRef::Stored(Group::parse(body)?)),
            TAG_DECIMAL => {
                let (unscaled, scale) = body
                    .split_first_chunk::<16>()
                    .filter(|(_, rest)| rest.len() == 1)
                    .ok_or(Malformed("a DECIMAL is not 17 bytes"))?;
                ValueRef::Decimal(i128::from_le_bytes(*unscaled), scale[0])
            }
            _ => return Err(Malformed("unknown value tag")),
        })
    }

    /// Every value, owned.
    pub fn to_values(&self) -> Result<Vec<Value>, Malformed> {
        (0..self.n).map(|i| self.get(i)?.to_value()).collect()
    }
}

/// Appends the group of `values` to `out`.
pub fn encode_group(values: &[Value], out: &mut Vec<u8>) {
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    let table = out.len();
    out.resize(table + 4 * values.len(), 0);
    let data = out.len();
    for (i, v) in values.iter().enumerate() {
        encode_value(v, out);
        let end = (out.len() - data) as u32;
        out[table + 4 * i..table + 4 * i + 4].copy_from_slice(&end.to_le_bytes());
    }
}

fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Int(i) => {
            out.push(TAG_INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(TAG_FLOAT);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Timestamp(t) => {
            out.push(TAG_TIMESTAMP);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Value::Text(s) => {
            out.push(TAG_TEXT);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(TAG_BYTES);
            out.extend_from_slice(b);
        }
        Value::List(items) => {
            out.push(TAG_LIST);
            encode_group(items, out);
        }
        Value::Decimal(v, scale) => {
            out.push(TAG_DECIMAL);
            out.extend_from_slice(&v.to_le_bytes());
            out.push(*scale);
        }
    }
}

/// A record split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordParts<'a> {
    /// The body's layout ([`ENTITY_LAYOUT`] or [`ROW_LAYOUT`]).
    pub layout: u8,
    /// When the row expires.
    pub expiry: Option<i64>,
    /// The body.
    pub body: &'a [u8],
}

/// Why a record cannot be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The header is cut short or has reserved bits set.
    Malformed(Malformed),
    /// A layout this build does not know (written by a newer Quiver).
    UnknownLayout(u8),
}

/// Splits a record into header fields and body.
pub fn split_record(bytes: &[u8]) -> Result<RecordParts<'_>, HeaderError> {
    let header = *bytes
        .first()
        .ok_or(HeaderError::Malformed(Malformed("empty record")))?;
    if header & 0x0e != 0 {
        return Err(HeaderError::Malformed(Malformed(
            "record header has reserved bits set",
        )));
    }
    let layout = header >> 4;
    if layout > ROW_LAYOUT {
        return Err(HeaderError::UnknownLayout(layout));
    }
    let (expiry, body) = if header & 1 == 1 {
        let e = bytes
            .get(1..9)
            .ok_or(HeaderError::Malformed(Malformed("record expiry cut short")))?;
        (
            Some(i64_of(e).map_err(HeaderError::Malformed)?),
            &bytes[9..],
        )
    } else {
        (None, &bytes[1..])
    };
    Ok(RecordParts {
        layout,
        expiry,
        body,
    })
}

/// Starts a record: writes the header (and expiry) for a body in `layout`.
pub fn record_header(layout: u8, expiry: Option<i64>, out: &mut Vec<u8>) {
    match expiry {
        None => out.push(layout << 4),
        Some(t) => {
            out.push(layout << 4 | 1);
            out.extend_from_slice(&t.to_le_bytes());
        }
    }
}
