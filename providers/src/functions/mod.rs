//! Quiver's table functions: the job queue's (`jobs`: submit, claim, heartbeat, complete,
//! fail, cancel, each one atomic step of the queue when its plan runs) and the lists'
//! (`lists/`: `list`, `list_count`, `list_facets`, each a saved query read as its own
//! statement).

mod jobs;
mod lists;

pub use jobs::{register_job_functions, runs_job_operation};
pub use lists::{register_list_functions, ListRead, CURSOR_COLUMN};

pub(crate) use lists::{
    list_err, read_schema, read_statement, register_list_functions_with, row_check, with_cursor,
    ListReads,
};
