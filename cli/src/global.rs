//! What every command group shares from the command line: the global options (`--state-dir`,
//! `--store`, `--json`, `-v`) and the default directories of the agent state and of the
//! reference server's data.

use crate::desktop::StoreKind;
use clap::Args;
use std::path::PathBuf;

/// The options every command takes (they are global: accepted after any subcommand).
#[derive(Args)]
pub struct GlobalArgs {
    /// Where the agent keeps its settings and (file-store) secrets.
    #[arg(long, global = true, env = "ENROLL_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Secret store: the OS keychain, the 0600 file, or auto (keychain if one answers).
    #[arg(long, global = true, value_enum, default_value = "auto", env = "ENROLL_STORE")]
    pub store: StoreKind,
    /// Print results as JSON on stdout (progress goes to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// More logging (repeat for debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl GlobalArgs {
    /// The agent's state directory: `--state-dir`, or [`default_state_dir`].
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(default_state_dir)
    }
}

/// The agent's default state directory (`~/Library/Application Support/enroll` on macOS,
/// `$XDG_DATA_HOME/enroll` or `~/.local/share/enroll` elsewhere).
pub fn default_state_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    if cfg!(target_os = "macos") {
        home.join("Library/Application Support/enroll")
    } else {
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".local/share"))
            .join("enroll")
    }
}

/// The reference server's default data directory: `enroll-server` beside the agent's.
pub fn default_server_dir() -> PathBuf {
    default_state_dir().with_file_name("enroll-server")
}
