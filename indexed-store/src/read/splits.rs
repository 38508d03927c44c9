//! Where to split a long walk (a full scan, an index walk, a count) so that each core reads
//! about as much data: split points found by bisecting the key space against RocksDB's own
//! estimate of the bytes between two keys, so skewed keys still give even pieces.

use kv_store::range::midpoint;
use kv_store::{Direction, KeyRange, ReadView};

use super::reader::StoreReader;
use crate::access::AccessPath;
use crate::error::StoreResult;
use crate::schema::{Entity, EntityKey};

/// Bisection steps per split point: each halves the key interval, far finer than the
/// data blocks the size estimate counts in.
const STEPS: usize = 24;

impl<K: EntityKey, V: Entity> StoreReader<'_, K, V> {
    /// Up to `parts - 1` entry keys, ascending, that split the walk of `path` into `parts`
    /// pieces of about equal size on disk, for reading them on several cores (a full scan:
    /// [`AccessPath::primary`], its pieces read by [`StoreReader::visit_range`]; an index
    /// walk: [`StoreReader::visit_entries_within`]). Before anything reaches disk (the
    /// estimate is 0) the keys are split evenly instead. None when the walk is not one
    /// forward key range, or holds less than `min_bytes` on disk: a short walk costs less
    /// than handing its pieces to other threads.
    pub fn split_points_of(
        &self,
        path: &AccessPath,
        parts: usize,
        min_bytes: u64,
    ) -> StoreResult<Vec<Vec<u8>>> {
        if path.direction != Direction::Forward {
            return Ok(vec![]);
        }
        let (partition, ranges) = self.walks(path)?;
        let [(_, range)] = ranges.as_slice() else {
            return Ok(vec![]);
        };
        split_range(&*self.view, &partition, range, parts, min_bytes)
    }
}

/// Up to `parts - 1` keys, ascending, that split the keys of `range` in a partition into
/// `parts` pieces of about equal size on disk (evenly in key space while the estimate is
/// 0); none when the keys there hold less than `min_bytes` on disk.
pub(crate) fn split_range(
    view: &dyn ReadView,
    partition: &str,
    range: &KeyRange,
    parts: usize,
    min_bytes: u64,
) -> StoreResult<Vec<Vec<u8>>> {
    if parts < 2 {
        return Ok(vec![]);
    }
    // Bisect between the first and last keys there are, not the range's bounds: keys that
    // share a long run of bytes after the bounds' common prefix (an index value, then
    // primary keys all starting `acc-00`) would otherwise leave every split point before or
    // after all of them.
    let edge = |direction| -> StoreResult<Option<Vec<u8>>> {
        let mut walk = view.scan(partition, range, direction)?;
        Ok(walk.next().transpose()?.map(|(key, _)| key))
    };
    let (Some(first), Some(mut end)) = (edge(Direction::Forward)?, edge(Direction::Reverse)?)
    else {
        return Ok(vec![]);
    };
    end.push(0);
    let (first, end) = (first.as_slice(), end.as_slice());
    let size = |to: &[u8]| view.approximate_size(partition, first, to);
    let total = size(end)?;
    if total < min_bytes {
        return Ok(vec![]);
    }
    let mut points: Vec<Vec<u8>> = Vec::new();
    for i in 1..parts {
        let (mut lo, mut hi) = (
            points.last().map_or(first.to_vec(), Vec::clone),
            end.to_vec(),
        );
        for _ in 0..STEPS {
            let Some(mid) = midpoint(&lo, &hi) else { break };
            let below = if total == 0 {
                // Even split of the key space: compare positions, not bytes on disk.
                key_fraction(first, end, &mid) < i as f64 / parts as f64
            } else {
                (size(&mid)? as u128 * parts as u128) < total as u128 * i as u128
            };
            if below {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        if hi.as_slice() > first && hi.as_slice() < end && points.last().is_none_or(|p| *p < hi) {
            points.push(hi);
        }
    }
    Ok(points)
}

/// Where `key` lies between `from` and `to`, as a fraction, reading the keys as base-256
/// fractions from their first differing byte.
fn key_fraction(from: &[u8], to: &[u8], key: &[u8]) -> f64 {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    let value = |k: &[u8]| {
        k.iter()
            .skip(common)
            .take(8)
            .enumerate()
            .map(|(i, &b)| b as f64 / 256f64.powi(i as i32 + 1))
            .sum::<f64>()
    };
    let (a, b) = (value(from), value(to));
    if b <= a {
        return 0.0;
    }
    (value(key) - a) / (b - a)
}
