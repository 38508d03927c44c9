//! The order-preserving key codec: tuples of [`Value`]s to bytes whose lexicographic order is
//! the order of the values.
//!
//! # Format
//!
//! A tuple is the concatenation of its encoded values; every encoding is self-delimiting and
//! no encoding is a prefix of another, so the encoding of a tuple prefix is a byte prefix of
//! the encoding of the whole tuple, and tuples compare column by column.
//!
//! | value | encoding |
//! |---|---|
//! | `false` / `true` | `10 00` / `10 01` |
//! | number (BIGINT or DOUBLE) | `20`, 8 bytes ordered f64, 2 bytes ordered i16 remainder |
//! | DECIMAL | `22`, 16 bytes big-endian unscaled i128 with the sign bit flipped, 1 byte scale |
//! | TIMESTAMP (µs) | `30`, 8 bytes big-endian i64 with the sign bit flipped |
//! | TEXT | `40`, UTF-8 bytes with `00` escaped as `00 FF`, then `00 00` |
//! | BYTEA | `50`, bytes escaped like TEXT, then `00 00` |
//! | LIST | `60`, each element encoded, then `00` |
//! | NULL | `F0` (above every value: ascending order is NULLS LAST) |
//!
//! The other column types are stored as one of these: a DATE as the TIMESTAMP of its
//! midnight (UTC), a TIMESTAMPTZ as its UTC instant, a UUID as its 16 bytes (BYTEA; byte order
//! is the order of the canonical lowercase text), JSON as its TEXT.
//!
//! Numbers share one encoding whatever their type, so `100000` and `100000.0` encode to the
//! same bytes and an integer range finds floats. The 8 bytes are the value rounded to f64,
//! with the sign bit flipped for positives and all bits flipped for negatives (so byte order
//! is numeric order); `-0.0` is written as `0.0` and every NaN as one NaN above `+inf`. The
//! 2-byte remainder is `value - rounded` for integers too large for an f64 to hold exactly
//! (at most ±1024), and 0 for everything else, so distinct integers never collide.
//!
//! A DECIMAL column holds every value at its own scale (writes and index lookups convert to
//! it exactly, or a lookup is left to the scan), so within a column the unscaled integers
//! order as the numbers do; decimals never share a column with BIGINT or DOUBLE values.
//!
//! A descending column is the ascending encoding with every byte inverted (`b ^ FF`), which
//! reverses its order and keeps it self-delimiting; its NULL (`0F`) sorts first.

use super::record::ValueRef;
use super::value::Value;
use crate::error::CodecError;

const TAG_BOOL: u8 = 0x10;
const TAG_NUMBER: u8 = 0x20;
const TAG_DECIMAL: u8 = 0x22;
const TAG_TIMESTAMP: u8 = 0x30;
const TAG_TEXT: u8 = 0x40;
const TAG_BYTES: u8 = 0x50;
const TAG_LIST: u8 = 0x60;
const TAG_NULL: u8 = 0xF0;
const LIST_END: u8 = 0x00;

/// Order of one column in a key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum SortOrder {
    /// Ascending, NULLs last.
    #[default]
    Asc,
    /// Descending, NULLs first.
    Desc,
}

impl SortOrder {
    /// True for [`SortOrder::Desc`].
    pub fn is_desc(self) -> bool {
        self == SortOrder::Desc
    }
}

/// Encodes a tuple; column `i` uses `orders[i]` (ascending when `orders` is shorter).
pub fn encode_key(values: &[Value], orders: &[SortOrder]) -> Vec<u8> {
    encode_key_and_lead(values, orders).0
}

/// [`encode_key`], with the length of the first value's encoding: the key of an index
/// entry's per-value counter (see `table/counts.rs`) is that prefix of the entry's key.
pub fn encode_key_and_lead(values: &[Value], orders: &[SortOrder]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(values.len() * 12);
    let mut lead = 0;
    for (i, v) in values.iter().enumerate() {
        encode_value(&mut out, v, orders.get(i).copied().unwrap_or_default());
        if i == 0 {
            lead = out.len();
        }
    }
    (out, lead)
}

/// Appends the encoding of one value in the given order.
pub fn encode_value(out: &mut Vec<u8>, value: &Value, order: SortOrder) {
    let start = out.len();
    encode_asc(out, value);
    if order.is_desc() {
        out[start..].iter_mut().for_each(|b| *b = !*b);
    }
}

fn ordered_f64(f: f64) -> [u8; 8] {
    let f = if f == 0.0 {
        0.0
    } else if f.is_nan() {
        f64::NAN
    } else {
        f
    };
    let bits = f.to_bits();
    let bits = if bits >> 63 == 1 {
        !bits
    } else {
        bits ^ (1 << 63)
    };
    bits.to_be_bytes()
}

fn f64_from_ordered(bytes: [u8; 8]) -> f64 {
    let bits = u64::from_be_bytes(bytes);
    let bits = if bits >> 63 == 1 {
        bits ^ (1 << 63)
    } else {
        !bits
    };
    f64::from_bits(bits)
}

fn encode_number(out: &mut Vec<u8>, rounded: f64, remainder: i16) {
    out.push(TAG_NUMBER);
    out.extend_from_slice(&ordered_f64(rounded));
    out.extend_from_slice(&((remainder as u16) ^ 0x8000).to_be_bytes());
}

fn encode_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
}

fn encode_asc(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(b) => out.extend_from_slice(&[TAG_BOOL, *b as u8]),
        Value::Int(i) => {
            let rounded = *i as f64;
            // |i - rounded| <= 1024 for every i64, and `rounded as i128` is exact.
            let remainder = (*i as i128 - rounded as i128) as i16;
            encode_number(out, rounded, remainder);
        }
        Value::Float(f) => encode_number(out, *f, 0),
        Value::Decimal(v, scale) => {
            out.push(TAG_DECIMAL);
            out.extend_from_slice(&((*v as u128) ^ (1 << 127)).to_be_bytes());
            out.push(*scale);
        }
        Value::Timestamp(t) => {
            out.push(TAG_TIMESTAMP);
            out.extend_from_slice(&((*t as u64) ^ (1 << 63)).to_be_bytes());
        }
        Value::Text(s) => {
            out.push(TAG_TEXT);
            encode_escaped(out, s.as_bytes());
            out.extend_from_slice(&[0, 0]);
        }
        Value::Bytes(b) => {
            out.push(TAG_BYTES);
            encode_escaped(out, b);
            out.extend_from_slice(&[0, 0]);
        }
        Value::List(items) => {
            out.push(TAG_LIST);
            for item in items {
                encode_asc(out, item);
            }
            out.push(LIST_END);
        }
    }
}

/// The byte range prefix shared by every TEXT value that starts with `prefix`, in the given
/// column order: all such keys, and only they, start with these bytes.
pub fn text_prefix(prefix: &str, order: SortOrder) -> Vec<u8> {
    let mut out = vec![TAG_TEXT];
    encode_escaped(&mut out, prefix.as_bytes());
    // No terminator: the escaped bytes of a string start with the escaped bytes of each of
    // its prefixes, and only strings with that prefix produce them.
    if order.is_desc() {
        out.iter_mut().for_each(|b| *b = !*b);
    }
    out
}

/// Reads values back out of a key.
pub struct KeyReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    invert: bool,
}

impl<'a> KeyReader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        KeyReader {
            bytes,
            pos: 0,
            invert: false,
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or(CodecError::Truncated(self.pos))?;
        self.pos += 1;
        Ok(if self.invert { !b } else { b })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        for b in out.iter_mut() {
            *b = self.byte()?;
        }
        Ok(out)
    }

    fn escaped(&mut self) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        loop {
            match self.byte()? {
                0 => match self.byte()? {
                    0 => return Ok(out),
                    0xFF => out.push(0),
                    _ => return Err(CodecError::Truncated(self.pos)),
                },
                b => out.push(b),
            }
        }
    }

    /// Decodes the next value, written in `order`.
    pub fn read(&mut self, order: SortOrder) -> Result<Value, CodecError> {
        self.invert = order.is_desc();
        let value = self.read_asc();
        self.invert = false;
        value
    }

    /// Decodes the next value, borrowing TEXT and BYTEA from the key when their bytes are
    /// stored as they are (an ascending column with no zero byte in the value); anything
    /// else comes back owned. Scans use this to decode keys without allocating.
    pub fn read_ref(&mut self, order: SortOrder) -> Result<KeyValue<'a>, CodecError> {
        let tag = self.bytes.get(self.pos).copied();
        if !order.is_desc() && matches!(tag, Some(TAG_TEXT | TAG_BYTES)) {
            let start = self.pos + 1;
            let body = &self.bytes[start..];
            // The first zero byte ends the value unless it starts an escape (`00 FF`).
            if let Some(zero) = body.iter().position(|&b| b == 0) {
                if body.get(zero + 1) == Some(&0) {
                    let raw = &body[..zero];
                    self.pos = start + zero + 2;
                    return if tag == Some(TAG_TEXT) {
                        std::str::from_utf8(raw)
                            .map(|s| KeyValue::Borrowed(ValueRef::Text(s)))
                            .map_err(|_| CodecError::InvalidUtf8)
                    } else {
                        Ok(KeyValue::Borrowed(ValueRef::Bytes(raw)))
                    };
                }
            }
        }
        self.read(order).map(KeyValue::Owned)
    }

    /// Decodes the next `orders.len()` values.
    pub fn read_tuple(&mut self, orders: &[SortOrder]) -> Result<Vec<Value>, CodecError> {
        orders.iter().map(|o| self.read(*o)).collect()
    }

    /// Skips the next value without decoding it, returning the bytes it occupied.
    pub fn skip(&mut self, order: SortOrder) -> Result<&'a [u8], CodecError> {
        let start = self.pos;
        self.invert = order.is_desc();
        let skipped = self.skip_asc();
        self.invert = false;
        skipped?;
        Ok(&self.bytes[start..self.pos])
    }

    fn skip_escaped(&mut self) -> Result<(), CodecError> {
        loop {
            if self.byte()? == 0 {
                match self.byte()? {
                    0 => return Ok(()),
                    0xFF => {}
                    _ => return Err(CodecError::Truncated(self.pos)),
                }
            }
        }
    }

    fn skip_asc(&mut self) -> Result<(), CodecError> {
        let at = self.pos;
        let fixed = |r: &mut Self, n: usize| {
            if r.pos + n > r.bytes.len() {
                Err(CodecError::Truncated(r.bytes.len()))
            } else {
                r.pos += n;
                Ok(())
            }
        };
        match self.byte()? {
            TAG_NULL => Ok(()),
            TAG_BOOL => fixed(self, 1),
            TAG_NUMBER => fixed(self, 10),
            TAG_DECIMAL => fixed(self, 17),
            TAG_TIMESTAMP => fixed(self, 8),
            TAG_TEXT | TAG_BYTES => self.skip_escaped(),
            TAG_LIST => loop {
                let peek = *self
                    .bytes
                    .get(self.pos)
                    .ok_or(CodecError::Truncated(self.pos))?;
                let peek = if self.invert { !peek } else { peek };
                if peek == LIST_END {
                    self.pos += 1;
                    return Ok(());
                }
                self.skip_asc()?;
            },
            tag => Err(CodecError::UnknownTag { tag, at }),
        }
    }

    fn read_asc(&mut self) -> Result<Value, CodecError> {
        let at = self.pos;
        match self.byte()? {
            TAG_NULL => Ok(Value::Null),
            TAG_BOOL => Ok(Value::Bool(self.byte()? != 0)),
            TAG_NUMBER => {
                let rounded = f64_from_ordered(self.array::<8>()?);
                let remainder = (u16::from_be_bytes(self.array::<2>()?) ^ 0x8000) as i16;
                if remainder == 0 {
                    Ok(Value::Float(rounded))
                } else {
                    // Only an integer near a finite f64 in i64's range has a remainder; from
                    // arbitrary bytes the sum may be anything.
                    (rounded as i128)
                        .checked_add(remainder as i128)
                        .filter(|_| rounded.is_finite())
                        .and_then(|v| i64::try_from(v).ok())
                        .map(Value::Int)
                        .ok_or(CodecError::InvalidNumber { at })
                }
            }
            TAG_TIMESTAMP => Ok(Value::Timestamp(
                (u64::from_be_bytes(self.array::<8>()?) ^ (1 << 63)) as i64,
            )),
            TAG_DECIMAL => {
                let unscaled = (u128::from_be_bytes(self.array::<16>()?) ^ (1 << 127)) as i128;
                Ok(Value::Decimal(unscaled, self.byte()?))
            }
            TAG_TEXT => String::from_utf8(self.escaped()?)
                .map(Value::Text)
                .map_err(|_| CodecError::InvalidUtf8),
            TAG_BYTES => Ok(Value::Bytes(self.escaped()?)),
            TAG_LIST => {
                let mut items = Vec::new();
                loop {
                    let peek = *self
                        .bytes
                        .get(self.pos)
                        .ok_or(CodecError::Truncated(self.pos))?;
                    let peek = if self.invert { !peek } else { peek };
                    if peek == LIST_END {
                        self.pos += 1;
                        return Ok(Value::List(items));
                    }
                    items.push(self.read_asc()?);
                }
            }
            tag => Err(CodecError::UnknownTag { tag, at }),
        }
    }
}

/// A value decoded from a key: borrowed from the key's bytes when it could be.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue<'a> {
    /// Borrowed from the key.
    Borrowed(ValueRef<'a>),
    /// Decoded into an owned value.
    Owned(Value),
}

impl KeyValue<'_> {
    /// The value, borrowed.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            KeyValue::Borrowed(v) => *v,
            KeyValue::Owned(v) => ValueRef::from(v),
        }
    }
}

/// Decodes a whole key of `orders.len()` values; trailing bytes are an error.
pub fn decode_key(bytes: &[u8], orders: &[SortOrder]) -> Result<Vec<Value>, CodecError> {
    let mut r = KeyReader::new(bytes);
    let values = r.read_tuple(orders)?;
    if !r.is_empty() {
        return Err(CodecError::Truncated(r.position()));
    }
    Ok(values)
}

/// Encodes an instant (µs) for the expiry index: 8 bytes, ordered.
pub fn encode_instant(micros: i64) -> [u8; 8] {
    ((micros as u64) ^ (1 << 63)).to_be_bytes()
}

/// Decodes [`encode_instant`].
pub fn decode_instant(bytes: &[u8]) -> Result<i64, CodecError> {
    let arr: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or(CodecError::Truncated(bytes.len()))?;
    Ok((u64::from_be_bytes(arr) ^ (1 << 63)) as i64)
}

/// Compares two values as the codec orders them (the one comparator).
pub fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    encode_asc(&mut x, a);
    encode_asc(&mut y, b);
    x.cmp(&y)
}
