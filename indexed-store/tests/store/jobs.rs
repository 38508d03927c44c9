//! The job queue on real RocksDB: the lifecycle and its refused transitions, retries with
//! backoff, leases that expire back into the queue, idempotent submits raced from many
//! threads, and many workers claiming one backlog without ever sharing a job.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use indexed_store::schema::{CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED};
use indexed_store::{Database, JobQueue, MaintenanceSettings, NewJob, StoreError};

const SECOND: i64 = 1_000_000;

fn open() -> (tempfile::TempDir, Arc<Database>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Database::open(dir.path()).unwrap());
    (dir, db)
}

fn job(queue: &str) -> NewJob {
    NewJob {
        queue: queue.into(),
        job_type: "send".into(),
        parameters: r#"{"to":"a@x"}"#.into(),
        ..Default::default()
    }
}

fn verify(db: &Database) {
    for report in db.verify().unwrap() {
        assert!(report.is_ok(), "{report:?}");
    }
}

#[test]
fn a_job_goes_from_queued_to_running_to_succeeded() {
    let (_dir, db) = open();
    let q = db.job_queue();
    let submitted = q.submit(job("emails")).unwrap();
    assert!(submitted.created);
    assert_eq!(submitted.job.status, QUEUED);
    assert_eq!(submitted.job.max_attempts, 3, "the queue's default");

    let claimed = q.claim("emails", "w1", 10, 30 * SECOND).unwrap();
    assert_eq!(claimed.len(), 1);
    let j = &claimed[0];
    assert_eq!((j.status.as_str(), j.attempts), (RUNNING, 1));
    assert_eq!(j.lease_owner.as_deref(), Some("w1"));
    assert!(q.claim("emails", "w2", 10, 30 * SECOND).unwrap().is_empty());

    let renewed = q.heartbeat(&j.job_id, "w1", 60 * SECOND).unwrap();
    assert!(renewed.lease_expires_at > j.lease_expires_at);
    // Only the lease holder may report on the job.
    for err in [
        q.heartbeat(&j.job_id, "w2", SECOND).unwrap_err(),
        q.complete(&j.job_id, "w2", None).unwrap_err(),
        q.fail(&j.job_id, "w2", "no").unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::InvalidTransition { .. }), "{err}");
    }

    let done = q.complete(&j.job_id, "w1", Some("sent".into())).unwrap();
    assert_eq!(done.status, SUCCEEDED);
    assert_eq!(done.result.as_deref(), Some("sent"));
    assert!(done.finished_at.is_some() && done.lease_owner.is_none());
    // A finished job stays finished.
    let err = q.complete(&j.job_id, "w1", None).unwrap_err();
    assert!(matches!(err, StoreError::InvalidTransition { ref status, .. } if status == SUCCEEDED));
    assert!(matches!(
        q.cancel(&j.job_id).unwrap_err(),
        StoreError::InvalidTransition { .. }
    ));
    assert!(matches!(
        q.complete("no-such-job", "w1", None).unwrap_err(),
        StoreError::NotFound { .. }
    ));
    verify(&db);
}

#[test]
fn complete_many_finishes_a_claimed_batch_in_one_write_or_not_at_all() {
    let (_dir, db) = open();
    let q = db.job_queue();
    for _ in 0..5 {
        q.submit(job("emails")).unwrap();
    }
    let batch = q.claim("emails", "w1", 5, 30 * SECOND).unwrap();
    let other = q.submit(job("emails")).unwrap().job;
    q.claim("emails", "w2", 1, 30 * SECOND).unwrap();
    let with = |ids: &[&str]| -> Vec<(String, Option<String>)> {
        ids.iter()
            .map(|id| (id.to_string(), Some("ok".into())))
            .collect()
    };
    let ids: Vec<&str> = batch.iter().map(|j| j.job_id.as_str()).collect();

    // One job of the batch is held by another worker: nothing is written, the error names it.
    let mut mixed = ids.clone();
    mixed.push(&other.job_id);
    let err = q.complete_many(&with(&mixed), "w1").unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidTransition { ref job_id, .. } if *job_id == other.job_id),
        "{err}"
    );
    for id in &ids {
        assert_eq!(q.get(id).unwrap().unwrap().status, RUNNING);
    }
    assert!(matches!(
        q.complete_many(&with(&[ids[0], ids[0]]), "w1").unwrap_err(),
        StoreError::InvalidJob(_)
    ));

    let done = q.complete_many(&with(&ids), "w1").unwrap();
    assert_eq!(done.len(), 5);
    for (j, id) in done.iter().zip(&ids) {
        assert_eq!((j.job_id.as_str(), j.status.as_str()), (*id, SUCCEEDED));
        assert_eq!(j.result.as_deref(), Some("ok"));
        assert_eq!(q.get(id).unwrap().unwrap().status, SUCCEEDED);
    }
    // Finished jobs stay finished.
    assert!(q.complete_many(&with(&ids[..1]), "w1").is_err());
    verify(&db);
}

#[test]
fn submit_many_writes_a_batch_idempotently_in_one_go() {
    let (_dir, db) = open();
    let q = db.job_queue();
    let keyed = |key: Option<&str>, p: &str| NewJob {
        idempotency_key: key.map(str::to_owned),
        parameters: p.into(),
        ..job("emails")
    };
    let before = q.submit(keyed(Some("old"), "{\"old\":1}")).unwrap().job;
    let out = q
        .submit_many(vec![
            keyed(Some("a"), "{\"n\":1}"),
            keyed(Some("old"), "{\"n\":2}"),
            keyed(None, "{\"n\":3}"),
            keyed(Some("a"), "{\"n\":4}"),
        ])
        .unwrap();
    let created: Vec<bool> = out.iter().map(|s| s.created).collect();
    assert_eq!(created, [true, false, true, false]);
    assert_eq!(out[1].job, before);
    assert_eq!(out[3].job.job_id, out[0].job.job_id);
    assert_eq!(out[0].job.parameters, "{\"n\":1}");
    for s in &out {
        assert_eq!(q.get(&s.job.job_id).unwrap().as_ref(), Some(&s.job));
    }
    // A bad request anywhere in the call writes nothing.
    let err = q
        .submit_many(vec![
            keyed(Some("b"), "{}"),
            NewJob {
                queue: String::new(),
                ..job("x")
            },
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidJob(_)), "{err}");
    assert_eq!(q.by_idempotency_key("b").unwrap(), None);
    assert_eq!(q.claim("emails", "w", 10, SECOND).unwrap().len(), 3);
    verify(&db);
}

#[test]
fn failures_retry_with_backoff_until_attempts_run_out() {
    let (_dir, db) = open();
    let q = db.job_queue();
    let id = q
        .submit(NewJob {
            max_attempts: Some(2),
            ..job("retry")
        })
        .unwrap()
        .job
        .job_id;
    let first = q.claim("retry", "w", 1, SECOND).unwrap().remove(0);
    let again = q.fail(&first.job_id, "w", "smtp timeout").unwrap();
    assert_eq!(again.status, QUEUED);
    assert_eq!(again.last_error.as_deref(), Some("smtp timeout"));
    // The first retry waits the base backoff (1 s): not claimable yet.
    assert!(again.run_after >= again.started_at.unwrap() + SECOND);
    assert!(q.claim("retry", "w", 1, SECOND).unwrap().is_empty());

    // Backoff doubles and is capped.
    let c = q.config();
    assert_eq!(
        (c.backoff(1), c.backoff(2), c.backoff(3)),
        (SECOND, 2 * SECOND, 4 * SECOND)
    );
    assert_eq!(c.backoff(100), c.backoff_cap);

    std::thread::sleep(Duration::from_millis(1100));
    let second = q.claim("retry", "w", 1, SECOND).unwrap().remove(0);
    assert_eq!(second.attempts, 2);
    let dead = q.fail(&id, "w", "still failing").unwrap();
    assert_eq!(dead.status, FAILED);
    assert!(dead.finished_at.is_some());
    verify(&db);
}

#[test]
fn an_expired_lease_puts_the_job_back_and_counts_the_attempt() {
    let (_dir, db) = open();
    let q = db.job_queue();
    let id = q
        .submit(NewJob {
            max_attempts: Some(2),
            ..job("lease")
        })
        .unwrap()
        .job
        .job_id;
    q.claim("lease", "dies", 1, 10_000).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    // The next claim first puts expired leases back: another worker gets the job.
    let retaken = q.claim("lease", "survivor", 1, 10_000).unwrap().remove(0);
    assert_eq!(retaken.job_id, id);
    assert_eq!(retaken.attempts, 2);
    assert!(retaken.last_error.unwrap().contains("'dies'"));
    // The dead worker's late report is refused.
    assert!(matches!(
        q.complete(&id, "dies", None).unwrap_err(),
        StoreError::InvalidTransition { .. }
    ));
    // Its second lease expires too: no attempt left, the job fails.
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(q.requeue_expired(100).unwrap(), 1);
    assert_eq!(q.get(&id).unwrap().unwrap().status, FAILED);
    verify(&db);
}

#[test]
fn background_maintenance_requeues_expired_leases_and_purges_old_jobs() {
    let (_dir, db) = open();
    let q = db.job_queue();
    let id = q.submit(job("bg")).unwrap().job.job_id;
    q.claim("bg", "w", 1, 1_000).unwrap();
    let gone = q.submit(job("bg-done")).unwrap().job.job_id;
    let c = q.claim("bg-done", "w", 1, SECOND).unwrap().remove(0);
    q.complete(&c.job_id, "w", None).unwrap();

    let _upkeep = db.start_maintenance(MaintenanceSettings {
        every: Duration::from_millis(20),
        job_retention: Some(Duration::from_millis(50)),
    });
    let mut waited = 0;
    while (q.get(&id).unwrap().unwrap().status != QUEUED || q.get(&gone).unwrap().is_some())
        && waited < 200
    {
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    assert_eq!(
        q.get(&id).unwrap().unwrap().status,
        QUEUED,
        "lease requeued"
    );
    assert!(q.get(&gone).unwrap().is_none(), "finished job purged");
    verify(&db);
}

#[test]
fn claims_follow_priority_then_age_and_skip_delayed_jobs() {
    let (_dir, db) = open();
    let q = db.job_queue();
    let low = q.submit(job("p")).unwrap().job.job_id;
    let delayed = q
        .submit(NewJob {
            priority: 9,
            delay: 3600 * SECOND,
            ..job("p")
        })
        .unwrap()
        .job
        .job_id;
    let high = q
        .submit(NewJob {
            priority: 5,
            ..job("p")
        })
        .unwrap()
        .job
        .job_id;
    let low2 = q.submit(job("p")).unwrap().job.job_id;
    q.submit(job("other-queue")).unwrap();
    let order: Vec<String> = q
        .claim("p", "w", 10, SECOND)
        .unwrap()
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(order, vec![high, low, low2]);
    assert_eq!(q.get(&delayed).unwrap().unwrap().status, QUEUED);
    let cancelled = q.cancel(&delayed).unwrap();
    assert_eq!(cancelled.status, CANCELLED);

    let stats = q.stats().unwrap();
    let find = |queue: &str, status: &str| {
        stats
            .iter()
            .find(|s| s.queue == queue && s.status == status)
            .map(|s| s.jobs)
    };
    assert_eq!(find("p", RUNNING), Some(3));
    assert_eq!(find("p", CANCELLED), Some(1));
    assert_eq!(find("other-queue", QUEUED), Some(1));
    assert!(stats
        .iter()
        .find(|s| s.queue == "other-queue")
        .unwrap()
        .oldest_created_at
        .is_some());
}

#[test]
fn bad_requests_are_refused_by_name() {
    let (_dir, db) = open();
    let q = db.job_queue();
    for (new, needle) in [
        (job(""), "queue"),
        (
            NewJob {
                max_attempts: Some(0),
                ..job("q")
            },
            "max_attempts",
        ),
        (
            NewJob {
                delay: -1,
                ..job("q")
            },
            "delay",
        ),
    ] {
        let err = q.submit(new).unwrap_err();
        assert!(matches!(err, StoreError::InvalidJob(_)), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    assert!(matches!(
        q.claim("q", "", 1, SECOND).unwrap_err(),
        StoreError::InvalidJob(_)
    ));
    assert!(matches!(
        q.claim("q", "w", 1, 0).unwrap_err(),
        StoreError::InvalidJob(_)
    ));
}

#[test]
fn one_idempotency_key_raced_from_many_threads_makes_one_job() {
    let (_dir, db) = open();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let q = db.job_queue();
                s.spawn(move || {
                    q.submit(NewJob {
                        idempotency_key: Some("order-17".into()),
                        ..job("once")
                    })
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ids: HashSet<&str> = results.iter().map(|r| r.job.job_id.as_str()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    let q = db.job_queue();
    assert_eq!(q.claim("once", "w", 100, SECOND).unwrap().len(), 1);
    verify(&db);
}

#[test]
fn eight_workers_claim_ten_thousand_jobs_each_exactly_once() {
    let (_dir, db) = open();
    let q: JobQueue = db.job_queue();
    for _ in 0..10_000 {
        q.submit(job("bulk")).unwrap();
    }
    let claimed: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let q = db.job_queue();
                s.spawn(move || {
                    let worker = format!("w{w}");
                    let mut mine = Vec::new();
                    loop {
                        let batch = q.claim("bulk", &worker, 16, 600 * SECOND).unwrap();
                        if batch.is_empty() {
                            break;
                        }
                        for j in batch {
                            assert_eq!(j.lease_owner.as_deref(), Some(worker.as_str()));
                            q.complete(&j.job_id, &worker, None).unwrap();
                            mine.push(j.job_id);
                        }
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<&String> = claimed.iter().flatten().collect();
    let distinct: HashSet<&&String> = all.iter().collect();
    assert_eq!(all.len(), 10_000, "every job claimed");
    assert_eq!(distinct.len(), 10_000, "no job claimed twice");
    assert!(claimed.iter().filter(|c| !c.is_empty()).count() > 1);
    let stats = q.stats().unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(
        (stats[0].status.as_str(), stats[0].jobs),
        (SUCCEEDED, 10_000)
    );
    verify(&db);
}
