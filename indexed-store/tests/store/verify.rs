//! verify() finds what a bug or a damaged disk would leave: a missing entry, a dangling
//! entry, a unique value held by two rows. Each is made by hand below, behind the store's back.

use crate::common::*;
use indexed_store::{IndexedEntityStore, Problem};
use kv_store::{Direction, KeyRange, WriteBatch};

/// The first entry of the `by_owner` index: key and value.
fn first_owner_entry(t: &TempStore) -> (Vec<u8>, Vec<u8>) {
    t.backend
        .scan("i/accounts/by_owner", &KeyRange::all(), Direction::Forward)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

#[test]
fn a_healthy_store_verifies_clean() {
    let t = temp_store();
    t.store.insert(account("a", "active", 1)).unwrap();
    let report = t.store.verify().unwrap();
    assert!(report.is_ok());
    assert_eq!(report.records, 1);
    assert_eq!(report.entries, 3); // status+contacts, owner, email (NULL: keyed with the pk); no tags
}

#[test]
fn a_deleted_entry_is_reported_missing_and_a_stray_one_dangling() {
    let t = temp_store();
    t.store.insert(account("a", "active", 1)).unwrap();
    let entry = first_owner_entry(&t);
    let mut batch = WriteBatch::new();
    batch.delete("i/accounts/by_owner", entry.0.clone());
    let mut stray = entry.0.clone();
    stray[3] ^= 1; // another owner value, same row
    batch.put("i/accounts/by_owner", stray, entry.1);
    t.backend.write(batch).unwrap();

    let problems = t.store.verify().unwrap().problems;
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(matches!(&problems[0], Problem::MissingEntry { index, .. } if index == "by_owner"));
    assert!(matches!(&problems[1], Problem::DanglingEntry { index, .. } if index == "by_owner"));
    // The stray key's owner value is cut short: the counts cannot be checked against it.
    assert!(
        matches!(&problems[2], Problem::Undecodable { partition, .. } if partition == "i/accounts/by_owner")
    );
}

/// An entry deleted behind the store's back leaves its value's counter one too high, and an
/// entry added behind its back one too low: verify names the index, the counter and the
/// entries.
#[test]
fn a_counter_that_disagrees_with_its_entries_is_reported() {
    let t = temp_store();
    t.store.insert(account("a", "active", 1)).unwrap();
    t.store.insert(account("b", "active", 2)).unwrap();
    let entry = first_owner_entry(&t);
    let mut batch = WriteBatch::new();
    batch.delete("i/accounts/by_owner", entry.0);
    t.backend.write(batch).unwrap();
    let problems = t.store.verify().unwrap().problems;
    assert!(
        problems.iter().any(|p| matches!(
            p,
            Problem::WrongCount { index, stored: 2, entries: 1, .. } if index == "by_owner"
        )),
        "{problems:?}"
    );

    // Rebuilt when the header is gone: the next open counts the entries there are.
    let mut batch = WriteBatch::new();
    batch.delete("n/accounts/by_owner", Vec::new());
    t.backend.write(batch).unwrap();
    let problems = t.store.verify().unwrap().problems;
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Problem::CountsUnvouched { index } if index == "by_owner")),
        "{problems:?}"
    );
    let reopened = IndexedEntityStore::open(t.backend.clone(), definition()).unwrap();
    let problems = reopened.verify().unwrap().problems;
    assert!(
        problems
            .iter()
            .all(|p| matches!(p, Problem::MissingEntry { .. })),
        "only the entry deleted by hand is wrong now: {problems:?}"
    );
}

#[test]
fn a_unique_value_held_by_two_rows_is_reported() {
    let t = temp_store();
    let mut a = account("a", "active", 1);
    a.email = Some("dup@example.com".into());
    t.store.insert(a.clone()).unwrap();
    // Write a second row with the same email straight into the record partition.
    let mut b = a.clone();
    b.id = "b".into();
    let (pk_a, rec_a) = t
        .backend
        .scan("t/accounts", &KeyRange::all(), Direction::Forward)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let mut pk_b = pk_a.clone();
    *pk_b.iter_mut().rev().nth(2).unwrap() = b'b';
    let mut raw = rec_a.clone();
    let pos = raw.iter().position(|&c| c == b'a').unwrap();
    raw[pos] = b'b';
    let mut batch = WriteBatch::new();
    batch.put("t/accounts", pk_b, raw);
    t.backend.write(batch).unwrap();
    let problems = t.store.verify().unwrap().problems;
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Problem::DuplicateUnique { index, .. } if index == "by_email")),
        "{problems:?}"
    );
}
