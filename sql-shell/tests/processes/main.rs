//! The real `quiver` binary as a process (the shell, `verify`, `serve` on 127.0.0.1 with
//! Flight SQL clients), one behaviour per module, built as one binary so that DataFusion and
//! the Flight client are linked once (see docs/tests.md).

mod common;

mod cli;
mod flight;
mod flight_security;
mod flight_transactions;
mod jobs_flight;
mod load;
mod repl;
