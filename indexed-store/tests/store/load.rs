//! `load`: the pipelined bulk insert. It must end exactly where inserting every row would,
//! and a refused row must leave the table as it was before the load, even when earlier
//! batches were already written.

use crate::common::*;
use indexed_store::{AccessPath, StoreError, Value};

fn accounts(n: usize) -> Vec<Account> {
    (0..n)
        .map(|i| {
            let mut a = account(
                &format!("acc-{i:05}"),
                ["active", "pending", "rejected"][i % 3],
                (i * 7919 % 1000) as i64,
            );
            a.tags = match i % 4 {
                0 => vec![],
                1 => vec!["vip".into()],
                _ => vec!["vip".into(), "renewal_due".into()],
            };
            a.email = (i % 5 == 0).then(|| format!("user{i}@example.com"));
            a
        })
        .collect()
}

fn count(t: &TempStore, index: &str, value: &str) -> u64 {
    t.store
        .reader()
        .count(&AccessPath::index(index).eq(vec![Value::Text(value.into())]))
        .unwrap()
}

#[test]
fn a_load_writes_every_row_with_all_its_entries() {
    let t = temp_store();
    // 2,500 rows in batches of 300: nine batches, the last one short.
    assert_eq!(t.store.load(accounts(2_500), 300).unwrap(), 2_500);

    let report = t.store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.records, 2_500);
    assert_eq!(count(&t, "by_status_contacts", "pending"), 833);
    assert_eq!(count(&t, "by_tag", "renewal_due"), 1_250);
    assert_eq!(
        t.store.get(&"acc-01234".to_string()).unwrap(),
        Some(accounts(2_500).swap_remove(1234))
    );
}

#[test]
fn a_load_ends_where_inserting_row_by_row_ends() {
    let loaded = temp_store();
    let inserted = temp_store();
    loaded.store.load(accounts(700), 64).unwrap();
    for a in accounts(700) {
        inserted.store.insert(a).unwrap();
    }
    for p in loaded.backend.partitions().unwrap() {
        let all = |t: &TempStore| -> Vec<(Vec<u8>, Vec<u8>)> {
            t.backend
                .scan(&p, &kv_store::KeyRange::all(), kv_store::Direction::Forward)
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(all(&loaded), all(&inserted), "partition {p}");
    }
}

#[test]
fn a_duplicate_key_in_a_later_batch_undoes_the_earlier_batches() {
    let t = temp_store();
    let mut rows = accounts(1_000);
    // Row 900 repeats row 10: batches 0-8 (of 100 rows) are written before it is refused.
    rows[900] = rows[10].clone();
    let err = t.store.load(rows, 100).unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateKey { key, .. } if key.contains("acc-00010")),
        "{err}"
    );
    let report = t.store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.records, report.entries), (0, 0));
}

#[test]
fn a_failed_load_leaves_rows_that_were_there_before() {
    let t = temp_store();
    let mut before = account("acc-00500", "active", 1);
    before.email = Some("kept@example.com".into());
    t.store.insert(before.clone()).unwrap();

    let err = t.store.load(accounts(1_000), 128).unwrap_err();
    assert!(matches!(err, StoreError::DuplicateKey { .. }), "{err}");
    let report = t.store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.records, 1);
    assert_eq!(t.store.get(&"acc-00500".to_string()).unwrap(), Some(before));
    assert_eq!(count(&t, "by_status_contacts", "pending"), 0);
}

#[test]
fn a_unique_violation_undoes_the_load() {
    let t = temp_store();
    let mut rows = accounts(600);
    rows[550].email = Some("user5@example.com".into());
    let err = t.store.load(rows, 100).unwrap_err();
    assert!(
        matches!(&err, StoreError::UniqueViolation { index, value, .. }
            if index == "by_email" && value.contains("user5@example.com")),
        "{err}"
    );
    let report = t.store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.records, 0);
    // The value is free again.
    let mut a = account("z", "active", 1);
    a.email = Some("user5@example.com".into());
    t.store.insert(a).unwrap();
}

#[test]
fn a_zero_batch_size_means_one_row_per_batch() {
    let t = temp_store();
    assert_eq!(t.store.load(accounts(5), 0).unwrap(), 5);
    assert_eq!(t.store.load(Vec::new(), 10).unwrap(), 0);
    assert_eq!(t.store.verify().unwrap().records, 5);
}

#[test]
fn a_repeat_within_one_batch_into_an_empty_table_is_refused() {
    let t = temp_store();
    let mut rows = accounts(1_000);
    // One batch: the load's filter flags the second occurrence, the only key read back.
    rows[700] = rows[300].clone();
    let err = t.store.load(rows, 1_000).unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateKey { key, .. } if key.contains("acc-00300")),
        "{err}"
    );
    let report = t.store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.records, report.entries), (0, 0));
}

#[test]
fn new_keys_the_filter_may_have_seen_are_read_back_and_loaded() {
    let t = temp_store();
    // At about 7e-4 per key the load's filter flags a few dozen of 30,000 new keys as
    // possibly seen; each is read back, found absent and written.
    assert_eq!(t.store.load(accounts(30_000), 5_000).unwrap(), 30_000);
    let report = t.store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.records, 30_000);
    assert_eq!(count(&t, "by_tag", "vip"), 22_500);
}
