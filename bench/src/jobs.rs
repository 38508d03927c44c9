//! The job-queue benchmark: a backlog of jobs submitted (each with an idempotency key) and
//! drained by workers that claim 16 at a time and complete each batch with one
//! `complete_many`, embedded, with 1, 4 and
//! 16 worker threads. Reports submit and drain throughput, end to end jobs/s and claim
//! latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indexed_store::{Database, NewJob};

const SECOND: i64 = 1_000_000;

/// One run's figures.
pub struct JobsRun {
    pub workers: usize,
    pub submit_per_s: f64,
    pub drain_per_s: f64,
    pub end_to_end_per_s: f64,
    pub claim_p50: Duration,
    pub claim_p99: Duration,
}

/// Submits `jobs` jobs with `workers` threads, then drains them with as many.
pub fn run(jobs: usize, workers: usize) -> JobsRun {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Arc::new(Database::open(dir.path()).expect("open"));
    let per = jobs / workers;
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..workers {
            let q = db.job_queue();
            s.spawn(move || {
                for i in 0..per {
                    q.submit(NewJob {
                        queue: "bench".into(),
                        job_type: "send".into(),
                        parameters: r#"{"to":"someone@example.com"}"#.into(),
                        idempotency_key: Some(format!("k-{w}-{i}")),
                        ..Default::default()
                    })
                    .expect("submit");
                }
            });
        }
    });
    let submit = start.elapsed();
    let total = per * workers;

    let start = Instant::now();
    let latencies: Vec<Vec<Duration>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let q = db.job_queue();
                s.spawn(move || {
                    let name = format!("worker-{w}");
                    let mut claims = Vec::new();
                    loop {
                        let t = Instant::now();
                        let batch = q.claim("bench", &name, 16, 60 * SECOND).expect("claim");
                        claims.push(t.elapsed());
                        if batch.is_empty() {
                            break;
                        }
                        // The whole claimed batch finished in one write.
                        let done: Vec<(String, Option<String>)> =
                            batch.into_iter().map(|j| (j.job_id, None)).collect();
                        q.complete_many(&done, &name).expect("complete");
                    }
                    claims
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let drain = start.elapsed();
    let stats = db.job_queue().stats().expect("stats");
    assert!(
        stats
            .iter()
            .all(|s| s.status == "succeeded" && s.jobs as usize == total),
        "every job succeeded once: {stats:?}"
    );
    let mut claims: Vec<Duration> = latencies.into_iter().flatten().collect();
    claims.sort();
    let at = |p: f64| claims[((claims.len() - 1) as f64 * p) as usize];
    JobsRun {
        workers,
        submit_per_s: total as f64 / submit.as_secs_f64(),
        drain_per_s: total as f64 / drain.as_secs_f64(),
        end_to_end_per_s: total as f64 / (submit + drain).as_secs_f64(),
        claim_p50: at(0.5),
        claim_p99: at(0.99),
    }
}

/// Runs the benchmark for each worker count and prints a Markdown table.
pub fn report(jobs: usize, worker_counts: &[usize]) {
    println!("\n### job queue, {jobs} jobs, embedded\n");
    println!("| workers | submit jobs/s | claim + complete jobs/s | end to end jobs/s | claim p50 ms | claim p99 ms |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &w in worker_counts {
        let r = run(jobs, w);
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} |",
            r.workers,
            r.submit_per_s,
            r.drain_per_s,
            r.end_to_end_per_s,
            r.claim_p50.as_secs_f64() * 1e3,
            r.claim_p99.as_secs_f64() * 1e3
        );
    }
}
