//! Values of several megabytes and ids with every byte value round-trip through SQL, and the
//! database verifies clean afterwards.

use quiver_tests::TempDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_and_every_byte_in_ids() {
    let db = TempDb::new();
    db.query("CREATE TABLE blobs (id BYTEA PRIMARY KEY, label TEXT, body TEXT)")
        .await
        .unwrap();
    db.query("CREATE INDEX blobs_label ON blobs (label)")
        .await
        .unwrap();
    // One id per byte value (0x00..0xFF), and one id holding all of them.
    let mut values = Vec::new();
    for b in 0..=255u8 {
        values.push(format!("(X'{b:02x}', 'b{b}', 'x')"));
    }
    let all: String = (0..=255u8).map(|b| format!("{b:02x}")).collect();
    values.push(format!("(X'{all}', 'all', 'x')"));
    db.query(&format!("INSERT INTO blobs VALUES {}", values.join(", ")))
        .await
        .unwrap();
    assert_eq!(
        db.rows("SELECT count(*) FROM blobs").await.unwrap(),
        vec![vec!["257".to_string()]]
    );
    assert_eq!(
        db.rows("SELECT label FROM blobs WHERE id = X'00'")
            .await
            .unwrap(),
        vec![vec!["b0".to_string()]]
    );
    assert_eq!(
        db.rows("SELECT label FROM blobs WHERE id = X'ff'")
            .await
            .unwrap(),
        vec![vec!["b255".to_string()]]
    );
    assert_eq!(
        db.rows(&format!("SELECT label FROM blobs WHERE id = X'{all}'"))
            .await
            .unwrap(),
        vec![vec!["all".to_string()]]
    );

    // A 4 MiB text value, written and read back through an index lookup.
    let big = "q".repeat(4 << 20);
    db.query(&format!(
        "INSERT INTO blobs VALUES (X'0102', 'big', '{big}')"
    ))
    .await
    .unwrap();
    let rows = db
        .rows("SELECT length(body) FROM blobs WHERE label = 'big'")
        .await
        .unwrap();
    assert_eq!(rows, vec![vec![(4 << 20).to_string()]]);

    let reports = db.quiver.database().verify().unwrap();
    assert!(reports.iter().all(|r| r.is_ok()), "{reports:?}");
}
