//! Concurrent writers to the same keys never leave a stale or missing entry, and of two
//! racing claims on one unique value exactly one wins.

use std::sync::{Arc, Barrier};

use crate::common::*;
use indexed_store::{AsyncStore, StoreError};

#[test]
fn racing_inserts_of_one_unique_value_have_one_winner() {
    let t = temp_store();
    for round in 0..20 {
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let store = t.store.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut a = account(&format!("r{round}-t{i}"), "active", i as i64);
                    a.email = Some(format!("round{round}@example.com"));
                    barrier.wait();
                    store.insert(a)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::UniqueViolation { .. }))));
    }
    let report = t.store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.records, 20);
}

#[test]
fn concurrent_updates_of_the_same_rows_keep_indexes_exact() {
    let t = temp_store();
    t.store
        .insert_many(
            (0..10)
                .map(|i| account(&format!("k{i}"), "active", 0))
                .collect(),
        )
        .unwrap();
    let statuses = ["active", "pending", "rejected"];
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let store = t.store.clone();
            std::thread::spawn(move || {
                for n in 0..300 {
                    let id = format!("k{}", (n * 7 + w) % 10);
                    let mut a = account(&id, statuses[(n + w) % 3], (n * w) as i64);
                    if n % 5 == 0 {
                        a.email = Some(format!("e{}", n % 4));
                    }
                    let _ = match n % 4 {
                        0 => store.upsert(a),
                        1 => store.update(a),
                        2 => store.delete(&id).map(|_| ()),
                        _ => store.insert(a),
                    };
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let report = t.store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_wrappers_race_from_tokio_tasks() {
    let t = temp_store();
    let store = AsyncStore::new(t.store.clone());
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut a = account(&format!("t{i}"), "active", i);
                a.email = Some("contested@example.com".into());
                store.insert(a).await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert!(store.verify().await.unwrap().is_ok());
}
