//! Expressions in the store's terms: filters as the column predicates an index answers
//! (`predicates`, keyset comparisons included), row-value comparisons rewritten to their
//! expanded form (`keyset`), expressions simplified and compiled as scans and writes
//! evaluate them (`simplify`), and column defaults (`defaults`).

mod defaults;
mod keyset;
mod predicates;
mod simplify;

pub use predicates::{evaluable_in_scan, to_predicate};

pub(crate) use defaults::{default_expr, default_text, default_value};
pub(crate) use keyset::expand_row_values;
pub(crate) use simplify::{compile, simplified, simplify, unqualified};
