//! Printing results: the human text, or with `--json` one JSON value, on stdout; progress on
//! stderr. Every command group prints through [`Out`] (or [`print_stdout`]).
//!
//! With `--json` a command prints exactly one JSON document: its result, or the error `main`
//! prints when nothing was printed yet ([`printed`]). A closed stdout (`enroll … | head -1`)
//! ends the program quietly with exit code 0 instead of a panic.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

static PRINTED: AtomicBool = AtomicBool::new(false);

/// Whether a result was already printed on stdout.
pub fn printed() -> bool {
    PRINTED.load(Ordering::SeqCst)
}

/// Prints one line on stdout. When the reader went away (broken pipe), exits quietly.
pub fn print_stdout(line: impl std::fmt::Display) {
    PRINTED.store(true, Ordering::SeqCst);
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Where a command's progress and result go (`--json` switches the result to JSON).
pub struct Out {
    /// Print results as JSON (the global `--json`).
    pub json: bool,
}

impl Out {
    /// A progress line, on stderr.
    pub fn step(&self, text: impl AsRef<str>) {
        eprintln!("{}", text.as_ref());
    }

    /// The command's result on stdout: `human`, or `json` with `--json`.
    pub fn result(&self, human: impl AsRef<str>, json: serde_json::Value) {
        if self.json {
            print_stdout(json);
        } else {
            print_stdout(human.as_ref());
        }
    }
}
