//! `verify()`: the integrity check. Under one snapshot it walks every record and checks that
//! each of its index entries exists with the right payload, then walks every index and checks
//! that each entry belongs to a record that produces it, and that no two rows claim one unique
//! value.

use std::collections::HashSet;
use std::fmt;

use kv_store::{Direction, KeyRange, ReadView};

use super::counts;
use super::entries::entries_of;
use super::store::IndexedEntityStore;
use crate::encoding::{EntryPayload, KeyReader};
use crate::error::StoreResult;
use crate::schema::{decode_record, leading_orders, Entity, EntityKey, Partitions};

/// One inconsistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A record lacks an entry it should have.
    MissingEntry {
        /// Index.
        index: String,
        /// The record's primary key, hex.
        pk: String,
    },
    /// An entry whose record does not exist or does not produce it.
    DanglingEntry {
        /// Index.
        index: String,
        /// The entry key, hex.
        key: String,
    },
    /// An entry whose payload (covered values, expiry) differs from what its record gives.
    StalePayload {
        /// Index.
        index: String,
        /// The entry key, hex.
        key: String,
    },
    /// A unique value claimed by another row than the one holding it.
    DuplicateUnique {
        /// Index.
        index: String,
        /// The claimed key, hex.
        key: String,
        /// The row that has the value but not the claim, hex.
        pk: String,
    },
    /// A value's counter (see `counts.rs`) that differs from its entries.
    WrongCount {
        /// Index.
        index: String,
        /// The leading value's encoding, hex.
        value: String,
        /// The counter (0 when absent).
        stored: i64,
        /// The entries that start with the value.
        entries: i64,
    },
    /// An index whose counts have no header (they are rebuilt when the table opens).
    CountsUnvouched {
        /// Index.
        index: String,
    },
    /// Bytes that do not decode.
    Undecodable {
        /// Partition.
        partition: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingEntry { index, pk } => {
                write!(f, "index '{index}' has no entry for row {pk}")
            }
            Problem::DanglingEntry { index, key } => {
                write!(f, "index '{index}' entry {key} has no matching row")
            }
            Problem::StalePayload { index, key } => {
                write!(f, "index '{index}' entry {key} carries stale values")
            }
            Problem::DuplicateUnique { index, key, pk } => {
                write!(
                    f,
                    "unique index '{index}' value {key} is also held by row {pk}"
                )
            }
            Problem::WrongCount {
                index,
                value,
                stored,
                entries,
            } => write!(
                f,
                "index '{index}' counts {stored} entries of value {value}, it has {entries}"
            ),
            Problem::CountsUnvouched { index } => {
                write!(f, "index '{index}' has counts without a header")
            }
            Problem::Undecodable { partition, reason } => {
                write!(f, "partition '{partition}': {reason}")
            }
        }
    }
}

/// What verify found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Table.
    pub table: String,
    /// Records walked.
    pub records: u64,
    /// Index entries walked.
    pub entries: u64,
    /// Every inconsistency found.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const CHUNK: usize = 1024;

impl<K: EntityKey, V: Entity> IndexedEntityStore<K, V> {
    /// Checks records and indexes against each other under one snapshot.
    pub fn verify(&self) -> StoreResult<VerifyReport> {
        let def = self.definition();
        let parts = def.partitions();
        let view = self.backend.snapshot();
        let mut report = VerifyReport {
            table: def.schema.name.clone(),
            ..Default::default()
        };

        // Records → entries, a chunk at a time.
        let mut chunk = Vec::with_capacity(CHUNK);
        for item in view.scan(&parts.records, &KeyRange::all(), Direction::Forward)? {
            let (pk, raw) = item?;
            report.records += 1;
            match decode_record(&def, &raw, &parts.records) {
                Ok((v, expiry)) => chunk.push((pk, v, expiry)),
                Err(e) => report.problems.push(Problem::Undecodable {
                    partition: parts.records.clone(),
                    reason: e.to_string(),
                }),
            }
            if chunk.len() == CHUNK {
                self.check_records(
                    view.as_ref(),
                    parts,
                    &std::mem::take(&mut chunk),
                    &mut report,
                )?;
            }
        }
        self.check_records(view.as_ref(), parts, &chunk, &mut report)?;

        // Entries → records.
        for (i, partition) in parts.indexes.iter().enumerate() {
            let mut batch = Vec::with_capacity(CHUNK);
            for item in view.scan(partition, &KeyRange::all(), Direction::Forward)? {
                let (key, value) = item?;
                report.entries += 1;
                batch.push((key, value));
                if batch.len() == CHUNK {
                    self.check_entries(
                        view.as_ref(),
                        parts,
                        i,
                        &std::mem::take(&mut batch),
                        &mut report,
                    )?;
                }
            }
            self.check_entries(view.as_ref(), parts, i, &batch, &mut report)?;
        }
        self.check_counts(view.as_ref(), parts, &mut report)?;
        Ok(report)
    }

    /// Entries per leading value → the counters that say so.
    fn check_counts(
        &self,
        view: &dyn ReadView,
        parts: &Partitions,
        report: &mut VerifyReport,
    ) -> StoreResult<()> {
        let def = self.definition();
        let orders = leading_orders(&def.schema);
        for (i, partition) in parts.counts.iter().enumerate() {
            let Some(partition) = partition else { continue };
            let index = &def.indexes[i].spec.name;
            if !counts::vouched(view, partition)? {
                report.problems.push(Problem::CountsUnvouched {
                    index: index.clone(),
                });
                continue;
            }
            let mut expected = match counts::tally(view, &parts.indexes[i], orders[i]) {
                Ok(expected) => expected,
                Err(e) => {
                    report.problems.push(Problem::Undecodable {
                        partition: parts.indexes[i].clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let all = [KeyRange::all()];
            let stored =
                counts::read_counters(view, partition, &all, Direction::Forward, &mut |_| false)?;
            for (value, n) in stored {
                let entries = expected.remove(&value).unwrap_or(0);
                if entries != n {
                    report.problems.push(Problem::WrongCount {
                        index: index.clone(),
                        value: hex(&value),
                        stored: n,
                        entries,
                    });
                }
            }
            for (value, entries) in expected {
                report.problems.push(Problem::WrongCount {
                    index: index.clone(),
                    value: hex(&value),
                    stored: 0,
                    entries,
                });
            }
        }
        Ok(())
    }

    fn check_records(
        &self,
        view: &dyn ReadView,
        parts: &Partitions,
        records: &[(Vec<u8>, V, Option<i64>)],
        report: &mut VerifyReport,
    ) -> StoreResult<()> {
        let def = self.definition();
        for (pk, v, expiry) in records {
            for e in entries_of(&def, v, pk, *expiry) {
                let partition = &parts.indexes[e.index];
                let name = def.indexes[e.index].spec.name.clone();
                match view.get(partition, &e.key)? {
                    None => report.problems.push(Problem::MissingEntry {
                        index: name,
                        pk: hex(pk),
                    }),
                    Some(stored) if e.claims => {
                        let holder = EntryPayload::decode(&stored, partition)
                            .ok()
                            .and_then(|p| p.pk);
                        if holder.as_deref() != Some(pk.as_slice()) {
                            report.problems.push(Problem::DuplicateUnique {
                                index: name,
                                key: hex(&e.key),
                                pk: hex(pk),
                            });
                        } else if stored != e.value {
                            report.problems.push(Problem::StalePayload {
                                index: name,
                                key: hex(&e.key),
                            });
                        }
                    }
                    Some(stored) if stored != e.value => {
                        report.problems.push(Problem::StalePayload {
                            index: name,
                            key: hex(&e.key),
                        })
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    fn check_entries(
        &self,
        view: &dyn ReadView,
        parts: &Partitions,
        index: usize,
        entries: &[(Vec<u8>, Vec<u8>)],
        report: &mut VerifyReport,
    ) -> StoreResult<()> {
        let def = self.definition();
        let partition = &parts.indexes[index];
        let name = &def.indexes[index].spec.name;
        let orders = def.indexes[index].spec.orders();
        let mut pks = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let pk = match EntryPayload::decode(value, partition) {
                Ok(EntryPayload { pk: Some(pk), .. }) => Some(pk),
                Ok(_) => {
                    let mut r = KeyReader::new(key);
                    orders
                        .iter()
                        .try_for_each(|o| r.skip(*o).map(|_| ()))
                        .ok()
                        .map(|_| r.rest().to_vec())
                }
                Err(_) => None,
            };
            pks.push(pk.unwrap_or_default());
        }
        let records = view.multi_get(&parts.records, &pks)?;
        for (((key, _), pk), raw) in entries.iter().zip(&pks).zip(records) {
            let produced: HashSet<Vec<u8>> =
                match raw.map(|r| decode_record(&def, &r, &parts.records)) {
                    Some(Ok((v, expiry))) => entries_of(&def, &v, pk, expiry)
                        .into_iter()
                        .filter(|e| e.index == index)
                        .map(|e| e.key)
                        .collect(),
                    _ => HashSet::new(),
                };
            if !produced.contains(key) {
                report.problems.push(Problem::DanglingEntry {
                    index: name.clone(),
                    key: hex(key),
                });
            }
        }
        Ok(())
    }
}
