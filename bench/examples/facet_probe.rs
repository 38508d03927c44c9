//! Times a facet count after an equality prefix (the walk) against the same counts taken by
//! aggregating the covered scan, at two cardinalities:
//! `cargo run --release -p quiver-bench --example facet_probe -- 1000000`.

mod common;

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let (_dir, quiver) = common::loaded(common::arg(1_000_000));
    quiver
        .query("CREATE INDEX by_status_owner ON accounts (status, owner)")
        .await
        .expect("index");
    for (column, what) in [
        ("owner", "1,000 values"),
        ("contacts_count", "~100,000 values"),
    ] {
        for (label, count) in [
            ("facet walk", "count(*)"),
            ("scan + aggregate", "count(id)"),
        ] {
            let sql = format!(
                "SELECT {column}, {count} FROM accounts WHERE status = 'active' GROUP BY {column}"
            );
            quiver.query(&sql).await.expect("warm up");
            let start = Instant::now();
            let runs = 5;
            let mut groups = 0;
            for _ in 0..runs {
                groups = quiver
                    .query(&sql)
                    .await
                    .expect("query")
                    .iter()
                    .map(|b| b.num_rows())
                    .sum::<usize>();
            }
            let ms = start.elapsed().as_secs_f64() * 1000.0 / runs as f64;
            println!("{column} ({what}), {label}: {groups} groups, {ms:.1} ms");
        }
    }
}
