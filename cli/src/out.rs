//! Printing results: the human text, or with `--json` one JSON value, on stdout; progress on
//! stderr. Every command group prints through [`Out`].

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
            println!("{json}");
        } else {
            println!("{}", human.as_ref());
        }
    }
}
