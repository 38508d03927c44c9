//! Reading the per-value index counts (their format and how writes keep them:
//! `table/counts.rs`): the counters of a path's leading values, when they answer it.

use kv_store::KeyRange;

use super::reader::StoreReader;
use crate::access::{counters_answer, AccessPath};
use crate::error::{StoreError, StoreResult};
use crate::schema::{Entity, EntityKey};
use crate::table::read_counters;

impl<K: EntityKey, V: Entity> StoreReader<'_, K, V> {
    /// What the counts say of the entries a path selects: each leading value with entries
    /// and how many, in path order, up to the path's limit of values when `columns` is 1
    /// (a DISTINCT or facet over the leading column), all of them when it is 0 (a count).
    /// None when the counts do not answer the path ([`counters_answer`]).
    pub(crate) fn counted(
        &self,
        path: &AccessPath,
        columns: usize,
    ) -> StoreResult<Option<Vec<(Vec<u8>, u64)>>> {
        let Some(name) = path
            .index
            .as_deref()
            .filter(|_| counters_answer(&self.def.schema, path, columns))
        else {
            return Ok(None);
        };
        let i = self.def.index_position(name)?;
        let Some(partition) = &self.parts.counts[i] else {
            return Ok(None);
        };
        let orders = self.def.indexes[i].spec.orders();
        let ranges: Vec<KeyRange> = path
            .key_ranges(&orders[..1])
            .into_iter()
            .map(|(_, range)| range)
            .collect();
        let limit = path.limit.filter(|_| columns == 1);
        let values = read_counters(
            &*self.view,
            partition,
            &ranges,
            path.direction,
            &mut |found| limit.is_some_and(|l| found.len() >= l),
        )?;
        values
            .into_iter()
            .map(|(lead, n)| match u64::try_from(n) {
                Ok(n) => Ok((lead, n)),
                Err(_) => Err(StoreError::Corrupt {
                    partition: partition.clone(),
                    reason: format!("a value counts {n} entries"),
                }),
            })
            .collect::<StoreResult<_>>()
            .map(Some)
    }
}
