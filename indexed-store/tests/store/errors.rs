//! Bad writes fail with an error that names the problem, and write nothing.

use crate::common::*;
use indexed_store::{AccessPath, Mutation, StoreError, Value};

#[test]
fn a_duplicate_primary_key_is_rejected_and_nothing_changes() {
    let t = temp_store();
    t.store.insert(account("a1", "active", 10)).unwrap();
    let err = t.store.insert(account("a1", "pending", 5)).unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateKey { table, key } if table == "accounts" && key == "'a1'"),
        "{err}"
    );
    assert_eq!(
        t.store.get(&"a1".to_string()).unwrap().unwrap().status,
        "active"
    );
}

#[test]
fn a_failing_batch_writes_none_of_its_rows() {
    let t = temp_store();
    t.store.insert(account("a1", "active", 10)).unwrap();
    let err = t
        .store
        .apply(vec![
            Mutation::Insert(account("b1", "active", 1)),
            Mutation::Insert(account("a1", "active", 2)),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateKey { .. }));
    assert_eq!(t.store.get(&"b1".to_string()).unwrap(), None);
    assert!(t.store.verify().unwrap().is_ok());
}

#[test]
fn a_unique_violation_names_index_and_value_and_writes_nothing() {
    let t = temp_store();
    let mut a = account("a1", "active", 1);
    a.email = Some("same@example.com".into());
    t.store.insert(a).unwrap();
    let mut b = account("b1", "active", 2);
    b.email = Some("same@example.com".into());
    let err = t.store.insert(b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unique index 'by_email' on table 'accounts' already contains 'same@example.com'"
    );
    assert_eq!(t.store.get(&"b1".to_string()).unwrap(), None);
    let report = t.store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.records, 1);
}

#[test]
fn nulls_never_conflict_in_a_unique_index() {
    let t = temp_store();
    t.store.insert(account("a1", "active", 1)).unwrap();
    t.store.insert(account("a2", "active", 1)).unwrap();
    assert!(t.store.verify().unwrap().is_ok());
}

#[test]
fn updating_a_missing_row_is_not_found() {
    let t = temp_store();
    let err = t.store.update(account("ghost", "active", 1)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
}

#[test]
fn an_unknown_index_and_an_oversized_path_are_errors() {
    let t = temp_store();
    let r = t.store.reader();
    let err = r.count(&AccessPath::index("nope")).map(|_| ()).unwrap_err();
    assert_eq!(err.to_string(), "unknown index 'nope' on table 'accounts'");
    let path = AccessPath::index("by_owner").eq(vec![Value::Text("a".into()), Value::Int(1)]);
    assert!(matches!(
        r.count(&path),
        Err(StoreError::InvalidAccessPath { .. })
    ));
}

#[test]
fn an_unknown_partition_surfaces_from_the_backend() {
    let t = temp_store();
    t.backend.drop_partition("t/accounts").unwrap();
    let err = t.store.insert(account("a", "active", 1)).unwrap_err();
    assert_eq!(err.to_string(), "unknown partition 't/accounts'");
}

#[test]
fn awkward_ids_round_trip_and_keep_their_order() {
    let t = temp_store();
    let long = "x".repeat(100_000);
    let weird = [
        "",
        "-1",
        "a\0b",
        "a",
        "ü🦀",
        "'; DROP TABLE accounts; --",
        long.as_str(),
        "\u{7f}\u{1}",
    ];
    for id in weird {
        t.store.insert(account(id, "active", -5)).unwrap();
    }
    for id in weird {
        assert_eq!(
            t.store
                .get(&id.to_string())
                .unwrap()
                .unwrap()
                .contacts_count,
            -5,
            "{id:?}"
        );
    }
    let r = t.store.reader();
    let got: Vec<String> = r.scan_all().unwrap().map(|a| a.unwrap().id).collect();
    let mut want: Vec<String> = weird.iter().map(|s| s.to_string()).collect();
    want.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(got, want);
    assert!(t.store.verify().unwrap().is_ok());
}

#[test]
fn negative_numbers_order_correctly_in_an_index() {
    let t = temp_store();
    for (id, n) in [
        ("a", -10),
        ("b", 0),
        ("c", -1),
        ("d", i64::MIN),
        ("e", i64::MAX),
    ] {
        t.store.insert(account(id, "active", n)).unwrap();
    }
    let r = t.store.reader();
    let path = AccessPath::index("by_status_contacts").eq(vec![Value::Text("active".into())]);
    let order: Vec<i64> = r
        .records(&path)
        .unwrap()
        .map(|x| x.unwrap().1.contacts_count)
        .collect();
    assert_eq!(order, vec![i64::MIN, -10, -1, 0, i64::MAX]);
}

#[test]
fn two_rows_of_one_batch_cannot_share_a_unique_value() {
    let t = temp_store();
    let mut a = account("a", "active", 1);
    a.email = Some("same@example.com".into());
    let mut b = account("b", "active", 2);
    b.email = Some("same@example.com".into());
    let err = t.store.insert_many(vec![a.clone(), b.clone()]).unwrap_err();
    assert!(matches!(err, StoreError::UniqueViolation { .. }), "{err}");
    assert_eq!(t.store.get(&"a".to_string()).unwrap(), None);
    // Large batches are prepared on two threads; the check still holds.
    let mut many: Vec<_> = (0..3000)
        .map(|i| account(&format!("m{i}"), "active", i))
        .collect();
    many[2999].email = Some("x@example.com".into());
    many[5].email = Some("x@example.com".into());
    assert!(matches!(
        t.store.insert_many(many).unwrap_err(),
        StoreError::UniqueViolation { .. }
    ));
    assert!(t.store.verify().unwrap().is_ok());
}
