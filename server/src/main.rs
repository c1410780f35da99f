//! `enroll-server`: runs the reference enrollment server until Ctrl-C.
//!
//! ```text
//! enroll-server [--data-dir DIR] [--bind ADDR] [--hostname NAME]... [--public-url URL]
//!               [--name NAME] [--profile-validity SECS] [--insecure-http]
//!               [--android-package PKG] [--play-store-url URL] [--app-store-url URL]
//!               [--universal-link-base URL] [--apple-app-id TEAMID.BUNDLE]
//!               [--android-cert-sha256 FINGERPRINT]
//! ```
//!
//! The last six set the phone apps the invitation page `/go` offers (`AppLinks`); the last two
//! also serve `/.well-known/apple-app-site-association` and `/.well-known/assetlinks.json`.
//!
//! The data directory defaults to `$ENROLL_DATA_DIR`, else `./.enroll-dev/server`. Logs go to
//! stderr (`RUST_LOG` filters them, default `info`).

use enroll_server::{start, ServerConfig};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: enroll-server [--data-dir DIR] [--bind ADDR] [--hostname NAME]... \
[--public-url URL] [--name NAME] [--profile-validity SECS] [--insecure-http] \
[--android-package PKG] [--play-store-url URL] [--app-store-url URL] [--universal-link-base URL] \
[--apple-app-id TEAMID.BUNDLE] [--android-cert-sha256 FINGERPRINT]";

fn parse_args(args: &[String]) -> Result<ServerConfig, String> {
    let data_dir = std::env::var_os("ENROLL_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(".enroll-dev/server"));
    let mut config = ServerConfig::new(data_dir);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--data-dir" => config.data_dir = value("--data-dir")?.into(),
            "--bind" => {
                config.bind = value("--bind")?
                    .parse()
                    .map_err(|_| "invalid --bind address".to_string())?
            }
            "--hostname" => config.hostnames.push(value("--hostname")?),
            "--public-url" => config.public_url = Some(value("--public-url")?),
            "--name" => config.name = value("--name")?,
            "--profile-validity" => {
                let secs: u64 = value("--profile-validity")?
                    .parse()
                    .map_err(|_| "invalid --profile-validity")?;
                config.profile_validity = Duration::from_secs(secs);
            }
            "--insecure-http" => config.insecure_http = true,
            "--android-package" => config.app_links.android_package = value("--android-package")?,
            "--play-store-url" => config.app_links.play_store_url = value("--play-store-url")?,
            "--app-store-url" => config.app_links.app_store_url = value("--app-store-url")?,
            "--universal-link-base" => {
                config.app_links.universal_link_base = Some(value("--universal-link-base")?)
            }
            "--apple-app-id" => config.app_links.apple_app_id = Some(value("--apple-app-id")?),
            "--android-cert-sha256" => {
                let fp = value("--android-cert-sha256")?;
                config.app_links.android_cert_sha256 = Some(
                    enroll_server::normalize_cert_sha256(&fp)
                        .ok_or("--android-cert-sha256 must be 32 hex bytes (AB:CD:…)")?,
                );
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_args(&args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let data_dir = config.data_dir.clone();
    let server = match start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("enroll-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("enroll-server listening on {}", server.base_url());
    println!("CA fingerprint (SHA-256): {}", server.ca_fingerprint());
    println!("CA certificate: {}", data_dir.join("ca.pem").display());
    println!("admin token file: {}", data_dir.join("admin-token").display());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("enroll-server: cannot wait for Ctrl-C: {e}");
    }
    server.shutdown().await;
    ExitCode::SUCCESS
}
