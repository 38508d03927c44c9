//! A typed test entity shaped like the reference `accounts` workload, on RocksDB in a temp dir.
#![allow(dead_code)]

use std::sync::Arc;

use indexed_store::{
    ColumnDef, ColumnType, IndexDefinition, IndexedEntityStore, SortOrder, TableDefinition,
    TableSchema, Value,
};
use kv_store::{RocksBackend, StorageBackend};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub status: String,
    pub contacts_count: i64,
    pub owner: String,
    pub email: Option<String>,
    pub tags: Vec<String>,
}

pub fn account(id: &str, status: &str, contacts: i64) -> Account {
    Account {
        id: id.into(),
        status: status.into(),
        contacts_count: contacts,
        owner: "o1".into(),
        email: None,
        tags: vec![],
    }
}

fn row(a: &Account) -> Vec<Value> {
    vec![
        Value::Text(a.id.clone()),
        Value::Text(a.status.clone()),
        Value::Int(a.contacts_count),
        Value::Text(a.owner.clone()),
        a.email.clone().map_or(Value::Null, Value::Text),
        Value::List(a.tags.iter().map(|t| Value::Text(t.clone())).collect()),
    ]
}

pub fn definition() -> TableDefinition<String, Account> {
    let schema = TableSchema {
        version: 0,
        loader: None,
        name: "accounts".into(),
        columns: vec![
            ColumnDef::new("id", ColumnType::Text).not_null(),
            ColumnDef::new("status", ColumnType::Text),
            ColumnDef::new("contacts_count", ColumnType::Int64),
            ColumnDef::new("owner", ColumnType::Text),
            ColumnDef::new("email", ColumnType::Text),
            ColumnDef::new("tags", ColumnType::List(Box::new(ColumnType::Text))),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![],
        ttl: None,
    };
    TableDefinition::new(
        schema,
        |a: &Account| a.id.clone(),
        row,
        |_| unimplemented!("typed only"),
    )
    .unwrap()
    .with_index(IndexDefinition::new(
        "by_status_contacts",
        &[
            ("status", SortOrder::Asc),
            ("contacts_count", SortOrder::Asc),
        ],
        |a: &Account| vec![Value::Text(a.status.clone()), Value::Int(a.contacts_count)],
    ))
    .unwrap()
    .with_index(
        IndexDefinition::new("by_owner", &[("owner", SortOrder::Asc)], |a: &Account| {
            vec![Value::Text(a.owner.clone())]
        })
        .covering(&["contacts_count"], |a: &Account| {
            vec![Value::Int(a.contacts_count)]
        }),
    )
    .unwrap()
    .with_index(
        IndexDefinition::new("by_email", &[("email", SortOrder::Asc)], |a: &Account| {
            vec![a.email.clone().map_or(Value::Null, Value::Text)]
        })
        .unique(),
    )
    .unwrap()
    .with_index(IndexDefinition::new(
        "by_tag",
        &[("tags", SortOrder::Asc)],
        |a: &Account| {
            vec![Value::List(
                a.tags.iter().map(|t| Value::Text(t.clone())).collect(),
            )]
        },
    ))
    .unwrap()
}

/// A store on RocksDB in a temp dir that lives as long as the guard.
pub struct TempStore {
    pub store: Arc<IndexedEntityStore<String, Account>>,
    pub backend: Arc<dyn StorageBackend>,
    pub dir: tempfile::TempDir,
}

pub fn temp_store() -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn StorageBackend> = Arc::new(RocksBackend::open(dir.path()).unwrap());
    let store = Arc::new(IndexedEntityStore::open(backend.clone(), definition()).unwrap());
    TempStore {
        store,
        backend,
        dir,
    }
}

pub fn ids(v: Vec<Account>) -> Vec<String> {
    v.into_iter().map(|a| a.id).collect()
}
