//! Per-value index counts (`indexed_store::table::COUNTS_FORMAT`) are kept in the write batch of every
//! change: whatever mix of inserts, upserts, updates and deletes, from several threads at
//! once, every counter must equal the entries a walk of its value finds, and every count,
//! facet and DISTINCT answered from them must equal the walk's. Index builds, index drops,
//! table renames and databases written before counts (no counts partition) keep them true.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use indexed_store::workload::{account_row, accounts, accounts_schema, Rng};
use indexed_store::TableChange;
use indexed_store::{
    AccessPath, Database, IndexSpec, Mutation, Problem, RowStore, StoreReader, TableSchema, Value,
};
use tempfile::TempDir;

/// The reference table with one more index, whose entries carry `score`: an update that
/// changes only the score rewrites its entry under the same key, which must count nothing.
fn schema() -> TableSchema {
    let mut schema = accounts_schema();
    schema.indexes.push(IndexSpec {
        include: vec!["score".into()],
        ..IndexSpec::new("accounts_status_score", &["status"])
    });
    schema
}

/// A database in a temp dir holding `schema`'s table with `rows` workload rows of `seed`.
fn loaded(schema: TableSchema, seed: u64, rows: u64) -> (TempDir, Database, Arc<RowStore>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let store = db.create_table(schema).unwrap();
    store.load(accounts(seed, rows), 500).unwrap();
    (dir, db, store)
}

/// Entries per value of the index's leading column, counted by walking them.
fn walked(reader: &StoreReader<'_, Vec<Value>, Vec<Value>>, index: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in reader.entries(&AccessPath::index(index)).unwrap() {
        let e = e.unwrap();
        let (key, _) = reader.decode_entry(Some(index), &e).unwrap();
        *out.entry(format!("{:?}", key[0])).or_default() += 1;
    }
    out
}

/// Every count, facet and DISTINCT the counters answer, against a walk of the entries.
fn assert_counts_agree(store: &RowStore) {
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let reader = store.reader();
    for index in [
        "accounts_status_contacts",
        "accounts_status_score",
        "accounts_owner",
        "accounts_tags",
    ] {
        let expected = walked(&reader, index);
        let facets: BTreeMap<String, u64> = reader
            .facets(&AccessPath::index(index), 1)
            .unwrap()
            .into_iter()
            .map(|(v, n)| (format!("{:?}", v[0]), n))
            .collect();
        assert_eq!(facets, expected, "facets of {index}");
        let distinct: Vec<String> = reader
            .distinct(&AccessPath::index(index).reverse(), 1)
            .unwrap()
            .into_iter()
            .map(|v| format!("{:?}", v[0]))
            .collect();
        let mut values: Vec<String> = expected.keys().cloned().collect();
        values.reverse();
        assert_eq!(distinct, values, "distinct values of {index}, descending");
    }
    for status in ["active", "pending", "rejected", "gone"] {
        let path =
            AccessPath::index("accounts_status_contacts").eq(vec![Value::Text(status.into())]);
        let walked = reader.entries(&path).unwrap().count() as u64;
        assert_eq!(reader.count(&path).unwrap(), walked, "count of {status}");
        assert_eq!(
            reader.count(&path.clone().limit(3)).unwrap(),
            walked.min(3),
            "count of {status}, limited"
        );
    }
    let owners = AccessPath::index("accounts_owner").range(
        Bound::Included(Value::Text("owner-0005".into())),
        Bound::Excluded(Value::Text("owner-0012".into())),
    );
    assert_eq!(
        reader.count(&owners).unwrap(),
        reader.entries(&owners).unwrap().count() as u64
    );
    let owner_values: Vec<Vec<Value>> = reader
        .entries(&owners)
        .unwrap()
        .map(|e| {
            reader
                .decode_entry(Some("accounts_owner"), &e.unwrap())
                .unwrap()
                .0
        })
        .fold(Vec::new(), |mut out, v| {
            if out.last() != Some(&v) {
                out.push(v);
            }
            out
        });
    assert_eq!(reader.distinct(&owners, 1).unwrap(), owner_values);
    assert_eq!(
        reader.distinct(&owners.clone().limit(2), 1).unwrap(),
        owner_values[..2.min(owner_values.len())]
    );
}

#[test]
fn counters_follow_concurrent_writes_of_every_kind() {
    let (_dir, _db, store) = loaded(schema(), 3, 2_000);
    assert_counts_agree(&store);

    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let store = store.clone();
            scope.spawn(move || {
                let mut rng = Rng::new(100 + thread);
                for _ in 0..60 {
                    let mut batch = Vec::new();
                    // Few owners and ids, so batches repeat keys and threads collide.
                    for _ in 0..1 + rng.below(8) {
                        let id = rng.below(2_400);
                        let mut row = account_row(&mut rng, id);
                        row[3] = Value::Text(format!("owner-{:04}", rng.below(20)));
                        batch.push(match rng.below(4) {
                            0 => Mutation::Delete(vec![row[0].clone()]),
                            1 => Mutation::Update(row),
                            _ => Mutation::Upsert(row),
                        });
                    }
                    // An update of a missing row fails the whole batch; that is fine here.
                    let _ = store.apply(batch);
                }
            });
        }
    });
    assert_counts_agree(&store);
}

#[test]
fn an_index_built_on_rows_has_counts_and_a_dropped_one_leaves_none() {
    let mut schema = schema();
    schema.indexes.retain(|i| i.name != "accounts_owner");
    let (_dir, db, _) = loaded(schema, 5, 1_500);
    db.create_index("accounts", IndexSpec::new("accounts_owner", &["owner"]))
        .unwrap();
    let store = db.row_table("accounts").unwrap();
    assert_counts_agree(&store);

    db.drop_index("accounts_owner").unwrap();
    assert!(!db.backend().has_partition("n/accounts/accounts_owner"));
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn a_renamed_table_keeps_its_counts() {
    let (_dir, db, _) = loaded(schema(), 9, 1_000);
    db.alter_table("accounts", TableChange::Rename("accounts2".into()))
        .unwrap();
    let renamed = db.row_table("accounts2").unwrap();
    let reader = renamed.reader();
    let path = AccessPath::index("accounts_status_contacts").eq(vec![Value::Text("active".into())]);
    let n = reader.count(&path).unwrap();
    assert!(n > 300, "{n}");
    assert_eq!(n, reader.entries(&path).unwrap().count() as u64);
    assert!(renamed.verify().unwrap().is_ok());
    assert!(!db.backend().has_partition("n/accounts/accounts_owner"));
}

/// A database written before counts has index partitions and no counts partitions: the
/// counts are built when it opens, and the format marker is raised so an older Quiver,
/// which would write rows without counting them, refuses it from then on.
#[test]
fn a_database_without_counts_gets_them_when_it_opens() {
    let (dir, db, store) = loaded(schema(), 13, 1_200);
    {
        for p in db.backend().partitions().unwrap() {
            if p.starts_with("n/") {
                db.backend().drop_partition(&p).unwrap();
            }
        }
        let mut batch = kv_store::WriteBatch::new();
        batch.put(
            "catalog",
            b"format/records".to_vec(),
            3u32.to_le_bytes().to_vec(),
        );
        db.backend().write(batch).unwrap();
        drop((store, db));
    }
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(
        db.backend().get("catalog", b"format/records").unwrap(),
        Some(4u32.to_le_bytes().to_vec())
    );
    let store = db.row_table("accounts").unwrap();
    assert_counts_agree(&store);
    let facets = store
        .reader()
        .facets(&AccessPath::index("accounts_status_contacts"), 1)
        .unwrap();
    assert_eq!(facets.iter().map(|(_, n)| n).sum::<u64>(), 1_200);
    // Nothing else reads as a problem: the counts are vouched for.
    assert!(!store
        .verify()
        .unwrap()
        .problems
        .iter()
        .any(|p| matches!(p, Problem::CountsUnvouched { .. })));
}

/// Counts written by a newer Quiver (a newer header) are refused when the table opens,
/// naming the format found, rather than read or rebuilt.
#[test]
fn counts_in_a_newer_format_are_refused() {
    let (dir, db, store) = loaded(schema(), 1, 0);
    {
        let mut batch = kv_store::WriteBatch::new();
        batch.put(
            "n/accounts/accounts_owner",
            Vec::new(),
            (indexed_store::table::COUNTS_FORMAT + 1)
                .to_le_bytes()
                .to_vec(),
        );
        db.backend().write(batch).unwrap();
        drop((store, db));
    }
    let err = Database::open(dir.path()).err().expect("refused");
    assert!(
        matches!(err, indexed_store::StoreError::UnsupportedFormat { found, .. } if found == indexed_store::table::COUNTS_FORMAT + 1),
        "{err}"
    );
}
