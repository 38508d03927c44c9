//! The job queue inside transactions: a job submitted with the business row commits with it
//! or not at all; a worker's report on a job commits with the rows it wrote, and fails the
//! commit when its lease was taken over meanwhile; a claim rolled back gives the job back.

use indexed_store::StoreError;
use quiver_tests::{store_error, TempDb};

use super::Session;

async fn orders(db: &TempDb) {
    db.query("CREATE TABLE orders (id BIGINT PRIMARY KEY, status TEXT NOT NULL)")
        .await
        .unwrap();
}

const CLAIM: &str = "SELECT job_id, attempts FROM claim_jobs('emails', 'w', 10, 30)";

/// Submits in a transaction: claimable at COMMIT (at once), never after ROLLBACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_job_is_claimable_at_commit_and_never_after_rollback() {
    let db = TempDb::new();
    orders(&db).await;
    let (app, worker) = (Session::of(&db), Session::of(&db));

    app.run("BEGIN").await;
    app.run("INSERT INTO orders VALUES (1, 'paid')").await;
    app.run("SELECT job_id FROM submit_job('emails', 'receipt', '{\"order\": 1}', 'order-1')")
        .await;
    // Inside the transaction the job is there (its own write); outside it is not.
    assert_eq!(
        app.run("SELECT count(*) FROM jobs WHERE idempotency_key = 'order-1'")
            .await,
        [["1"]]
    );
    assert!(worker.run(CLAIM).await.is_empty());
    app.run("ROLLBACK").await;
    assert!(worker.run(CLAIM).await.is_empty());
    assert_eq!(
        db.rows("SELECT count(*) FROM orders").await.unwrap(),
        [["0"]]
    );

    app.run("BEGIN").await;
    app.run("INSERT INTO orders VALUES (2, 'paid')").await;
    app.run("SELECT job_id FROM submit_jobs('emails', 'receipt', ['{\"order\": 2}', '{}'])")
        .await;
    app.run("COMMIT").await;
    let claimed = worker.run(CLAIM).await;
    assert_eq!(
        claimed.len(),
        2,
        "both jobs claimable as soon as COMMIT returned"
    );
    assert_eq!(
        db.rows("SELECT count(*) FROM orders").await.unwrap(),
        [["1"]]
    );
    db.assert_verified();
}

/// A worker completes its job in the transaction that writes the job's result rows. If its
/// lease expired and another worker took the job before the COMMIT, the COMMIT fails:
/// neither the completion nor the rows are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_after_a_lease_takeover_fails_the_commit() {
    let db = TempDb::new();
    orders(&db).await;
    let (slow, other) = (Session::of(&db), Session::of(&db));
    db.query("SELECT job_id FROM submit_job('emails', 'receipt', '{}')")
        .await
        .unwrap();
    // A lease of one microsecond: over by the time anyone looks again.
    let id = slow
        .run("SELECT job_id FROM claim_jobs('emails', 'slow', 1, INTERVAL '1 microsecond')")
        .await[0][0]
        .clone();
    slow.run("BEGIN").await;
    slow.run("INSERT INTO orders VALUES (1, 'receipt sent')")
        .await;
    slow.run(&format!(
        "SELECT job_id FROM complete_job('{id}', 'slow', 'sent')"
    ))
    .await;
    // The lease has expired: the next claim puts the job back and another worker gets it.
    let mut taken = Vec::new();
    while taken.is_empty() {
        taken = other
            .run("SELECT job_id FROM claim_jobs('emails', 'other', 1, 30)")
            .await;
    }
    assert_eq!(taken[0][0], id);
    let e = slow.fails("COMMIT").await;
    assert!(
        matches!(store_error(&e), Some(StoreError::SerializationFailure { table, .. }) if table == "jobs"),
        "{e}"
    );
    assert_eq!(
        db.rows("SELECT count(*) FROM orders").await.unwrap(),
        [["0"]]
    );
    assert_eq!(
        db.rows(&format!(
            "SELECT status, lease_owner FROM jobs WHERE job_id = '{id}'"
        ))
        .await
        .unwrap(),
        [["running", "other"]]
    );
    db.assert_verified();
}

/// A worker's report and its rows commit together when its lease holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_commits_with_the_rows_the_worker_wrote() {
    let db = TempDb::new();
    orders(&db).await;
    let w = Session::of(&db);
    db.query("SELECT job_id FROM submit_job('emails', 'receipt', '{}')")
        .await
        .unwrap();
    let id = w.run(CLAIM).await[0][0].clone();
    w.run("BEGIN").await;
    w.run("INSERT INTO orders VALUES (1, 'receipt sent')").await;
    w.run(&format!(
        "SELECT job_id FROM complete_job('{id}', 'w', 'sent')"
    ))
    .await;
    // Not yet visible outside.
    assert_eq!(
        db.rows(&format!("SELECT status FROM jobs WHERE job_id = '{id}'"))
            .await
            .unwrap(),
        [["running"]]
    );
    w.run("COMMIT").await;
    assert_eq!(
        db.rows(&format!(
            "SELECT status, result FROM jobs WHERE job_id = '{id}'"
        ))
        .await
        .unwrap(),
        [["succeeded", "sent"]]
    );
    assert_eq!(
        db.rows("SELECT count(*) FROM orders").await.unwrap(),
        [["1"]]
    );
}

/// A claim takes effect at once (no one else gets the job), and a rollback gives the job
/// back to the queue with its attempt not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_rolled_back_returns_the_job_with_its_attempts_unchanged() {
    let db = TempDb::new();
    let (w, other) = (Session::of(&db), Session::of(&db));
    db.query("SELECT job_id FROM submit_job('emails', 'receipt', '{}')")
        .await
        .unwrap();
    w.run("BEGIN").await;
    let claimed = w.run(CLAIM).await;
    assert_eq!(claimed[0][1], "1");
    assert!(other.run(CLAIM).await.is_empty(), "claimed at once");
    w.run("ROLLBACK").await;
    let again = other.run(CLAIM).await;
    assert_eq!(again, [[claimed[0][0].clone(), "1".to_owned()]]);

    // Abandoned (the session dropped) is the same as rolled back.
    db.query("SELECT job_id FROM submit_job('emails', 'receipt', '{}')")
        .await
        .unwrap();
    let gone = Session::of(&db);
    gone.run("BEGIN").await;
    assert_eq!(gone.run(CLAIM).await.len(), 1);
    drop(gone);
    assert_eq!(other.run(CLAIM).await.len(), 1);
    db.assert_verified();
}

/// A worker claims, does its work and completes in one transaction: the claim took effect
/// after the transaction's snapshot, yet the complete sees the job as the worker holds it
/// now, and the COMMIT does not count the worker's own claim as a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_work_and_complete_in_one_transaction() {
    let db = TempDb::new();
    orders(&db).await;
    let w = Session::of(&db);
    db.query("SELECT job_id FROM submit_job('emails', 'receipt', '{}')")
        .await
        .unwrap();
    w.run("BEGIN").await;
    let id = w.run(CLAIM).await[0][0].clone();
    w.run("INSERT INTO orders VALUES (1, 'receipt sent')").await;
    w.run(&format!(
        "SELECT job_id FROM complete_job('{id}', 'w', 'sent')"
    ))
    .await;
    w.run("COMMIT").await;
    assert_eq!(
        db.rows(&format!(
            "SELECT status, attempts FROM jobs WHERE job_id = '{id}'"
        ))
        .await
        .unwrap(),
        [["succeeded", "1"]]
    );
    assert_eq!(
        db.rows("SELECT count(*) FROM orders").await.unwrap(),
        [["1"]]
    );
}
