//! The store's transactions without SQL, on real RocksDB: a failed statement undoes exactly
//! its own staged writes; savepoints and undo actions unwind in order; a transaction that
//! has written nothing may take its snapshot again; nothing is written before COMMIT; and a
//! transaction dropped open is rolled back and unregistered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use indexed_store::table::Staging;
use indexed_store::{
    ColumnDef, ColumnType, Database, Mutation, RowAccess, StoreError, TableSchema,
    TransactionOptions, TransactionStatus, Value,
};

fn open() -> (tempfile::TempDir, Arc<Database>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Database::open(dir.path()).unwrap());
    db.create_table(TableSchema {
        version: 0,
        loader: None,
        name: "t".into(),
        columns: vec![
            ColumnDef::new("id", ColumnType::Int64).not_null(),
            ColumnDef::new("v", ColumnType::Int64),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![],
        ttl: None,
    })
    .unwrap();
    (dir, db)
}

fn row(id: i64) -> Mutation<Vec<Value>, Vec<Value>> {
    Mutation::Insert(vec![Value::Int(id), Value::Int(id * 10)])
}

fn pending_rows(db: &Database) -> Vec<usize> {
    db.transactions().iter().map(|t| t.pending_rows).collect()
}

#[test]
fn a_failed_statement_undoes_only_its_own_writes() {
    let (_dir, db) = open();
    let t = db.row_table("t").unwrap();
    let tx = db.begin(TransactionOptions::default());
    tx.begin_statement().unwrap();
    t.apply_rows_staged(&*tx, vec![row(1)]).unwrap();
    tx.end_statement(None);
    tx.begin_statement().unwrap();
    t.apply_rows_staged(&*tx, vec![row(2)]).unwrap();
    t.apply_rows_staged(&*tx, vec![row(3)]).unwrap();
    assert_eq!(pending_rows(&db), [3]);
    tx.end_statement(Some("the third batch failed"));
    assert_eq!(
        pending_rows(&db),
        [1],
        "the failed statement's two batches are gone"
    );
    assert!(matches!(tx.status(), TransactionStatus::Failed(_)));
    assert!(matches!(
        tx.begin_statement().err(),
        Some(StoreError::TransactionFailed(_))
    ));
    tx.rollback();
    assert!(db.transactions().is_empty());
    assert_eq!(t.get(&vec![Value::Int(1)]).unwrap(), None);
}

#[test]
fn savepoints_and_undo_actions_unwind_in_order() {
    let (_dir, db) = open();
    let t = db.row_table("t").unwrap();
    let tx = db.begin(TransactionOptions::default());
    let undone = Arc::new(AtomicUsize::new(0));
    let undo = |n: usize| {
        let undone = undone.clone();
        Box::new(move || {
            // Later undo actions run first.
            assert_eq!(undone.load(Ordering::SeqCst), n);
            undone.fetch_add(1, Ordering::SeqCst);
        }) as Box<dyn FnOnce() + Send>
    };
    t.apply_rows_staged(&*tx, vec![row(1)]).unwrap();
    tx.savepoint("a").unwrap();
    t.apply_rows_staged(&*tx, vec![row(2)]).unwrap();
    tx.on_rollback(undo(1));
    tx.on_rollback(undo(0));
    tx.rollback_to("a").unwrap();
    assert_eq!(undone.load(Ordering::SeqCst), 2);
    assert_eq!(pending_rows(&db), [1]);
    tx.commit().unwrap();
    assert!(t.get(&vec![Value::Int(1)]).unwrap().is_some());
    assert!(t.get(&vec![Value::Int(2)]).unwrap().is_none());
    assert!(db.transactions().is_empty());
}

#[test]
fn nothing_is_written_before_commit_and_a_dropped_transaction_rolls_back() {
    let (_dir, db) = open();
    let t = db.row_table("t").unwrap();
    let tx = db.begin(TransactionOptions::default());
    t.apply_rows_staged(&*tx, vec![row(1), row(2)]).unwrap();
    assert!(t.get(&vec![Value::Int(1)]).unwrap().is_none());
    // Its own view sees them.
    assert_eq!(t.reader_on(tx.view()).scan_all().unwrap().count(), 2);
    drop(tx);
    assert!(db.transactions().is_empty(), "dropped open: rolled back");
    assert!(t.get(&vec![Value::Int(1)]).unwrap().is_none());
}

#[test]
fn a_transaction_that_has_written_nothing_may_take_its_snapshot_again() {
    let (_dir, db) = open();
    let t = db.row_table("t").unwrap();
    let tx = db.begin(TransactionOptions::default());
    let count =
        |tx: &indexed_store::Transaction| t.reader_on(tx.view()).scan_all().unwrap().count();
    // The snapshot is taken by the first read, not by begin.
    t.apply_rows(vec![row(1)]).unwrap();
    assert_eq!(count(&tx), 1);
    t.apply_rows(vec![row(3)]).unwrap();
    assert_eq!(
        count(&tx),
        1,
        "its snapshot is from before the second write"
    );
    assert!(!tx.has_written());
    tx.restart().unwrap();
    assert_eq!(count(&tx), 2);
    t.apply_rows_staged(&*tx, vec![row(2)]).unwrap();
    assert!(tx.has_written());
    assert!(tx.restart().is_err(), "refused once it has written");
    tx.commit().unwrap();
}
