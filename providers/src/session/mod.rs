//! [`Quiver`]: a SQL session over a database, as an embedding program, the shell and the
//! servers use it.
//!
//! - `quiver`: the session (DDL run before DataFusion sees it, every statement through the
//!   plan cache, prepared statements, scripts).
//! - `context`: the DataFusion sessions Quiver makes, and the per-namespace sessions views
//!   and lists are planned in (the session's side of the catalog's seams).
//! - `prepared`: [`PreparedStatement`], planned once and run with parameters.
//! - `lists`: a list's pages read from Rust.
//! - `transaction`, `control`: [`Transaction`], and BEGIN / COMMIT / ROLLBACK / savepoints.

mod context;
mod control;
mod lists;
mod prepared;
mod quiver;
mod transaction;

pub use context::{default_config, register, session_context};
pub use lists::ListPage;
pub use prepared::PreparedStatement;
pub use quiver::Quiver;
pub use transaction::Transaction;

pub use control::Control;
