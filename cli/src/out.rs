//! Printing results: the human text, or with `--json` one JSON value, on stdout; progress on
//! stderr. Every command group prints through [`Out`] (or [`print_stdout`]).
//!
//! With `--json` a command prints exactly one JSON document: its result, or the error `main`
//! prints when nothing was printed yet ([`printed`]). A closed stdout (`enroll … | head -1`)
//! ends the program quietly with exit code 0 instead of a panic.
//!
//! Times: text mode shows them as RFC 3339 dates in UTC ([`date`], `2026-12-01T13:30:10Z`);
//! JSON keeps the machine form (Unix seconds).

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

/// A Unix time (seconds) as an RFC 3339 date in UTC, e.g. `2026-12-01T13:30:10Z`.
pub fn date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An optional time as a date, `never` without one.
pub fn date_or_never(secs: Option<i64>) -> String {
    secs.map(date).unwrap_or_else(|| "never".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(date(0), "1970-01-01T00:00:00Z");
        assert_eq!(date(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(date(1_796_130_713), "2026-12-01T13:11:53Z");
        assert_eq!(date(-1), "1969-12-31T23:59:59Z");
        assert_eq!(date(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(date_or_never(None), "never");
    }
}
