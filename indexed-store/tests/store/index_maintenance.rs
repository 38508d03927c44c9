//! Every write changes a record and its index entries together: updates move entries,
//! deletes remove them, and verify() agrees afterwards.

use crate::common::*;
use indexed_store::{AccessPath, Value};

fn by_status(t: &TempStore, status: &str) -> Vec<String> {
    let r = t.store.reader();
    let path = AccessPath::index("by_status_contacts").eq(vec![Value::Text(status.into())]);
    ids(r.records(&path).unwrap().map(|x| x.unwrap().1).collect())
}

#[test]
fn an_update_moves_the_index_entry() {
    let t = temp_store();
    t.store.insert(account("a1", "active", 10)).unwrap();
    t.store.insert(account("a2", "active", 20)).unwrap();
    assert_eq!(by_status(&t, "active"), vec!["a1", "a2"]);

    t.store.update(account("a1", "rejected", 10)).unwrap();
    assert_eq!(by_status(&t, "active"), vec!["a2"]);
    assert_eq!(by_status(&t, "rejected"), vec!["a1"]);
    assert!(t.store.verify().unwrap().is_ok());
}

#[test]
fn a_delete_removes_every_entry() {
    let t = temp_store();
    let mut a = account("a1", "active", 10);
    a.email = Some("x@example.com".into());
    a.tags = vec!["renewal_due".into(), "vip".into()];
    t.store.insert(a).unwrap();
    assert!(t.store.delete(&"a1".to_string()).unwrap());
    assert!(!t.store.delete(&"a1".to_string()).unwrap());
    let report = t.store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.records, report.entries), (0, 0));
    // The freed unique value can be taken again.
    let mut b = account("b1", "active", 1);
    b.email = Some("x@example.com".into());
    t.store.insert(b).unwrap();
}

#[test]
fn covered_values_follow_updates() {
    let t = temp_store();
    t.store.insert(account("a1", "active", 10)).unwrap();
    t.store.upsert(account("a1", "active", 99)).unwrap();
    let r = t.store.reader();
    let entries: Vec<_> = r
        .entries(&AccessPath::index("by_owner").eq(vec![Value::Text("o1".into())]))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].payload.covered, Some(vec![Value::Int(99)]));
    assert!(t.store.verify().unwrap().is_ok());
}

#[test]
fn list_columns_get_one_entry_per_distinct_element() {
    let t = temp_store();
    let mut a = account("a1", "active", 1);
    a.tags = vec!["x".into(), "y".into(), "x".into()];
    t.store.insert(a.clone()).unwrap();
    let r = t.store.reader();
    let path = AccessPath::index("by_tag");
    assert_eq!(r.count(&path).unwrap(), 2);
    drop(r);
    a.tags = vec!["y".into(), "z".into()];
    t.store.update(a).unwrap();
    let r = t.store.reader();
    let tags: Vec<_> = r
        .entries(&path)
        .unwrap()
        .map(|e| r.decode_entry(Some("by_tag"), &e.unwrap()).unwrap().0)
        .collect();
    assert_eq!(
        tags,
        vec![vec![Value::Text("y".into())], vec![Value::Text("z".into())]]
    );
    assert!(t.store.verify().unwrap().is_ok());
}

#[test]
fn a_batch_is_applied_in_order_as_one_write() {
    use indexed_store::Mutation::*;
    let t = temp_store();
    let outcome = t
        .store
        .apply(vec![
            Insert(account("a", "active", 1)),
            Update(account("a", "pending", 2)),
            Insert(account("b", "active", 3)),
            Delete("b".to_string()),
            Upsert(account("c", "active", 4)),
        ])
        .unwrap();
    assert_eq!(
        (outcome.inserted, outcome.updated, outcome.deleted),
        (3, 1, 1)
    );
    assert_eq!(by_status(&t, "pending"), vec!["a"]);
    assert_eq!(by_status(&t, "active"), vec!["c"]);
    assert!(t.store.verify().unwrap().is_ok());
}

#[test]
fn data_survives_reopening() {
    let t = temp_store();
    t.store.insert(account("a1", "active", 10)).unwrap();
    let dir = t.dir;
    drop(t.store);
    drop(t.backend);
    let backend: std::sync::Arc<dyn kv_store::StorageBackend> =
        std::sync::Arc::new(kv_store::RocksBackend::open(dir.path()).unwrap());
    let store = indexed_store::IndexedEntityStore::open(backend, definition()).unwrap();
    assert_eq!(
        store.get(&"a1".to_string()).unwrap(),
        Some(account("a1", "active", 10))
    );
    assert!(store.verify().unwrap().is_ok());
}
