//! What every command group shares from the command line: the default directories of the agent
//! state and of the reference server's data.

use std::path::PathBuf;

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
