//! One snapshot for every partition of one execution of a scan.
//!
//! DataFusion reads each partition in its own task. Were each to take its own snapshot, a
//! full scan split into key ranges would read them at different points in time, and a write
//! that moves a value between two rows in different ranges (a transfer) could be counted
//! twice or not at all. So the first partition of an execution to start takes a snapshot,
//! and the others of the same execution take the same one.
//!
//! An execution is told apart by its task context: DataFusion hands every partition of one
//! execution the same `Arc<TaskContext>`, and each execution (each run of a cached plan,
//! too) gets its own.

use std::sync::{Arc, Weak};

use datafusion::execution::TaskContext;
use indexed_store::{RowAccess, RowReader};
use parking_lot::Mutex;

/// A reader threads can share.
pub(super) type SharedReader = Arc<dyn RowReader + Send + Sync>;

/// The snapshots of a scan's executions that still have partitions to start.
#[derive(Default)]
pub(super) struct SharedSnapshots {
    runs: Mutex<Vec<Run>>,
}

/// One execution's snapshot.
struct Run {
    /// The execution's task context (held weakly: its address identifies the execution
    /// and cannot be reused while this is held).
    context: Weak<TaskContext>,
    reader: SharedReader,
    /// Partitions that have not started yet.
    waiting: Vec<bool>,
}

impl SharedSnapshots {
    /// The reader for `partition` of the execution `context`, one of `partitions`: the
    /// snapshot an earlier partition of the same execution took, or a new one.
    ///
    /// A run is forgotten once all its partitions started, or once its execution is gone
    /// (checked whenever a partition starts), so a plan whose consumer never starts some
    /// partitions pins that snapshot only until its next execution or until it is dropped.
    pub(super) fn reader(
        &self,
        table: &dyn RowAccess,
        partition: usize,
        partitions: usize,
        context: &Arc<TaskContext>,
    ) -> SharedReader {
        if partitions < 2 {
            return table.shared_reader();
        }
        let mut runs = self.runs.lock();
        runs.retain(|r| r.context.strong_count() > 0 && r.waiting.contains(&true));
        let same = |r: &&mut Run| std::ptr::eq(r.context.as_ptr(), Arc::as_ptr(context));
        let unstarted = |r: &&mut Run| r.waiting.get(partition) == Some(&true);
        if let Some(run) = runs.iter_mut().find(|r| same(r) && unstarted(r)) {
            run.waiting[partition] = false;
            return Arc::clone(&run.reader);
        }
        let reader = table.shared_reader();
        let mut waiting = vec![true; partitions];
        if let Some(started) = waiting.get_mut(partition) {
            *started = false;
        }
        runs.push(Run {
            context: Arc::downgrade(context),
            reader: Arc::clone(&reader),
            waiting,
        });
        reader
    }
}
