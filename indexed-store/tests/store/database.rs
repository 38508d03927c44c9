//! The catalog: tables and indexes persist across reopening, indexes build over existing
//! rows, a failed unique build leaves nothing, drops remove the data, unknown names are errors.

use indexed_store::workload::{accounts, accounts_schema};
use indexed_store::{AccessPath, Database, IndexSpec, StoreError, Value};

#[test]
fn tables_and_indexes_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        db.create_table(accounts_schema())
            .unwrap()
            .insert_many(accounts(1, 500).collect())
            .unwrap();
    }
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.table_names(), vec!["accounts", "jobs", "lists", "users"]);
    let t = db.row_table("accounts").unwrap();
    let r = t.reader();
    assert_eq!(r.count(&AccessPath::primary()).unwrap(), 500);
    assert!(
        r.count(
            &AccessPath::index("accounts_status_contacts").eq(vec![Value::Text("active".into())])
        )
        .unwrap()
            > 150
    );
    assert!(db.verify().unwrap().iter().all(|r| r.is_ok()));
}

#[test]
fn create_index_fills_from_existing_rows_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        db.create_table(accounts_schema())
            .unwrap()
            .insert_many(accounts(2, 300).collect())
            .unwrap();
        db.create_index(
            "accounts",
            IndexSpec::new("by_owner_status", &["owner", "status"]),
        )
        .unwrap();
    }
    let db = Database::open(dir.path()).unwrap();
    let t = db.row_table("accounts").unwrap();
    assert_eq!(
        t.reader()
            .count(&AccessPath::index("by_owner_status"))
            .unwrap(),
        300
    );
    assert!(t.verify().unwrap().is_ok());
}

#[test]
fn a_unique_index_over_duplicates_fails_and_leaves_nothing() {
    let db = Database::in_memory().unwrap();
    db.create_table(accounts_schema())
        .unwrap()
        .insert_many(accounts(3, 100).collect())
        .unwrap();
    let mut spec = IndexSpec::new("uniq_status", &["status"]);
    spec.unique = true;
    let err = db.create_index("accounts", spec).unwrap_err();
    assert!(
        matches!(&err, StoreError::UniqueViolation { index, .. } if index == "uniq_status"),
        "{err}"
    );
    assert!(db
        .row_table("accounts")
        .unwrap()
        .definition()
        .schema
        .index("uniq_status")
        .is_none());
    assert!(!db.backend().has_partition("u/accounts/uniq_status"));
}

#[test]
fn dropping_a_table_removes_its_partitions_and_unknown_names_are_errors() {
    let db = Database::in_memory().unwrap();
    db.create_table(accounts_schema()).unwrap();
    assert!(
        matches!(db.create_table(accounts_schema()), Err(StoreError::TableExists(t)) if t == "accounts")
    );
    db.drop_table("accounts").unwrap();
    assert!(db
        .backend()
        .partitions()
        .unwrap()
        .iter()
        .all(|p| !p.contains("accounts")));
    assert!(
        matches!(db.drop_table("accounts"), Err(StoreError::UnknownTable(t)) if t == "accounts")
    );
    assert!(matches!(
        db.create_index("nope", IndexSpec::new("i", &["a"])),
        Err(StoreError::UnknownTable(_))
    ));
    assert!(matches!(
        db.drop_index("nope"),
        Err(StoreError::UnknownIndex { .. })
    ));
    assert!(matches!(
        db.drop_table("jobs"),
        Err(StoreError::SystemTable(..))
    ));
    let err = db.create_table(accounts_schema()).map(|_| ());
    assert!(err.is_ok(), "the name is free again");
}

#[test]
fn an_index_on_an_unknown_column_names_it() {
    let db = Database::in_memory().unwrap();
    db.create_table(accounts_schema()).unwrap();
    let err = db
        .create_index("accounts", IndexSpec::new("bad", &["nope"]))
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown column 'nope' in table 'accounts'");
}

#[test]
fn typed_system_tables_keep_their_indexes() {
    use indexed_store::Job;
    let db = Database::in_memory().unwrap();
    let job = |id: &str, key: Option<&str>| Job {
        idempotency_key: key.map(str::to_owned),
        ..Job::queued(id, "default", "export", 1)
    };
    db.jobs().insert(job("j1", Some("k"))).unwrap();
    let err = db.jobs().insert(job("j2", Some("k"))).unwrap_err();
    assert!(
        matches!(&err, StoreError::UniqueViolation { index, .. } if index == "jobs_idempotency_key"),
        "{err}"
    );
    db.jobs().insert(job("j3", None)).unwrap();
    db.jobs().insert(job("j4", None)).unwrap();
    let r = db.jobs().reader();
    let queued = AccessPath::index("jobs_ready").eq(vec![
        Value::Text("default".into()),
        Value::Text("queued".into()),
    ]);
    assert_eq!(r.count(&queued).unwrap(), 3);
    assert!(db.jobs().verify().unwrap().is_ok());
}
