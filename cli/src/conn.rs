//! How admin commands (`enroll server …`, `enroll server bulk …`) reach the reference server's
//! admin API: the flags, and the [`AdminClient`] built from them.

use crate::admin::AdminClient;
use crate::global::default_server_dir;
use anyhow::Context as _;
use clap::Args;
use enroll_core::tls::TrustConfig;
use enroll_proto::secret::SecretString;
use std::path::PathBuf;

/// How to reach the server's admin API.
#[derive(Args, Clone, Debug)]
pub struct AdminConn {
    /// Server base URL.
    #[arg(long, env = "ENROLL_SERVER", default_value = "https://127.0.0.1:8443")]
    server: String,
    /// The server's data directory (its admin-token and ca.pem are read from there).
    #[arg(long, env = "ENROLL_SERVER_DATA")]
    data_dir: Option<PathBuf>,
    /// Admin token file (default: <data-dir>/admin-token).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// CA certificate (default: <data-dir>/ca.pem).
    #[arg(long)]
    ca: Option<PathBuf>,
}

/// The admin client for `conn` (token and CA read from the server data directory by default).
pub fn client(conn: &AdminConn) -> anyhow::Result<AdminClient> {
    let data = conn.data_dir.clone().unwrap_or_else(default_server_dir);
    let token_path = conn
        .admin_token_file
        .clone()
        .unwrap_or_else(|| data.join("admin-token"));
    let token = std::fs::read_to_string(&token_path)
        .with_context(|| format!("reading the admin token from {}", token_path.display()))?;
    let ca_path = conn.ca.clone().unwrap_or_else(|| data.join("ca.pem"));
    let ca = std::fs::read(&ca_path).with_context(|| format!("reading the CA from {}", ca_path.display()))?;
    let trust = TrustConfig::with_ca(&ca)?;
    let http = conn.server.starts_with("http://");
    Ok(AdminClient::new(
        &conn.server,
        trust,
        SecretString::new(token.trim()),
        http,
    )?)
}
