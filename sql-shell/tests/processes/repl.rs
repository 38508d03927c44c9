//! The interactive prompt in a real terminal (tmux): errors print one line and the prompt
//! returns, statements span lines, Ctrl-C clears the statement being typed, the prompt marks
//! an open (`*`) or failed (`!`) transaction, Ctrl-D quits.
//! Needs tmux (`make deps` installs it).

use std::process::Command;
use std::time::Duration;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is needed for this test: apt-get install tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn type_line(&self, text: &str) {
        // A trailing ';' would end a tmux command: escape it.
        let escaped = text.replace(';', "\\;");
        self.run(&["send-keys", "-t", "q", "-l", &escaped]);
        self.run(&["send-keys", "-t", "q", "Enter"]);
        std::thread::sleep(Duration::from_millis(700));
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-t", "q", "-p", "-S", "-200"])
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

#[test]
fn the_prompt_survives_errors_and_handles_ctrl_c_and_ctrl_d() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux {
        socket: format!("quiver-test-{}", std::process::id()),
    };
    let cmd = format!(
        "{} {}",
        env!("CARGO_BIN_EXE_quiver"),
        dir.path().join("db").display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "q",
        "-x",
        "160",
        "-y",
        "60",
        &cmd,
    ]);
    std::thread::sleep(Duration::from_millis(1500));

    tmux.type_line("SELEC oops;");
    tmux.type_line("CREATE TABLE t (id BIGINT PRIMARY KEY);");
    tmux.type_line("INSERT INTO t VALUES (1);");
    tmux.type_line("INSERT INTO t VALUES (1);");
    tmux.type_line("SELECT count(*) AS rows_in_t");
    tmux.type_line("  FROM t;");
    tmux.run(&["send-keys", "-t", "q", "-l", "SELECT 'never run'"]);
    tmux.run(&["send-keys", "-t", "q", "C-c"]);
    std::thread::sleep(Duration::from_millis(500));
    tmux.type_line("\\verify");
    let screen = tmux.screen();
    assert!(screen.contains("Error: SQL error: ParserError"), "{screen}");
    assert!(
        screen.contains("duplicate primary key 1 in table 't'"),
        "{screen}"
    );
    assert!(
        screen.contains("rows_in_t") && screen.contains("| 1         |"),
        "{screen}"
    );
    assert!(!screen.contains("| never run"), "{screen}");
    assert!(screen.contains("t: ok (1 rows"), "{screen}");

    // The prompt shows a transaction as psql's does: `*` open, `!` failed.
    tmux.type_line("BEGIN;");
    tmux.type_line("INSERT INTO t VALUES (2);");
    let open = tmux.screen();
    tmux.type_line("INSERT INTO t VALUES (1);");
    let failed = tmux.screen();
    tmux.type_line("ROLLBACK;");
    tmux.type_line("SELECT count(*) AS after_rollback FROM t;");
    let screen = tmux.screen();
    assert!(open.trim_end().ends_with("quiver*>"), "{open}");
    assert!(failed.trim_end().ends_with("quiver!>"), "{failed}");
    assert!(screen.trim_end().ends_with("quiver>"), "{screen}");
    assert!(
        screen.contains("after_rollback") && screen.contains("| 1              |"),
        "{screen}"
    );

    tmux.run(&["send-keys", "-t", "q", "C-d"]);
    std::thread::sleep(Duration::from_millis(800));
    let sessions = tmux.run(&["list-sessions"]);
    assert!(
        !sessions.contains("q:"),
        "Ctrl-D should end the shell: {sessions}"
    );
}
