//! The catalog DataFusion resolves names in: [`QuiverCatalog`] (`provider`), the schema of
//! each namespace (`schema`), views planned as their SELECT (`views`), schema `sys` (`sys/`,
//! one file per table), and the seams through which the session above plans a namespace's
//! views and installs the checks of rows written to a table (`planner`).

mod planner;
mod provider;
mod schema;
mod sys;
mod views;

pub use planner::{NamespacePlanner, WriteCheck};
pub use provider::QuiverCatalog;
pub use schema::SessionTimeZone;
