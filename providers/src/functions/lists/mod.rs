//! Runnable lists: each row of the `lists` table (a datasource, its columns, a filter, a sort
//! and a page size) is a query that SQL runs by the list's id.
//!
//! ```sql
//! SELECT * FROM list('top-active');                 -- page 1
//! SELECT * FROM list('top-active', 3);              -- page 3 (OFFSET, skipped in the index)
//! SELECT * FROM list('top-active', 'f02000...');    -- the page after a row's _cursor
//! SELECT * FROM list_count('top-active');           -- "N results"
//! SELECT * FROM list_facets('top-active', 'owner') ORDER BY owner; -- per-value counts
//! ```
//!
//! A page is the list's SELECT (its filter, its sort with the primary key appended as the
//! tie-breaker, its page size) built as a logical plan and planned when the call is scanned,
//! so it pushes down into the index as the written-out query would. Every row carries
//! `_cursor`: its sort key (sort columns, then primary key) in the store's key codec, as hex.
//! The page after a cursor is the keyset condition on that key, which the access planner
//! turns into one seek when the sort columns are served by an index; page 10,000 then costs
//! what page 1 costs.
//!
//! A list is checked when it is written (INSERT / UPDATE on `lists`): its datasource must be
//! a table, its columns must exist, its filter must be one boolean SQL expression over the
//! table's columns and its sort a list of the table's columns with ASC / DESC.

mod check;
mod function;
mod read;

pub use function::register_list_functions;
pub use read::{ListRead, CURSOR_COLUMN};

pub(crate) use check::{list_err, ListReads};
pub(crate) use function::{register_list_functions_with, row_check};
pub(crate) use read::{read_schema, read_statement, with_cursor};
