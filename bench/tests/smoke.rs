//! The benchmark harness end to end on a few thousand rows: it loads all three systems, runs
//! every reference query and fails if they disagree on a row count. Timings are printed, never
//! asserted. CI runs this with `cargo test --workspace --test smoke`, which builds with the
//! same features as the rest of the test build (`cargo run -p quiver-bench` alone would not,
//! and would rebuild RocksDB and DataFusion).

use std::process::Command;

#[test]
fn the_benchmark_runs_every_query_on_every_system() {
    let out = Command::new(env!("CARGO_BIN_EXE_quiver-bench"))
        .arg("--smoke")
        .output()
        .expect("run quiver-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "quiver-bench --smoke failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("3000 rows: Quiver ingest"), "{stdout}");
    // One table row per reference query.
    assert!(stdout.contains("### job queue, 2000 jobs"), "{stdout}");
    for query in ["top-k by index", "array_has", "full-scan aggregate"] {
        assert!(
            stdout.contains(&format!("| {query} |")),
            "{query} missing:\n{stdout}"
        );
    }
}
