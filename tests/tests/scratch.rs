use quiver_tests::TempDb;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch() {
    let db = TempDb::new();
    db.quiver.run_script("CREATE TABLE accounts (id TEXT PRIMARY KEY, status TEXT NOT NULL, contacts_count BIGINT, owner TEXT, score DOUBLE, tags TEXT[]);
      CREATE INDEX by_status_contacts ON accounts (status, contacts_count);
      CREATE INDEX by_contacts ON accounts (contacts_count);
      CREATE INDEX by_tags ON accounts (tags);
      INSERT INTO accounts VALUES ('a1','active',10,'o1',1.5,['x']), ('a2','active',30,'o2',2.0,['y']), ('a3','pending',5,'o1',3.0,[]);").await.unwrap();
    for q in [
        "SELECT * FROM accounts WHERE status IN ('active','pending') ORDER BY contacts_count LIMIT 2",
        "SELECT id FROM accounts WHERE 'x' = ANY(tags)",
        "SELECT id FROM accounts ORDER BY tags",
        "EXPLAIN ANALYZE SELECT * FROM accounts WHERE status='active' ORDER BY contacts_count DESC LIMIT 1",
        "UPDATE accounts SET contacts_count = contacts_count + 1 WHERE status = 'active'",
        "SELECT id, contacts_count FROM accounts",
        "INSERT INTO accounts VALUES ('a1','active',10,'o1',1.5,['x'])",
        "INSERT OR REPLACE INTO accounts VALUES ('a1','gone',10,'o1',1.5,['x'])",
        "SELECT id, status FROM accounts",
        "INSERT INTO accounts VALUES ('b1', NULL, 1, 'o', 1.0, [])",
        "INSERT INTO accounts (id, status, contacts_count) VALUES ('b2', 'x', 'abc')",
        "SELECT * FROM nope",
        "SELECT nope FROM accounts",
        "SELECT * FROM jobs",
    ] {
        println!("== {q}");
        match db.rows(q).await { Ok(r) => println!("{r:?}"), Err(e) => println!("ERROR: {e}") }
    }
}
