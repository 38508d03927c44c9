//! Reading a partition: rows and index entries straight from the store's bytes into Arrow
//! builders, filtered and projected batch by batch.

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::compute::{and, filter_record_batch};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::metrics::{BaselineMetrics, Count};
use indexed_store::encoding::{KeyReader, KeyValue, Malformed, RowRef};
use indexed_store::{AccessPath, EntryPayload, RowReader, SortOrder, Value, ValueRef};
use kv_store::KeyRange;

use super::spec::{ScanMode, ScanSpec};
use crate::convert::BatchBuilder;
use crate::error::store_err;

/// Decodes rows into Arrow columns, filters and projects each batch, and sends batches until
/// the fetch is met or the receiver goes away.
struct Emitter<'a> {
    spec: &'a ScanSpec,
    residual: Vec<usize>,
    /// Takes each batch; false when nobody wants more.
    sink: &'a mut dyn FnMut(RecordBatch) -> bool,
    produced: usize,
    batch_size: usize,
    builder: BatchBuilder,
    baseline: &'a BaselineMetrics,
}

impl Emitter<'_> {
    /// Adds a row whose read column `i` is `value(i)`; false when the scan should stop.
    fn push<'v>(
        &mut self,
        value: impl FnMut(usize) -> std::result::Result<ValueRef<'v>, Malformed>,
    ) -> Result<bool> {
        self.push_row(|b| b.append(value))
    }

    /// Adds a row that `build` appends column by column; false when the scan should stop.
    fn push_row(&mut self, build: impl FnOnce(&mut BatchBuilder) -> Result<()>) -> Result<bool> {
        build(&mut self.builder)?;
        if self.builder.len() >= self.batch_size {
            self.batch_size = (self.batch_size * 2).min(8192);
            return self.flush();
        }
        Ok(true)
    }

    /// Sends `n` rows without columns (the output needs none); false when the scan
    /// should stop.
    fn send_count(&mut self, n: usize) -> Result<bool> {
        let left = self
            .spec
            .fetch
            .map_or(n, |f| n.min(f.saturating_sub(self.produced)));
        let options = RecordBatchOptions::new().with_row_count(Some(left));
        let batch =
            RecordBatch::try_new_with_options(self.spec.output_schema.clone(), vec![], &options)?;
        self.produced += left;
        self.baseline.record_output(left);
        if left > 0 && !(self.sink)(batch) {
            return Ok(false);
        }
        Ok(self.spec.fetch.is_none_or(|f| self.produced < f))
    }

    fn flush(&mut self) -> Result<bool> {
        if self.builder.is_empty() {
            return Ok(self.spec.fetch.is_none_or(|f| self.produced < f));
        }
        let mut batch = self.builder.finish()?;
        if !self.residual.is_empty() {
            let mut mask: Option<BooleanArray> = None;
            for &i in &self.residual {
                let value = self
                    .spec
                    .residual_filter(i)?
                    .evaluate(&batch)?
                    .into_array(batch.num_rows())?;
                let b = value
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| DataFusionError::Internal("filter is not boolean".into()))?
                    .clone();
                mask = Some(match mask {
                    None => b,
                    Some(m) => and(&m, &b)?,
                });
            }
            if let Some(m) = mask {
                // NULL counts as false, as in WHERE.
                let m = if m.null_count() > 0 {
                    datafusion::arrow::compute::prep_null_mask_filter(&m)
                } else {
                    m
                };
                batch = filter_record_batch(&batch, &m)?;
            }
        }
        let mut batch = batch.project(&self.spec.projection)?;
        if let Some(f) = self.spec.fetch {
            let left = f.saturating_sub(self.produced);
            if batch.num_rows() > left {
                batch = batch.slice(0, left);
            }
        }
        self.produced += batch.num_rows();
        self.baseline.record_output(batch.num_rows());
        if batch.num_rows() > 0 && !(self.sink)(batch) {
            return Ok(false);
        }
        Ok(self.spec.fetch.is_none_or(|f| self.produced < f))
    }
}

/// Reads one partition's `range` from `reader`'s snapshot, handing each batch to `sink`
/// (which returns false when it wants no more).
pub(super) fn run_scan(
    spec: &ScanSpec,
    reader: &dyn RowReader,
    range: KeyRange,
    sink: &mut dyn FnMut(RecordBatch) -> bool,
    rows_read: &Count,
    baseline: &BaselineMetrics,
) -> Result<()> {
    let residual = spec.residual();
    let batch_size = match spec.fetch {
        Some(f) if residual.is_empty() => f.clamp(1, 8192),
        _ => 256,
    };
    let mut emitter = Emitter {
        spec,
        residual,
        sink,
        produced: 0,
        batch_size,
        builder: BatchBuilder::new(spec.read_schema.clone(), spec.types(), batch_size),
        baseline,
    };
    scan_with(spec, reader, &range, &mut emitter, rows_read)
}

fn scan_with(
    spec: &ScanSpec,
    reader: &dyn RowReader,
    range: &KeyRange,
    out: &mut Emitter<'_>,
    rows_read: &Count,
) -> Result<()> {
    let path = spec.path();
    let finished = match &spec.mode {
        ScanMode::Records => scan_records(spec, reader, range, out, rows_read)?,
        ScanMode::Covered if spec.counts_only() => {
            // count(*) and friends: count entries, decode nothing, build no rows.
            let mut left = reader.count(&path).map_err(store_err)? as usize;
            rows_read.add(left);
            let mut finished = true;
            while left > 0 {
                let n = left.min(8192);
                left -= n;
                if !out.send_count(n)? {
                    finished = false;
                    break;
                }
            }
            finished
        }
        ScanMode::Covered => scan_covered(spec, reader, range, out, rows_read)?,
        ScanMode::Distinct(n) => {
            let lead = spec.lead_columns();
            let rows = reader.distinct(&path, *n).map_err(store_err)?.into_iter();
            push_all(
                rows.map(|values| (pick_lead(spec, &lead, values), 1)),
                out,
                rows_read,
            )?
        }
        ScanMode::Facets { columns, counts } => {
            let lead = spec.lead_columns();
            let rows = reader
                .facets(&path, *columns)
                .map_err(store_err)?
                .into_iter();
            push_all(
                rows.map(|(values, count)| {
                    let mut row = pick_lead(spec, &lead, values);
                    row.extend(std::iter::repeat_n(Value::Int(count as i64), *counts));
                    (row, count as usize)
                }),
                out,
                rows_read,
            )?
        }
    };
    // A scan stopped by its consumer (or its fetch) sends nothing more.
    if finished {
        out.flush()?;
    }
    Ok(())
}

/// Rows already in hand (distinct values, facets), each counting `read` rows read. False
/// when the consumer stopped taking them.
fn push_all(
    rows: impl Iterator<Item = (Vec<Value>, usize)>,
    out: &mut Emitter<'_>,
    rows_read: &Count,
) -> Result<bool> {
    for (row, read) in rows {
        rows_read.add(read);
        if !out.push(|i| Ok(row.get(i).map_or(ValueRef::Null, ValueRef::from)))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Records read by the path (or one piece of a split full scan), the columns asked for
/// read from the stored bytes.
fn scan_records(
    spec: &ScanSpec,
    reader: &dyn RowReader,
    range: &KeyRange,
    out: &mut Emitter<'_>,
    rows_read: &Count,
) -> Result<bool> {
    let columns = &spec.read_columns;
    let mut failed: Result<()> = Ok(());
    let mut visit = |row: RowRef<'_>| -> indexed_store::StoreResult<bool> {
        rows_read.add(1);
        match out.push(|i| row.get(columns[i])) {
            Ok(more) => Ok(more),
            Err(e) => {
                failed = Err(e);
                Ok(false)
            }
        }
    };
    // Several ranges only ever split a full primary-key walk.
    if spec.ranges.len() > 1 {
        reader.visit_range(range, &mut visit)
    } else {
        reader.visit_rows(&spec.path(), &mut visit)
    }
    .map_err(store_err)?;
    failed?;
    Ok(true)
}

/// Where each column read comes from in an index entry: the entry's key, its row's primary
/// key, or its covered (INCLUDE) values.
fn entry_sources(spec: &ScanSpec, path: &AccessPath) -> Vec<EntryColumn> {
    let include: Vec<String> = path
        .index
        .as_ref()
        .and_then(|i| spec.schema.index(i))
        .map(|i| i.include.clone())
        .unwrap_or_default();
    spec.read_columns
        .iter()
        .zip(spec.needed())
        .map(|(&c, needed)| {
            let name = &spec.schema.columns[c].name;
            if !needed {
                EntryColumn::Unread
            } else if let Some(p) = spec.plan.key_columns.iter().position(|k| k == name) {
                EntryColumn::Key(p)
            } else if let Some(p) = spec.schema.primary_key.iter().position(|k| k == name) {
                EntryColumn::PrimaryKey(p)
            } else {
                EntryColumn::Covered(include.iter().position(|k| k == name).unwrap_or(0))
            }
        })
        .collect()
}

/// Index entries read by the path (or one piece of a split walk), each column decoded in
/// place from the entry.
fn scan_covered(
    spec: &ScanSpec,
    reader: &dyn RowReader,
    range: &KeyRange,
    out: &mut Emitter<'_>,
    rows_read: &Count,
) -> Result<bool> {
    let path = spec.path();
    let sources = entry_sources(spec, &path);
    let pk_orders = vec![SortOrder::Asc; spec.schema.primary_key.len()];
    let key_orders = match &path.index {
        None => pk_orders.clone(),
        Some(i) => spec.schema.index(i).map(|s| s.orders()).unwrap_or_default(),
    };
    let mut failed: Result<()> = Ok(());
    let mut visit = |key: &[u8], pk: &[u8], payload: &EntryPayload| {
        rows_read.add(1);
        let pushed = out.push_row(|b| {
            for (i, source) in sources.iter().enumerate() {
                let (bytes, orders, p) = match *source {
                    EntryColumn::Key(p) => (key, &key_orders, p),
                    EntryColumn::PrimaryKey(p) => (pk, &pk_orders, p),
                    EntryColumn::Covered(p) => {
                        let v = payload.covered.as_ref().and_then(|c| c.get(p));
                        b.append_column(i, v.map_or(ValueRef::Null, ValueRef::from))?;
                        continue;
                    }
                    EntryColumn::Unread => {
                        b.append_column(i, ValueRef::Null)?;
                        continue;
                    }
                };
                let value = key_value(bytes, orders, p).map_err(store_err)?;
                b.append_column(i, value.as_ref())?;
            }
            b.end_row();
            Ok(())
        });
        match pushed {
            Ok(more) => Ok(more),
            Err(e) => {
                failed = Err(e);
                Ok(false)
            }
        }
    };
    // Several ranges only ever split a walk of one key range (`split_across`).
    if spec.ranges.len() > 1 {
        reader.visit_entries_within(&path, range, &mut visit)
    } else {
        reader.visit_entries(&path, &mut visit)
    }
    .map_err(store_err)?;
    failed?;
    Ok(true)
}

/// The values of the columns read, from the values of an index's leading key columns.
fn pick_lead(spec: &ScanSpec, lead: &[String], values: Vec<Value>) -> Vec<Value> {
    spec.read_columns
        .iter()
        .map(|&c| {
            let name = &spec.schema.columns[c].name;
            lead.iter()
                .position(|l| l == name)
                .and_then(|p| values.get(p).cloned())
                .unwrap_or(Value::Null)
        })
        .collect()
}

/// Where a covered scan finds a column's value in an index entry.
#[derive(Clone, Copy)]
enum EntryColumn {
    /// The entry key's `n`th column.
    Key(usize),
    /// The `n`th column of the row's primary key.
    PrimaryKey(usize),
    /// The `n`th INCLUDE value.
    Covered(usize),
    /// Not needed (only a filter the path answers uses it): NULL.
    Unread,
}

/// Value `n` of an encoded key whose columns have `orders`, borrowed where it can be.
fn key_value<'k>(
    bytes: &'k [u8],
    orders: &[SortOrder],
    n: usize,
) -> indexed_store::StoreResult<KeyValue<'k>> {
    let mut reader = KeyReader::new(bytes);
    for o in orders.iter().take(n) {
        reader.skip(*o)?;
    }
    let order = orders.get(n).copied().unwrap_or_default();
    Ok(reader.read_ref(order)?)
}
