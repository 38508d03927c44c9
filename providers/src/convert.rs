//! Between the store's values and Arrow: column types, row batches, scalars.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float64Builder, Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use indexed_store::encoding::Malformed;
use indexed_store::{
    ColumnType, Row, TableSchema, Value, ValueRef, MAX_TTL_SECONDS, MICROS_PER_DAY,
};

/// The time zone of TIMESTAMPTZ columns in Arrow: values are UTC instants.
const UTC: &str = "+00:00";

/// The Arrow type of a column type.
pub fn arrow_type(ty: &ColumnType) -> DataType {
    match ty {
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Text => DataType::Utf8,
        ColumnType::Bytes => DataType::Binary,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        ColumnType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        ColumnType::Date => DataType::Date32,
        ColumnType::Uuid | ColumnType::Json => DataType::Utf8,
        ColumnType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale as i8),
        ColumnType::List(inner) => {
            DataType::List(Arc::new(Field::new_list_field(arrow_type(inner), true)))
        }
    }
}

/// The column type of an Arrow type, when Quiver can store it.
pub fn column_type(dt: &DataType) -> Option<ColumnType> {
    Some(match dt {
        DataType::Boolean => ColumnType::Boolean,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => ColumnType::Int64,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => ColumnType::Int64,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => ColumnType::Float64,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::Text,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => ColumnType::Bytes,
        DataType::Timestamp(_, None) => ColumnType::Timestamp,
        DataType::Timestamp(_, Some(_)) => ColumnType::TimestampTz,
        DataType::Date32 | DataType::Date64 => ColumnType::Date,
        DataType::Decimal128(precision, scale) if *scale >= 0 => ColumnType::Decimal {
            precision: *precision,
            scale: *scale as u8,
        },
        DataType::List(f) | DataType::LargeList(f) => {
            ColumnType::List(Box::new(column_type(f.data_type())?))
        }
        _ => return None,
    })
}

/// The Arrow schema of a table (TIMESTAMPTZ columns in UTC).
pub fn arrow_schema(schema: &TableSchema) -> SchemaRef {
    arrow_schema_in(schema, None)
}

/// The Arrow schema of a table as a session in `time_zone` sees it: its TIMESTAMPTZ columns
/// (UTC instants, whatever the zone) shown in that zone; in UTC without one.
pub fn arrow_schema_in(schema: &TableSchema, time_zone: Option<&str>) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .columns
            .iter()
            // Every field is nullable to DataFusion so that NULL in a NOT NULL column reaches the
            // store, whose error names the column (DataFusion would name a VALUES position).
            .map(|c| {
                let ty = match (&c.ty, time_zone) {
                    (ColumnType::TimestampTz, Some(tz)) => {
                        DataType::Timestamp(TimeUnit::Microsecond, Some(tz.into()))
                    }
                    (ty, _) => arrow_type(ty),
                };
                Field::new(&c.name, ty, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// The store value of a scalar (None: a type Quiver does not store).
pub fn scalar_to_value(s: &ScalarValue) -> Option<Value> {
    if s.is_null() {
        return Some(Value::Null);
    }
    Some(match s {
        ScalarValue::Boolean(Some(b)) => Value::Bool(*b),
        ScalarValue::Int8(Some(i)) => Value::Int(*i as i64),
        ScalarValue::Int16(Some(i)) => Value::Int(*i as i64),
        ScalarValue::Int32(Some(i)) => Value::Int(*i as i64),
        ScalarValue::Int64(Some(i)) => Value::Int(*i),
        ScalarValue::UInt8(Some(i)) => Value::Int(*i as i64),
        ScalarValue::UInt16(Some(i)) => Value::Int(*i as i64),
        ScalarValue::UInt32(Some(i)) => Value::Int(*i as i64),
        ScalarValue::UInt64(Some(i)) => match i64::try_from(*i) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(*i as f64),
        },
        ScalarValue::Float32(Some(f)) => Value::Float(*f as f64),
        ScalarValue::Float64(Some(f)) => Value::Float(*f),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Value::Text(s.clone()),
        ScalarValue::Binary(Some(b))
        | ScalarValue::LargeBinary(Some(b))
        | ScalarValue::BinaryView(Some(b)) => Value::Bytes(b.clone()),
        ScalarValue::TimestampSecond(Some(t), _) => Value::Timestamp(t.checked_mul(1_000_000)?),
        ScalarValue::TimestampMillisecond(Some(t), _) => Value::Timestamp(t.checked_mul(1_000)?),
        ScalarValue::TimestampMicrosecond(Some(t), _) => Value::Timestamp(*t),
        ScalarValue::TimestampNanosecond(Some(t), _) => Value::Timestamp(t.div_euclid(1_000)),
        ScalarValue::Date32(Some(d)) => Value::Timestamp(*d as i64 * MICROS_PER_DAY),
        ScalarValue::Decimal128(Some(v), _, scale) => {
            Value::Decimal(*v, u8::try_from(*scale).ok()?)
        }
        ScalarValue::Date64(Some(ms)) => {
            Value::Timestamp(ms.div_euclid(86_400_000) * MICROS_PER_DAY)
        }
        ScalarValue::List(arr) => {
            let values = arr.value(0);
            Value::List(
                (0..values.len())
                    .map(|i| {
                        ScalarValue::try_from_array(&values, i)
                            .ok()
                            .and_then(|s| scalar_to_value(&s))
                    })
                    .collect::<Option<Vec<_>>>()?,
            )
        }
        _ => return None,
    })
}

/// Builds one Arrow column from values of a column type.
enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Text(StringBuilder),
    Bytes(BinaryBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Date(Date32Builder),
    Uuid(StringBuilder),
    Decimal(Decimal128Builder, u8),
    List(
        ListBuilder<Box<dyn datafusion::arrow::array::ArrayBuilder>>,
        Box<ColumnType>,
    ),
}

fn type_error(ty: &ColumnType, v: &ValueRef<'_>) -> DataFusionError {
    let shown = v
        .to_value()
        .map_or_else(|e| format!("<{e}>"), |v| v.to_string());
    DataFusionError::Internal(format!(
        "stored value {shown} does not fit column type {ty}"
    ))
}

/// The day (since the epoch) of a DATE stored as its midnight.
fn day_of(micros: i64) -> Result<i32> {
    i32::try_from(micros.div_euclid(MICROS_PER_DAY))
        .map_err(|_| DataFusionError::Internal(format!("date {micros}us is out of range")))
}

/// A stored DECIMAL at its column's scale (values are stored at it; this guards the rest).
fn at_scale(unscaled: i128, scale: u8, column: u8) -> Result<i128> {
    indexed_store::fit_decimal(unscaled, scale, 38, column).ok_or_else(|| {
        DataFusionError::Internal(format!(
            "stored decimal {unscaled}e-{scale} does not fit scale {column}"
        ))
    })
}

/// A stored UUID in its canonical text form.
pub(crate) fn uuid_text(bytes: &[u8]) -> Result<String> {
    uuid::Uuid::from_slice(bytes)
        .map(|u| u.hyphenated().to_string())
        .map_err(|e| DataFusionError::Internal(format!("a stored UUID is not 16 bytes: {e}")))
}

fn malformed(e: Malformed) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The number as its column's numeric kind (a BIGINT as DOUBLE, an integral DOUBLE as
/// BIGINT: index keys hold every number as a DOUBLE, see `codec`, so a BIGINT read from a
/// key comes back as one); None when the value is not a number of the other kind.
fn fit_number<'v>(ty: &ColumnType, v: ValueRef<'v>) -> Result<Option<ValueRef<'v>>> {
    match (ty, v) {
        (ColumnType::Int64, ValueRef::Float(f)) => indexed_store::integral(f)
            .map(|i| Some(ValueRef::Int(i)))
            .ok_or_else(|| type_error(ty, &v)),
        (ColumnType::Float64, ValueRef::Int(i)) => Ok(Some(ValueRef::Float(i as f64))),
        _ => Ok(None),
    }
}

impl ColumnBuilder {
    fn new(ty: &ColumnType, capacity: usize) -> Self {
        match ty {
            ColumnType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(capacity)),
            ColumnType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
            ColumnType::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            ColumnType::Text => {
                ColumnBuilder::Text(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            ColumnType::Bytes => {
                ColumnBuilder::Bytes(BinaryBuilder::with_capacity(capacity, capacity * 16))
            }
            ColumnType::Timestamp => {
                ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity))
            }
            ColumnType::TimestampTz => ColumnBuilder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone(UTC),
            ),
            ColumnType::Date => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
            ColumnType::Decimal { precision, scale } => ColumnBuilder::Decimal(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(*precision, *scale as i8)
                    .unwrap_or_else(|_| Decimal128Builder::with_capacity(capacity)),
                *scale,
            ),
            ColumnType::Json => {
                ColumnBuilder::Text(StringBuilder::with_capacity(capacity, capacity * 32))
            }
            ColumnType::Uuid => {
                ColumnBuilder::Uuid(StringBuilder::with_capacity(capacity, capacity * 36))
            }
            ColumnType::List(inner) => {
                let values = datafusion::arrow::array::make_builder(&arrow_type(inner), capacity);
                ColumnBuilder::List(
                    ListBuilder::new(values)
                        .with_field(Arc::new(Field::new_list_field(arrow_type(inner), true))),
                    inner.clone(),
                )
            }
        }
    }

    fn append(&mut self, ty: &ColumnType, v: ValueRef<'_>) -> Result<()> {
        match (&mut *self, v) {
            (ColumnBuilder::Boolean(b), ValueRef::Bool(x)) => b.append_value(x),
            (ColumnBuilder::Boolean(b), ValueRef::Null) => b.append_null(),
            (ColumnBuilder::Int64(b), ValueRef::Int(x)) => b.append_value(x),
            (ColumnBuilder::Int64(b), ValueRef::Null) => b.append_null(),
            (ColumnBuilder::Float64(b), ValueRef::Float(x)) => b.append_value(x),
            (ColumnBuilder::Float64(b), ValueRef::Null) => b.append_null(),
            (ColumnBuilder::Text(b), ValueRef::Text(x)) => b.append_value(x),
            (ColumnBuilder::Text(b), ValueRef::Null) => b.append_null(),
            (ColumnBuilder::Bytes(b), ValueRef::Bytes(x)) => b.append_value(x),
            (ColumnBuilder::Bytes(b), ValueRef::Null) => b.append_null(),
            (ColumnBuilder::Timestamp(b), ValueRef::Timestamp(x)) => b.append_value(x),
            (ColumnBuilder::Timestamp(b), ValueRef::Null) => b.append_null(),
            (ColumnBuilder::Date(b), ValueRef::Timestamp(x)) => b.append_value(day_of(x)?),
            (ColumnBuilder::Date(b), ValueRef::Null) => b.append_null(),
            (ColumnBuilder::Uuid(b), ValueRef::Bytes(x)) => b.append_value(uuid_text(x)?),
            (ColumnBuilder::Uuid(b), ValueRef::Null) => b.append_null(),
            (ColumnBuilder::Decimal(b, scale), ValueRef::Decimal(x, s)) => {
                b.append_value(at_scale(x, s, *scale)?)
            }
            (ColumnBuilder::Decimal(b, _), ValueRef::Null) => b.append_null(),
            (ColumnBuilder::List(b, _), ValueRef::Null) => b.append_null(),
            (ColumnBuilder::List(b, inner), ValueRef::List(items)) => {
                for i in 0..items.len() {
                    append_dyn(b.values(), inner, items.get(i).map_err(malformed)?)?;
                }
                b.append(true);
            }
            (b, v) => {
                // A number decoded from an index key as the other numeric kind.
                return match fit_number(ty, v)? {
                    Some(fitted) => b.append(ty, fitted),
                    None => Err(type_error(ty, &v)),
                };
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Boolean(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Text(b) => Arc::new(b.finish()),
            ColumnBuilder::Bytes(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Uuid(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b, _) => Arc::new(b.finish()),
            ColumnBuilder::List(b, _) => Arc::new(b.finish()),
        }
    }
}

fn append_dyn(
    b: &mut Box<dyn datafusion::arrow::array::ArrayBuilder>,
    ty: &ColumnType,
    v: ValueRef<'_>,
) -> Result<()> {
    let v = fit_number(ty, v)?.unwrap_or(v);
    let any = b.as_any_mut();
    macro_rules! put {
        ($builder:ty, $pattern:pat => $x:expr) => {{
            let b = any
                .downcast_mut::<$builder>()
                .ok_or_else(|| type_error(ty, &v))?;
            match v {
                ValueRef::Null => b.append_null(),
                $pattern => b.append_value($x),
                _ => return Err(type_error(ty, &v)),
            }
        }};
    }
    match ty {
        ColumnType::Boolean => put!(BooleanBuilder, ValueRef::Bool(x) => x),
        ColumnType::Int64 => put!(Int64Builder, ValueRef::Int(x) => x),
        ColumnType::Float64 => put!(Float64Builder, ValueRef::Float(x) => x),
        ColumnType::Text => put!(StringBuilder, ValueRef::Text(x) => x),
        ColumnType::Bytes => put!(BinaryBuilder, ValueRef::Bytes(x) => x),
        ColumnType::Timestamp | ColumnType::TimestampTz => {
            put!(TimestampMicrosecondBuilder, ValueRef::Timestamp(x) => x)
        }
        ColumnType::Date => put!(Date32Builder, ValueRef::Timestamp(x) => day_of(x)?),
        ColumnType::Json => put!(StringBuilder, ValueRef::Text(x) => x),
        ColumnType::Uuid => put!(StringBuilder, ValueRef::Bytes(x) => uuid_text(x)?),
        ColumnType::Decimal { scale, .. } => {
            put!(Decimal128Builder, ValueRef::Decimal(x, s) => at_scale(x, s, *scale)?)
        }
        ColumnType::List(_) => {
            return Err(DataFusionError::NotImplemented(
                "lists of lists are not supported".into(),
            ))
        }
    }
    Ok(())
}

/// Arrow columns built row by row from stored values: what every scan decodes into.
pub struct BatchBuilder {
    schema: SchemaRef,
    types: Vec<ColumnType>,
    builders: Vec<ColumnBuilder>,
    rows: usize,
}

impl BatchBuilder {
    /// Empty columns of `types` (the fields of `schema`), sized for `capacity` rows.
    pub fn new(schema: SchemaRef, types: Vec<ColumnType>, capacity: usize) -> Self {
        let builders = types
            .iter()
            .zip(schema.fields())
            .map(
                |(t, field)| match (ColumnBuilder::new(t, capacity), field.data_type()) {
                    // A TIMESTAMPTZ in the zone its schema shows it in.
                    (ColumnBuilder::Timestamp(b), DataType::Timestamp(_, Some(tz))) => {
                        ColumnBuilder::Timestamp(b.with_timezone(tz.clone()))
                    }
                    (b, _) => b,
                },
            )
            .collect();
        BatchBuilder {
            schema,
            types,
            builders,
            rows: 0,
        }
    }

    /// Rows appended since the last batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row waits.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one row: `value(i)` gives the value of column `i`.
    pub fn append<'v>(
        &mut self,
        mut value: impl FnMut(usize) -> std::result::Result<ValueRef<'v>, Malformed>,
    ) -> Result<()> {
        for (i, (b, ty)) in self.builders.iter_mut().zip(&self.types).enumerate() {
            b.append(ty, value(i).map_err(malformed)?)?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Appends the value of column `i` of the row being built; [`BatchBuilder::end_row`]
    /// closes the row once every column has its value.
    pub fn append_column(&mut self, i: usize, v: ValueRef<'_>) -> Result<()> {
        let ty = self
            .types
            .get(i)
            .ok_or_else(|| DataFusionError::Internal(format!("no column {i} in the batch")))?;
        self.builders[i].append(ty, v)
    }

    /// Closes a row built with [`BatchBuilder::append_column`].
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// The rows appended so far, as a batch; the builder starts over.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?)
    }
}

/// A record batch of `rows` (each holding the values of `columns`, in order) with `schema`.
pub fn rows_to_batch(
    schema: &SchemaRef,
    types: &[ColumnType],
    rows: &[Vec<Value>],
) -> Result<RecordBatch> {
    let mut builder = BatchBuilder::new(schema.clone(), types.to_vec(), rows.len());
    for row in rows {
        builder.append(|i| Ok(row.get(i).map_or(ValueRef::Null, ValueRef::from)))?;
    }
    builder.finish()
}

/// The rows of a batch of a table's columns (of `types`), in the form the store keeps them:
/// what keys, comparisons with stored rows and index entries need. A UUID column's
/// canonical text becomes its 16 bytes; every other type reads back from Arrow as stored.
pub fn table_rows(batch: &RecordBatch, types: &[ColumnType]) -> Result<Vec<Row>> {
    Ok(stored_form(types, batch_to_rows(batch)?))
}

fn stored_form(types: &[ColumnType], mut rows: Vec<Row>) -> Vec<Row> {
    let uuids: Vec<usize> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == ColumnType::Uuid)
        .map(|(i, _)| i)
        .collect();
    if uuids.is_empty() {
        return rows;
    }
    for row in &mut rows {
        for &i in &uuids {
            if let Some(v) = row.get_mut(i) {
                if let Some(bytes) = v.clone().coerce_to(&ColumnType::Uuid) {
                    *v = bytes;
                }
            }
        }
    }
    rows
}

/// The rows of a record batch, as values (columns in batch order).
pub fn batch_to_rows(batch: &RecordBatch) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = (0..batch.num_rows())
        .map(|_| Vec::with_capacity(batch.num_columns()))
        .collect();
    for (c, column) in batch.columns().iter().enumerate() {
        let field = batch.schema().field(c).clone();
        for (i, row) in rows.iter_mut().enumerate() {
            let scalar = ScalarValue::try_from_array(column, i)?;
            let value = scalar_to_value(&scalar).ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "column '{}' has type {} which Quiver cannot store",
                    field.name(),
                    field.data_type()
                ))
            })?;
            row.push(value);
        }
    }
    Ok(rows)
}

/// A duration: seconds as a number, or a number with a unit s, m, h or d (`'90s'`, `'1h'`).
pub fn parse_duration(text: &str) -> Result<u64> {
    let t = text.trim().to_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        DataFusionError::Plan(format!(
            "invalid TTL '{text}': expected e.g. 3600, '90s', '15m', '1h', '7d'"
        ))
    })?;
    let mult = match unit.trim() {
        "" | "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        other => {
            return Err(DataFusionError::Plan(format!(
                "invalid TTL unit '{other}' in '{text}': use s, m, h or d"
            )))
        }
    };
    n.checked_mul(mult)
        .filter(|&s| s <= MAX_TTL_SECONDS)
        .ok_or_else(|| {
            DataFusionError::Plan(format!(
                "TTL '{text}' is too long: at most {MAX_TTL_SECONDS} seconds (about 146,000 years)"
            ))
        })
}
