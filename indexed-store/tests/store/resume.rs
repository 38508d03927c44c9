//! A walk that starts at a resume point misses no entry: whatever writers put behind the
//! point, while no walk runs or in the middle of one, and whatever walks give back.
//!
//! The job queue's claims rely on this (see `indexed_store::table::ResumePoint`): a claim reads the
//! claim index from where the last claim stopped instead of stepping over every deletion
//! of earlier claims, so a job put behind that position and missed there would never run.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::*;
use indexed_store::encoding::decode_key;
use indexed_store::table::ResumePoint;
use indexed_store::{AccessPath, IndexedEntityStore, SortOrder, Value};
use kv_store::range::successor;

const INDEX: &str = "by_status_contacts";

fn queued() -> Vec<Value> {
    vec![Value::Text("queued".into())]
}

/// One walk: takes up to `n` entries from the point, moving it past them, and returns each
/// one's key and account id.
fn take(
    store: &IndexedEntityStore<String, Account>,
    point: &ResumePoint,
    n: usize,
) -> Vec<(Vec<u8>, String)> {
    let walk = point.begin();
    let path = AccessPath::index(INDEX).eq(queued());
    let mut taken = Vec::new();
    store
        .reader()
        .visit_entries_from(&path, walk.start(), &mut |key, pk, _| {
            let id = match decode_key(pk, &[SortOrder::Asc]).unwrap().pop() {
                Some(Value::Text(id)) => id,
                other => panic!("primary key {other:?}"),
            };
            taken.push((key.to_vec(), id));
            Ok(taken.len() < n)
        })
        .unwrap();
    let next = match taken.last() {
        Some((key, _)) => Some(successor(key)),
        None => walk.start().map(<[u8]>::to_vec),
    };
    walk.finish(next);
    taken
}

/// Every queued entry, walked from the start of the range.
fn queued_ids(store: &IndexedEntityStore<String, Account>) -> Vec<String> {
    let path = AccessPath::index(INDEX).eq(queued());
    let reader = store.reader();
    let records = reader.records(&path).unwrap();
    records.map(|r| r.unwrap().1.id).collect()
}

/// Queued accounts `a{i}` with `i` contacts.
fn insert_queued(store: &IndexedEntityStore<String, Account>, range: std::ops::Range<i64>) {
    for i in range {
        store
            .insert(account(&format!("a{i}"), "queued", i))
            .unwrap();
    }
}

#[test]
fn an_entry_put_behind_the_point_is_walked_next() {
    let t = temp_store();
    let point = t.store.resume_point(INDEX, queued()).unwrap();
    insert_queued(&t.store, 10..20);
    let first = take(&t.store, &point, 5);
    let ids: Vec<&str> = first.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids, ["a10", "a11", "a12", "a13", "a14"]);
    for (_, id) in &first {
        t.store.delete(id).unwrap();
    }
    // Behind the point: a new row, and a row moved into the range by an update.
    t.store.insert(account("new", "queued", 1)).unwrap();
    t.store.insert(account("moved", "active", 2)).unwrap();
    t.store.update(account("moved", "queued", 2)).unwrap();
    let next = take(&t.store, &point, 3);
    let ids: Vec<&str> = next.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids, ["new", "moved", "a15"]);
}

#[test]
fn an_entry_given_back_is_walked_again() {
    let t = temp_store();
    let point = t.store.resume_point(INDEX, queued()).unwrap();
    insert_queued(&t.store, 0..4);
    let taken = take(&t.store, &point, 2);
    assert!(
        take(&t.store, &point, 1)[0].1 == "a2",
        "the point moved past a0, a1"
    );
    // a1 was not consumed after all.
    point.put(&taken[1].0);
    let again = take(&t.store, &point, 1);
    assert_eq!(again[0].1, "a1");
}

#[test]
fn the_same_point_is_shared_and_points_of_other_prefixes_are_apart() {
    let t = temp_store();
    let a = t.store.resume_point(INDEX, queued()).unwrap();
    let b = t.store.resume_point(INDEX, queued()).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let other = t
        .store
        .resume_point(INDEX, vec![Value::Text("active".into())])
        .unwrap();
    assert!(!Arc::ptr_eq(&a, &other));
    assert!(t.store.resume_point("no_such_index", queued()).is_err());
}

/// Writers put entries at random places (also right behind the point, and during walks)
/// while two consumers take entries from the point, delete most of them and give the rest
/// back. In the end every entry was consumed exactly once and none is left behind.
/// (A point that missed a put would leave its entry behind; one that skipped a given-back
/// entry too.)
#[test]
fn concurrent_writers_and_consumers_lose_nothing() {
    let t = temp_store();
    let store = t.store.clone();
    let point = store.resume_point(INDEX, queued()).unwrap();
    let writers_done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                let mut seed = 0x9e37_79b9_u64 + w;
                for i in 0..1500 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let id = format!("w{w}-{i}");
                    // Low values land behind a point that has moved on.
                    store
                        .insert(account(&id, "queued", (seed % 2000) as i64))
                        .unwrap();
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|c| {
            let store = store.clone();
            let point = point.clone();
            let writers_done = writers_done.clone();
            std::thread::spawn(move || {
                let mut consumed = Vec::new();
                let mut round = 0u64;
                loop {
                    // Read the flag before walking: an empty walk after the writers are
                    // done means nothing is left.
                    let done = writers_done.load(Ordering::Acquire);
                    let taken = take(&store, &point, 7);
                    if taken.is_empty() && done {
                        return consumed;
                    }
                    for (key, id) in taken {
                        round += 1;
                        if (round + c).is_multiple_of(10) {
                            point.put(&key);
                        } else if store.delete(&id).unwrap() {
                            // A walk from a lowered point may meet an entry another
                            // consumer took and has not deleted yet: the delete decides
                            // (as a claim's check under the row lock does).
                            consumed.push(id);
                        }
                    }
                }
            })
        })
        .collect();
    let mut written = HashSet::new();
    for w in writers {
        written.extend(w.join().unwrap());
    }
    writers_done.store(true, Ordering::Release);
    let mut consumed = Vec::new();
    for c in consumers {
        consumed.extend(c.join().unwrap());
    }
    let unique: HashSet<String> = consumed.iter().cloned().collect();
    assert_eq!(unique.len(), consumed.len(), "an entry consumed twice");
    assert_eq!(queued_ids(&t.store), Vec::<String>::new(), "left behind");
    assert_eq!(unique, written);
}
