//! `sys.transactions`: the open transactions of the database, oldest first.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result;
use indexed_store::table::system_now;
use indexed_store::TransactionStatus;

use super::{SysContext, SysTable};

/// `sys.transactions`: one row per open transaction: its number, the namespace that opened
/// it, its isolation, READ ONLY, when it began and its age, what it holds pending, and
/// whether it is active or failed (awaiting ROLLBACK).
pub(super) struct Transactions;

impl SysTable for Transactions {
    fn name(&self) -> &'static str {
        "transactions"
    }

    fn batch(&self, ctx: &SysContext) -> Result<RecordBatch> {
        let open = ctx.db.transactions();
        let now = system_now();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::UInt64, false),
            Field::new("namespace", DataType::Utf8, false),
            Field::new("isolation", DataType::Utf8, false),
            Field::new("read_only", DataType::Boolean, false),
            Field::new(
                "started_at",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new("age_seconds", DataType::Float64, false),
            Field::new("pending_rows", DataType::UInt64, false),
            Field::new("pending_bytes", DataType::UInt64, false),
            Field::new("status", DataType::Utf8, false),
        ]));
        let status = |s: &TransactionStatus| match s {
            TransactionStatus::Active => "active",
            TransactionStatus::Failed(_) => "failed",
            TransactionStatus::Committed => "committed",
            TransactionStatus::RolledBack => "rolled back",
        };
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from_iter_values(open.iter().map(|t| t.id))),
            Arc::new(StringArray::from_iter_values(open.iter().map(|t| &t.owner))),
            Arc::new(StringArray::from_iter_values(
                open.iter().map(|t| t.isolation.name()),
            )),
            Arc::new(BooleanArray::from_iter(
                open.iter().map(|t| Some(t.read_only)),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                open.iter().map(|t| t.started_at),
            )),
            Arc::new(Float64Array::from_iter_values(
                open.iter()
                    .map(|t| (now - t.started_at).max(0) as f64 / 1_000_000.0),
            )),
            Arc::new(UInt64Array::from_iter_values(
                open.iter().map(|t| t.pending_rows as u64),
            )),
            Arc::new(UInt64Array::from_iter_values(
                open.iter().map(|t| t.pending_bytes as u64),
            )),
            Arc::new(StringArray::from_iter_values(
                open.iter().map(|t| status(&t.status)),
            )),
        ];
        Ok(RecordBatch::try_new(schema, arrays)?)
    }
}
