//! Counting from the index: a long range is split by RocksDB's size estimates and counted
//! on every core, and the pieces must add up to exactly what a walk of the entries counts.

use std::ops::Bound;

use indexed_store::workload::{accounts, accounts_schema};
use indexed_store::{AccessPath, Database, Value};

#[test]
fn split_counts_equal_a_walk_of_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let store = db.create_table(accounts_schema()).unwrap();
    // Enough rows that each index holds well over the mebibyte worth splitting.
    store.load(accounts(7, 120_000), 20_000).unwrap();
    db.compact().unwrap();
    // The split is taken: the estimate says the index is worth it.
    let status_index = db
        .backend()
        .approximate_size("i/accounts/accounts_status_contacts", &[], &[0xff; 8])
        .unwrap();
    assert!(status_index > 1 << 20, "{status_index} bytes");
    let reader = store.reader();
    let paths = [
        AccessPath::index("accounts_status_contacts").eq(vec![Value::Text("active".into())]),
        AccessPath::index("accounts_contacts").range(
            Bound::Included(Value::Int(10_000)),
            Bound::Excluded(Value::Int(90_000)),
        ),
        AccessPath::index("accounts_owner").starts_with("owner-01"),
        // The paths above read the per-value counters; this one constrains two columns, so
        // its entries are counted, split across cores.
        AccessPath::index("accounts_status_contacts")
            .eq(vec![Value::Text("active".into())])
            .range(Bound::Included(Value::Int(5_000)), Bound::Unbounded),
    ];
    for path in paths {
        let walked = reader.entries(&path).unwrap().count() as u64;
        assert!(walked > 10_000, "{path:?} selects {walked}");
        assert_eq!(reader.count(&path).unwrap(), walked, "{path:?}");
    }
    // The facet counts of a whole index add up to its entries, value by value.
    let facets = reader
        .facets(&AccessPath::index("accounts_status_contacts"), 1)
        .unwrap();
    for (values, n) in &facets {
        let path = AccessPath::index("accounts_status_contacts").eq(values.clone());
        assert_eq!(
            reader.entries(&path).unwrap().count() as u64,
            *n,
            "{values:?}"
        );
    }
    assert_eq!(facets.iter().map(|(_, n)| n).sum::<u64>(), 120_000);
}

/// Facets counted in one walk that skips past long values: whatever mix of short values
/// (stepped over entry by entry), long ones (counted by range) and limits, every value is
/// there once with the count a walk of its entries gives, in key order.
#[test]
fn facet_walks_count_short_and_long_values_alike() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let store = db.create_table(accounts_schema()).unwrap();
    store.load(accounts(11, 30_000), 10_000).unwrap();
    let reader = store.reader();
    let paths = [
        // ~15,000 entries in three long values.
        (AccessPath::index("accounts_status_contacts"), 1),
        // (status, contacts_count) pairs under one status: mostly one or two entries each.
        (
            AccessPath::index("accounts_status_contacts").eq(vec![Value::Text("active".into())]),
            2,
        ),
        // 1,000 owners of ~30 entries.
        (AccessPath::index("accounts_owner"), 1),
        (AccessPath::index("accounts_owner").limit(7), 1),
        (AccessPath::index("accounts_status_contacts").limit(2), 1),
    ];
    for (path, columns) in paths {
        let mut expected: Vec<(Vec<Value>, u64)> = Vec::new();
        for e in reader
            .entries(&AccessPath {
                limit: None,
                ..path.clone()
            })
            .unwrap()
        {
            let (key, _) = reader
                .decode_entry(path.index.as_deref(), &e.unwrap())
                .unwrap();
            let key = key[..columns].to_vec();
            match expected.last_mut() {
                Some((last, n)) if *last == key => *n += 1,
                _ => expected.push((key, 1)),
            }
        }
        if let Some(l) = path.limit {
            expected.truncate(l);
        }
        assert!(!expected.is_empty());
        assert_eq!(reader.facets(&path, columns).unwrap(), expected, "{path:?}");
    }
}
