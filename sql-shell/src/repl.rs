//! The interactive prompt: line editing and history (rustyline), statements spanning lines
//! until `;`, Ctrl-C cancelling the statement (typed or running), Ctrl-D quitting.

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::shell::Shell;

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".quiver_history"))
}

/// Runs the prompt until `\q` or Ctrl-D.
pub async fn run(shell: &mut Shell) -> Result<(), String> {
    let mut editor = DefaultEditor::new().map_err(|e| e.to_string())?;
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "Quiver {} — type \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION")
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            shell.prompt()
        } else {
            "   ...> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if buffer.is_empty() && line.trim_start().starts_with('\\') {
                    let _ = editor.add_history_entry(line.as_str());
                    match shell.meta(&line).await {
                        Ok(true) => break,
                        Ok(false) => {}
                        Err(e) => eprintln!("Error: {e}"),
                    }
                    continue;
                }
                if line.trim().is_empty() && buffer.is_empty() {
                    continue;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if !line.trim_end().ends_with(';') {
                    continue;
                }
                let sql = std::mem::take(&mut buffer);
                let _ = editor.add_history_entry(sql.trim());
                tokio::select! {
                    result = shell.run_sql(&sql) => {
                        if let Err(e) = result {
                            eprintln!("Error: {}", e.lines().collect::<Vec<_>>().join(" "));
                        }
                    }
                    _ = tokio::signal::ctrl_c() => eprintln!("Cancelled."),
                }
            }
            Err(ReadlineError::Interrupted) => {
                if !buffer.is_empty() {
                    buffer.clear();
                    eprintln!("Statement cleared.");
                }
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}
