//! `quiver demo`: the reference `accounts` workload plus sample jobs, users and lists.

use indexed_store::workload::{accounts, accounts_schema};
use indexed_store::{Database, Job, ListConfig, Mutation, User, DEFAULT_LOAD_BATCH};
use indicatif::{ProgressBar, ProgressStyle};

const START: i64 = 1_704_067_200_000_000; // 2024-01-01 in µs

/// Loads the demo data unless `accounts` exists already; returns a line saying what it did.
pub fn load(db: &Database, rows: u64, progress: bool) -> Result<String, String> {
    if db.table("accounts").is_some() {
        return Ok("accounts exists already; demo data not reloaded".into());
    }
    let store = db
        .create_table(accounts_schema())
        .map_err(|e| e.to_string())?;
    let bar = if progress {
        ProgressBar::new(rows)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "loading accounts {bar:40} {pos}/{len} rows ({per_sec}, eta {eta})",
        )
        .map_err(|e| e.to_string())?,
    );
    // The bulk path: batches written while the next is encoded (see `IndexedEntityStore::load`).
    store
        .load(
            accounts(42, rows).inspect(|_| bar.inc(1)),
            DEFAULT_LOAD_BATCH,
        )
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();

    let statuses = ["queued", "running", "succeeded", "failed"];
    let jobs: Vec<Mutation<String, Job>> = (0..50)
        .map(|i| {
            let created = START + i as i64 * 60_000_000;
            Mutation::Upsert(Job {
                status: statuses[i % 4].into(),
                table_name: "accounts".into(),
                started_at: (i % 4 != 0).then_some(created + 1_000_000),
                finished_at: (i % 4 >= 2).then_some(created + 30_000_000),
                attempts: (i % 4 != 0) as i64,
                lease_owner: (i % 4 == 1).then(|| "demo-worker".to_string()),
                lease_expires_at: (i % 4 == 1).then_some(created + 31_000_000),
                idempotency_key: Some(format!("demo-{i}")),
                last_error: (i % 4 == 3).then(|| "timed out".to_string()),
                ..Job::queued(
                    &format!("job-{i:04}"),
                    if i % 3 == 0 { "emails" } else { "default" },
                    if i % 2 == 0 { "reindex" } else { "export" },
                    created,
                )
            })
        })
        .collect();
    db.jobs().apply(jobs).map_err(|e| e.to_string())?;
    let roles = ["admin", "analyst", "viewer"];
    let users: Vec<Mutation<String, User>> = (0..20)
        .map(|i| {
            Mutation::Upsert(User {
                user_id: format!("user-{i:03}"),
                username: format!("user{i}"),
                role: roles[i % 3].into(),
                created_at: START + i as i64 * 86_400_000_000,
            })
        })
        .collect();
    db.users().apply(users).map_err(|e| e.to_string())?;
    let lists = vec![
        ("top-active", "status = 'active'", "contacts_count DESC"),
        ("renewals", "array_has(tags, 'renewal_due')", "created_at"),
        ("pending-review", "status = 'pending'", "score DESC"),
    ];
    let lists: Vec<Mutation<String, ListConfig>> = lists
        .into_iter()
        .map(|(id, filters, sort)| {
            Mutation::Upsert(ListConfig {
                id: id.into(),
                datasource: "accounts".into(),
                columns: vec!["id".into(), "status".into(), "contacts_count".into()],
                filters: filters.into(),
                sort: sort.into(),
                page_size: 50,
            })
        })
        .collect();
    db.lists().apply(lists).map_err(|e| e.to_string())?;
    db.flush().map_err(|e| e.to_string())?;
    db.compact().map_err(|e| e.to_string())?;
    Ok(format!(
        "loaded {rows} accounts with 4 indexes, 50 jobs, 20 users and 3 lists"
    ))
}
