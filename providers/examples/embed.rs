//! Embedding Quiver in your own DataFusion session: open a database, register its catalog,
//! join a Quiver table with one of your own, and use a typed store directly.
//!
//! `cargo run -p providers --example embed`

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use indexed_store::{workload, Database, User};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = Arc::new(Database::open(dir.path())?);
    db.create_table(workload::accounts_schema())?
        .insert_many(workload::accounts(1, 1000).collect())?;
    db.users().insert(User {
        user_id: "u1".into(),
        username: "ann".into(),
        role: "admin".into(),
        created_at: 0,
    })?;

    let ctx = SessionContext::new();
    providers::register(&ctx, db.clone());
    ctx.sql("CREATE TABLE owners (owner TEXT, region TEXT) AS VALUES ('owner-0001', 'emea'), ('owner-0002', 'apac')").await?.collect().await?;

    let df = ctx
        .sql("SELECT o.region, count(*) AS accounts FROM quiver.public.accounts a JOIN owners o ON a.owner = o.owner GROUP BY o.region ORDER BY o.region")
        .await?;
    df.show().await?;
    println!("user u1: {:?}", db.users().get(&"u1".to_string())?);
    Ok(())
}
