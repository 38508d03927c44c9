//! Transactions, embedded, on the loaded accounts:
//!
//! - two prepared single-row UPDATEs as autocommit statements against the same two in one
//!   transaction (`BEGIN; UPDATE; UPDATE; COMMIT`), timed in alternation, units per second;
//! - COMMIT's own latency (p50, p99) for transactions updating 1, 10 and 100 rows;
//! - a row INSERT and a job submit as two autocommit calls against both in one transaction
//!   (the transactional outbox).

use std::time::{Duration, Instant};

use datafusion::common::ScalarValue;
use indexed_store::table::Staging;
use indexed_store::NewJob;
use providers::{PreparedStatement, Quiver};

const UPDATE: &str = "UPDATE accounts SET score = $1 WHERE id = $2";

fn id(i: usize, rows: u64) -> ScalarValue {
    ScalarValue::from(format!("acc-{:08}", i as u64 % rows.max(1)))
}

async fn update(statement: &PreparedStatement, i: usize, rows: u64) {
    statement
        .query(vec![ScalarValue::Float64(Some(i as f64)), id(i, rows)])
        .await
        .expect("update");
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Runs the three measurements with `n` units each and prints them.
pub async fn report(quiver: &Quiver, rows: u64, n: usize) {
    if n == 0 {
        return;
    }
    let statement = quiver.prepare(UPDATE).await.expect("prepare update");
    // Alternating rounds of 100 units, each kind timed on its own clock.
    let (mut auto, mut grouped) = (Duration::ZERO, Duration::ZERO);
    let mut i = 0;
    for _ in 0..n.div_ceil(100) {
        let start = Instant::now();
        for _ in 0..100 {
            update(&statement, i, rows).await;
            update(&statement, i + 1, rows).await;
            i += 2;
        }
        auto += start.elapsed();
        let start = Instant::now();
        for _ in 0..100 {
            let tx = quiver.begin();
            let in_tx = statement.clone().in_transaction(tx.clone());
            update(&in_tx, i, rows).await;
            update(&in_tx, i + 1, rows).await;
            tx.commit().await.expect("commit");
            i += 2;
        }
        grouped += start.elapsed();
    }
    let units = (n.div_ceil(100) * 100) as f64;
    let (auto_rate, tx_rate) = (units / auto.as_secs_f64(), units / grouped.as_secs_f64());
    println!("\ntransactions, embedded ({units} units each, timed in alternation):\n");
    println!("| unit | units/s | vs two autocommit UPDATEs |");
    println!("|---|---:|---:|");
    println!("| two autocommit UPDATEs | {auto_rate:.0} | 1.00 |");
    println!(
        "| BEGIN; UPDATE; UPDATE; COMMIT | {tx_rate:.0} | {:.2} |",
        tx_rate / auto_rate
    );

    println!("\nCOMMIT latency (ms) by rows updated in the transaction:\n");
    println!("| rows | commits | p50 | p99 |");
    println!("|---:|---:|---:|---:|");
    for size in [1usize, 10, 100] {
        let commits = (n / size).clamp(50, 2000);
        let mut took = Vec::with_capacity(commits);
        for _ in 0..commits {
            let tx = quiver.begin();
            let in_tx = statement.clone().in_transaction(tx.clone());
            for _ in 0..size {
                update(&in_tx, i, rows).await;
                i += 1;
            }
            let start = Instant::now();
            tx.commit().await.expect("commit");
            took.push(start.elapsed());
        }
        took.sort();
        println!(
            "| {size} | {commits} | {:.3} | {:.3} |",
            percentile(&took, 0.5),
            percentile(&took, 0.99)
        );
    }
    outbox(quiver, n).await;
}

/// An order row and its job: two autocommit calls, or one transaction.
async fn outbox(quiver: &Quiver, n: usize) {
    quiver
        .sql("CREATE TABLE IF NOT EXISTS bench_orders (id BIGINT PRIMARY KEY, status TEXT)")
        .await
        .expect("create")
        .collect()
        .await
        .expect("create");
    let insert = quiver
        .prepare("INSERT INTO bench_orders VALUES ($1, 'paid')")
        .await
        .expect("prepare insert");
    let queue = quiver.database().job_queue();
    let job = |i: usize| NewJob {
        queue: "bench-outbox".into(),
        job_type: "receipt".into(),
        parameters: format!(r#"{{"order":{i}}}"#),
        idempotency_key: Some(format!("order-{i}")),
        ..Default::default()
    };
    let (mut auto, mut grouped) = (Duration::ZERO, Duration::ZERO);
    let mut i = 0usize;
    for _ in 0..n.div_ceil(100) {
        let start = Instant::now();
        for _ in 0..100 {
            insert
                .query(vec![ScalarValue::Int64(Some(i as i64))])
                .await
                .expect("insert");
            queue.submit(job(i)).expect("submit");
            i += 1;
        }
        auto += start.elapsed();
        let start = Instant::now();
        for _ in 0..100 {
            let tx = quiver.begin();
            insert
                .clone()
                .in_transaction(tx.clone())
                .query(vec![ScalarValue::Int64(Some(i as i64))])
                .await
                .expect("insert");
            let staged: std::sync::Arc<dyn Staging> = tx.core().clone();
            queue.in_transaction(staged).submit(job(i)).expect("submit");
            tx.commit().await.expect("commit");
            i += 1;
        }
        grouped += start.elapsed();
    }
    let units = (n.div_ceil(100) * 100) as f64;
    let (auto_rate, tx_rate) = (units / auto.as_secs_f64(), units / grouped.as_secs_f64());
    println!("\ntransactional enqueue (an INSERT and a submit_job), {units} each:\n");
    println!("| how | per second | vs separate |");
    println!("|---|---:|---:|");
    println!("| two autocommit calls | {auto_rate:.0} | 1.00 |");
    println!(
        "| one transaction | {tx_rate:.0} | {:.2} |",
        tx_rate / auto_rate
    );
}
