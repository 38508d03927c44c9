//! DataFusion filter expressions in the store's vocabulary: which conjuncts become column
//! predicates an index can answer, and which the scan must evaluate itself.

use std::ops::Bound;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::TreeNode;
use datafusion::logical_expr::{expr::InList, Between, BinaryExpr, Expr, Like, Operator};
use indexed_store::{compare, ColumnPredicate, ColumnType, Predicate, TableSchema, Value};

use crate::convert::{scalar_to_value, uuid_text};

/// A column reference, seeing through the casts that keep every value of the column as it
/// is (the key codec orders integers and floats together, so such a cast does not change
/// which keys match). A cast that can change a value — a float to an integer truncates,
/// anything to a narrower type — is not seen through: the scan evaluates it instead.
fn column_of<'a>(e: &'a Expr, schema: &TableSchema) -> Option<ColumnRef<'a>> {
    match e {
        Expr::Column(c) => schema.column_index(&c.name).map(|_| ColumnRef {
            name: c.name.as_str(),
            int_as_float: false,
        }),
        Expr::Cast(cast) => {
            let inner = column_of(&cast.expr, schema)?;
            let ty = &schema.columns[schema.column_index(inner.name)?].ty;
            let int_as_float = match (ty, cast.field.data_type()) {
                (ColumnType::Int64, DataType::Int64) => false,
                (ColumnType::Float64, DataType::Float64) => false,
                (ColumnType::Int64, DataType::Float64) => true,
                _ => return None,
            };
            Some(ColumnRef {
                name: inner.name,
                int_as_float: inner.int_as_float || int_as_float,
            })
        }
        _ => None,
    }
}

/// A column a predicate compares.
struct ColumnRef<'a> {
    name: &'a str,
    /// Compared as a DOUBLE although it holds BIGINTs: the engine rounds each value to the
    /// nearest double before comparing, which the index (exact) agrees with only for
    /// literals strictly inside ±2^53, where no rounded integer can land on the literal.
    int_as_float: bool,
}

/// True when an exact integer comparison with `v` answers what a comparison of the
/// integer rounded to a double would.
fn exact_as_double(v: &Value) -> bool {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    match v {
        Value::Int(i) => i.unsigned_abs() < 1 << 53,
        Value::Float(f) => f.is_finite() && f.abs() < LIMIT,
        Value::Null => true,
        _ => false,
    }
}

fn literal(e: &Expr) -> Option<Value> {
    match e {
        Expr::Literal(s, _) => scalar_to_value(s),
        Expr::Cast(c) => match c.expr.as_ref() {
            Expr::Literal(s, _) => {
                let cast = s.cast_to(c.field.data_type()).ok()?;
                scalar_to_value(&cast)
            }
            _ => None,
        },
        _ => None,
    }
}

/// The value as the column's index entries hold it, when the key codec compares it with
/// them exactly: a number for a numeric column, a UUID's text as its 16 bytes, a DATE or
/// TIMESTAMPTZ literal as its instant.
fn as_stored(schema: &TableSchema, column: &str, v: Value) -> Option<Value> {
    let i = schema.column_index(column)?;
    let ty = match &schema.columns[i].ty {
        ColumnType::List(inner) => inner.as_ref(),
        ty => ty,
    };
    match (ty, v) {
        (_, Value::Null) => Some(Value::Null),
        // Only the canonical text: DataFusion compares the column as that text, and the
        // index must find what that comparison would.
        // A number at the column's scale, when exact; otherwise the scan compares.
        (
            ColumnType::Decimal { .. },
            v @ (Value::Int(_) | Value::Float(_) | Value::Decimal(..)),
        ) => v.coerce_to(ty),
        (ColumnType::Uuid, Value::Text(t)) => {
            let bytes = Value::Text(t.clone()).coerce_to(ty)?;
            let Value::Bytes(b) = &bytes else {
                return None;
            };
            (uuid_text(b).ok()? == t).then_some(bytes)
        }
        (ty, v) => fits_type(ty, &v).then_some(v),
    }
}

fn fits_type(ty: &ColumnType, v: &Value) -> bool {
    matches!(
        (ty, v),
        (ColumnType::Boolean, Value::Bool(_))
            | (
                ColumnType::Int64 | ColumnType::Float64,
                Value::Int(_) | Value::Float(_)
            )
            | (ColumnType::Text, Value::Text(_))
            | (ColumnType::Bytes, Value::Bytes(_))
            | (ColumnType::Timestamp, Value::Timestamp(_))
            | (ColumnType::TimestampTz, Value::Timestamp(_))
            | (ColumnType::Date, Value::Timestamp(_))
            | (ColumnType::Uuid, Value::Bytes(_))
            | (ColumnType::Json, Value::Text(_))
    )
}

fn flip(op: Operator) -> Option<Operator> {
    Some(match op {
        Operator::Eq => Operator::Eq,
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        _ => return None,
    })
}

fn comparison(column: &str, op: Operator, v: Value) -> Option<ColumnPredicate> {
    if v.is_null() {
        return None;
    }
    let predicate = match op {
        Operator::Eq => Predicate::Eq(v),
        Operator::Lt => Predicate::Range {
            lower: Bound::Unbounded,
            upper: Bound::Excluded(v),
        },
        Operator::LtEq => Predicate::Range {
            lower: Bound::Unbounded,
            upper: Bound::Included(v),
        },
        Operator::Gt => Predicate::Range {
            lower: Bound::Excluded(v),
            upper: Bound::Unbounded,
        },
        Operator::GtEq => Predicate::Range {
            lower: Bound::Included(v),
            upper: Bound::Unbounded,
        },
        _ => return None,
    };
    Some(ColumnPredicate {
        column: column.to_owned(),
        predicate,
    })
}

/// `'abc%'` → `abc` when the pattern is a plain prefix (no other wildcard or escape).
fn like_prefix(pattern: &str) -> Option<String> {
    let prefix = pattern.strip_suffix('%')?;
    (!prefix.contains(['%', '_', '\\'])).then(|| prefix.to_owned())
}

/// `c = a OR c = b OR c IN (d)` as one IN-list on `c` (DataFusion rewrites short IN-lists
/// into such disjunctions).
fn disjunction_as_in(e: &Expr, schema: &TableSchema) -> Option<ColumnPredicate> {
    let mut column: Option<String> = None;
    let mut values = Vec::new();
    let mut stack = vec![e];
    while let Some(node) = stack.pop() {
        if let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) = node
        {
            stack.push(left);
            stack.push(right);
            continue;
        }
        let p = to_predicate(node, schema)?;
        if column.as_ref().is_some_and(|c| *c != p.column) {
            return None;
        }
        column = Some(p.column);
        match p.predicate {
            Predicate::Eq(v) => values.push(v),
            Predicate::In(vs) => values.extend(vs),
            _ => return None,
        }
    }
    Some(ColumnPredicate {
        column: column?,
        predicate: Predicate::In(values),
    })
}

/// The column predicate a conjunct means, when an index could answer it exactly.
pub fn to_predicate(e: &Expr, schema: &TableSchema) -> Option<ColumnPredicate> {
    if matches!(
        e,
        Expr::BinaryExpr(BinaryExpr {
            op: Operator::Or,
            ..
        })
    ) {
        return keyset_predicate(e, schema).or_else(|| disjunction_as_in(e, schema));
    }
    let (p, lossy) = compared(e, schema)?;
    fitted(p, lossy, schema)
}

/// The predicate a comparison, IN-list, BETWEEN, NULL test, LIKE or `array_has` means, its
/// values as written; with whether the column was compared as a DOUBLE (an integer column
/// cast to compare with a float, when only an exact float can use the index).
fn compared(e: &Expr, schema: &TableSchema) -> Option<(ColumnPredicate, bool)> {
    let mut lossy = false;
    let p = match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if let (Some(c), Some(v)) = (column_of(left, schema), literal(right)) {
                lossy = c.int_as_float;
                comparison(c.name, *op, v)?
            } else if let (Some(c), Some(v)) = (column_of(right, schema), literal(left)) {
                lossy = c.int_as_float;
                comparison(c.name, flip(*op)?, v)?
            } else {
                return None;
            }
        }
        Expr::InList(InList {
            expr,
            list,
            negated: false,
        }) => {
            let c = column_of(expr, schema)?;
            lossy = c.int_as_float;
            let values = list.iter().map(literal).collect::<Option<Vec<_>>>()?;
            ColumnPredicate {
                column: c.name.to_owned(),
                predicate: Predicate::In(values),
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => {
            let c = column_of(expr, schema)?;
            lossy = c.int_as_float;
            let (lo, hi) = (literal(low)?, literal(high)?);
            if lo.is_null() || hi.is_null() {
                return None;
            }
            ColumnPredicate {
                column: c.name.to_owned(),
                predicate: Predicate::Range {
                    lower: Bound::Included(lo),
                    upper: Bound::Included(hi),
                },
            }
        }
        Expr::IsNull(inner) => ColumnPredicate {
            column: column_of(inner, schema)?.name.to_owned(),
            predicate: Predicate::IsNull,
        },
        Expr::IsNotNull(inner) => ColumnPredicate {
            column: column_of(inner, schema)?.name.to_owned(),
            predicate: Predicate::IsNotNull,
        },
        Expr::Like(like) => like_predicate(like, schema)?,
        Expr::ScalarFunction(f)
            if matches!(f.name(), "array_has" | "list_has" | "array_contains") =>
        {
            contains_predicate(&f.args, schema)?
        }
        _ => return None,
    };
    Some((p, lossy))
}

/// `text LIKE 'prefix%'` as a prefix predicate (case-sensitive, no escape).
fn like_predicate(like: &Like, schema: &TableSchema) -> Option<ColumnPredicate> {
    let Like {
        negated: false,
        expr,
        pattern,
        escape_char: None,
        case_insensitive: false,
    } = like
    else {
        return None;
    };
    let c = column_of(expr, schema)?;
    if c.int_as_float {
        return None;
    }
    let ty = &schema.columns[schema.column_index(c.name)?].ty;
    let Some(Value::Text(p)) = literal(pattern) else {
        return None;
    };
    if *ty != ColumnType::Text {
        return None;
    }
    Some(ColumnPredicate {
        column: c.name.to_owned(),
        predicate: Predicate::StartsWith(like_prefix(&p)?),
    })
}

/// `array_has(list_column, value)` as an element predicate (a multi-key index answers it).
fn contains_predicate(args: &[Expr], schema: &TableSchema) -> Option<ColumnPredicate> {
    let [Expr::Column(c), needle] = args else {
        return None;
    };
    let i = schema.column_index(&c.name)?;
    if !schema.columns[i].ty.is_list() {
        return None;
    }
    let v = literal(needle)?;
    if v.is_null() {
        return None;
    }
    Some(ColumnPredicate {
        column: c.name.clone(),
        predicate: Predicate::Contains(v),
    })
}

/// A predicate with its values as the column's index entries hold them (None when one does
/// not fit: then the scan evaluates the filter).
fn fitted(p: ColumnPredicate, lossy: bool, schema: &TableSchema) -> Option<ColumnPredicate> {
    let fit = |v: Value| {
        if lossy && !exact_as_double(&v) {
            return None;
        }
        as_stored(schema, &p.column, v)
    };
    let bound = |b: Bound<Value>| match b {
        Bound::Included(v) => fit(v).map(Bound::Included),
        Bound::Excluded(v) => fit(v).map(Bound::Excluded),
        Bound::Unbounded => Some(Bound::Unbounded),
    };
    let predicate = match p.predicate {
        Predicate::Eq(v) => Predicate::Eq(fit(v)?),
        Predicate::Contains(v) => Predicate::Contains(fit(v)?),
        Predicate::In(vs) => Predicate::In(vs.into_iter().map(fit).collect::<Option<_>>()?),
        Predicate::Range { lower, upper } => Predicate::Range {
            lower: bound(lower)?,
            upper: bound(upper)?,
        },
        other => other,
    };
    Some(ColumnPredicate {
        column: p.column,
        predicate,
    })
}

/// True when the scan can evaluate the expression itself (no subquery, nothing volatile),
/// so DataFusion may hand it over as Exact.
pub fn evaluable_in_scan(e: &Expr) -> bool {
    let mut ok = true;
    let _ = e.apply(|node| {
        if matches!(
            node,
            Expr::ScalarSubquery(_)
                | Expr::Exists(_)
                | Expr::InSubquery(_)
                | Expr::OuterReferenceColumn(..)
                | Expr::Placeholder(_)
        ) || node.is_volatile_node()
        {
            ok = false;
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    ok
}

// Keyset predicates: the expanded form of a row-value comparison (see `keyset.rs`).

/// One disjunct of the expanded form: columns equal to values, then one compared.
struct Piece {
    equal: Vec<(String, Value)>,
    column: String,
    value: Value,
    above: bool,
    inclusive: bool,
}

/// The keyset predicate an OR of comparisons means over `schema`'s columns, when it is the
/// expanded form of a row-value comparison (flat, or nested as `a < x OR (a = x AND (b < y
/// OR ...))`).
fn keyset_predicate(e: &Expr, schema: &TableSchema) -> Option<ColumnPredicate> {
    let mut pieces = pieces(e, schema, &[])?;
    if pieces.len() < 2 {
        return None;
    }
    pieces.sort_by_key(|p| p.equal.len());
    let (above, inclusive) = {
        let last = pieces.last()?;
        (last.above, last.inclusive)
    };
    let mut columns: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    for (k, p) in pieces.iter().enumerate() {
        let last = k + 1 == pieces.len();
        if p.equal.len() != k || p.above != above || (p.inclusive && !last) {
            return None;
        }
        for (c, v) in &p.equal {
            let at = columns.iter().position(|x| x == c)?;
            if compare(&values[at], v) != std::cmp::Ordering::Equal {
                return None;
            }
        }
        if columns.contains(&p.column) {
            return None;
        }
        columns.push(p.column.clone());
        values.push(p.value.clone());
    }
    Some(ColumnPredicate {
        column: columns[0].clone(),
        predicate: Predicate::Keyset {
            columns,
            values,
            above,
            inclusive,
        },
    })
}

/// The disjuncts of `e` as pieces, each with `equal` in front.
fn pieces(e: &Expr, schema: &TableSchema, equal: &[(String, Value)]) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    for disjunct in split(e, Operator::Or) {
        let mut eq = equal.to_vec();
        let mut compared: Option<Piece> = None;
        let mut nested: Option<&Expr> = None;
        for conjunct in split(disjunct, Operator::And) {
            if matches!(conjunct, Expr::BinaryExpr(b) if b.op == Operator::Or) {
                if nested.replace(conjunct).is_some() {
                    return None;
                }
                continue;
            }
            let p = to_predicate(conjunct, schema)?;
            match p.predicate {
                Predicate::Eq(v) => eq.push((p.column, v)),
                Predicate::Range { lower, upper } => {
                    let (above, bound) = match (lower, upper) {
                        (b, Bound::Unbounded) => (true, b),
                        (Bound::Unbounded, b) => (false, b),
                        _ => return None,
                    };
                    let (value, inclusive) = match bound {
                        Bound::Included(v) => (v, true),
                        Bound::Excluded(v) => (v, false),
                        Bound::Unbounded => return None,
                    };
                    let piece = Piece {
                        equal: Vec::new(),
                        column: p.column,
                        value,
                        above,
                        inclusive,
                    };
                    if compared.replace(piece).is_some() {
                        return None;
                    }
                }
                _ => return None,
            }
        }
        match (compared, nested) {
            (Some(mut piece), None) => {
                piece.equal = eq;
                out.push(piece);
            }
            (None, Some(inner)) => out.extend(pieces(inner, schema, &eq)?),
            _ => return None,
        }
    }
    Some(out)
}

/// The operands of a chain of `op`.
fn split(e: &Expr, op: Operator) -> Vec<&Expr> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: o, right }) if *o == op => {
            let mut v = split(left, op);
            v.extend(split(right, op));
            v
        }
        other => vec![other],
    }
}
