//! Upkeep that runs on its own: purging expired TTL rows, putting jobs whose worker's lease
//! ran out back in their queue, and deleting finished jobs past their retention. One pass is
//! [`Database::maintain`]; [`Database::start_maintenance`] runs passes on a background
//! thread until the returned [`Maintenance`] is dropped (or the database is).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::handle::Database;
use crate::error::StoreResult;

/// How often upkeep runs and what it keeps.
#[derive(Debug, Clone)]
pub struct MaintenanceSettings {
    /// Time between passes.
    pub every: Duration,
    /// Finished jobs (succeeded, failed, cancelled) older than this are deleted; None keeps
    /// them.
    pub job_retention: Option<Duration>,
}

impl Default for MaintenanceSettings {
    /// A pass every 30 seconds; finished jobs kept 7 days.
    fn default() -> Self {
        MaintenanceSettings {
            every: Duration::from_secs(30),
            job_retention: Some(Duration::from_secs(7 * 24 * 3600)),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Expired TTL rows deleted.
    pub expired_rows: u64,
    /// Jobs whose lease had passed, put back in their queue (or failed).
    pub requeued_jobs: u64,
    /// Finished jobs deleted by retention.
    pub purged_jobs: u64,
}

/// The background upkeep thread; stops when dropped.
pub struct Maintenance {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Database {
    /// One upkeep pass.
    pub fn maintain(&self, settings: &MaintenanceSettings) -> StoreResult<MaintenanceReport> {
        let queue = self.job_queue();
        let mut report = MaintenanceReport {
            expired_rows: self.purge_expired()?,
            ..Default::default()
        };
        loop {
            let n = queue.requeue_expired(1000)?;
            report.requeued_jobs += n;
            if n < 1000 {
                break;
            }
        }
        if let Some(age) = settings.job_retention {
            let micros = i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
            report.purged_jobs = queue.purge_finished(micros)?;
        }
        Ok(report)
    }

    /// Runs [`Database::maintain`] every `settings.every` on a background thread. The
    /// thread holds only a weak reference: it ends when the database is dropped, or when
    /// the returned handle is. A failed pass is reported on stderr and retried next time.
    pub fn start_maintenance(self: &Arc<Self>, settings: MaintenanceSettings) -> Maintenance {
        let db: Weak<Database> = Arc::downgrade(self);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("quiver-maintenance".into())
            .spawn(move || loop {
                match stopped.recv_timeout(settings.every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let Some(db) = db.upgrade() else { return };
                if let Err(e) = db.maintain(&settings) {
                    eprintln!("quiver maintenance: {e}");
                }
            })
            .ok();
        Maintenance {
            stop: Some(stop),
            thread,
        }
    }
}
