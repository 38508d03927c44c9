//! TTL: expired rows are invisible at once and purged through the expiry index; an index
//! on the field a table expires by is rejected when the table is defined.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use indexed_store::{
    row_table, AccessPath, ColumnDef, ColumnType, IndexSpec, IndexedEntityStore, StoreError,
    TableSchema, TtlSpec, Value,
};
use kv_store::{RocksBackend, StorageBackend};

const SEC: i64 = 1_000_000;

fn sessions(ttl_column: Option<&str>, indexes: Vec<IndexSpec>) -> TableSchema {
    TableSchema {
        version: 0,
        loader: None,
        name: "sessions".into(),
        columns: vec![
            ColumnDef::new("id", ColumnType::Text).not_null(),
            ColumnDef::new("user", ColumnType::Text),
            ColumnDef::new("seen_at", ColumnType::Timestamp),
        ],
        primary_key: vec!["id".into()],
        indexes,
        ttl: Some(TtlSpec {
            column: ttl_column.map(str::to_owned),
            seconds: 60,
        }),
    }
}

fn row(id: &str, user: &str, seen_at: i64) -> Vec<Value> {
    vec![
        Value::Text(id.into()),
        Value::Text(user.into()),
        Value::Timestamp(seen_at),
    ]
}

#[test]
fn an_index_on_the_expiring_field_is_rejected() {
    let err = row_table(sessions(
        Some("seen_at"),
        vec![IndexSpec::new("by_seen", &["seen_at"])],
    ))
    .map(|_| ())
    .unwrap_err();
    assert!(
        matches!(&err, StoreError::IndexOnExpiringField { column, .. } if column == "seen_at"),
        "{err}"
    );
    assert!(row_table(sessions(
        Some("seen_at"),
        vec![IndexSpec::new("by_user", &["user"])]
    ))
    .is_ok());
}

#[test]
fn expired_rows_vanish_at_once_and_purge_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn StorageBackend> = Arc::new(RocksBackend::open(dir.path()).unwrap());
    let now = Arc::new(AtomicI64::new(1_000 * SEC));
    let clock = now.clone();
    let def = row_table(sessions(
        Some("seen_at"),
        vec![IndexSpec::new("by_user", &["user"])],
    ))
    .unwrap();
    let store = IndexedEntityStore::open(backend.clone(), def)
        .unwrap()
        .with_clock(Arc::new(move || clock.load(Ordering::SeqCst)));

    store.insert(row("s1", "ann", 1_000 * SEC)).unwrap(); // expires at 1060 s
    store.insert(row("s2", "ann", 1_030 * SEC)).unwrap(); // expires at 1090 s
    let key = |id: &str| vec![Value::Text(id.into())];
    let by_ann = AccessPath::index("by_user").eq(vec![Value::Text("ann".into())]);
    assert_eq!(store.reader().count(&by_ann).unwrap(), 2);

    now.store(1_060 * SEC, Ordering::SeqCst);
    assert_eq!(
        store.get(&key("s1")).unwrap(),
        None,
        "invisible from the instant it expires"
    );
    assert!(store.get(&key("s2")).unwrap().is_some());
    assert_eq!(store.reader().count(&by_ann).unwrap(), 1);
    assert_eq!(store.reader().count(&AccessPath::primary()).unwrap(), 1);

    // Re-inserting an expired key is an insert, not a duplicate.
    store.insert(row("s1", "bob", 1_060 * SEC)).unwrap();
    now.store(1_200 * SEC, Ordering::SeqCst);
    assert_eq!(store.purge_expired().unwrap(), 2);
    assert_eq!(
        backend
            .scan(
                "t/sessions",
                &kv_store::KeyRange::all(),
                kv_store::Direction::Forward
            )
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        backend
            .scan(
                "x/sessions",
                &kv_store::KeyRange::all(),
                kv_store::Direction::Forward
            )
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        backend
            .scan(
                "i/sessions/by_user",
                &kv_store::KeyRange::all(),
                kv_store::Direction::Forward
            )
            .unwrap()
            .count(),
        0
    );
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn purge_leaves_live_rows_and_their_expiry_entries() {
    let now = Arc::new(AtomicI64::new(0));
    let clock = now.clone();
    let backend: Arc<dyn StorageBackend> = Arc::new(kv_store::MemoryBackend::new());
    let store =
        IndexedEntityStore::open(backend.clone(), row_table(sessions(None, vec![])).unwrap())
            .unwrap()
            .with_clock(Arc::new(move || clock.load(Ordering::SeqCst)));
    store.insert(row("old", "a", 0)).unwrap(); // written at 0 s: expires at 60 s
    now.store(50 * SEC, Ordering::SeqCst);
    store.upsert(row("young", "b", 0)).unwrap(); // expires at 110 s
    now.store(61 * SEC, Ordering::SeqCst);
    assert_eq!(store.purge_expired().unwrap(), 1);
    assert_eq!(
        backend
            .scan(
                "x/sessions",
                &kv_store::KeyRange::all(),
                kv_store::Direction::Forward
            )
            .unwrap()
            .count(),
        1
    );
    assert!(store
        .get(&vec![Value::Text("young".into())])
        .unwrap()
        .is_some());
    assert!(store.verify().unwrap().is_ok());
}
