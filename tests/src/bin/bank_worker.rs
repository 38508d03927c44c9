//! The child of the transaction crash loop: bank transfers in SQL transactions, from four
//! tasks at once, until it is killed. Each transfer is `BEGIN; UPDATE` (debit) `; UPDATE`
//! (credit) `; INSERT INTO transfers ...; COMMIT`, retried on a serialization failure. It
//! logs `I id from to amount` before a transfer begins and `A id` once its COMMIT returned.
//!
//! `bank_worker DB_DIR LOG_FILE SEED`

use std::io::Write;
use std::sync::{Arc, Mutex};

use indexed_store::StoreError;
use providers::Quiver;

/// Accounts, and what each opens with.
pub const ACCOUNTS: i64 = 50;
pub const OPENING: i64 = 1_000;

async fn setup(q: &Quiver) {
    for sql in [
        "CREATE TABLE IF NOT EXISTS accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS transfers (id TEXT PRIMARY KEY, source BIGINT NOT NULL, \
         target BIGINT NOT NULL, amount BIGINT NOT NULL)",
    ] {
        q.sql(sql).await.unwrap().collect().await.unwrap();
    }
    // One statement: the accounts are all there or none are.
    let values: Vec<String> = (0..ACCOUNTS).map(|i| format!("({i}, {OPENING})")).collect();
    q.sql(&format!(
        "INSERT INTO accounts VALUES {} ON CONFLICT (id) DO NOTHING",
        values.join(", ")
    ))
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
}

fn serialization(e: &datafusion::error::DataFusionError) -> bool {
    matches!(
        quiver_tests::store_error(e),
        Some(StoreError::SerializationFailure { .. })
    )
}

/// One transfer, retried until it commits.
async fn transfer(q: &Quiver, id: &str, from: i64, to: i64, amount: i64) {
    loop {
        let tx = q.begin();
        let run = async {
            tx.query(&format!(
                "UPDATE accounts SET balance = balance - {amount} WHERE id = {from}"
            ))
            .await?;
            tx.query(&format!(
                "UPDATE accounts SET balance = balance + {amount} WHERE id = {to}"
            ))
            .await?;
            tx.query(&format!(
                "INSERT INTO transfers VALUES ('{id}', {from}, {to}, {amount})"
            ))
            .await?;
            tx.commit().await
        };
        match run.await {
            Ok(()) => return,
            Err(e) if serialization(&e) => tx.rollback().await,
            Err(e) => panic!("transfer {id}: {e}"),
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, log, seed) = (&args[1], &args[2], args[3].parse::<u64>().expect("seed"));
    let q = Quiver::open(dir).expect("open");
    setup(&q).await;
    let log = Arc::new(Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log"),
    ));
    let mut tasks = Vec::new();
    for task in 0..4u64 {
        let (q, log) = (q.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = indexed_store::workload::Rng::new(seed * 16 + task);
            for n in 0.. {
                let id = format!("{seed}-{task}-{n}");
                let from = rng.below(ACCOUNTS as u64) as i64;
                let to = (from + 1 + rng.below(ACCOUNTS as u64 - 1) as i64) % ACCOUNTS;
                let amount = 1 + rng.below(100) as i64;
                let line = format!("I {id} {from} {to} {amount}\n");
                log.lock().unwrap().write_all(line.as_bytes()).expect("log");
                transfer(&q, &id, from, to, amount).await;
                let line = format!("A {id}\n");
                log.lock().unwrap().write_all(line.as_bytes()).expect("log");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
