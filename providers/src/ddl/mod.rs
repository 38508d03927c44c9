//! Quiver's DDL, run before DataFusion sees the statement: CREATE TABLE and CREATE INDEX
//! (`create`, with column definitions in `columns`), ALTER TABLE (`alter`), CREATE VIEW and
//! DROP VIEW (`views`), DROP TABLE and DROP INDEX (`dispatch`). One dispatcher, `run_ddl`,
//! checks the namespace a restricted session may change and runs the statement against the
//! database directly.

mod alter;
mod columns;
mod create;
mod dispatch;
mod views;

pub use columns::parse_type;
pub use dispatch::{is_ddl, DdlOutcome};

pub(crate) use dispatch::run_ddl;
