//! The values Quiver stores and indexes, and the column types that hold them.

use serde::{Deserialize, Serialize};

/// One value of a column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// BOOLEAN.
    Bool(bool),
    /// BIGINT.
    Int(i64),
    /// DOUBLE.
    Float(f64),
    /// TEXT.
    Text(String),
    /// BYTEA.
    Bytes(Vec<u8>),
    /// TIMESTAMP, microseconds since the Unix epoch (UTC); also a TIMESTAMPTZ instant and a
    /// DATE (its midnight).
    Timestamp(i64),
    /// A list of values of one type.
    List(Vec<Value>),
    /// DECIMAL: an exact number, `unscaled / 10^scale`.
    Decimal(i128, u8),
}

impl Value {
    /// True for NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Bool(_) => "BOOLEAN",
            Value::Int(_) => "BIGINT",
            Value::Float(_) => "DOUBLE",
            Value::Text(_) => "TEXT",
            Value::Bytes(_) => "BYTEA",
            Value::Timestamp(_) => "TIMESTAMP",
            Value::List(_) => "LIST",
            Value::Decimal(..) => "DECIMAL",
        }
    }

    /// The value converted to `ty`, when it can be without losing information
    /// (an integral DOUBLE into BIGINT, any number into DOUBLE, an integer into TIMESTAMP, a
    /// midnight into DATE, a UUID's text into its 16 bytes); JSON text only when it parses.
    pub fn coerce_to(self, ty: &ColumnType) -> Option<Value> {
        Some(match (self, ty) {
            (Value::Null, _) => Value::Null,
            (Value::Bool(b), ColumnType::Boolean) => Value::Bool(b),
            (Value::Int(i), ColumnType::Int64) => Value::Int(i),
            (Value::Float(f), ColumnType::Int64) => Value::Int(integral(f)?),
            (Value::Int(i), ColumnType::Float64) => Value::Float(i as f64),
            (Value::Float(f), ColumnType::Float64) => Value::Float(f),
            (Value::Text(s), ColumnType::Text) => Value::Text(s),
            (Value::Bytes(b), ColumnType::Bytes) => Value::Bytes(b),
            (Value::Timestamp(t), ColumnType::Timestamp) => Value::Timestamp(t),
            (Value::Int(t), ColumnType::Timestamp) => Value::Timestamp(t),
            (Value::Timestamp(t) | Value::Int(t), ColumnType::TimestampTz) => Value::Timestamp(t),
            (Value::Timestamp(t), ColumnType::Date) if t.rem_euclid(MICROS_PER_DAY) == 0 => {
                Value::Timestamp(t)
            }
            (Value::Bytes(b), ColumnType::Uuid) if b.len() == 16 => Value::Bytes(b),
            (Value::Int(i), ColumnType::Decimal { precision, scale }) => {
                Value::Decimal(fit_decimal(i as i128, 0, *precision, *scale)?, *scale)
            }
            (Value::Decimal(v, s), ColumnType::Decimal { precision, scale }) => {
                Value::Decimal(fit_decimal(v, s, *precision, *scale)?, *scale)
            }
            (Value::Float(f), ColumnType::Decimal { precision, scale }) => {
                // Only a float that is exactly a decimal of the column's scale (as 0.5 or
                // 12.25 are); 0.1 is not, and is refused rather than rounded.
                let scaled = f * 10f64.powi(*scale as i32);
                if !(scaled.is_finite() && scaled.fract() == 0.0 && scaled.abs() < 2f64.powi(53)) {
                    return None;
                }
                let unscaled = scaled as i128;
                if (unscaled as f64) / 10f64.powi(*scale as i32) != f {
                    return None;
                }
                Value::Decimal(fit_decimal(unscaled, *scale, *precision, *scale)?, *scale)
            }
            (Value::Text(s), ColumnType::Uuid) => {
                Value::Bytes(uuid::Uuid::try_parse(&s).ok()?.as_bytes().to_vec())
            }
            (Value::Text(s), ColumnType::Json)
                if serde_json::from_str::<serde::de::IgnoredAny>(&s).is_ok() =>
            {
                Value::Text(s)
            }
            (Value::List(items), ColumnType::List(inner)) => Value::List(
                items
                    .into_iter()
                    .map(|v| v.coerce_to(inner))
                    .collect::<Option<Vec<_>>>()?,
            ),
            _ => return None,
        })
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => write!(f, "NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Value::Bytes(b) => {
                write!(f, "'\\x")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                write!(f, "'")
            }
            Value::Timestamp(t) => write!(f, "TIMESTAMP {t}us"),
            Value::Decimal(v, scale) => {
                let digits = v.unsigned_abs().to_string();
                let scale = *scale as usize;
                let sign = if *v < 0 { "-" } else { "" };
                if scale == 0 {
                    return write!(f, "{sign}{digits}");
                }
                let padded = format!("{digits:0>width$}", width = scale + 1);
                let (int, frac) = padded.split_at(padded.len() - scale);
                write!(f, "{sign}{int}.{frac}")
            }
            Value::List(items) => {
                write!(f, "[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// `unscaled / 10^from` at scale `to`, when that is exact and has at most `precision` digits.
pub fn fit_decimal(unscaled: i128, from: u8, precision: u8, to: u8) -> Option<i128> {
    let v = if to >= from {
        unscaled.checked_mul(10i128.checked_pow((to - from) as u32)?)?
    } else {
        let d = 10i128.checked_pow((from - to) as u32)?;
        (unscaled % d == 0).then_some(unscaled / d)?
    };
    (v.unsigned_abs() < 10u128.checked_pow(precision as u32)?).then_some(v)
}

/// Microseconds in a day: a DATE is stored as the TIMESTAMP of its midnight (UTC).
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The type of a column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ColumnType {
    /// BOOLEAN.
    Boolean,
    /// BIGINT (also INT, INTEGER, SMALLINT: stored as 64 bits).
    Int64,
    /// DOUBLE (also FLOAT, REAL).
    Float64,
    /// TEXT (also VARCHAR, STRING).
    Text,
    /// BYTEA (also BLOB, BINARY).
    Bytes,
    /// TIMESTAMP, microsecond precision, no time zone.
    Timestamp,
    /// A list of values of the inner type.
    List(Box<ColumnType>),
    /// DATE: a day, stored as the TIMESTAMP of its midnight.
    Date,
    /// TIMESTAMP WITH TIME ZONE: an instant, stored in UTC microseconds like TIMESTAMP.
    TimestampTz,
    /// UUID: 16 bytes, shown and compared in their canonical text form (the same order).
    Uuid,
    /// JSON: text that parses as JSON, kept as written.
    Json,
    /// DECIMAL(precision, scale): exact, every value at the column's scale.
    Decimal {
        /// Digits in all (at most 38).
        precision: u8,
        /// Digits after the point.
        scale: u8,
    },
}

impl ColumnType {
    /// True for list columns (indexed one entry per element).
    pub fn is_list(&self) -> bool {
        matches!(self, ColumnType::List(_))
    }
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnType::Boolean => write!(f, "BOOLEAN"),
            ColumnType::Int64 => write!(f, "BIGINT"),
            ColumnType::Float64 => write!(f, "DOUBLE"),
            ColumnType::Text => write!(f, "TEXT"),
            ColumnType::Bytes => write!(f, "BYTEA"),
            ColumnType::Timestamp => write!(f, "TIMESTAMP"),
            ColumnType::List(inner) => write!(f, "{inner}[]"),
            ColumnType::Date => write!(f, "DATE"),
            ColumnType::TimestampTz => write!(f, "TIMESTAMPTZ"),
            ColumnType::Uuid => write!(f, "UUID"),
            ColumnType::Json => write!(f, "JSON"),
            ColumnType::Decimal { precision, scale } => write!(f, "DECIMAL({precision},{scale})"),
        }
    }
}

/// The BIGINT a DOUBLE holds exactly (None for a fraction, an infinity, NaN or a value
/// outside BIGINT's range): how a number read back from an index key becomes a BIGINT.
pub fn integral(f: f64) -> Option<i64> {
    (f.fract() == 0.0 && f >= -(2f64.powi(63)) && f < 2f64.powi(63)).then_some(f as i64)
}

/// Formats a tuple of values for messages: `'a'` or `('a', 1)`.
pub fn describe(values: &[Value]) -> String {
    if values.len() == 1 {
        values[0].to_string()
    } else {
        let parts: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        format!("({})", parts.join(", "))
    }
}
