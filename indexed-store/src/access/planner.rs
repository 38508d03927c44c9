//! Choosing an access path for a set of column predicates and an ordering.
//!
//! Each index (and the primary key) is scored by the longest equality prefix its leading
//! columns get from the predicates (IN-lists count, as several prefixes merged in order),
//! then by whether the next column has a range (or a row-value seek), then by whether its
//! order is the ordering asked for. The predicates the path encodes are reported as
//! answered: they need no re-check.
//!
//! Entries of a secondary index are ordered by its columns and then by the primary key, so
//! `ORDER BY contacts_count DESC, id DESC` is the reverse walk of an index on
//! `contacts_count`, and the keyset condition `(contacts_count, id) < (?, ?)` is one seek
//! into it.

use std::ops::Bound;

use kv_store::Direction;

use super::path::{AccessPath, ColumnRange, Seek};
use crate::encoding::{compare, SortOrder, Value};
use crate::schema::{IndexSpec, TableSchema};

/// A condition on one column, in the store's vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// `= v` (never NULL: `= NULL` is not true for any row).
    Eq(Value),
    /// `IN (v, ...)`.
    In(Vec<Value>),
    /// Between bounds (NULLs excluded).
    Range {
        /// Lower bound.
        lower: Bound<Value>,
        /// Upper bound.
        upper: Bound<Value>,
    },
    /// `IS NULL`.
    IsNull,
    /// `IS NOT NULL`.
    IsNotNull,
    /// `LIKE 'prefix%'`.
    StartsWith(String),
    /// A list column holds the element (`array_has(col, v)`).
    Contains(Value),
    /// A row-value comparison starting at this column: `(column, columns[1..]) < values`
    /// (or `>`, `<=`, `>=`), lexicographic, with SQL's NULL rule (a comparison that reaches
    /// a NULL is not true).
    Keyset {
        /// Every column of the tuple, this predicate's column first.
        columns: Vec<String>,
        /// The bound, one value per column (none NULL).
        values: Vec<Value>,
        /// True for `>` / `>=`.
        above: bool,
        /// True for `<=` / `>=`.
        inclusive: bool,
    },
}

/// A predicate on a named column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnPredicate {
    /// Column.
    pub column: String,
    /// Condition.
    pub predicate: Predicate,
}

/// One key of an ORDER BY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderKey {
    /// Column.
    pub column: String,
    /// DESC.
    pub descending: bool,
    /// NULLS FIRST.
    pub nulls_first: bool,
}

/// The chosen path and what it does for the query.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessPlan {
    /// How to read.
    pub path: AccessPath,
    /// Positions (in the input) of the predicates the path answers exactly.
    pub answered: Vec<usize>,
    /// True when rows come out in the requested order.
    pub ordered: bool,
    /// Key columns of the chosen index (primary-key columns for the primary key).
    pub key_columns: Vec<String>,
    /// Number of leading key columns fixed by equality.
    pub equality_columns: usize,
    /// The columns of the path's seek, if it has one.
    pub seek_columns: Vec<String>,
}

impl AccessPlan {
    /// A walk of every record in primary-key order that answers no predicate.
    pub fn full_scan(schema: &TableSchema) -> Self {
        AccessPlan {
            path: AccessPath::primary(),
            answered: vec![],
            ordered: false,
            key_columns: schema.primary_key.clone(),
            equality_columns: 0,
            seek_columns: vec![],
        }
    }

    /// True when the path narrows the rows (equality prefix or range), not a full walk.
    pub fn is_selective(&self) -> bool {
        self.equality_columns > 0 || self.path.range != ColumnRange::All || self.path.seek.is_some()
    }

    /// True when the path reads at most one row per prefix of the primary key: an
    /// equality (or IN-list) on every primary-key column.
    pub fn is_point(&self) -> bool {
        self.path.index.is_none()
            && self.equality_columns > 0
            && self.equality_columns == self.key_columns.len()
    }
}

/// Largest number of prefixes an IN-list product may expand to.
const MAX_PREFIXES: usize = 1024;

struct Candidate<'a> {
    columns: Vec<(&'a str, SortOrder)>,
    /// The secondary index (None for the primary key).
    spec: Option<&'a IndexSpec>,
}

impl Candidate<'_> {
    /// At most one entry per key value (the primary key, or a unique index).
    fn unique(&self) -> bool {
        self.spec.is_none_or(|s| s.unique)
    }
}

fn is_list(schema: &TableSchema, column: &str) -> bool {
    schema
        .column_index(column)
        .is_some_and(|i| schema.columns[i].ty.is_list())
}

/// Chooses the best access path; the primary key walked in full when nothing helps.
pub fn choose_access_path(
    schema: &TableSchema,
    predicates: &[ColumnPredicate],
    order: &[OrderKey],
) -> AccessPlan {
    choose_access_path_reading(schema, predicates, order, &[])
}

/// Chooses the best access path for a read of `columns`: between paths that narrow and
/// order equally well, one whose entries hold every column read (no record to fetch) wins.
pub fn choose_access_path_reading(
    schema: &TableSchema,
    predicates: &[ColumnPredicate],
    order: &[OrderKey],
    columns: &[String],
) -> AccessPlan {
    let mut candidates = vec![Candidate {
        columns: schema
            .primary_key
            .iter()
            .map(|c| (c.as_str(), SortOrder::Asc))
            .collect(),
        spec: None,
    }];
    for idx in schema.indexes.iter().filter(|i| !i.partial) {
        candidates.push(Candidate {
            columns: idx
                .columns
                .iter()
                .map(|c| (c.name.as_str(), c.order))
                .collect(),
            spec: Some(idx),
        });
    }
    // The primary key's entries are the records: it always holds every column.
    let covers = |c: &Candidate<'_>| {
        c.spec
            .is_none_or(|spec| columns.iter().all(|col| schema.index_holds(spec, col)))
    };
    let mut best: Option<((usize, bool, bool, bool, bool, bool), AccessPlan)> = None;
    for c in &candidates {
        let plan = plan_for(schema, c, predicates, order);
        let full_unique =
            c.unique() && plan.equality_columns == c.columns.len() && plan.path.prefixes.len() == 1;
        let score = (
            plan.equality_columns,
            plan.path.range != ColumnRange::All || plan.path.seek.is_some(),
            plan.ordered,
            covers(c),
            full_unique,
            c.spec.is_none(),
        );
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, plan));
        }
    }
    best.map(|(_, p)| p)
        .expect("the primary key is always a candidate")
}

fn plan_for(
    schema: &TableSchema,
    c: &Candidate<'_>,
    predicates: &[ColumnPredicate],
    order: &[OrderKey],
) -> AccessPlan {
    let mut answered = Vec::new();
    let mut prefixes: Vec<Vec<Value>> = vec![vec![]];
    let mut eq_len = 0;
    for (column, _) in &c.columns {
        let list = is_list(schema, column);
        let found = predicates.iter().enumerate().find_map(|(i, p)| {
            if p.column != *column {
                return None;
            }
            match (&p.predicate, list) {
                (Predicate::Eq(v), false) if !v.is_null() => Some((i, vec![v.clone()])),
                (Predicate::IsNull, false) => Some((i, vec![Value::Null])),
                (Predicate::Contains(v), true) if !v.is_null() => Some((i, vec![v.clone()])),
                (Predicate::In(vs), false) => {
                    let vs: Vec<Value> = vs.iter().filter(|v| !v.is_null()).cloned().collect();
                    (!vs.is_empty() && vs.len() * prefixes.len() <= MAX_PREFIXES).then_some((i, vs))
                }
                _ => None,
            }
        });
        let Some((i, values)) = found else { break };
        answered.push(i);
        prefixes = prefixes
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut p = p.clone();
                    p.push(v.clone());
                    p
                })
            })
            .collect();
        eq_len += 1;
    }

    let mut range = ColumnRange::All;
    if let Some((column, _)) = c.columns.get(eq_len) {
        if !is_list(schema, column) {
            range = range_for(column, predicates, &mut answered);
        }
    }

    // The walk's order: the key columns, then (in a secondary index) the primary key.
    let mut walk: Vec<(&str, SortOrder)> = c.columns.clone();
    if c.spec.is_some() {
        walk.extend(
            schema
                .primary_key
                .iter()
                .map(|k| (k.as_str(), SortOrder::Asc)),
        );
    }
    // A unique index holds no primary key in the keys of its (non-NULL) entries, so a seek
    // stays within its own columns.
    let seekable = if c.unique() {
        c.columns.len()
    } else {
        walk.len()
    };
    let seek = seek_for(
        schema,
        &walk[eq_len.min(seekable)..seekable],
        predicates,
        &mut range,
        &mut answered,
    );

    let (ordered, direction) = ordering(
        schema,
        &walk,
        eq_len,
        prefixes.len() == 1,
        predicates,
        order,
    );
    AccessPlan {
        path: AccessPath {
            index: c.spec.map(|s| s.name.clone()),
            prefixes,
            range,
            seek: seek.as_ref().map(|(s, _)| s.clone()),
            direction,
            offset: 0,
            limit: None,
        },
        answered,
        ordered,
        key_columns: c.columns.iter().map(|(n, _)| n.to_string()).collect(),
        equality_columns: eq_len,
        seek_columns: seek.map(|(_, cols)| cols).unwrap_or_default(),
    }
}

/// The seek a row-value comparison gives over `columns` (the key columns after the
/// equality prefix, in walk order): the first comparison whose tuple is a prefix of them,
/// all in one sort order. It is answered exactly when the bound itself leaves out every
/// tuple SQL would not call true: a `<` bound does (NULL sorts above every value), a `>`
/// bound does when only the first column can be NULL (that NULL is cut off by `range`).
fn seek_for(
    schema: &TableSchema,
    columns: &[(&str, SortOrder)],
    predicates: &[ColumnPredicate],
    range: &mut ColumnRange,
    answered: &mut Vec<usize>,
) -> Option<(Seek, Vec<String>)> {
    let nullable = |c: &str| {
        schema
            .column_index(c)
            .is_none_or(|i| schema.columns[i].nullable)
    };
    for (i, p) in predicates.iter().enumerate() {
        let Predicate::Keyset {
            columns: tuple,
            values,
            above,
            inclusive,
        } = &p.predicate
        else {
            continue;
        };
        let fits = !tuple.is_empty()
            && tuple.len() == values.len()
            && tuple.len() <= columns.len()
            && tuple
                .iter()
                .zip(columns)
                .all(|(t, (c, o))| t == c && *o == columns[0].1 && !is_list(schema, c))
            && !values.iter().any(Value::is_null);
        if !fits {
            continue;
        }
        let exact = if !*above {
            true
        } else if tuple[1..].iter().any(|c| nullable(c)) {
            false
        } else {
            match range {
                _ if !nullable(&tuple[0]) => {}
                ColumnRange::StartsWith(_) => {}
                ColumnRange::All => {
                    *range = ColumnRange::Between {
                        lower: Bound::Unbounded,
                        upper: Bound::Excluded(Value::Null),
                    }
                }
                ColumnRange::Between { upper, .. } => {
                    *upper = tighter(upper.clone(), Bound::Excluded(Value::Null), false)
                }
            }
            true
        };
        if exact {
            answered.push(i);
        }
        let seek = Seek {
            values: values.clone(),
            above: *above,
            inclusive: *inclusive,
        };
        return Some((seek, tuple.clone()));
    }
    None
}

/// The range on `column` from its range predicates, intersected; a `LIKE` prefix wins alone.
fn range_for(
    column: &str,
    predicates: &[ColumnPredicate],
    answered: &mut Vec<usize>,
) -> ColumnRange {
    if let Some((i, p)) = predicates
        .iter()
        .enumerate()
        .find_map(|(i, p)| match &p.predicate {
            Predicate::StartsWith(s) if p.column == column => Some((i, s.clone())),
            _ => None,
        })
    {
        answered.push(i);
        return ColumnRange::StartsWith(p);
    }
    let mut lower: Bound<Value> = Bound::Unbounded;
    let mut upper: Bound<Value> = Bound::Unbounded;
    let mut any = false;
    for (i, p) in predicates
        .iter()
        .enumerate()
        .filter(|(_, p)| p.column == column)
    {
        match &p.predicate {
            Predicate::Range { lower: l, upper: u } => {
                lower = tighter(lower, l.clone(), true);
                upper = tighter(upper, u.clone(), false);
            }
            Predicate::IsNotNull => {}
            _ => continue,
        }
        any = true;
        answered.push(i);
    }
    if !any {
        return ColumnRange::All;
    }
    // Comparisons and IS NOT NULL never match NULL, which sorts above every value.
    upper = tighter(upper, Bound::Excluded(Value::Null), false);
    ColumnRange::Between { lower, upper }
}

/// The tighter of two bounds (`is_lower`: the larger one; otherwise the smaller).
fn tighter(a: Bound<Value>, b: Bound<Value>, is_lower: bool) -> Bound<Value> {
    let (av, bv) = match (&a, &b) {
        (Bound::Unbounded, _) => return b,
        (_, Bound::Unbounded) => return a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            (x, y)
        }
    };
    match compare(av, bv) {
        std::cmp::Ordering::Equal => {
            if matches!(a, Bound::Excluded(_)) {
                a
            } else {
                b
            }
        }
        ord => {
            if (ord.is_gt()) == is_lower {
                a
            } else {
                b
            }
        }
    }
}

/// Whether the walk yields `order`, and in which direction. Columns fixed by one equality
/// value are constant in the output and need no ordering.
fn ordering(
    schema: &TableSchema,
    columns: &[(&str, SortOrder)],
    eq_len: usize,
    single_prefix: bool,
    predicates: &[ColumnPredicate],
    order: &[OrderKey],
) -> (bool, Direction) {
    let fixed = |col: &str| {
        predicates
            .iter()
            .any(|p| p.column == col && matches!(p.predicate, Predicate::Eq(_) | Predicate::IsNull))
            && !is_list(schema, col)
    };
    let keys: Vec<&OrderKey> = order.iter().filter(|k| !fixed(&k.column)).collect();
    if keys.is_empty() {
        return (!order.is_empty(), Direction::Forward);
    }
    // With several prefixes the walk is ordered only on the columns after them.
    let start = if single_prefix { 0 } else { eq_len };
    let mut pos = start;
    let mut direction = None;
    for key in keys {
        // Skip index columns fixed by equality.
        while pos < columns.len() && pos < eq_len && single_prefix && columns[pos].0 != key.column {
            pos += 1;
        }
        let Some((col, col_order)) = columns.get(pos) else {
            return (false, Direction::Forward);
        };
        if *col != key.column || is_list(schema, col) {
            return (false, Direction::Forward);
        }
        // Walking forward, a column comes out in its own order; NULL is greatest, so it comes
        // last ascending and first descending.
        let walk_desc = key.descending != col_order.is_desc();
        if key.nulls_first != key.descending {
            return (false, Direction::Forward);
        }
        let d = if walk_desc {
            Direction::Reverse
        } else {
            Direction::Forward
        };
        if direction.is_some_and(|x| x != d) {
            return (false, Direction::Forward);
        }
        direction = Some(d);
        pos += 1;
    }
    (true, direction.unwrap_or(Direction::Forward))
}
