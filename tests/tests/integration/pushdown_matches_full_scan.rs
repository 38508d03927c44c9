//! Every pushdown returns what a full scan with a filter returns. The same rows go into an
//! indexed table and into a table without indexes; each query runs on both and must agree,
//! and on the indexed table its plan must show the index with no FilterExec or SortExec.

use quiver_tests::TempDb;

const STATUSES: [&str; 3] = ["active", "pending", "rejected"];

async fn load(db: &TempDb) {
    let columns = "(id TEXT PRIMARY KEY, status TEXT NOT NULL, contacts_count BIGINT, owner TEXT, score DOUBLE, tags TEXT[])";
    db.query(&format!("CREATE TABLE indexed {columns}"))
        .await
        .unwrap();
    db.query(&format!("CREATE TABLE plain {columns}"))
        .await
        .unwrap();
    for ddl in [
        "CREATE INDEX ix_status_contacts ON indexed (status, contacts_count)",
        "CREATE INDEX ix_contacts_desc ON indexed (contacts_count DESC)",
        "CREATE INDEX ix_owner ON indexed (owner) INCLUDE (score)",
        "CREATE INDEX ix_tags ON indexed (tags)",
    ] {
        db.query(ddl).await.unwrap();
    }
    let mut seed = 7u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut values = Vec::new();
    for i in 0..600 {
        let status = STATUSES[next(3) as usize];
        let contacts = if next(10) == 0 {
            "NULL".to_string()
        } else {
            (next(200) as i64 - 50).to_string()
        };
        let owner = if next(15) == 0 {
            "NULL".to_string()
        } else {
            format!("'o{}'", next(20))
        };
        let score = if next(8) == 0 {
            "NULL".to_string()
        } else {
            format!("{}.{}", next(100), next(10))
        };
        let tags: Vec<String> = (0..next(3)).map(|_| format!("'t{}'", next(5))).collect();
        values.push(format!(
            "('id{i:04}', '{status}', {contacts}, {owner}, {score}, [{}])",
            tags.join(", ")
        ));
    }
    for table in ["indexed", "plain"] {
        db.query(&format!("INSERT INTO {table} VALUES {}", values.join(", ")))
            .await
            .unwrap();
    }
}

/// (query with `{t}` for the table, compare only the first column's sequence (ordered with
/// ties), index the plan must use).
const CASES: &[(&str, bool, &str)] = &[
    ("SELECT contacts_count, id FROM {t} WHERE status = 'active' ORDER BY contacts_count DESC LIMIT 25", true, "ix_status_contacts"),
    ("SELECT contacts_count, id FROM {t} WHERE status = 'pending' ORDER BY contacts_count ASC LIMIT 40", true, "ix_status_contacts"),
    ("SELECT contacts_count, id FROM {t} ORDER BY contacts_count DESC LIMIT 30", true, "ix_contacts_desc"),
    ("SELECT contacts_count, id FROM {t} ORDER BY contacts_count ASC LIMIT 30", true, "ix_contacts_desc"),
    ("SELECT contacts_count, id FROM {t} WHERE status IN ('active', 'rejected') ORDER BY contacts_count LIMIT 50", true, "ix_status_contacts"),
    ("SELECT contacts_count, id FROM {t} WHERE status = 'active' AND score > 50 ORDER BY contacts_count DESC LIMIT 10", true, "ix_status_contacts"),
    ("SELECT contacts_count, id FROM {t} WHERE contacts_count >= 10 ORDER BY contacts_count LIMIT 20 OFFSET 5", true, "ix_contacts_desc"),
    ("SELECT id FROM {t} WHERE status = 'active' AND contacts_count > 20 AND contacts_count <= 90", false, "ix_status_contacts"),
    ("SELECT id FROM {t} WHERE contacts_count BETWEEN -10 AND 10", false, "ix_contacts_desc"),
    ("SELECT id FROM {t} WHERE contacts_count < 0", false, "ix_contacts_desc"),
    ("SELECT id FROM {t} WHERE contacts_count > 99.5", false, "ix_contacts_desc"),
    ("SELECT id FROM {t} WHERE contacts_count IS NULL", false, "ix_contacts_desc"),
    ("SELECT id FROM {t} WHERE contacts_count IS NOT NULL AND status = 'rejected'", false, "ix_status_contacts"),
    ("SELECT id FROM {t} WHERE status IN ('pending', 'rejected') AND contacts_count IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)", false, "ix_status_contacts"),
    ("SELECT owner, score FROM {t} WHERE owner = 'o3'", false, "ix_owner"),
    ("SELECT id FROM {t} WHERE owner IS NULL", false, "ix_owner"),
    ("SELECT id FROM {t} WHERE array_has(tags, 't2')", false, "ix_tags"),
    ("SELECT id FROM {t} WHERE id = 'id0042'", false, "PRIMARY"),
    ("SELECT id FROM {t} WHERE id LIKE 'id01%'", false, "PRIMARY"),
    ("SELECT id FROM {t} WHERE id > 'id0590'", false, "PRIMARY"),
    ("SELECT count(*) FROM {t} WHERE status = 'active'", false, "ix_status_contacts"),
    ("SELECT count(*) FROM {t} WHERE status = 'active' AND contacts_count > 100", false, "ix_status_contacts"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_answers_equal_full_scan_answers() {
    let db = TempDb::new();
    load(&db).await;
    for (template, ordered, index) in CASES {
        let indexed_sql = template.replace("{t}", "indexed");
        let plain_sql = template.replace("{t}", "plain");
        let mut got = db.rows(&indexed_sql).await.unwrap();
        let mut want = db.rows(&plain_sql).await.unwrap();
        if *ordered {
            let firsts =
                |rows: &[Vec<String>]| rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>();
            assert_eq!(firsts(&got), firsts(&want), "{indexed_sql}");
        } else {
            got.sort();
            want.sort();
            assert_eq!(got, want, "{indexed_sql}");
        }
        assert!(
            !want.is_empty() || template.contains("count"),
            "{plain_sql} should return rows for the test to mean anything"
        );

        let plan = db.physical_plan(&indexed_sql).await.unwrap();
        assert!(
            plan.contains(&format!("index={index}")),
            "{indexed_sql}\n{plan}"
        );
        assert!(!plan.contains("FilterExec"), "{indexed_sql}\n{plan}");
        assert!(!plan.contains("SortExec"), "{indexed_sql}\n{plan}");
    }
}
