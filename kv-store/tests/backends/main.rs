//! The storage backends: the conformance suite every backend passes, and pending writes
//! over a snapshot. One binary (see docs/tests.md).

mod conformance;
mod overlay;
