//! Row-value comparisons, the condition of a keyset (cursor) page: `(contacts_count, id) <
//! (500, 'acc-00000042')`.
//!
//! DataFusion plans a tuple comparison as a comparison of structs, whose NULL handling is not
//! SQL's (a struct holding a NULL still compares) and which no index can use. So the parser's
//! output is rewritten first ([`expand_row_values`]) into the expanded form PostgreSQL
//! defines it as: `a < x OR (a = x AND b < y)`. That form, written by the user or by the
//! rewrite, is then recognised over a table's columns (`keyset_predicate` in
//! `predicates.rs`) as one `Predicate::Keyset`, which the access planner turns into a seek
//! into an index whose walk order is those columns.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{self, visit_expressions_mut, BinaryOperator};

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
