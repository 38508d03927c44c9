//! The Hermitage anomaly matrix (github.com/ept/hermitage, its PostgreSQL scripts) replayed
//! with two or three SQL sessions on one database, each step in the order the scripts give.
//! Where PostgreSQL blocks the second writer of a row until the first transaction ends (and
//! then fails it if the first committed), Quiver does not wait: the second writer's
//! statement fails at once with a serialization error (first writer wins). The outcomes are
//! PostgreSQL's: REPEATABLE READ prevents G0, G1a, G1b, G1c, OTV, PMP, P4 and G-single; it
//! allows G2-item and G2 (write skew), which SERIALIZABLE prevents.

use super::{both, rows, setup, ALL, RR, SER};

/// G0, write cycles: two transactions updating the same two rows cannot interleave. The
/// second writer of row 1 fails at once (PostgreSQL would make it wait for T1, then fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g0_write_cycles_are_prevented() {
    for level in [RR, SER] {
        let (db, s) = setup(2).await;
        both(&[level, level], &s).await;
        s[0].run("UPDATE test SET value = 11 WHERE id = 1").await;
        s[1].conflicts("UPDATE test SET value = 12 WHERE id = 1")
            .await;
        s[0].run("UPDATE test SET value = 21 WHERE id = 2").await;
        s[0].run("COMMIT").await;
        assert_eq!(s[0].run(ALL).await, rows(&[(1, 11), (2, 21)]));
        s[1].run("ROLLBACK").await;
        assert_eq!(db.rows(ALL).await.unwrap(), rows(&[(1, 11), (2, 21)]));
    }
}

/// G0 against a row written outside any transaction (which takes no intent) after the
/// transaction's snapshot: the transaction's COMMIT fails, and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g0_against_an_autocommit_writer_fails_at_commit() {
    let (db, s) = setup(2).await;
    s[0].run(RR).await;
    s[0].run("UPDATE test SET value = 11 WHERE id = 1").await;
    s[1].run("UPDATE test SET value = 12 WHERE id = 1").await;
    s[0].conflicts("COMMIT").await;
    assert_eq!(db.rows(ALL).await.unwrap(), rows(&[(1, 12), (2, 20)]));
    // The session is usable again at once.
    s[0].run("UPDATE test SET value = 13 WHERE id = 1").await;
    assert_eq!(db.rows(ALL).await.unwrap(), rows(&[(1, 13), (2, 20)]));
}

/// G1a, aborted reads: a rolled-back write is never seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g1a_aborted_reads_are_prevented() {
    for level in [RR, SER] {
        let (_db, s) = setup(2).await;
        both(&[level, level], &s).await;
        s[0].run("UPDATE test SET value = 101 WHERE id = 1").await;
        assert_eq!(s[1].run(ALL).await, rows(&[(1, 10), (2, 20)]));
        s[0].run("ROLLBACK").await;
        assert_eq!(s[1].run(ALL).await, rows(&[(1, 10), (2, 20)]));
        s[1].run("COMMIT").await;
    }
}

/// G1b, intermediate reads: a value another transaction overwrote before committing is never
/// seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g1b_intermediate_reads_are_prevented() {
    for level in [RR, SER] {
        let (_db, s) = setup(2).await;
        both(&[level, level], &s).await;
        s[0].run("UPDATE test SET value = 101 WHERE id = 1").await;
        assert_eq!(s[1].run(ALL).await, rows(&[(1, 10), (2, 20)]));
        s[0].run("UPDATE test SET value = 11 WHERE id = 1").await;
        s[0].run("COMMIT").await;
        // Still its snapshot.
        assert_eq!(s[1].run(ALL).await, rows(&[(1, 10), (2, 20)]));
        s[1].run("COMMIT").await;
        assert_eq!(s[1].run(ALL).await, rows(&[(1, 11), (2, 20)]));
    }
}

/// G1c, circular information flow: neither transaction sees the other's uncommitted write.
/// Both commit under REPEATABLE READ; under SERIALIZABLE each read a row the other wrote (a
/// cycle of read-write dependencies, as in PostgreSQL's SSI), so the second commit fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g1c_circular_information_flow_is_prevented() {
    for (level, second_fails) in [(RR, false), (SER, true)] {
        let (db, s) = setup(2).await;
        both(&[level, level], &s).await;
        s[0].run("UPDATE test SET value = 11 WHERE id = 1").await;
        s[1].run("UPDATE test SET value = 22 WHERE id = 2").await;
        assert_eq!(
            s[0].run("SELECT * FROM test WHERE id = 2").await,
            rows(&[(2, 20)])
        );
        assert_eq!(
            s[1].run("SELECT * FROM test WHERE id = 1").await,
            rows(&[(1, 10)])
        );
        s[0].run("COMMIT").await;
        let expected = if second_fails {
            s[1].conflicts("COMMIT").await;
            rows(&[(1, 11), (2, 20)])
        } else {
            s[1].run("COMMIT").await;
            rows(&[(1, 11), (2, 22)])
        };
        assert_eq!(db.rows(ALL).await.unwrap(), expected);
    }
}

/// OTV, observed transaction vanishes: a third transaction sees all of T1 and none of T2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otv_observed_transaction_vanishes_is_prevented() {
    for level in [RR, SER] {
        let (_db, s) = setup(3).await;
        both(&[level, level], &s[..2]).await;
        s[0].run("UPDATE test SET value = 11 WHERE id = 1").await;
        s[0].run("UPDATE test SET value = 19 WHERE id = 2").await;
        s[1].conflicts("UPDATE test SET value = 12 WHERE id = 1")
            .await;
        s[0].run("COMMIT").await;
        s[2].run(level).await;
        assert_eq!(
            s[2].run("SELECT * FROM test WHERE id = 1").await,
            rows(&[(1, 11)])
        );
        assert_eq!(
            s[2].run("SELECT * FROM test WHERE id = 2").await,
            rows(&[(2, 19)])
        );
        s[1].run("ROLLBACK").await;
        s[2].run("COMMIT").await;
    }
}

/// PMP, predicate-many-preceders: a predicate read does not see a row committed after the
/// snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pmp_predicate_many_preceders_is_prevented() {
    for level in [RR, SER] {
        let (_db, s) = setup(2).await;
        both(&[level, level], &s).await;
        assert!(s[0]
            .run("SELECT * FROM test WHERE value = 30")
            .await
            .is_empty());
        s[1].run("INSERT INTO test VALUES (3, 30)").await;
        s[1].run("COMMIT").await;
        assert!(s[0]
            .run("SELECT * FROM test WHERE value % 3 = 0")
            .await
            .is_empty());
        s[0].run("COMMIT").await;
    }
}

/// PMP for write predicates: a DELETE by predicate on a row another transaction changed
/// since the snapshot fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pmp_write_predicates_are_prevented() {
    for level in [RR, SER] {
        let (db, s) = setup(2).await;
        both(&[level, level], &s).await;
        s[0].run("UPDATE test SET value = value + 10").await;
        assert_eq!(
            s[1].run("SELECT * FROM test WHERE value = 20").await,
            rows(&[(2, 20)])
        );
        s[0].run("COMMIT").await;
        s[1].conflicts("DELETE FROM test WHERE value = 20").await;
        s[1].run("ROLLBACK").await;
        assert_eq!(db.rows(ALL).await.unwrap(), rows(&[(1, 20), (2, 30)]));
    }
}

/// P4, lost update: of two read-modify-writes of one row, the second to commit fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_lost_update_is_prevented() {
    for level in [RR, SER] {
        let (db, s) = setup(2).await;
        both(&[level, level], &s).await;
        s[0].run("SELECT * FROM test WHERE id = 1").await;
        s[1].run("SELECT * FROM test WHERE id = 1").await;
        s[0].run("UPDATE test SET value = value + 1 WHERE id = 1")
            .await;
        s[1].conflicts("UPDATE test SET value = value + 1 WHERE id = 1")
            .await;
        s[0].run("COMMIT").await;
        s[1].run("ROLLBACK").await;
        assert_eq!(
            db.rows("SELECT value FROM test WHERE id = 1")
                .await
                .unwrap(),
            [["11"]]
        );
    }
}

/// G-single, read skew: a transaction never sees part of another's writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g_single_read_skew_is_prevented() {
    for level in [RR, SER] {
        let (_db, s) = setup(2).await;
        both(&[level, level], &s).await;
        assert_eq!(
            s[0].run("SELECT * FROM test WHERE id = 1").await,
            rows(&[(1, 10)])
        );
        assert_eq!(s[1].run(ALL).await, rows(&[(1, 10), (2, 20)]));
        s[1].run("UPDATE test SET value = 12 WHERE id = 1").await;
        s[1].run("UPDATE test SET value = 18 WHERE id = 2").await;
        s[1].run("COMMIT").await;
        assert_eq!(
            s[0].run("SELECT * FROM test WHERE id = 2").await,
            rows(&[(2, 20)])
        );
        s[0].run("COMMIT").await;
    }
}

/// G-single with predicate dependencies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g_single_predicate_dependencies_are_prevented() {
    for level in [RR, SER] {
        let (_db, s) = setup(2).await;
        both(&[level, level], &s).await;
        assert_eq!(
            s[0].run("SELECT * FROM test WHERE value % 5 = 0 ORDER BY id")
                .await,
            rows(&[(1, 10), (2, 20)])
        );
        s[1].run("UPDATE test SET value = 12 WHERE value = 10")
            .await;
        s[1].run("COMMIT").await;
        assert!(s[0]
            .run("SELECT * FROM test WHERE value % 3 = 0")
            .await
            .is_empty());
        s[0].run("COMMIT").await;
    }
}

/// G-single with a write predicate: T1's DELETE finds the row T2 changed and fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g_single_write_predicate_is_prevented() {
    for level in [RR, SER] {
        let (db, s) = setup(2).await;
        both(&[level, level], &s).await;
        assert_eq!(
            s[0].run("SELECT * FROM test WHERE id = 1").await,
            rows(&[(1, 10)])
        );
        s[1].run(ALL).await;
        s[1].run("UPDATE test SET value = 12 WHERE id = 1").await;
        s[1].run("UPDATE test SET value = 18 WHERE id = 2").await;
        s[1].run("COMMIT").await;
        s[0].conflicts("DELETE FROM test WHERE value = 20").await;
        s[0].run("ROLLBACK").await;
        assert_eq!(db.rows(ALL).await.unwrap(), rows(&[(1, 12), (2, 18)]));
    }
}

/// G2-item, item anti-dependency cycles (write skew on two rows): allowed under REPEATABLE
/// READ, as in PostgreSQL; refused under SERIALIZABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g2_item_write_skew_is_allowed_under_rr_and_prevented_under_serializable() {
    for (level, prevented) in [(RR, false), (SER, true)] {
        let (db, s) = setup(2).await;
        both(&[level, level], &s).await;
        s[0].run("SELECT * FROM test WHERE id IN (1, 2)").await;
        s[1].run("SELECT * FROM test WHERE id IN (1, 2)").await;
        s[0].run("UPDATE test SET value = 11 WHERE id = 1").await;
        s[1].run("UPDATE test SET value = 21 WHERE id = 2").await;
        s[0].run("COMMIT").await;
        if prevented {
            s[1].conflicts("COMMIT").await;
            assert_eq!(db.rows(ALL).await.unwrap(), rows(&[(1, 11), (2, 20)]));
        } else {
            s[1].run("COMMIT").await;
            assert_eq!(db.rows(ALL).await.unwrap(), rows(&[(1, 11), (2, 21)]));
        }
    }
}

/// G2, anti-dependency cycles through predicates: each transaction inserts a row the
/// other's predicate read would have matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g2_predicate_write_skew_is_allowed_under_rr_and_prevented_under_serializable() {
    for (level, prevented) in [(RR, false), (SER, true)] {
        let (db, s) = setup(2).await;
        both(&[level, level], &s).await;
        assert!(s[0]
            .run("SELECT * FROM test WHERE value % 3 = 0")
            .await
            .is_empty());
        assert!(s[1]
            .run("SELECT * FROM test WHERE value % 3 = 0")
            .await
            .is_empty());
        s[0].run("INSERT INTO test VALUES (3, 30)").await;
        s[1].run("INSERT INTO test VALUES (4, 42)").await;
        s[0].run("COMMIT").await;
        let expected = if prevented {
            s[1].conflicts("COMMIT").await;
            rows(&[(1, 10), (2, 20), (3, 30)])
        } else {
            s[1].run("COMMIT").await;
            rows(&[(1, 10), (2, 20), (3, 30), (4, 42)])
        };
        assert_eq!(db.rows(ALL).await.unwrap(), expected);
    }
}

/// G2 with two anti-dependency edges (Hermitage's three-transaction case): refused under
/// SERIALIZABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g2_two_edges_is_prevented_under_serializable() {
    let (db, s) = setup(3).await;
    both(&[SER, SER], &s[..2]).await;
    s[0].run(ALL).await;
    s[1].run("UPDATE test SET value = 12 WHERE id = 2").await;
    s[1].run("COMMIT").await;
    s[2].run(SER).await;
    s[2].run(ALL).await;
    s[2].run("COMMIT").await;
    s[0].run("UPDATE test SET value = 0 WHERE id = 1").await;
    s[0].conflicts("COMMIT").await;
    assert_eq!(db.rows(ALL).await.unwrap(), rows(&[(1, 10), (2, 12)]));
}

/// The doctors on call: each of two doctors checks that someone else is on call and goes
/// off. REPEATABLE READ lets both go (documented write skew); SERIALIZABLE refuses the
/// second, through a count answered by a full scan and through one answered by the
/// per-value counters of an index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctors_on_call_write_skew() {
    for indexed in [false, true] {
        for (level, prevented) in [(RR, false), (SER, true)] {
            let (db, s) = setup(2).await;
            db.query("CREATE TABLE doctors (name TEXT PRIMARY KEY, on_call BOOLEAN NOT NULL)")
                .await
                .unwrap();
            if indexed {
                db.query("CREATE INDEX doctors_on_call ON doctors (on_call)")
                    .await
                    .unwrap();
            }
            db.query("INSERT INTO doctors VALUES ('alice', true), ('bob', true)")
                .await
                .unwrap();
            both(&[level, level], &s).await;
            let on_call = "SELECT count(*) FROM doctors WHERE on_call";
            assert_eq!(s[0].run(on_call).await, [["2"]]);
            assert_eq!(s[1].run(on_call).await, [["2"]]);
            s[0].run("UPDATE doctors SET on_call = false WHERE name = 'alice'")
                .await;
            s[1].run("UPDATE doctors SET on_call = false WHERE name = 'bob'")
                .await;
            // Each sees its own write.
            assert_eq!(s[0].run(on_call).await, [["1"]]);
            s[0].run("COMMIT").await;
            let left = if prevented {
                s[1].conflicts("COMMIT").await;
                "1"
            } else {
                s[1].run("COMMIT").await;
                "0"
            };
            assert_eq!(
                db.rows(on_call).await.unwrap(),
                [[left]],
                "indexed: {indexed}"
            );
            db.assert_verified();
        }
    }
}
