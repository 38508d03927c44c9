//! The `jobs` table as a work queue: [`JobQueue`] (submit, claim with a lease, heartbeat,
//! complete, fail, cancel, retention), what its handles share ([`Upkeep`]: admission, the
//! earliest lease, compaction of the claim index), and [`Admission`], which lets only as
//! many queue operations run at once as there are cores. `jobs.rs` submits and claims;
//! `finish.rs` holds a claimed job's transitions (heartbeat, complete, fail, cancel).

mod admission;
mod finish;
mod jobs;
mod upkeep;

pub use admission::{Admission, Admitted};
pub use jobs::{JobQueue, NewJob, QueueConfig, QueueStat, Submitted};
pub use upkeep::Upkeep;
