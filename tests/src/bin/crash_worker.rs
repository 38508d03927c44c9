//! The child of the crash-loop test: writes a random workload (inserts, updates, upserts,
//! deletes, unique-index traffic) to a database forever, logging each operation before it
//! starts (`I`) and once it is acknowledged (`A ok` / `A err`), until it is killed.
//!
//! `crash_worker DB_DIR LOG_FILE SEED`

use std::io::Write;

use indexed_store::{ColumnDef, ColumnType, Database, IndexSpec, Mutation, TableSchema, Value};

pub fn schema() -> TableSchema {
    let mut email = IndexSpec::new("kv_email", &["email"]);
    email.unique = true;
    TableSchema {
        version: 0,
        loader: None,
        name: "kv".into(),
        columns: vec![
            ColumnDef::new("id", ColumnType::Text).not_null(),
            ColumnDef::new("val", ColumnType::Int64),
            ColumnDef::new("email", ColumnType::Text),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![email, IndexSpec::new("kv_val", &["val"])],
        ttl: None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, log, seed) = (&args[1], &args[2], args[3].parse::<u64>().expect("seed"));
    let db = Database::open(dir).expect("open");
    let table = match db.row_table("kv") {
        Some(t) => t,
        None => db.create_table(schema()).expect("create kv"),
    };
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    let mut rng = indexed_store::workload::Rng::new(seed);
    for seq in 0.. {
        let key = format!("k{}", rng.below(200));
        let val = rng.below(1000) as i64;
        let email = if rng.below(3) == 0 {
            "NULL".to_string()
        } else {
            format!("e{}", rng.below(60))
        };
        let row = vec![
            Value::Text(key.clone()),
            Value::Int(val),
            if email == "NULL" {
                Value::Null
            } else {
                Value::Text(email.clone())
            },
        ];
        let (op, mutation) = match rng.below(4) {
            0 => ("insert", Mutation::Insert(row)),
            1 => ("update", Mutation::Update(row)),
            2 => ("upsert", Mutation::Upsert(row)),
            _ => ("delete", Mutation::Delete(vec![Value::Text(key.clone())])),
        };
        // One write call per line, so a kill cuts between lines, not inside one (the parent
        // copes with a cut line anyway).
        log.write_all(format!("I {seq} {op} {key} {val} {email}\n").as_bytes())
            .expect("log");
        let result = table.apply(vec![mutation]);
        log.write_all(
            format!("A {seq} {}\n", if result.is_ok() { "ok" } else { "err" }).as_bytes(),
        )
        .expect("log");
    }
}
