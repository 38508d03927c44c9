//! Access paths: the store's query vocabulary. An access path names an index (or the primary
//! key), equality prefixes on its leading columns, a range on the next column, a seek (a
//! row-value bound on the columns after the prefix, primary-key columns included), a
//! direction, an offset and a limit. It turns into byte ranges over the index partition.

use std::ops::Bound;

use kv_store::range::prefix_successor;
use kv_store::{Direction, KeyRange};

use crate::encoding::{encode_key, encode_value, text_prefix, SortOrder, Value};

/// The condition on the column right after the equality prefix.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ColumnRange {
    /// No condition.
    #[default]
    All,
    /// Between two bounds, in value order (NULL is above every value, so `x > 5` needs an
    /// upper bound of `Excluded(Null)` to leave NULLs out).
    Between {
        /// Lower bound.
        lower: Bound<Value>,
        /// Upper bound.
        upper: Bound<Value>,
    },
    /// TEXT values starting with this string (`LIKE 'prefix%'`).
    StartsWith(String),
}

/// A row-value bound on the key columns right after the equality prefix: `(a, id) < (5,
/// 'x')`, the condition a keyset (cursor) page starts from. Entries of a secondary index are
/// ordered by its columns and then by the primary key, so the tuple may run on into the
/// primary-key columns. Every column of the tuple has the same sort order in the key.
#[derive(Debug, Clone, PartialEq)]
pub struct Seek {
    /// The bound, one value per column, in key order.
    pub values: Vec<Value>,
    /// True for `>` / `>=` (tuples after the bound in value order), false for `<` / `<=`.
    pub above: bool,
    /// True for `<=` / `>=`: the bound itself is in.
    pub inclusive: bool,
}

/// How to read a table through one index: the unit of work the planner chooses.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessPath {
    /// The index, or None for the primary key.
    pub index: Option<String>,
    /// Equality prefixes on the leading columns; several (from an IN-list) are merged in key
    /// order of the columns that follow. All have the same length.
    pub prefixes: Vec<Vec<Value>>,
    /// Condition on the column after the prefix.
    pub range: ColumnRange,
    /// Row-value bound on the columns after the prefix (a keyset page).
    pub seek: Option<Seek>,
    /// Walk direction.
    pub direction: Direction,
    /// Skip this many live entries first, without reading their records (OFFSET).
    pub offset: usize,
    /// Stop after this many entries (after expired and skipped ones).
    pub limit: Option<usize>,
}

impl AccessPath {
    /// Every row, in primary-key order.
    pub fn primary() -> Self {
        AccessPath {
            index: None,
            prefixes: vec![vec![]],
            range: ColumnRange::All,
            seek: None,
            direction: Direction::Forward,
            offset: 0,
            limit: None,
        }
    }

    /// Every entry of the named index, in index order.
    pub fn index(name: &str) -> Self {
        AccessPath {
            index: Some(name.to_owned()),
            ..Self::primary()
        }
    }

    /// Equality on the leading columns.
    pub fn eq(mut self, prefix: Vec<Value>) -> Self {
        self.prefixes = vec![prefix];
        self
    }

    /// Several equality prefixes (an IN-list), merged in order.
    pub fn eq_any(mut self, prefixes: Vec<Vec<Value>>) -> Self {
        self.prefixes = prefixes;
        self
    }

    /// A range on the column after the prefix.
    pub fn range(mut self, lower: Bound<Value>, upper: Bound<Value>) -> Self {
        self.range = ColumnRange::Between { lower, upper };
        self
    }

    /// Text prefix on the column after the prefix.
    pub fn starts_with(mut self, prefix: &str) -> Self {
        self.range = ColumnRange::StartsWith(prefix.to_owned());
        self
    }

    /// Walk backwards.
    pub fn reverse(mut self) -> Self {
        self.direction = Direction::Reverse;
        self
    }

    /// Walk in this direction.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// Stop after `n` entries.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skip the first `n` entries.
    pub fn offset(mut self, n: usize) -> Self {
        self.offset = n;
        self
    }

    /// Start (or stop) at a row-value bound on the columns after the prefix.
    pub fn seek(mut self, seek: Seek) -> Self {
        self.seek = Some(seek);
        self
    }

    /// Number of key columns the path constrains (a seek may run on into the primary key).
    pub fn constrained_columns(&self) -> usize {
        let prefix = self.prefixes.first().map_or(0, |p| p.len());
        let ranged = usize::from(self.range != ColumnRange::All);
        prefix + ranged.max(self.seek.as_ref().map_or(0, |s| s.values.len()))
    }

    /// The byte ranges to walk for an index whose key columns have `orders` (followed by
    /// the primary key's when the path seeks into them), each with the length of its encoded
    /// equality prefix (entries are merged on the bytes after it).
    pub(crate) fn key_ranges(&self, orders: &[SortOrder]) -> Vec<(usize, KeyRange)> {
        let mut prefixes: Vec<Vec<u8>> = self
            .prefixes
            .iter()
            .map(|p| encode_key(p, orders))
            .collect();
        prefixes.sort();
        prefixes.dedup();
        let next = self.prefixes.first().map_or(0, |p| p.len());
        let order = orders.get(next).copied().unwrap_or_default();
        let seek_orders = &orders[next.min(orders.len())..];
        prefixes
            .into_iter()
            .map(|p| {
                let mut range = column_range(&p, &self.range, order);
                if let Some(seek) = &self.seek {
                    range = range.intersect(&seek_range(&p, seek, seek_orders));
                }
                (p.len(), range)
            })
            .filter(|(_, r)| !r.is_empty())
            .collect()
    }
}

/// The keys under `prefix` on the seek's side of its bound. In a descending key the value
/// order is the byte order upside down, so the side flips.
fn seek_range(prefix: &[u8], seek: &Seek, orders: &[SortOrder]) -> KeyRange {
    let mut bound = prefix.to_vec();
    for (v, o) in seek.values.iter().zip(orders) {
        encode_value(&mut bound, v, *o);
    }
    let desc = orders.first().is_some_and(|o| o.is_desc());
    let after = seek.above != desc;
    let (lower, upper) = match (after, seek.inclusive) {
        (true, true) => (Bound::Included(bound), after_all_starting_with(prefix)),
        (true, false) => match prefix_successor(&bound) {
            Some(k) => (Bound::Included(k), after_all_starting_with(prefix)),
            None => (Bound::Excluded(vec![0xFF]), Bound::Excluded(vec![0xFF])),
        },
        (false, true) => (
            Bound::Included(prefix.to_vec()),
            after_all_starting_with(&bound),
        ),
        (false, false) => (Bound::Included(prefix.to_vec()), Bound::Excluded(bound)),
    };
    KeyRange::new(lower, upper)
}

fn with_value(prefix: &[u8], v: &Value, order: SortOrder) -> Vec<u8> {
    let mut k = prefix.to_vec();
    encode_value(&mut k, v, order);
    k
}

fn after_all_starting_with(bytes: &[u8]) -> Bound<Vec<u8>> {
    prefix_successor(bytes).map_or(Bound::Unbounded, Bound::Excluded)
}

/// The keys under `prefix` whose next column satisfies `range`.
fn column_range(prefix: &[u8], range: &ColumnRange, order: SortOrder) -> KeyRange {
    match range {
        ColumnRange::All => KeyRange::prefix(prefix),
        ColumnRange::StartsWith(s) => {
            let mut p = prefix.to_vec();
            p.extend_from_slice(&text_prefix(s, order));
            KeyRange::prefix(&p)
        }
        ColumnRange::Between { lower, upper } => {
            // In a descending column the value range is walked upside down.
            let (lo, hi) = if order.is_desc() {
                (upper, lower)
            } else {
                (lower, upper)
            };
            let start = match lo {
                Bound::Unbounded => Bound::Included(prefix.to_vec()),
                Bound::Included(v) => Bound::Included(with_value(prefix, v, order)),
                Bound::Excluded(v) => match prefix_successor(&with_value(prefix, v, order)) {
                    Some(k) => Bound::Included(k),
                    None => {
                        return KeyRange::new(
                            Bound::Excluded(vec![0xFF; 1]),
                            Bound::Excluded(vec![0xFF; 1]),
                        )
                    }
                },
            };
            let end = match hi {
                Bound::Unbounded => after_all_starting_with(prefix),
                Bound::Included(v) => after_all_starting_with(&with_value(prefix, v, order)),
                Bound::Excluded(v) => Bound::Excluded(with_value(prefix, v, order)),
            };
            KeyRange::new(start, end)
        }
    }
}
