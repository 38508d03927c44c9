//! A claimed job's transitions, each one checked read-modify-write under the job's row
//! lock: heartbeat (extend the lease), complete (one or many), fail (queued again after a
//! backoff while attempts remain), cancel. Only the lease holder may heartbeat, complete or
//! fail a running job; a worker whose lease was taken over is refused by name.

use super::jobs::{invalid, JobQueue};
use crate::error::{StoreError, StoreResult};
use crate::schema::{Job, CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED};
use crate::table::Mutation;

impl JobQueue {
    /// One checked transition of a job: `change` gets its current version and returns the
    /// next one, or an error that names why not.
    fn transition(
        &self,
        job_id: &str,
        change: impl Fn(&Job, i64) -> StoreResult<Job>,
    ) -> StoreResult<Job> {
        let id = job_id.to_owned();
        let mut result: Option<Job> = None;
        let _admitted = self.admitted();
        let now = self.now();
        self.decided(std::slice::from_ref(&id), |_, current| {
            let job = current.ok_or_else(|| StoreError::NotFound {
                table: "jobs".into(),
                key: format!("'{job_id}'"),
            })?;
            let next = change(job, now)?;
            result = Some(next.clone());
            Ok(vec![Mutation::Update(next)])
        })?;
        result.ok_or_else(|| StoreError::NotFound {
            table: "jobs".into(),
            key: format!("'{job_id}'"),
        })
    }

    fn check_holder(job: &Job, worker: &str, wanted: &str) -> StoreResult<()> {
        if job.status != RUNNING {
            return Err(invalid(job, wanted, "only a running job can do that"));
        }
        if job.lease_owner.as_deref() != Some(worker) {
            return Err(invalid(
                job,
                wanted,
                format!(
                    "the lease is held by '{}', not '{worker}' (it expired and the job was claimed again?)",
                    job.lease_owner.as_deref().unwrap_or("nobody")
                ),
            ));
        }
        Ok(())
    }

    /// Extends the lease of a running job held by `worker` to `lease` µs from now.
    pub fn heartbeat(&self, job_id: &str, worker: &str, lease: i64) -> StoreResult<Job> {
        self.transition(job_id, |job, now| {
            Self::check_holder(job, worker, RUNNING)?;
            Ok(Job {
                lease_expires_at: Some(now.saturating_add(lease)),
                ..job.clone()
            })
        })
    }

    /// Marks a running job held by `worker` succeeded, with its result.
    pub fn complete(&self, job_id: &str, worker: &str, result: Option<String>) -> StoreResult<Job> {
        self.transition(job_id, |job, now| {
            Self::check_holder(job, worker, SUCCEEDED)?;
            Ok(Self::succeeded(job, now, result.clone()))
        })
    }

    /// The job finished successfully at `now` with `result`, its lease released.
    fn succeeded(job: &Job, now: i64, result: Option<String>) -> Job {
        Job {
            status: SUCCEEDED.into(),
            finished_at: Some(now),
            lease_owner: None,
            lease_expires_at: None,
            result,
            ..job.clone()
        }
    }

    /// Marks several running jobs held by `worker` succeeded, with one result each (or
    /// none), in one atomic write: a worker finishing the batch it claimed pays one write
    /// instead of one per job. All or nothing: if any job is missing or not held by
    /// `worker`, nothing is written and the error names that job (complete the others one
    /// by one then). Returns the jobs as written, in the order given.
    pub fn complete_many(
        &self,
        jobs: &[(String, Option<String>)],
        worker: &str,
    ) -> StoreResult<Vec<Job>> {
        let ids: Vec<String> = jobs.iter().map(|(id, _)| id.clone()).collect();
        let results: std::collections::HashMap<&str, &Option<String>> =
            jobs.iter().map(|(id, r)| (id.as_str(), r)).collect();
        if results.len() != jobs.len() {
            return Err(StoreError::InvalidJob(
                "complete_many was given the same job id twice".into(),
            ));
        }
        let _admitted = self.admitted();
        let now = self.now();
        let mut written: std::collections::HashMap<String, Job> = std::collections::HashMap::new();
        self.decided(&ids, |id, current| {
            let job = current.ok_or_else(|| StoreError::NotFound {
                table: "jobs".into(),
                key: format!("'{id}'"),
            })?;
            Self::check_holder(job, worker, SUCCEEDED)?;
            let result = results.get(id.as_str()).and_then(|r| (*r).clone());
            let next = Self::succeeded(job, now, result);
            written.insert(id.clone(), next.clone());
            Ok(vec![Mutation::Update(next)])
        })?;
        Ok(ids.iter().filter_map(|id| written.remove(id)).collect())
    }

    /// Reports that a running job held by `worker` failed: it is queued again after a
    /// backoff while attempts remain, and failed for good when none do.
    pub fn fail(&self, job_id: &str, worker: &str, error: &str) -> StoreResult<Job> {
        self.transition(job_id, |job, now| {
            Self::check_holder(job, worker, FAILED)?;
            Ok(self.after_failure(job, now, error))
        })
    }

    pub(super) fn after_failure(&self, job: &Job, now: i64, error: &str) -> Job {
        let released = Job {
            lease_owner: None,
            lease_expires_at: None,
            last_error: Some(error.to_owned()),
            ..job.clone()
        };
        if job.attempts < job.max_attempts {
            Job {
                status: QUEUED.into(),
                run_after: now.saturating_add(self.config().backoff(job.attempts)),
                ..released
            }
        } else {
            Job {
                status: FAILED.into(),
                finished_at: Some(now),
                ..released
            }
        }
    }

    /// Cancels a queued or running job.
    pub fn cancel(&self, job_id: &str) -> StoreResult<Job> {
        self.transition(job_id, |job, now| {
            if job.status != QUEUED && job.status != RUNNING {
                return Err(invalid(job, CANCELLED, "the job has finished"));
            }
            Ok(Job {
                status: CANCELLED.into(),
                finished_at: Some(now),
                lease_owner: None,
                lease_expires_at: None,
                ..job.clone()
            })
        })
    }
}
