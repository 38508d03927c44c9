//! Admission: at most N operations run at once; the rest wait their turn, first come first
//! served.
//!
//! Why a queue needs it: workers spend their time in claims and completions, which are
//! pure CPU (RocksDB memtables, the WAL in the page cache). When more worker threads call
//! them than the machine has cores, the operating system time-slices them, and a claim
//! descheduled half-way waits out other threads' slices (milliseconds) before it can
//! finish: measured with 4 workers on 2 cores, one claim in 15 took over 3 ms and the
//! p99 was 6-8 ms, while the p50 was 0.5 ms. Letting only as many operations run as there
//! are cores turns that lottery into a short, ordered wait for the one or two operations
//! ahead (p99 3-4.5 ms in the same benchmark; see the README's job-queue section).
//!
//! An operation already admitted on a thread is not gated again on that thread, so
//! admitted code may call other admitted code without deadlocking.

use std::cell::Cell;
use std::collections::VecDeque;
use std::thread::Thread;

use parking_lot::Mutex;

/// A first-come-first-served gate that lets at most `permits` operations in at once.
#[derive(Debug)]
pub struct Admission {
    tickets: Mutex<Tickets>,
    permits: u64,
}

#[derive(Debug, Default)]
struct Tickets {
    /// Tickets handed out so far: the next caller gets this number.
    issued: u64,
    /// Operations that have left: ticket `t` may enter once `t < finished + permits`.
    finished: u64,
    /// The callers waiting, in ticket order. Each leaving operation wakes only the next
    /// one: waking them all to compare tickets cost 16 workers a fifth of their
    /// throughput.
    waiting: VecDeque<Thread>,
}

thread_local! {
    /// Whether this thread is inside an admitted operation (of any gate).
    static ADMITTED: Cell<bool> = const { Cell::new(false) };
}

/// An admitted operation; leaving (dropping it) lets the next one in.
#[must_use = "the operation is admitted only while this is held"]
pub struct Admitted<'a> {
    /// `None` when the thread was admitted already and this entry did not take a permit.
    gate: Option<&'a Admission>,
}

impl Admission {
    /// A gate letting in at most `permits` operations at once (at least one).
    pub fn new(permits: usize) -> Self {
        Admission {
            tickets: Mutex::new(Tickets::default()),
            permits: permits.max(1) as u64,
        }
    }

    /// A gate with one permit per core of this machine.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Waits for this caller's turn and admits it.
    pub fn enter(&self) -> Admitted<'_> {
        if ADMITTED.with(Cell::get) {
            return Admitted { gate: None };
        }
        let mut tickets = self.tickets.lock();
        let ticket = tickets.issued;
        tickets.issued += 1;
        if ticket >= tickets.finished + self.permits {
            tickets.waiting.push_back(std::thread::current());
            loop {
                drop(tickets);
                // Woken by the operation that made room (or spuriously: look again).
                std::thread::park();
                tickets = self.tickets.lock();
                if ticket < tickets.finished + self.permits {
                    break;
                }
            }
        }
        drop(tickets);
        ADMITTED.with(|a| a.set(true));
        Admitted { gate: Some(self) }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let Some(gate) = self.gate else { return };
        ADMITTED.with(|a| a.set(false));
        let mut tickets = gate.tickets.lock();
        tickets.finished += 1;
        // The waiter at the front holds the lowest ticket waiting, the one now let in.
        if let Some(next) = tickets.waiting.pop_front() {
            drop(tickets);
            next.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn never_more_inside_than_permits() {
        let gate = Arc::new(Admission::new(2));
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                let (gate, inside, most) = (gate.clone(), inside.clone(), most.clone());
                s.spawn(move || {
                    for _ in 0..200 {
                        let _admitted = gate.enter();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_admitted_thread_enters_again_without_waiting() {
        let gate = Admission::new(1);
        let outer = gate.enter();
        // With one permit, taking a second would wait forever.
        let inner = gate.enter();
        assert!(inner.gate.is_none());
        drop(inner);
        drop(outer);
        // The permit came back: another entry gets it.
        let again = gate.enter();
        assert!(again.gate.is_some());
    }

    #[test]
    fn waiters_enter_in_arrival_order() {
        let gate = Arc::new(Admission::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = gate.enter();
        let mut handles = Vec::new();
        for i in 0..4 {
            let (shared, order) = (gate.clone(), order.clone());
            handles.push(std::thread::spawn(move || {
                let _admitted = shared.enter();
                order.lock().push(i);
            }));
            // Until thread i holds its ticket, thread i + 1 is not started.
            while gate.tickets.lock().issued < i as u64 + 2 {
                std::thread::yield_now();
            }
        }
        drop(first);
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*order.lock(), vec![0, 1, 2, 3]);
    }
}
