//! Row-value comparisons, the condition of a keyset (cursor) page: `(contacts_count, id) <
//! (500, 'acc-00000042')`.
//!
//! DataFusion plans a tuple comparison as a comparison of structs, whose NULL handling is not
//! SQL's (a struct holding a NULL still compares) and which no index can use. So the parser's
//! output is rewritten first ([`expand_row_values`]) into the expanded form PostgreSQL
//! defines it as: `a < x OR (a = x AND b < y)`. That form, written by the user or by the
//! rewrite, is then recognised over a table's columns ([`keyset_predicate`]) as one
//! [`Predicate::Keyset`], which the access planner turns into a seek into an index whose
//! walk order is those columns.

use std::ops::{Bound, ControlFlow};

use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{self, visit_expressions_mut, BinaryOperator};
use indexed_store::{compare, ColumnPredicate, Predicate, TableSchema, Value};

use crate::filters::to_predicate;

/// Rewrites every comparison of two tuples of the same length into its expanded form.
pub(crate) fn expand_row_values(statement: &mut DFStatement) {
    match statement {
        DFStatement::Statement(s) => {
            let _ = visit_expressions_mut(s.as_mut(), |e| {
                if let Some(expanded) = expand(e) {
                    *e = expanded;
                }
                ControlFlow::<()>::Continue(())
            });
        }
        DFStatement::Explain(explain) => expand_row_values(&mut explain.statement),
        _ => {}
    }
}

/// `(l1, l2, ...) op (r1, r2, ...)` expanded, or None for any other expression.
fn expand(e: &ast::Expr) -> Option<ast::Expr> {
    let ast::Expr::BinaryOp { left, op, right } = e else {
        return None;
    };
    let (ast::Expr::Tuple(l), ast::Expr::Tuple(r)) = (left.as_ref(), right.as_ref()) else {
        return None;
    };
    if l.len() != r.len() || l.is_empty() {
        return None;
    }
    let pairs = l.iter().zip(r);
    let binary = |a: &ast::Expr, op: BinaryOperator, b: &ast::Expr| ast::Expr::BinaryOp {
        left: Box::new(a.clone()),
        op,
        right: Box::new(b.clone()),
    };
    let fold = |items: Vec<ast::Expr>, op: BinaryOperator| {
        items
            .into_iter()
            .reduce(|a, b| ast::Expr::Nested(Box::new(binary(&a, op.clone(), &b))))
    };
    let (strict, last) = match op {
        BinaryOperator::Eq => {
            return fold(
                pairs
                    .map(|(a, b)| binary(a, BinaryOperator::Eq, b))
                    .collect(),
                BinaryOperator::And,
            )
        }
        BinaryOperator::NotEq => {
            return fold(
                pairs
                    .map(|(a, b)| binary(a, BinaryOperator::NotEq, b))
                    .collect(),
                BinaryOperator::Or,
            )
        }
        BinaryOperator::Lt => (BinaryOperator::Lt, BinaryOperator::Lt),
        BinaryOperator::LtEq => (BinaryOperator::Lt, BinaryOperator::LtEq),
        BinaryOperator::Gt => (BinaryOperator::Gt, BinaryOperator::Gt),
        BinaryOperator::GtEq => (BinaryOperator::Gt, BinaryOperator::GtEq),
        _ => return None,
    };
    // Disjunct i: the first i columns equal, column i compared.
    let n = l.len();
    let disjuncts = (0..n)
        .map(|i| {
            let mut conjuncts: Vec<ast::Expr> = (0..i)
                .map(|j| binary(&l[j], BinaryOperator::Eq, &r[j]))
                .collect();
            let op = if i + 1 == n {
                last.clone()
            } else {
                strict.clone()
            };
            conjuncts.push(binary(&l[i], op, &r[i]));
            fold(conjuncts, BinaryOperator::And).expect("at least one conjunct")
        })
        .collect();
    fold(disjuncts, BinaryOperator::Or)
}

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
pub(crate) fn keyset_predicate(e: &Expr, schema: &TableSchema) -> Option<ColumnPredicate> {
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
