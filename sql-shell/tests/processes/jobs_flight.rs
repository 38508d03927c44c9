//! The job queue over Flight SQL: clients submit jobs and workers claim and complete them
//! through the SQL table functions, against a real `quiver serve`. Checks that every job
//! succeeded exactly once and prints submit and drain throughput with claim latency.
//!
//! `cargo test --workspace --test processes jobs_flight` runs 1,000 jobs with 4 workers on the debug
//! build. The README's figures come from the release build:
//! `QUIVER_FLIGHT_JOBS=20000 cargo test --release --workspace --test processes jobs_flight -- --nocapture`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::common::{client, fetch, first_int, query, start, strings};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_drain_a_queue_over_flight_sql() {
    let jobs: usize = std::env::var("QUIVER_FLIGHT_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    let workers = 4;
    // Half the clients use the batch functions (submit_jobs, complete_jobs) unless
    // QUIVER_FLIGHT_BATCHED is set, when all of them do.
    let all_batched = std::env::var("QUIVER_FLIGHT_BATCHED").is_ok();
    let batched = move |w: usize| all_batched || w.is_multiple_of(2);
    let server = start("t\n");

    let started = Instant::now();
    let submitters: Vec<_> = (0..workers)
        .map(|w| {
            let server = &server;
            async move {
                let mut c = client(server, Some("t")).await;
                let each = jobs / workers;
                if !batched(w) {
                    // Job by job.
                    for i in 0..each {
                        c.execute_update(
                            format!(
                                "SELECT job_id FROM submit_job('mail', 'send', '{{}}', 'k-{w}-{i}')"
                            ),
                            None,
                        )
                        .await
                        .unwrap();
                    }
                } else {
                    // Sixteen per call, each with its idempotency key.
                    for start in (0..each).step_by(16) {
                        let range = start..(start + 16).min(each);
                        let params: Vec<&str> = range.clone().map(|_| "'{}'").collect();
                        let keys: Vec<String> = range.map(|i| format!("'k-{w}-{i}'")).collect();
                        c.execute_update(
                            format!(
                                "SELECT job_id FROM submit_jobs('mail', 'send', ARRAY[{}], ARRAY[{}])",
                                params.join(", "),
                                keys.join(", ")
                            ),
                            None,
                        )
                        .await
                        .unwrap();
                    }
                }
            }
        })
        .collect();
    futures::future::join_all(submitters).await;
    let submit = started.elapsed();
    let total = (jobs / workers) * workers;

    let started = Instant::now();
    let drainers: Vec<_> = (0..workers)
        .map(|w| {
            let server = &server;
            async move {
                let mut c = client(server, Some("t")).await;
                let name = format!("worker-{w}");
                let (mut done, mut claims) = (Vec::new(), Vec::new());
                loop {
                    let t = Instant::now();
                    let info = c
                        .execute(
                            format!("SELECT job_id FROM claim_jobs('mail', '{name}', 16, 60)"),
                            None,
                        )
                        .await
                        .unwrap();
                    let ids = strings(&fetch(&mut c, info).await, 0);
                    claims.push(t.elapsed());
                    if ids.is_empty() {
                        break;
                    }
                    // Job by job, or the whole batch in one call.
                    if !batched(w) {
                        for id in &ids {
                            // Runs when the FlightInfo is asked for: no fetch needed.
                            c.execute_update(
                                format!("SELECT job_id FROM complete_job('{id}', '{name}', 'ok')"),
                                None,
                            )
                            .await
                            .unwrap();
                        }
                    } else {
                        let list: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
                        let info = c
                            .execute(
                                format!(
                                    "SELECT job_id FROM complete_jobs(ARRAY[{}], '{name}', 'ok')",
                                    list.join(", ")
                                ),
                                None,
                            )
                            .await
                            .unwrap();
                        assert_eq!(strings(&fetch(&mut c, info).await, 0), ids);
                    }
                    done.extend(ids);
                }
                (done, claims)
            }
        })
        .collect();
    let results = futures::future::join_all(drainers).await;
    let drain = started.elapsed();

    let completed: Vec<&String> = results.iter().flat_map(|(d, _)| d).collect();
    let distinct: HashSet<&&String> = completed.iter().collect();
    assert_eq!(completed.len(), total);
    assert_eq!(distinct.len(), total, "no job completed twice");
    let mut c = client(&server, Some("t")).await;
    let succeeded = first_int(
        &query(
            &mut c,
            "SELECT jobs FROM sys.queues WHERE queue = 'mail' AND status = 'succeeded'",
        )
        .await,
    );
    assert_eq!(succeeded as usize, total);

    let mut claims: Vec<Duration> = results.into_iter().flat_map(|(_, c)| c).collect();
    claims.sort();
    let at = |p: f64| claims[((claims.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    eprintln!(
        "jobs over Flight SQL: {total} jobs, {workers} workers: submit {:.0} jobs/s, claim + complete {:.0} jobs/s, end to end {:.0} jobs/s, claim p50 {:.2} ms p99 {:.2} ms",
        total as f64 / submit.as_secs_f64(),
        total as f64 / drain.as_secs_f64(),
        total as f64 / (submit + drain).as_secs_f64(),
        at(0.5),
        at(0.99)
    );
}
