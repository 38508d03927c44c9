//! What the job queue's operations share and do on the side, whichever handle makes them:
//! admission, the earliest lease known, and compaction of the claim indexes.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::admission::{Admission, Admitted};
use crate::schema::Job;
use crate::table::IndexedEntityStore;

/// Jobs claimed between two compactions of the claim indexes.
const COMPACT_EVERY: u64 = 32_768;

/// Work claims do on the side, shared by every handle on one `jobs` table.
///
/// A queue consumes its indexes from the front: each claim deletes the `jobs_ready` entry
/// it took and each completion the `jobs_lease` entry, and until RocksDB compacts them
/// away a walk from the front steps over every deletion (measured: claim latency grew to
/// 4 ms p50 and 134 ms p99 over 100,000 jobs). So every few thousand claims the two
/// indexes are compacted on a background thread, and a claim looks for expired leases only
/// once the earliest lease it knows of has passed, instead of on every claim.
///
/// Queue operations that write are admitted at most one per core at a time
/// (`admission.rs`): more workers than cores would otherwise be time-sliced in the
/// middle of their claims.
pub struct Upkeep {
    /// The earliest lease expiry (µs) granted since expired leases were last looked for;
    /// `i64::MIN` when unknown (look now).
    next_expiry: AtomicI64,
    claimed: AtomicU64,
    /// The compaction thread last started (running until it is finished). Dropping the
    /// upkeep waits for it: a thread left inside RocksDB when the process exits aborts it.
    compaction: Mutex<Option<JoinHandle<()>>>,
    admission: Admission,
}

impl Default for Upkeep {
    fn default() -> Self {
        Upkeep {
            next_expiry: AtomicI64::new(i64::MIN),
            claimed: AtomicU64::new(0),
            compaction: Mutex::new(None),
            admission: Admission::per_core(),
        }
    }
}

impl Upkeep {
    /// Waits for a queue operation's turn to write.
    pub(crate) fn admit(&self) -> Admitted<'_> {
        self.admission.enter()
    }

    /// The earliest lease expiry (µs) known to be running; `i64::MIN` when unknown.
    pub(crate) fn next_expiry(&self) -> i64 {
        self.next_expiry.load(Ordering::Acquire)
    }

    /// Records a lease granted until `expiry` (µs).
    pub(crate) fn lease_granted(&self, expiry: i64) {
        self.next_expiry.fetch_min(expiry, Ordering::AcqRel);
    }

    /// Replaces the earliest expiry read as `seen` by `next`, unless a claim lowered it
    /// meanwhile.
    pub(crate) fn expiry_looked_up(&self, seen: i64, next: i64) {
        let _ = self
            .next_expiry
            .compare_exchange(seen, next, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Counts claimed jobs and compacts the claim indexes in the background when due.
    pub(crate) fn claimed(&self, store: &Arc<IndexedEntityStore<String, Job>>, n: usize) {
        let total = self.claimed.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total < COMPACT_EVERY {
            return;
        }
        // Another claim is starting one, or the last one still runs: a later claim looks
        // again.
        let Some(mut compaction) = self.compaction.try_lock() else {
            return;
        };
        if compaction.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        self.claimed.store(0, Ordering::Relaxed);
        let store = store.clone();
        let thread = std::thread::spawn(move || {
            for index in ["jobs_ready", "jobs_lease"] {
                // A failed compaction costs only speed; the next one tries again.
                let _ = store.compact_index(index);
            }
        });
        // The thread before has finished: joining it returns at once.
        if let Some(before) = compaction.replace(thread) {
            let _ = before.join();
        }
    }
}

impl Drop for Upkeep {
    fn drop(&mut self) {
        if let Some(thread) = self.compaction.get_mut().take() {
            let _ = thread.join();
        }
    }
}
