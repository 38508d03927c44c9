//! Between the store's values and Arrow: column types, row batches, scalars.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use indexed_store::{ColumnType, Row, TableSchema, Value};

/// The Arrow type of a column type.
pub fn arrow_type(ty: &ColumnType) -> DataType {
    match ty {
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Text => DataType::Utf8,
        ColumnType::Bytes => DataType::Binary,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
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
        DataType::Timestamp(_, _) => ColumnType::Timestamp,
        DataType::List(f) | DataType::LargeList(f) => {
            ColumnType::List(Box::new(column_type(f.data_type())?))
        }
        _ => return None,
    })
}

/// The Arrow schema of a table.
pub fn arrow_schema(schema: &TableSchema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .columns
            .iter()
            // Every field is nullable to DataFusion so that NULL in a NOT NULL column reaches the
            // store, whose error names the column (DataFusion would name a VALUES position).
            .map(|c| Field::new(&c.name, arrow_type(&c.ty), true))
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
    List(
        ListBuilder<Box<dyn datafusion::arrow::array::ArrayBuilder>>,
        Box<ColumnType>,
    ),
}

fn type_error(ty: &ColumnType, v: &Value) -> DataFusionError {
    DataFusionError::Internal(format!("stored value {v} does not fit column type {ty}"))
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

    fn append(&mut self, ty: &ColumnType, v: &Value) -> Result<()> {
        // Numbers decoded from index keys may come back as the other numeric kind.
        let v = match (ty, v) {
            (ColumnType::Int64, Value::Float(_)) | (ColumnType::Float64, Value::Int(_)) => {
                v.clone().coerce_to(ty).ok_or_else(|| type_error(ty, v))?
            }
            _ => v.clone(),
        };
        match (self, v) {
            (ColumnBuilder::Boolean(b), Value::Bool(x)) => b.append_value(x),
            (ColumnBuilder::Boolean(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Int64(b), Value::Int(x)) => b.append_value(x),
            (ColumnBuilder::Int64(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Float64(b), Value::Float(x)) => b.append_value(x),
            (ColumnBuilder::Float64(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Text(b), Value::Text(x)) => b.append_value(x),
            (ColumnBuilder::Text(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Bytes(b), Value::Bytes(x)) => b.append_value(x),
            (ColumnBuilder::Bytes(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Timestamp(b), Value::Timestamp(x)) => b.append_value(x),
            (ColumnBuilder::Timestamp(b), Value::Null) => b.append_null(),
            (ColumnBuilder::List(b, _), Value::Null) => b.append_null(),
            (ColumnBuilder::List(b, inner), Value::List(items)) => {
                for item in &items {
                    append_dyn(b.values(), inner, item)?;
                }
                b.append(true);
            }
            (_, v) => return Err(type_error(ty, &v)),
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::Boolean(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Text(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Bytes(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(mut b) => Arc::new(b.finish()),
            ColumnBuilder::List(mut b, _) => Arc::new(b.finish()),
        }
    }
}

fn append_dyn(
    b: &mut Box<dyn datafusion::arrow::array::ArrayBuilder>,
    ty: &ColumnType,
    v: &Value,
) -> Result<()> {
    let any = b.as_any_mut();
    macro_rules! put {
        ($builder:ty, $some:expr) => {{
            let b = any
                .downcast_mut::<$builder>()
                .ok_or_else(|| type_error(ty, v))?;
            match v {
                Value::Null => b.append_null(),
                _ => b.append_value($some.ok_or_else(|| type_error(ty, v))?),
            }
        }};
    }
    match ty {
        ColumnType::Boolean => put!(
            BooleanBuilder,
            if let Value::Bool(x) = v {
                Some(*x)
            } else {
                None
            }
        ),
        ColumnType::Int64 => put!(
            Int64Builder,
            v.clone()
                .coerce_to(ty)
                .and_then(|v| if let Value::Int(x) = v { Some(x) } else { None })
        ),
        ColumnType::Float64 => put!(
            Float64Builder,
            v.clone()
                .coerce_to(ty)
                .and_then(|v| if let Value::Float(x) = v {
                    Some(x)
                } else {
                    None
                })
        ),
        ColumnType::Text => put!(
            StringBuilder,
            if let Value::Text(x) = v {
                Some(x.as_str())
            } else {
                None
            }
        ),
        ColumnType::Bytes => put!(
            BinaryBuilder,
            if let Value::Bytes(x) = v {
                Some(x.as_slice())
            } else {
                None
            }
        ),
        ColumnType::Timestamp => put!(
            TimestampMicrosecondBuilder,
            if let Value::Timestamp(x) = v {
                Some(*x)
            } else {
                None
            }
        ),
        ColumnType::List(_) => {
            return Err(DataFusionError::NotImplemented(
                "lists of lists are not supported".into(),
            ))
        }
    }
    Ok(())
}

/// A record batch of `rows` (each holding the values of `columns`, in order) with `schema`.
pub fn rows_to_batch(
    schema: &SchemaRef,
    types: &[ColumnType],
    rows: &[Vec<Value>],
) -> Result<RecordBatch> {
    let mut builders: Vec<ColumnBuilder> = types
        .iter()
        .map(|t| ColumnBuilder::new(t, rows.len()))
        .collect();
    for row in rows {
        for ((b, ty), v) in builders.iter_mut().zip(types).zip(row) {
            b.append(ty, v)?;
        }
    }
    let columns: Vec<ArrayRef> = builders.into_iter().map(ColumnBuilder::finish).collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
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
