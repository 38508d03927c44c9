//! The real `quiver` binary, run as a process: -c, -f, standard input, formats, exit codes,
//! verify.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn quiver(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn quiver");
    let input = stdin.unwrap_or("").to_owned();
    let mut pipe = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    child.wait_with_output().expect("wait for quiver")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn commands_run_and_print_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().to_str().unwrap();
    let out = quiver(
        &[db, "-c", "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT); INSERT INTO t VALUES (1, 'a,b'), (2, NULL);"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = quiver(
        &[
            db,
            "--format",
            "csv",
            "-c",
            "SELECT id, name FROM t ORDER BY id",
        ],
        None,
    );
    assert_eq!(text(&out.stdout), "id,name\n1,\"a,b\"\n2,\n");
    let out = quiver(
        &[
            db,
            "--format",
            "json",
            "-c",
            "SELECT id, name FROM t ORDER BY id",
        ],
        None,
    );
    assert_eq!(
        text(&out.stdout),
        "[{\"id\":1,\"name\":\"a,b\"},{\"id\":2,\"name\":null}]\n"
    );
    let out = quiver(
        &[
            db,
            "--format",
            "ndjson",
            "-c",
            "SELECT id FROM t ORDER BY id",
        ],
        None,
    );
    assert_eq!(text(&out.stdout), "{\"id\":1}\n{\"id\":2}\n");
    let out = quiver(
        &[
            db,
            "--format",
            "tsv",
            "-c",
            "SELECT id, name FROM t WHERE id = 1",
        ],
        None,
    );
    assert_eq!(text(&out.stdout), "id\tname\n1\ta,b\n");
    let out = quiver(&[db, "-c", "SELECT name FROM t WHERE id = 1"], None);
    let table = text(&out.stdout);
    assert!(
        table.contains("| a,b  |") && table.contains("1 row in"),
        "{table}"
    );
}

#[test]
fn the_first_error_stops_a_script_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().to_str().unwrap();
    let script = dir.path().join("script.sql");
    std::fs::write(&script, "CREATE TABLE t (id BIGINT PRIMARY KEY);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\n").unwrap();
    let out = quiver(&[db, "-f", script.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("duplicate primary key 1 in table 't'"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    // The statement after the error did not run.
    let out = quiver(
        &[db, "--format", "csv", "-c", "SELECT count(*) AS n FROM t"],
        None,
    );
    assert_eq!(text(&out.stdout), "n\n1\n");
}

#[test]
fn sql_is_read_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().to_str().unwrap();
    let out = quiver(&[db, "--format", "csv"], Some("CREATE TABLE t (id BIGINT PRIMARY KEY);\nINSERT INTO t VALUES (7);\nSELECT id FROM t;\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("id\n7\n"),
        "{}",
        text(&out.stdout)
    );
    let out = quiver(&[db], Some("SELEC nonsense;"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("Error: "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn demo_loads_and_verify_checks() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().to_str().unwrap();
    let out = quiver(
        &["demo", db, "--rows", "2000", "--format", "csv"],
        Some("SELECT count(*) AS n FROM accounts;\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("loaded 2000 accounts"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "n\n2000\n");
    let out = quiver(&["verify", db], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("accounts: ok (2000 rows"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_unknown_meta_command_or_table_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().to_str().unwrap();
    let out = quiver(&[db, "-c", "SELECT * FROM nope"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("table 'quiver.public.nope' not found"),
        "{}",
        text(&out.stderr)
    );
}

/// A file round trip in the shell: generate rows, COPY them out, COPY them into another
/// table (large enough to stream through the bulk path), and read a file as a table.
#[test]
fn the_shell_copies_files_out_and_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let file = dir.path().join("out.parquet");
    let file = file.to_str().unwrap();
    let script = format!(
        "CREATE TABLE src (id BIGINT PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO src SELECT value, 'n' || value FROM generate_series(1, 25000);
         COPY (SELECT * FROM src) TO '{file}';
         CREATE TABLE dst (id BIGINT PRIMARY KEY, name TEXT NOT NULL);
         COPY dst FROM '{file}';"
    );
    let out = quiver(&[db, "-c", &script], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = quiver(
        &[
            db,
            "--format",
            "csv",
            "-c",
            &format!(
                "SELECT (SELECT count(*) FROM dst) AS copied, \
                 (SELECT count(*) FROM '{file}') AS in_file, \
                 (SELECT name FROM dst WHERE id = 24999) AS name"
            ),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("25000,25000,n24999\n"),
        "{}",
        text(&out.stdout)
    );
    // A second COPY of the same rows is refused whole: the keys exist.
    let out = quiver(&[db, "-c", &format!("COPY dst FROM '{file}'")], None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("duplicate"),
        "{}",
        text(&out.stderr)
    );
}

/// `-c` and `-f` scripts group statements with BEGIN ... COMMIT / ROLLBACK.
#[test]
fn scripts_run_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let out = quiver(
        &[
            db,
            "-c",
            "CREATE TABLE t (id BIGINT PRIMARY KEY); BEGIN; INSERT INTO t VALUES (1), (2); \
             ROLLBACK; BEGIN; INSERT INTO t VALUES (3); COMMIT;",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = dir.path().join("tx.sql");
    std::fs::write(
        &script,
        "START TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nINSERT INTO t VALUES (4);\n\
         SAVEPOINT s;\nINSERT INTO t VALUES (5);\nROLLBACK TO s;\nCOMMIT;\n",
    )
    .unwrap();
    let out = quiver(&[db, "-f", script.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = quiver(
        &[db, "--format", "csv", "-c", "SELECT id FROM t ORDER BY id"],
        None,
    );
    assert_eq!(text(&out.stdout), "id\n3\n4\n");
}
