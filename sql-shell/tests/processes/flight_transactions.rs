//! Flight SQL transactions against a real `quiver serve` on 127.0.0.1, with arrow-flight's
//! client: BeginTransaction / EndTransaction, `transaction_id` on queries, updates and
//! prepared statements, GetSqlInfo's answers, and handles that are not the caller's or no
//! longer open. (The idle timeout, the lifetime and many abandoned transactions are tested
//! with a clock the test moves, in `serve/transactions.rs`.)

use crate::common::{client, code, fetch, first_int, query, start, try_fetch};
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{EndTransaction, SqlInfo};
use bytes::Bytes;
use datafusion::arrow::array::{Array, BooleanArray, Int32Array, UnionArray};
use tonic::transport::Channel;
use tonic::Code;

async fn count(c: &mut FlightSqlServiceClient<Channel>, tx: Option<Bytes>) -> i64 {
    let info = c
        .execute("SELECT count(*) FROM t".into(), tx)
        .await
        .unwrap();
    first_int(&fetch(c, info).await)
}

async fn table(c: &mut FlightSqlServiceClient<Channel>) {
    c.execute_update(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)".into(),
        None,
    )
    .await
    .unwrap();
    c.execute_update("INSERT INTO t VALUES (1, 10), (2, 20)".into(), None)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_rollback_over_flight_sql() {
    let server = start("a\n");
    let mut c = client(&server, Some("a")).await;
    let mut other = client(&server, Some("a")).await;
    table(&mut c).await;

    let tx = c.begin_transaction().await.unwrap();
    let n = c
        .execute_update("INSERT INTO t VALUES (3, 30)".into(), Some(tx.clone()))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let prepared = c
        .prepare(
            "UPDATE t SET v = v + 1 WHERE id = 1".into(),
            Some(tx.clone()),
        )
        .await
        .unwrap();
    let mut prepared = prepared;
    prepared.execute_update().await.unwrap();
    assert_eq!(count(&mut c, Some(tx.clone())).await, 3, "its own write");
    assert_eq!(count(&mut other, None).await, 2, "not visible outside");
    c.end_transaction(tx.clone(), EndTransaction::Commit)
        .await
        .unwrap();
    assert_eq!(count(&mut other, None).await, 3);
    let v = query(&mut other, "SELECT v FROM t WHERE id = 1").await;
    assert_eq!(first_int(&v), 11);

    // The ended handle is unknown: a statement naming it fails and never autocommits.
    let e = c
        .execute_update("INSERT INTO t VALUES (4, 40)".into(), Some(tx.clone()))
        .await
        .unwrap_err();
    assert_eq!(code(&e), Code::NotFound, "{e}");
    let e = prepared.execute_update().await.unwrap_err();
    assert!(
        matches!(code(&e), Code::NotFound | Code::FailedPrecondition),
        "a prepared statement of an ended transaction: {e}"
    );
    let e = c
        .end_transaction(tx.clone(), EndTransaction::Commit)
        .await
        .unwrap_err();
    assert_eq!(code(&e), Code::NotFound, "{e}");
    assert_eq!(count(&mut other, None).await, 3);

    let tx = c.begin_transaction().await.unwrap();
    c.execute_update("DELETE FROM t".into(), Some(tx.clone()))
        .await
        .unwrap();
    assert_eq!(count(&mut c, Some(tx.clone())).await, 0);
    c.end_transaction(tx, EndTransaction::Rollback)
        .await
        .unwrap();
    assert_eq!(count(&mut other, None).await, 3);
}

/// A handle is bound to the token that began it: another token gets `NotFound` for it, as
/// for a handle never issued, and nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tokens_transaction_is_not_found() {
    let server = start("a\nb\n");
    let mut a = client(&server, Some("a")).await;
    let mut b = client(&server, Some("b")).await;
    table(&mut a).await;
    let tx = a.begin_transaction().await.unwrap();
    let e = b
        .execute_update("DELETE FROM t".into(), Some(tx.clone()))
        .await
        .unwrap_err();
    assert_eq!(code(&e), Code::NotFound, "{e}");
    let e = b
        .execute("SELECT * FROM t".into(), Some(tx.clone()))
        .await
        .unwrap_err();
    assert_eq!(code(&e), Code::NotFound, "{e}");
    let e = b
        .end_transaction(tx.clone(), EndTransaction::Commit)
        .await
        .unwrap_err();
    assert_eq!(code(&e), Code::NotFound, "{e}");
    let e = b
        .execute_update(
            "DELETE FROM t".into(),
            Some(Bytes::from_static(b"never-issued")),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), Code::NotFound, "{e}");
    assert_eq!(count(&mut a, None).await, 2);
    // The owner's transaction is untouched.
    a.execute_update("INSERT INTO t VALUES (3, 30)".into(), Some(tx.clone()))
        .await
        .unwrap();
    a.end_transaction(tx, EndTransaction::Commit).await.unwrap();
    assert_eq!(count(&mut b, None).await, 3);
}

/// Two transactions write one row: the second writer's statement fails at once with
/// `Aborted`, naming the table (first writer wins); its ROLLBACK succeeds and the client
/// goes on. A row written outside any transaction after a transaction's snapshot fails
/// that transaction's COMMIT instead, also `Aborted`, and its ROLLBACK succeeds too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serialization_failure_is_aborted_and_the_client_goes_on() {
    let server = start("a\n");
    let mut c1 = client(&server, Some("a")).await;
    let mut c2 = client(&server, Some("a")).await;
    table(&mut c1).await;
    let t1 = c1.begin_transaction().await.unwrap();
    let t2 = c2.begin_transaction().await.unwrap();
    c1.execute_update("UPDATE t SET v = 11 WHERE id = 1".into(), Some(t1.clone()))
        .await
        .unwrap();
    let e = c2
        .execute_update("UPDATE t SET v = 12 WHERE id = 1".into(), Some(t2.clone()))
        .await
        .unwrap_err();
    assert_eq!(code(&e), Code::Aborted, "{e}");
    assert!(e.to_string().contains("'t'"), "names the table: {e}");
    c2.end_transaction(t2, EndTransaction::Rollback)
        .await
        .unwrap();
    c1.end_transaction(t1, EndTransaction::Commit)
        .await
        .unwrap();
    let t3 = c2.begin_transaction().await.unwrap();
    c2.execute_update("UPDATE t SET v = 13 WHERE id = 1".into(), Some(t3.clone()))
        .await
        .unwrap();
    c2.end_transaction(t3, EndTransaction::Commit)
        .await
        .unwrap();
    let v = query(&mut c1, "SELECT v FROM t WHERE id = 1").await;
    assert_eq!(first_int(&v), 13);

    // Against a write outside any transaction, the COMMIT is what fails.
    let t4 = c1.begin_transaction().await.unwrap();
    c1.execute_update("UPDATE t SET v = 21 WHERE id = 2".into(), Some(t4.clone()))
        .await
        .unwrap();
    c2.execute_update("UPDATE t SET v = 22 WHERE id = 2".into(), None)
        .await
        .unwrap();
    let e = c1
        .end_transaction(t4.clone(), EndTransaction::Commit)
        .await
        .unwrap_err();
    assert_eq!(code(&e), Code::Aborted, "{e}");
    c1.end_transaction(t4, EndTransaction::Rollback)
        .await
        .unwrap();
    let v = query(&mut c1, "SELECT v FROM t WHERE id = 2").await;
    assert_eq!(first_int(&v), 22);
}

/// A statement that fails inside a transaction fails the transaction: the next one is
/// refused with `FailedPrecondition` until the client rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_fails_the_transaction() {
    let server = start("a\n");
    let mut c = client(&server, Some("a")).await;
    table(&mut c).await;
    let tx = c.begin_transaction().await.unwrap();
    c.execute_update("INSERT INTO t VALUES (3, 30)".into(), Some(tx.clone()))
        .await
        .unwrap();
    let e = c
        .execute_update("INSERT INTO t VALUES (1, 0)".into(), Some(tx.clone()))
        .await
        .unwrap_err();
    assert_eq!(code(&e), Code::AlreadyExists, "{e}");
    let e = match c.execute("SELECT 1".into(), Some(tx.clone())).await {
        Ok(info) => try_fetch(&mut c, info).await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(code(&e), Code::FailedPrecondition, "{e}");
    c.end_transaction(tx, EndTransaction::Rollback)
        .await
        .unwrap();
    assert_eq!(count(&mut c, None).await, 2);
}

/// GetSqlInfo says transactions are supported, at which levels, by default which, and the
/// idle timeout: what makes ADBC's driver turn autocommit off for real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_info_reports_transactions() {
    let server = start("a\n");
    let mut c = client(&server, Some("a")).await;
    let info = c
        .get_sql_info(vec![
            SqlInfo::FlightSqlServerTransaction,
            SqlInfo::SqlTransactionsSupported,
            SqlInfo::SqlDefaultTransactionIsolation,
            SqlInfo::SqlSupportedTransactionsIsolationLevels,
            SqlInfo::FlightSqlServerTransactionTimeout,
        ])
        .await
        .unwrap();
    let batches = fetch(&mut c, info).await;
    let mut answers = std::collections::HashMap::new();
    for b in &batches {
        let names = b
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::UInt32Array>()
            .unwrap();
        let values = b.column(1).as_any().downcast_ref::<UnionArray>().unwrap();
        for i in 0..b.num_rows() {
            let value = values.value(i);
            let text = if let Some(v) = value.as_any().downcast_ref::<BooleanArray>() {
                v.value(0).to_string()
            } else if let Some(v) = value.as_any().downcast_ref::<Int32Array>() {
                v.value(0).to_string()
            } else if let Some(v) = value
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
            {
                v.value(0).to_string()
            } else {
                format!("{:?}", value.data_type())
            };
            answers.insert(names.value(i), text);
        }
    }
    assert_eq!(
        answers[&(SqlInfo::FlightSqlServerTransaction as u32)],
        "1",
        "{answers:?}"
    );
    assert_eq!(answers[&(SqlInfo::SqlTransactionsSupported as u32)], "true");
    assert_eq!(
        answers[&(SqlInfo::SqlDefaultTransactionIsolation as u32)],
        "3"
    );
    assert_eq!(
        answers[&(SqlInfo::SqlSupportedTransactionsIsolationLevels as u32)],
        ((1 << 3) | (1 << 4)).to_string()
    );
    assert_eq!(
        answers[&(SqlInfo::FlightSqlServerTransactionTimeout as u32)],
        "60000"
    );
}

/// What ADBC's DB-API does with autocommit off: a cursor prepares a statement in the
/// connection's transaction and keeps it across `commit()`, after which the driver begins
/// the next transaction. The statement then runs in that next one (it is not visible
/// outside until it commits), never on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_prepared_statement_runs_in_the_connections_next_transaction() {
    let server = start("a\n");
    let mut c = client(&server, Some("a")).await;
    let mut other = client(&server, Some("a")).await;
    table(&mut c).await;
    let t1 = c.begin_transaction().await.unwrap();
    let mut bump = c
        .prepare(
            "UPDATE t SET v = v + 1 WHERE id = 1".into(),
            Some(t1.clone()),
        )
        .await
        .unwrap();
    bump.execute_update().await.unwrap();
    c.end_transaction(t1, EndTransaction::Commit).await.unwrap();
    let t2 = c.begin_transaction().await.unwrap();
    bump.execute_update().await.unwrap();
    let v = query(&mut other, "SELECT v FROM t WHERE id = 1").await;
    assert_eq!(
        first_int(&v),
        11,
        "the second run waits for the second commit"
    );
    c.end_transaction(t2, EndTransaction::Commit).await.unwrap();
    let v = query(&mut other, "SELECT v FROM t WHERE id = 1").await;
    assert_eq!(first_int(&v), 12);
}
