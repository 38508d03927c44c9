//! The store's query vocabulary and the one place that decides it: an [`AccessPath`] (an
//! index, equality prefixes, a range, a seek, a direction, an offset and a limit), the
//! planner that chooses one for a set of predicates and an ordering, and whether an index's
//! counters answer a path.

mod counters;
mod path;
mod planner;

pub use counters::counters_answer;
pub use path::{AccessPath, ColumnRange, Seek};
pub use planner::{
    choose_access_path, choose_access_path_reading, AccessPlan, ColumnPredicate, OrderKey,
    Predicate,
};
