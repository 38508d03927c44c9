//! The `jobs` table as a work queue: services submit jobs, workers claim them with a lease,
//! renew the lease while they work, and report success or failure.
//!
//! ```text
//!            submit                claim (lease)              complete
//!   (new) ───────────▶ queued ─────────────────▶ running ───────────────▶ succeeded
//!                        ▲                          │  fail, attempts left:
//!                        └──────────────────────────┤  queued again after a backoff
//!                          lease expired, attempts  │  fail, none left
//!                          left: queued again       └────────────────────▶ failed
//!   cancel: queued or running ──▶ cancelled
//! ```
//!
//! Every operation is one atomic read-modify-write under the job's row lock
//! ([`IndexedEntityStore::apply_decided`]): two claimers never get the same job, a complete
//! from a worker whose lease was taken over is refused, and a transition is checked against
//! the job's current state, never a stale copy. An attempt is counted when a job is claimed,
//! so a worker that dies mid-job uses up one attempt once its lease expires.
//!
//! Claim order: highest `priority` first, then oldest `created_at`, among the queue's
//! `queued` jobs whose `run_after` has passed (index `jobs_ready`).

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kv_store::range::successor;

use super::admission::Admitted;
use super::upkeep::Upkeep;
use crate::access::AccessPath;
use crate::encoding::Value;
use crate::error::{StoreError, StoreResult};
use crate::schema::{Job, CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED};
use crate::table::{IndexedEntityStore, Mutation, ResumePoint, Staging, WriteOutcome};

const MICROS: i64 = 1_000_000;

/// How a queue retries and keeps jobs.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// The first retry waits this long (µs); each later one twice as long as the one before...
    pub backoff_base: i64,
    /// ...but never longer than this (µs).
    pub backoff_cap: i64,
    /// Attempts a job gets when its submitter does not say.
    pub default_max_attempts: i64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            backoff_base: MICROS,
            backoff_cap: 3600 * MICROS,
            default_max_attempts: 3,
        }
    }
}

impl QueueConfig {
    /// The wait before the retry that follows attempt `attempts` (1-based).
    pub fn backoff(&self, attempts: i64) -> i64 {
        let doublings = (attempts - 1).clamp(0, 40) as u32;
        self.backoff_base
            .saturating_mul(1i64 << doublings)
            .min(self.backoff_cap)
    }
}

/// A job to submit.
#[derive(Debug, Clone, Default)]
pub struct NewJob {
    /// Queue.
    pub queue: String,
    /// Kind of work.
    pub job_type: String,
    /// Parameters (JSON text; empty means `{}`).
    pub parameters: String,
    /// A second submit with the same key returns the first job and creates nothing.
    pub idempotency_key: Option<String>,
    /// Higher runs first.
    pub priority: i64,
    /// Attempts allowed (None: the queue's default).
    pub max_attempts: Option<i64>,
    /// Not claimable for this long after submit (µs).
    pub delay: i64,
    /// Namespace it belongs to (empty: `public`).
    pub namespace: String,
    /// Table it works on.
    pub table_name: String,
}

/// What `submit` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The job: the new one, or the one its idempotency key made before.
    pub job: Job,
    /// False when the key had made a job already.
    pub created: bool,
}

/// Jobs by queue and status, for observability.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStat {
    /// Queue.
    pub queue: String,
    /// Status.
    pub status: String,
    /// Jobs in that status.
    pub jobs: u64,
    /// For `queued`: the creation time of the oldest queued job (µs), delayed ones included.
    pub oldest_created_at: Option<i64>,
}

/// The queue operations over the `jobs` table.
#[derive(Clone)]
pub struct JobQueue {
    store: Arc<IndexedEntityStore<String, Job>>,
    config: QueueConfig,
    upkeep: Arc<Upkeep>,
    /// The transaction its operations belong to (see [`JobQueue::in_transaction`]).
    tx: Option<Arc<dyn Staging>>,
}

/// Distinguishes job ids made in the same microsecond.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

pub(super) fn invalid(job: &Job, wanted: &str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidTransition {
        job_id: job.job_id.clone(),
        status: job.status.clone(),
        wanted: wanted.into(),
        reason: reason.into(),
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

impl JobQueue {
    /// The queue over a `jobs` store.
    pub fn new(store: Arc<IndexedEntityStore<String, Job>>, config: QueueConfig) -> Self {
        Self::with_upkeep(store, config, Arc::default())
    }

    /// A queue whose claims share `upkeep` with every other handle on the same table.
    pub fn with_upkeep(
        store: Arc<IndexedEntityStore<String, Job>>,
        config: QueueConfig,
        upkeep: Arc<Upkeep>,
    ) -> Self {
        JobQueue {
            store,
            config,
            upkeep,
            tx: None,
        }
    }

    /// The same queue, its operations part of the transaction `tx`:
    ///
    /// - a submit is staged: claimable once the transaction commits, gone if it rolls back;
    /// - heartbeat, complete, fail and cancel are staged on the job as it is now, and the
    ///   commit fails if the job changed meanwhile (its lease expired and another worker
    ///   claimed it): the job's outcome and the rows the worker wrote commit together or not
    ///   at all;
    /// - a claim takes effect at once (another worker must not get the job), and is given
    ///   back if the transaction rolls back or is abandoned, its attempt not counted.
    pub fn in_transaction(&self, tx: Arc<dyn Staging>) -> JobQueue {
        JobQueue {
            tx: Some(tx),
            ..self.clone()
        }
    }

    /// The same queue outside any transaction.
    fn autocommit(&self) -> JobQueue {
        JobQueue {
            tx: None,
            ..self.clone()
        }
    }

    /// Inserts jobs: staged in the transaction, or written.
    fn insert_jobs(&self, jobs: Vec<Job>) -> StoreResult<()> {
        let mutations: Vec<Mutation<String, Job>> =
            jobs.into_iter().map(Mutation::Insert).collect();
        match &self.tx {
            Some(tx) => self.store.apply_staged(&**tx, mutations).map(|_| ()),
            None => self.store.apply(mutations).map(|_| ()),
        }
    }

    /// A read-modify-write of jobs (see `IndexedEntityStore::apply_decided`); in a
    /// transaction, staged on the jobs as they are now.
    pub(super) fn decided<F>(&self, ids: &[String], decide: F) -> StoreResult<WriteOutcome>
    where
        F: FnMut(&String, Option<&Job>) -> StoreResult<Vec<Mutation<String, Job>>>,
    {
        match &self.tx {
            Some(tx) => self.store.apply_decided_staged(&**tx, ids, true, decide),
            None => self.store.apply_decided(ids, decide),
        }
    }

    /// The retry and retention settings.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    pub(super) fn now(&self) -> i64 {
        self.store.now()
    }

    /// Waits for this operation's turn to write (see [`Upkeep`]).
    pub(super) fn admitted(&self) -> Admitted<'_> {
        self.upkeep.admit()
    }

    /// A new job id: time-ordered, unique within this database.
    fn new_id(now: i64) -> String {
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed) & 0xFF_FFFF;
        format!("job-{now:016x}-{n:06x}")
    }

    /// The job with this id.
    pub fn get(&self, job_id: &str) -> StoreResult<Option<Job>> {
        self.store.get(&job_id.to_owned())
    }

    /// The job an idempotency key made, if any.
    pub fn by_idempotency_key(&self, key: &str) -> StoreResult<Option<Job>> {
        let path = AccessPath::index("jobs_idempotency_key").eq(vec![text(key)]);
        let reader = match &self.tx {
            Some(tx) => self.store.reader_on(tx.view()),
            None => self.store.reader(),
        };
        let found = reader.records(&path)?.next().transpose()?;
        Ok(found.map(|(_, job)| job))
    }

    /// Submits a job. With an idempotency key that made a job before, returns that job and
    /// creates nothing (also when two submits with one key race: one creates, the other
    /// gets its job).
    pub fn submit(&self, new: NewJob) -> StoreResult<Submitted> {
        let job = self.new_job(new, self.now())?;
        self.submit_checked(job)
    }

    /// Submits a checked job, idempotently.
    fn submit_checked(&self, job: Job) -> StoreResult<Submitted> {
        if let Some(key) = &job.idempotency_key {
            if let Some(existing) = self.by_idempotency_key(key)? {
                return Ok(Submitted {
                    job: existing,
                    created: false,
                });
            }
        }
        match self.insert_jobs(vec![job.clone()]) {
            Ok(()) => Ok(Submitted { job, created: true }),
            Err(StoreError::UniqueViolation { index, .. }) if index == "jobs_idempotency_key" => {
                self.submitted_by(job.idempotency_key.as_deref().unwrap_or_default())
            }
            Err(e) => Err(e),
        }
    }

    /// Submits several jobs in one atomic write, each as [`JobQueue::submit`] would: a key
    /// that made a job before (or earlier in the same call) returns that job. Every request
    /// is checked before anything is written. If another submit takes one of the keys
    /// meanwhile, the jobs are submitted one by one instead (each still idempotent).
    /// Returns one [`Submitted`] per request, in order.
    pub fn submit_many(&self, news: Vec<NewJob>) -> StoreResult<Vec<Submitted>> {
        let _admitted = self.admitted();
        let now = self.now();
        let jobs: Vec<Job> = news
            .into_iter()
            .map(|n| self.new_job(n, now))
            .collect::<StoreResult<_>>()?;
        // Per request: the job it returns, and whether it is new.
        let mut out: Vec<(Job, bool)> = Vec::with_capacity(jobs.len());
        let mut by_key: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, job) in jobs.iter().enumerate() {
            let Some(key) = job.idempotency_key.as_deref() else {
                out.push((job.clone(), true));
                continue;
            };
            if let Some(&first) = by_key.get(key) {
                out.push((out[first].0.clone(), false));
                continue;
            }
            by_key.insert(key, i);
            match self.by_idempotency_key(key)? {
                Some(existing) => out.push((existing, false)),
                None => out.push((job.clone(), true)),
            }
        }
        let fresh: Vec<Job> = out
            .iter()
            .filter(|(_, created)| *created)
            .map(|(j, _)| j.clone())
            .collect();
        match self.insert_jobs(fresh) {
            Ok(()) => Ok(out
                .into_iter()
                .map(|(job, created)| Submitted { job, created })
                .collect()),
            Err(StoreError::UniqueViolation { index, .. }) if index == "jobs_idempotency_key" => {
                jobs.into_iter().map(|j| self.submit_checked(j)).collect()
            }
            Err(e) => Err(e),
        }
    }

    /// The job an idempotency key made, after an insert found the key taken.
    fn submitted_by(&self, key: &str) -> StoreResult<Submitted> {
        let job = self.by_idempotency_key(key)?.ok_or_else(|| {
            StoreError::InvalidJob(format!(
                "idempotency key '{key}' was taken and released while submitting: submit again"
            ))
        })?;
        Ok(Submitted {
            job,
            created: false,
        })
    }

    /// A checked request as the job it makes at `now`.
    fn new_job(&self, new: NewJob, now: i64) -> StoreResult<Job> {
        if new.queue.is_empty() {
            return Err(StoreError::InvalidJob("a job needs a queue name".into()));
        }
        let max_attempts = new.max_attempts.unwrap_or(self.config.default_max_attempts);
        if max_attempts < 1 {
            return Err(StoreError::InvalidJob(format!(
                "max_attempts must be at least 1, got {max_attempts}"
            )));
        }
        if new.delay < 0 {
            return Err(StoreError::InvalidJob(format!(
                "a delay cannot be negative, got {} µs",
                new.delay
            )));
        }
        Ok(Job {
            priority: new.priority,
            namespace: if new.namespace.is_empty() {
                "public".into()
            } else {
                new.namespace
            },
            table_name: new.table_name,
            run_after: now.saturating_add(new.delay),
            max_attempts,
            idempotency_key: new.idempotency_key,
            parameters: if new.parameters.is_empty() {
                "{}".into()
            } else {
                new.parameters
            },
            ..Job::queued(&Self::new_id(now), &new.queue, &new.job_type, now)
        })
    }

    /// Ids of the jobs a path selects, in path order.
    fn ids(&self, path: &AccessPath) -> StoreResult<Vec<String>> {
        let reader = self.store.reader();
        let mut ids = Vec::new();
        for item in reader.records(path)? {
            ids.push(item?.1.job_id);
        }
        Ok(ids)
    }

    /// True when `job` can be claimed from `queue` at `now`: queued, and due to run.
    fn claimable(job: &Job, queue: &str, now: i64) -> bool {
        job.status == QUEUED && job.queue == queue && job.run_after <= now
    }

    /// Up to `n` entries of `queue`'s claim index from `from` on (None: its start), each
    /// with its job's id when that is claimable at `now`, in claim order.
    fn candidates(
        &self,
        ready: &AccessPath,
        from: Option<&[u8]>,
        n: usize,
        queue: &str,
        now: i64,
    ) -> StoreResult<Vec<(Vec<u8>, Option<String>)>> {
        let reader = self.store.reader();
        let mut keys = Vec::with_capacity(n);
        let mut pks = Vec::with_capacity(n);
        reader.visit_entries_from(ready, from, &mut |key, pk, _| {
            keys.push(key.to_vec());
            pks.push(pk.to_vec());
            Ok(keys.len() < n)
        })?;
        let jobs = reader.get_many(&pks)?;
        Ok(keys
            .into_iter()
            .zip(jobs)
            .map(|(key, job)| {
                let id = job
                    .filter(|j| Self::claimable(j, queue, now))
                    .map(|j| j.job_id);
                (key, id)
            })
            .collect())
    }

    /// One round of a claim's walk: up to `n` entries of the claim index from the resume
    /// point (or from `from`, when this claim's earlier rounds got further), with each
    /// one's job id when claimable. The point moves past them while the caller claims them, so
    /// concurrent claimers walk on to other jobs instead of racing for these; the caller
    /// puts back any it does not take. Only the walk takes turns, not the writes.
    fn take_candidates(
        &self,
        point: &ResumePoint,
        ready: &AccessPath,
        from: &mut Option<Vec<u8>>,
        n: usize,
        queue: &str,
        now: i64,
    ) -> StoreResult<Vec<(Vec<u8>, Option<String>)>> {
        let walk = point.begin();
        let shared = walk.start().map(<[u8]>::to_vec);
        // None (the start of the range) is the earliest.
        let ahead = from.is_some() && (shared.is_none() || *from > shared);
        let start = if ahead { from.clone() } else { shared.clone() };
        let candidates = self.candidates(ready, start.as_deref(), n, queue, now)?;
        let Some((last, _)) = candidates.last() else {
            walk.finish(shared);
            return Ok(candidates);
        };
        let after = successor(last);
        // Entries left in the queue (delayed jobs) keep the point at the first of them, as
        // do any this claim stepped past in earlier rounds.
        let next = if ahead {
            shared
        } else {
            let left = candidates.iter().find(|(_, id)| id.is_none());
            Some(left.map_or_else(|| after.clone(), |(key, _)| key.clone()))
        };
        walk.finish(next);
        *from = Some(after);
        Ok(candidates)
    }

    /// Claims up to `n` ready jobs of `queue` for `worker`, each with a lease of `lease`
    /// µs, in priority then age order. Concurrent claimers never receive the same job.
    /// Jobs whose lease has expired are put back in their queues first.
    ///
    /// Each claim starts where the last one stopped (a resume point, `table/resume.rs`), so it does
    /// not step over the entries earlier claims deleted, and concurrent claims of one queue
    /// walk to different jobs instead of racing for the same ones at the front.
    pub fn claim(&self, queue: &str, worker: &str, n: usize, lease: i64) -> StoreResult<Vec<Job>> {
        if worker.is_empty() {
            return Err(StoreError::InvalidJob("a claim needs a worker name".into()));
        }
        if lease <= 0 {
            return Err(StoreError::InvalidJob(format!(
                "a lease must be positive, got {lease} µs"
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let _admitted = self.admitted();
        self.requeue_if_due()?;
        let prefix = vec![text(queue), text(QUEUED)];
        let ready = AccessPath::index("jobs_ready").eq(prefix.clone());
        let point = self.store.resume_point("jobs_ready", prefix)?;
        let now = self.now();
        let mut claimed: Vec<Job> = Vec::new();
        // Where this claim's next round reads from: past what its earlier rounds looked at.
        let mut from: Option<Vec<u8>> = None;
        loop {
            let want = n - claimed.len();
            let candidates = self.take_candidates(&point, &ready, &mut from, want, queue, now)?;
            if candidates.is_empty() {
                break;
            }
            let exhausted = candidates.len() < want;
            let ids: Vec<String> = candidates.iter().filter_map(|(_, id)| id.clone()).collect();
            let mut taken: std::collections::HashMap<String, Job> =
                std::collections::HashMap::new();
            let written = self.store.apply_decided(&ids, |id, current| {
                // Checked again under the job's lock: its state as read may be stale.
                taken.remove(id);
                let Some(job) = current.filter(|job| Self::claimable(job, queue, now)) else {
                    return Ok(Vec::new());
                };
                let next = Job {
                    status: RUNNING.into(),
                    attempts: job.attempts + 1,
                    started_at: Some(now),
                    lease_owner: Some(worker.to_owned()),
                    lease_expires_at: Some(now.saturating_add(lease)),
                    ..job.clone()
                };
                taken.insert(id.clone(), next.clone());
                Ok(vec![Mutation::Update(next)])
            });
            if let Err(e) = written {
                // Nothing was claimed: every candidate is still in the queue.
                for (key, _) in &candidates {
                    point.put(key);
                }
                return Err(e);
            }
            for (key, id) in candidates {
                match id.map(|id| taken.remove(&id)) {
                    Some(Some(job)) => claimed.push(job),
                    // Changed by another writer since the walk: if still queued, walks
                    // must find it again.
                    Some(None) => point.put(&key),
                    None => {}
                }
            }
            if exhausted || claimed.len() == n {
                break;
            }
        }
        if let Some(expiry) = claimed.iter().filter_map(|j| j.lease_expires_at).min() {
            self.upkeep.lease_granted(expiry);
        }
        self.upkeep.claimed(&self.store, claimed.len());
        if let Some(tx) = &self.tx {
            // The claim took effect at once; a rollback gives the jobs back.
            let queue = self.autocommit();
            let taken: Vec<(String, i64)> = claimed
                .iter()
                .map(|j| (j.job_id.clone(), j.attempts))
                .collect();
            let worker = worker.to_owned();
            tx.on_rollback(Box::new(move || {
                // Best effort: a job whose lease moved on since is left as it is.
                let _ = queue.unclaim(&taken, &worker);
            }));
        }
        Ok(claimed)
    }

    /// Gives claimed jobs back to their queue, their attempts not counted, when `worker`
    /// still holds them with the attempt it claimed (`started_at` is cleared).
    fn unclaim(&self, jobs: &[(String, i64)], worker: &str) -> StoreResult<WriteOutcome> {
        let attempts: std::collections::HashMap<&str, i64> =
            jobs.iter().map(|(id, a)| (id.as_str(), *a)).collect();
        let ids: Vec<String> = jobs.iter().map(|(id, _)| id.clone()).collect();
        self.store.apply_decided(&ids, |id, current| {
            let Some(job) = current.filter(|j| {
                j.status == RUNNING
                    && j.lease_owner.as_deref() == Some(worker)
                    && Some(&j.attempts) == attempts.get(id.as_str())
            }) else {
                return Ok(Vec::new());
            };
            Ok(vec![Mutation::Update(Job {
                status: QUEUED.into(),
                attempts: job.attempts - 1,
                started_at: None,
                lease_owner: None,
                lease_expires_at: None,
                ..job.clone()
            })])
        })
    }

    /// Puts expired leases back in their queues when the earliest lease known has passed
    /// (or none is known), then remembers the earliest lease still running.
    fn requeue_if_due(&self) -> StoreResult<()> {
        let seen = self.upkeep.next_expiry();
        let now = self.now();
        if now < seen {
            return Ok(());
        }
        const BATCH: usize = 256;
        if self.requeue_expired(BATCH)? as usize == BATCH {
            // More may have expired: the next claim looks again.
            return Ok(());
        }
        let path = AccessPath::index("jobs_lease")
            .eq(vec![text(RUNNING)])
            .range(Bound::Excluded(Value::Timestamp(now)), Bound::Unbounded)
            .limit(1);
        let reader = self.store.reader();
        let next = match reader.records(&path)?.next().transpose()? {
            Some((_, job)) => job.lease_expires_at.unwrap_or(i64::MAX),
            None => i64::MAX,
        };
        // A claim that granted an earlier lease meanwhile has lowered it: keep that. (A lease
        // granted between the read above and this exchange, while the value was unknown,
        // can be missed; background maintenance requeues it then.)
        self.upkeep.expiry_looked_up(seen, next);
        Ok(())
    }

    /// Puts running jobs whose lease has passed back in their queue (or fails them when no
    /// attempt is left); at most `limit` at a time. Returns how many.
    pub fn requeue_expired(&self, limit: usize) -> StoreResult<u64> {
        let _admitted = self.admitted();
        let now = self.now();
        let path = AccessPath::index("jobs_lease")
            .eq(vec![text(RUNNING)])
            .range(Bound::Unbounded, Bound::Included(Value::Timestamp(now)))
            .limit(limit);
        let ids = self.ids(&path)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let mut moved = 0;
        self.store.apply_decided(&ids, |_, current| {
            let Some(job) = current else {
                return Ok(Vec::new());
            };
            // Renewed or finished since it was read: leave it.
            if job.status != RUNNING || job.lease_expires_at.is_none_or(|t| t > now) {
                return Ok(Vec::new());
            }
            moved += 1;
            let error = format!(
                "the lease of worker '{}' expired",
                job.lease_owner.as_deref().unwrap_or("?")
            );
            Ok(vec![Mutation::Update(Job {
                // A lost worker is retried at once: the backoff is for failures.
                run_after: now,
                ..self.after_failure(job, now, &error)
            })])
        })?;
        Ok(moved)
    }

    /// Deletes jobs that reached a final state more than `age` µs ago; returns how many.
    pub fn purge_finished(&self, age: i64) -> StoreResult<u64> {
        let cutoff = self.now().saturating_sub(age);
        let mut purged = 0;
        for status in [SUCCEEDED, FAILED, CANCELLED] {
            loop {
                let path = AccessPath::index("jobs_finished")
                    .eq(vec![text(status)])
                    .range(Bound::Unbounded, Bound::Excluded(Value::Timestamp(cutoff)))
                    .limit(1000);
                let ids = self.ids(&path)?;
                if ids.is_empty() {
                    break;
                }
                // Admitted batch by batch: a long purge does not hold the workers up.
                let _admitted = self.admitted();
                let outcome = self
                    .store
                    .apply(ids.into_iter().map(Mutation::Delete).collect())?;
                purged += outcome.deleted;
                if outcome.deleted == 0 {
                    break;
                }
            }
        }
        Ok(purged)
    }

    /// Jobs per queue and status, counted from the `jobs_ready` index (no record read).
    pub fn stats(&self) -> StoreResult<Vec<QueueStat>> {
        let reader = self.store.reader();
        let pairs = reader.distinct(&AccessPath::index("jobs_ready"), 2)?;
        let priorities = reader.distinct(&AccessPath::index("jobs_ready"), 3)?;
        let mut out = Vec::new();
        for pair in pairs {
            let (Some(Value::Text(queue)), Some(Value::Text(status))) =
                (pair.first().cloned(), pair.get(1).cloned())
            else {
                continue;
            };
            let path = AccessPath::index("jobs_ready").eq(pair.clone());
            let jobs = reader.count(&path)?;
            let oldest_created_at = if status == QUEUED {
                // The oldest of each priority comes first within it: one seek per priority.
                let mut oldest: Option<i64> = None;
                for p in priorities.iter().filter(|p| p[..2] == pair[..]) {
                    let first = AccessPath::index("jobs_ready").eq(p.clone()).limit(1);
                    if let Some(entry) = reader.entries(&first)?.next() {
                        let (values, _) = reader.decode_entry(Some("jobs_ready"), &entry?)?;
                        if let Some(Value::Timestamp(t)) = values.get(3) {
                            oldest = Some(oldest.map_or(*t, |o: i64| o.min(*t)));
                        }
                    }
                }
                oldest
            } else {
                None
            };
            out.push(QueueStat {
                queue,
                status,
                jobs,
                oldest_created_at,
            });
        }
        Ok(out)
    }
}
