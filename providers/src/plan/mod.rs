//! Planning and running statements.
//!
//! - `statement`: a statement's text to a plan-cache entry: parsed, rewritten (`files`:
//!   COPY FROM as an INSERT; `defaults`: DEFAULT in VALUES; `write_clauses`: ON CONFLICT
//!   and RETURNING planned above the write), planned by DataFusion, checked, and analyzed
//!   for a fast plan.
//! - `fast_read`, `fast_write`: statements of the shapes Quiver runs without DataFusion's
//!   planner (a bound parameter straight into an index scan or a write by key).
//! - `cache`: the plan cache; `run`: a cached statement run, fast when it can be.
//! - `rules`: Quiver's optimizer rules, one per file.

mod cache;
mod defaults;
mod fast_read;
mod fast_write;
mod files;
mod rules;
mod run;
mod statement;
mod write_clauses;

pub use cache::{CachedStatementStats, PlanCache, PlanCacheLimits, PlanCacheStats};
pub use files::{is_file_reference, FileAccess};
pub use rules::{optimizer_rules, DistinctScan, OffsetScan};
pub use statement::parse;
pub use write_clauses::{is_write, returns_rows, QuiverQueryPlanner};

pub(crate) use cache::{CachedStatement, Run};
pub(crate) use files::{access_of, NdjsonFormat};
pub(crate) use run::{bound_plan, run_fast, run_in_state};
pub(crate) use statement::{one_statement, plan_entry, plan_statement, scope_key, scope_of};
