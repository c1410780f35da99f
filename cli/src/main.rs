//! `enroll`: the desktop enrollment agent and admin tool for macOS and Linux.
//!
//! Agent commands (`enroll`, `status`, `checkin`, `reenroll`, `cancel`, `forget`) keep their
//! settings in `<state-dir>/agent.json` and their secrets in the keychain (or the
//! `secrets.insecure-file-store.json` fallback). `enroll demo` runs everything against an
//! embedded reference server. `enroll server …` runs the server and its admin actions.

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Parser, Subcommand};
use enroll_cli::admin::AdminClient;
use enroll_cli::bulk;
use enroll_cli::conn::{client, AdminConn};
use enroll_cli::desktop::{self, DirInstaller, HostDevice, MacInstaller, StoreKind};
use enroll_cli::global::{default_server_dir, default_state_dir};
use enroll_cli::out::Out;
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::platform::{Platform, ProfileInstaller, SystemClock};
use enroll_core::protocol::{self, DeviceAction};
use enroll_core::secret::SecretString;
use enroll_core::tls::{SpkiPin, TrustConfig};
use enroll_core::{Agent, AgentConfig, Credential};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "enroll",
    version,
    about = "Device enrollment agent and reference MDM enrollment server"
)]
struct Cli {
    /// Where the agent keeps its settings and (file-store) secrets.
    #[arg(long, global = true, env = "ENROLL_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Secret store: the OS keychain, the 0600 file, or auto (keychain if one answers).
    #[arg(long, global = true, value_enum, default_value = "auto", env = "ENROLL_STORE")]
    store: StoreKind,
    /// Print results as JSON on stdout (progress goes to stderr).
    #[arg(long, global = true)]
    json: bool,
    /// More logging (repeat for debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start an embedded reference server on loopback and enroll this machine end to end.
    Demo(DemoArgs),
    /// Enroll this machine with a server.
    Enroll(EnrollArgs),
    /// Show the enrollment state.
    Status,
    /// Report device state to the server; applies a retire, wipe or reset.
    Checkin,
    /// Re-enroll (Troubleshooting), or enroll again after a retire, wipe or reset.
    Reenroll(ReenrollArgs),
    /// Resume an interrupted enrollment.
    Resume,
    /// Cancel the enrollment in progress (the server deactivates MDM for the device).
    Cancel,
    /// Forget all local enrollment state and secrets (does not contact the server).
    Forget,
    /// Decode enrollment QR codes from image files, a directory of frames, or the camera.
    Scan(ScanArgs),
    /// Run the reference server, or perform admin actions on a running one.
    #[command(subcommand)]
    Server(ServerCommand),
}

#[derive(Args)]
struct DemoArgs {
    /// Credential to enroll with.
    #[arg(long, value_enum, default_value = "pin")]
    with: DemoCredential,
    /// Keep the demo's server and agent data in this directory (default: a temporary one).
    #[arg(long)]
    keep: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DemoCredential {
    Pin,
    Token,
    Password,
}

#[derive(Args)]
struct ScanArgs {
    /// Image files to decode (JPEG, PNG, WebP).
    files: Vec<PathBuf>,
    /// Scan live camera frames until an enrollment code is found.
    #[arg(long, conflicts_with = "frames")]
    camera: bool,
    /// Camera index for --camera.
    #[arg(long, default_value_t = 0)]
    camera_index: u32,
    /// Scan the images of a directory as successive camera frames (a simulated camera).
    #[arg(long)]
    frames: Option<PathBuf>,
    /// Give up a live scan after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Enroll with the code found by a live scan without asking.
    #[arg(long)]
    enroll: bool,
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    credential: CredentialArgs,
}

#[derive(Args, Clone)]
struct ConnectArgs {
    /// Server base URL or invitation URL (`https://host/go?user=…`).
    #[arg(long, env = "ENROLL_SERVER")]
    server: Option<String>,
    /// CA certificate (PEM or DER) to trust for the server and its profile signature.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Pin the server key: `sha256/<base64>` of its SubjectPublicKeyInfo (repeatable).
    #[arg(long = "pin-spki")]
    pin_spki: Vec<String>,
    /// Allow plain http to a loopback server (development only).
    #[arg(long)]
    insecure_loopback_http: bool,
}

#[derive(Args, Clone)]
struct CredentialArgs {
    /// Enrollment token.
    #[arg(long, conflicts_with_all = ["pin", "user"], env = "ENROLL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// One-time PIN from the invitation (with --user, or the invitation URL's user).
    #[arg(long)]
    pin: Option<String>,
    /// User name (e-mail). Without --pin the password is prompted for (or read from stdin).
    #[arg(long)]
    user: Option<String>,
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Args)]
struct EnrollArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    credential: CredentialArgs,
}

#[derive(Args)]
struct ReenrollArgs {
    /// Server (default: the one enrolled with).
    #[arg(long)]
    server: Option<String>,
    #[command(flatten)]
    credential: CredentialArgs,
}

#[derive(Subcommand)]
enum ServerCommand {
    /// Run the reference server until interrupted.
    Run(ServerRunArgs),
    /// Create a user.
    UserAdd {
        #[command(flatten)]
        conn: AdminConn,
        /// E-mail.
        email: String,
        /// Directory (LDAP) account: "network credentials".
        #[arg(long)]
        directory: bool,
        /// Read the password from stdin (otherwise the user has none and enrolls with a PIN).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    Users {
        #[command(flatten)]
        conn: AdminConn,
    },
    /// Invite a user: prints the enrollment URL (ending in /go) and, with --pin, a one-time PIN.
    Invite {
        #[command(flatten)]
        conn: AdminConn,
        /// E-mail.
        email: String,
        /// Also issue a one-time PIN.
        #[arg(long)]
        pin: bool,
    },
    /// Issue an enrollment token for a user (7 to 999 days, or --never).
    Token {
        #[command(flatten)]
        conn: AdminConn,
        /// E-mail.
        email: String,
        /// Validity in days (7..=999).
        #[arg(long)]
        days: Option<u32>,
        /// Never expires.
        #[arg(long, conflicts_with = "days")]
        never: bool,
    },
    /// List devices.
    Devices {
        #[command(flatten)]
        conn: AdminConn,
        /// Include archived entries.
        #[arg(long)]
        all: bool,
    },
    /// Show a device and its change history.
    Device {
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
    },
    /// Retire a device (applied at its next check-in).
    Retire {
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
    },
    /// Wipe a device (applied at its next check-in).
    Wipe {
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
    },
    /// Reset a device (stays active on the server until it enrolls again).
    Reset {
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
    },
    /// Enrollments whose profile is not installed yet (for reminders).
    Pending {
        #[command(flatten)]
        conn: AdminConn,
    },
    /// Bulk enrollment (CSV profiles, QR codes, tokens) and Samsung KME.
    #[command(subcommand)]
    Bulk(bulk::BulkCommand),
}

#[derive(Args)]
struct ServerRunArgs {
    /// Data directory (database, PKI, admin token).
    #[arg(long, env = "ENROLL_SERVER_DATA")]
    data_dir: Option<PathBuf>,
    /// Listen address.
    #[arg(long, default_value = enroll_server::DEFAULT_BIND)]
    bind: std::net::SocketAddr,
    /// Extra host name for the TLS certificate (repeatable).
    #[arg(long)]
    hostname: Vec<String>,
    /// Public base URL put in profiles and invitations.
    #[arg(long)]
    public_url: Option<String>,
    /// Seconds a profile stays installable.
    #[arg(long, default_value_t = 300)]
    profile_validity: u64,
    /// Serve plain http (loopback only; development).
    #[arg(long)]
    insecure_http: bool,
}

/// Agent settings kept in `<state-dir>/agent.json` (no secrets).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AgentSettings {
    server: Option<String>,
    ca_pem: Option<String>,
    spki_pins: Vec<String>,
    insecure_loopback_http: bool,
}

fn load_settings(dir: &Path) -> anyhow::Result<AgentSettings> {
    match std::fs::read(dir.join("agent.json")) {
        Ok(b) => serde_json::from_slice(&b).context("agent.json is not valid"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AgentSettings::default()),
        Err(e) => Err(e).context("reading agent.json"),
    }
}

fn save_settings(dir: &Path, s: &AgentSettings) -> anyhow::Result<()> {
    desktop::write_atomic(&dir.join("agent.json"), &serde_json::to_vec_pretty(s)?)?;
    Ok(())
}

fn agent_config(settings: &AgentSettings) -> anyhow::Result<AgentConfig> {
    let mut config = AgentConfig::default();
    let mut trust = TrustConfig::default();
    match &settings.ca_pem {
        Some(pem) => trust.ca_certificates = enroll_core::tls::parse_certificates(pem.as_bytes())?,
        None => trust.public_roots = true,
    }
    trust.spki_pins = settings
        .spki_pins
        .iter()
        .map(|p| SpkiPin::parse(p))
        .collect::<Result<_, _>>()?;
    config.client.trust = trust;
    config.client.allow_insecure_loopback_http = settings.insecure_loopback_http;
    Ok(config)
}

fn build_agent(cli: &Cli, dir: &Path, settings: &AgentSettings, out: &Out) -> anyhow::Result<Arc<Agent>> {
    let (store, store_name) = desktop::open_store(cli.store, dir)?;
    if cli.verbose > 0 {
        out.step(format!("secret store: {store_name}"));
    }
    let installer: Arc<dyn ProfileInstaller> = if cfg!(target_os = "macos") {
        Arc::new(MacInstaller::new(dir.join("profiles")))
    } else {
        Arc::new(DirInstaller::new(dir.join("profiles")))
    };
    let platform = Platform {
        store,
        installer,
        device: Arc::new(HostDevice {
            hardware_id: device_id_override(dir)?,
        }),
        clock: Arc::new(SystemClock),
    };
    Ok(Arc::new(Agent::new(agent_config(settings)?, platform)?))
}

/// The demo enrolls a simulated device whose id is kept in its state directory.
fn device_id_override(dir: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(dir.join("simulated-device-id")) {
        Ok(s) => Ok(Some(s.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn read_password(prompt: &str, from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\r', '\n']).to_owned();
        if pw.is_empty() {
            bail!("no password on stdin");
        }
        Ok(pw)
    } else {
        Ok(rpassword::prompt_password(prompt)?)
    }
}

fn user_hint(server: &str) -> Option<String> {
    let url = url::Url::parse(server).ok()?;
    let hint = url
        .query_pairs()
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.into_owned());
    hint
}

fn credential(args: &CredentialArgs, server: Option<&str>) -> anyhow::Result<Option<Credential>> {
    if let Some(token) = &args.token {
        return Ok(Some(Credential::token(token.clone())?));
    }
    let user = args.user.clone().or_else(|| server.and_then(user_hint));
    if let Some(pin) = &args.pin {
        let user = user.ok_or_else(|| anyhow!("--pin needs --user (or an invitation URL with ?user=)"))?;
        return Ok(Some(Credential::pin(user, pin.clone())?));
    }
    if let Some(user) = args.user.clone() {
        let pw = read_password(&format!("Password for {user}: "), args.password_stdin)?;
        return Ok(Some(Credential::password(user, pw)?));
    }
    Ok(None)
}

fn status_json(status: &EnrollmentStatus) -> serde_json::Value {
    serde_json::to_value(status).unwrap_or(serde_json::Value::Null)
}

fn describe(status: &EnrollmentStatus) -> String {
    match status {
        EnrollmentStatus::ProfileReady { expires_at } | EnrollmentStatus::Installing { expires_at } => {
            let left = expires_at - SystemClock.now_secs();
            format!("{} (profile valid for {left} s more)", status.name())
        }
        EnrollmentStatus::Active { device_id, user } => {
            format!(
                "active (device {device_id}{})",
                user.as_ref().map(|u| format!(", user {u}")).unwrap_or_default()
            )
        }
        EnrollmentStatus::Failed { reason, .. } => format!("failed: {reason}"),
        other => other.name().to_owned(),
    }
}

trait NowSecs {
    fn now_secs(&self) -> i64;
}

impl NowSecs for SystemClock {
    fn now_secs(&self) -> i64 {
        use enroll_core::platform::Clock as _;
        self.now_ms() / 1000
    }
}

/// Prints each state change while `fut` runs.
async fn with_progress<T>(agent: &Agent, out: &Out, fut: impl std::future::Future<Output = T>) -> T {
    let mut rx = agent.subscribe();
    let json = out.json;
    let printer = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let status = rx.borrow_and_update().clone();
            if json {
                eprintln!("{}", serde_json::json!({"progress": status_json(&status)}));
            } else {
                eprintln!("  → {}", describe(&status));
            }
        }
    });
    let result = fut.await;
    // Let the printer drain the last change.
    tokio::time::sleep(Duration::from_millis(20)).await;
    printer.abort();
    result
}

fn fail_with_status(result: enroll_core::Result<EnrollmentStatus>) -> anyhow::Result<EnrollmentStatus> {
    let status = result?;
    match &status {
        EnrollmentStatus::Active { .. } => Ok(status),
        other => Err(anyhow!("enrollment ended {}", describe(other))),
    }
}

async fn cmd_enroll(cli: &Cli, dir: &Path, args: &EnrollArgs, out: &Out) -> anyhow::Result<()> {
    let mut settings = load_settings(dir)?;
    let server = args
        .connect
        .server
        .clone()
        .or(settings.server.clone())
        .ok_or_else(|| anyhow!("--server is required"))?;
    if let Some(ca) = &args.connect.ca {
        let bytes = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        let certs = enroll_core::tls::parse_certificates(&bytes)?;
        let pem = certs.iter().map(|d| pem_encode(d)).collect::<String>();
        settings.ca_pem = Some(pem);
    }
    if !args.connect.pin_spki.is_empty() {
        settings.spki_pins = args.connect.pin_spki.clone();
    }
    settings.insecure_loopback_http |= args.connect.insecure_loopback_http;
    settings.server = Some(enroll_core::agent::strip_go(&server));
    std::fs::create_dir_all(dir)?;
    save_settings(dir, &settings)?;
    let credential = credential(&args.credential, Some(&server))?
        .ok_or_else(|| anyhow!("give --token, --pin (with --user) or --user (password prompt)"))?;
    let agent = build_agent(cli, dir, &settings, out)?;
    out.step(format!(
        "Enrolling with {} using a {} …",
        settings.server.as_deref().unwrap_or_default(),
        credential.kind()
    ));
    let status = with_progress(&agent, out, agent.enroll(&server, credential)).await;
    let status = fail_with_status(status)?;
    out.result(format!("Enrolled: {}", describe(&status)), status_json(&status));
    Ok(())
}

fn pem_encode(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

async fn cmd_agent(cli: &Cli, dir: &Path, out: &Out) -> anyhow::Result<()> {
    let settings = load_settings(dir)?;
    match &cli.command {
        Command::Status => {
            let agent = build_agent(cli, dir, &settings, out)?;
            let status = agent.status();
            out.result(describe(&status), status_json(&status));
        }
        Command::Checkin => {
            let agent = build_agent(cli, dir, &settings, out)?;
            let outcome = agent.checkin(Default::default()).await?;
            let human = match outcome.applied {
                Some(a) => format!(
                    "Server asked to {a:?}: applied; local state is now {}",
                    describe(&outcome.status)
                ),
                None => format!("Checked in: server state {:?}", outcome.device_state),
            };
            out.result(
                human,
                serde_json::json!({"device_state": outcome.device_state, "applied": outcome.applied, "status": status_json(&outcome.status)}),
            );
        }
        Command::Reenroll(args) => {
            let agent = build_agent(cli, dir, &settings, out)?;
            let server = args.server.clone().or(settings.server.clone());
            let cred = credential(&args.credential, server.as_deref())?;
            out.step("Re-enrolling …");
            let status = with_progress(&agent, out, agent.reenroll(args.server.as_deref(), cred)).await;
            let status = fail_with_status(status)?;
            out.result(
                format!("Re-enrolled: {}", describe(&status)),
                status_json(&status),
            );
        }
        Command::Resume => {
            let agent = build_agent(cli, dir, &settings, out)?;
            let status = with_progress(&agent, out, agent.run()).await;
            let status = fail_with_status(status)?;
            out.result(format!("Resumed: {}", describe(&status)), status_json(&status));
        }
        Command::Cancel => {
            let agent = build_agent(cli, dir, &settings, out)?;
            let status = agent.cancel().await?;
            out.result(format!("Cancelled: {}", describe(&status)), status_json(&status));
        }
        Command::Forget => {
            let agent = build_agent(cli, dir, &settings, out)?;
            agent.reset_local().await?;
            out.result(
                "Local enrollment state cleared",
                serde_json::json!({"forgotten": true}),
            );
        }
        _ => bail!("not an agent command"),
    }
    Ok(())
}

fn table_devices(devices: &[protocol::DeviceView]) -> String {
    let mut s = format!(
        "{:<38} {:<9} {:<11} {:<9} {:<24} {}\n",
        "ID", "PLATFORM", "STATE", "MDM", "USER", "MODEL"
    );
    for d in devices {
        s.push_str(&format!(
            "{:<38} {:<9} {:<11} {:<9} {:<24} {}\n",
            d.id,
            d.device.platform.as_str(),
            format!("{:?}", d.state).to_lowercase(),
            format!("{:?}", d.mdm).to_lowercase(),
            d.user.as_deref().unwrap_or("-"),
            d.device.model
        ));
    }
    s.trim_end().to_owned()
}

async fn cmd_server(cmd: &ServerCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        ServerCommand::Run(args) => {
            let mut config =
                enroll_server::ServerConfig::new(args.data_dir.clone().unwrap_or_else(default_server_dir));
            config.bind = args.bind;
            config.hostnames = args.hostname.clone();
            config.public_url = args.public_url.clone();
            config.profile_validity = Duration::from_secs(args.profile_validity);
            config.insecure_http = args.insecure_http;
            let data_dir = config.data_dir.clone();
            let server = enroll_server::start(config).await?;
            out.result(
                format!(
                    "enroll reference server listening on {}\nCA certificate SHA-256 fingerprint: {}\nCA: {}\nAdmin token: {}\nPress Ctrl-C to stop.",
                    server.base_url(),
                    server.ca_fingerprint(),
                    data_dir.join("ca.pem").display(),
                    data_dir.join("admin-token").display()
                ),
                serde_json::json!({"url": server.base_url(), "ca_fingerprint": server.ca_fingerprint(), "data_dir": data_dir}),
            );
            tokio::signal::ctrl_c().await?;
            server.shutdown().await;
        }
        ServerCommand::UserAdd {
            conn,
            email,
            directory,
            password_stdin,
        } => {
            let password = if *password_stdin {
                Some(SecretString::new(read_password("Password: ", true)?))
            } else {
                None
            };
            let req = protocol::CreateUserRequest {
                email: email.clone(),
                display_name: String::new(),
                password,
                directory: *directory,
            };
            let user = client(conn)?.create_user(&req).await?;
            out.result(
                format!("Created user {} ({})", user.email, user.id),
                serde_json::to_value(&user)?,
            );
        }
        ServerCommand::Users { conn } => {
            let users = client(conn)?.users().await?;
            let human = users
                .iter()
                .map(|u| {
                    format!(
                        "{}  {}{}",
                        u.id,
                        u.email,
                        if u.directory { " (directory)" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            out.result(human, serde_json::to_value(&users)?);
        }
        ServerCommand::Invite { conn, email, pin } => {
            let inv = client(conn)?
                .invite(
                    email,
                    &protocol::InviteRequest {
                        with_pin: *pin,
                        pin_ttl_secs: None,
                    },
                )
                .await?;
            // The PIN is shown once to the administrator, who passes it to the user.
            let human = match &inv.pin {
                Some(p) => format!("Enrollment URL: {}\nOne-time PIN: {}", inv.url, p.expose()),
                None => format!("Enrollment URL: {}", inv.url),
            };
            out.result(
                human,
                serde_json::json!({"url": inv.url, "pin": inv.pin.as_ref().map(|p| p.expose().to_owned()), "pin_expires_at": inv.pin_expires_at}),
            );
        }
        ServerCommand::Token {
            conn,
            email,
            days,
            never,
        } => {
            let req = protocol::CreateTokenRequest {
                user: email.clone(),
                days: *days,
                never_expires: *never,
            };
            let tok = client(conn)?.create_token(&req).await?;
            out.result(
                format!(
                    "Enrollment token: {}\nExpires: {}",
                    tok.token.expose(),
                    tok.expires_at
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "never".into())
                ),
                serde_json::json!({"token": tok.token.expose(), "expires_at": tok.expires_at}),
            );
        }
        ServerCommand::Devices { conn, all } => {
            let devices = client(conn)?.devices(*all).await?;
            out.result(table_devices(&devices), serde_json::to_value(&devices)?);
        }
        ServerCommand::Device { conn, id } => {
            let d = client(conn)?.device(id).await?;
            let mut human = table_devices(std::slice::from_ref(&d.device));
            human.push_str("\nHistory:");
            for h in &d.history {
                human.push_str(&format!("\n  {}  {:<12} {}", h.at, h.event, h.detail));
            }
            if !d.archived.is_empty() {
                human.push_str(&format!("\nArchived entries:\n{}", table_devices(&d.archived)));
            }
            out.result(human, serde_json::to_value(&d)?);
        }
        ServerCommand::Retire { conn, id }
        | ServerCommand::Wipe { conn, id }
        | ServerCommand::Reset { conn, id } => {
            let action = match cmd {
                ServerCommand::Retire { .. } => DeviceAction::Retire,
                ServerCommand::Wipe { .. } => DeviceAction::Wipe,
                _ => DeviceAction::Reset,
            };
            let d = client(conn)?.action(id, action).await?;
            out.result(
                format!(
                    "{action:?} queued for device {}; it is applied at the device's next check-in",
                    d.id
                ),
                serde_json::to_value(&d)?,
            );
        }
        ServerCommand::Pending { conn } => {
            let p = client(conn)?.pending().await?;
            let human = p
                .iter()
                .map(|e| {
                    format!(
                        "{}  device {}  user {}",
                        e.enrollment_id,
                        e.device_id,
                        e.user.as_deref().unwrap_or("-")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            out.result(human, serde_json::to_value(&p)?);
        }
        ServerCommand::Bulk(cmd) => bulk::run(cmd, out).await?,
    }
    Ok(())
}

async fn cmd_demo(cli: &Cli, args: &DemoArgs, out: &Out) -> anyhow::Result<()> {
    let tmp;
    let root = match &args.keep {
        Some(dir) => dir.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let server_dir = root.join("server");
    let agent_dir = root.join("agent");
    std::fs::create_dir_all(&agent_dir)?;

    out.step("[1/6] Starting the reference enrollment server on loopback (TLS, SQLite) …");
    let mut config = enroll_server::ServerConfig::new(&server_dir);
    config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let server = enroll_server::start(config).await?;
    let base = server.base_url();
    out.step(format!("      {base}  CA SHA-256 {}", server.ca_fingerprint()));

    let trust = TrustConfig::with_ca(server.ca_cert_pem().as_bytes())?;
    let admin = AdminClient::new(&base, trust, server.admin_token().clone(), false)?;
    let email = "demo.user@example.com";
    out.step(format!("[2/6] Creating user {email} …"));
    let password = SecretString::new(uuid_like());
    let with_password = matches!(args.with, DemoCredential::Password);
    admin
        .create_user(&protocol::CreateUserRequest {
            email: email.into(),
            display_name: "Demo User".into(),
            password: with_password.then(|| password.clone()),
            directory: false,
        })
        .await?;

    out.step("[3/6] Creating the invitation …");
    let invitation = admin
        .invite(
            email,
            &protocol::InviteRequest {
                with_pin: true,
                pin_ttl_secs: None,
            },
        )
        .await?;
    out.step(format!(
        "      invitation URL: {}  (one-time PIN issued, not shown)",
        invitation.url
    ));
    let credential = match args.with {
        DemoCredential::Pin => {
            let pin = invitation
                .pin
                .as_ref()
                .ok_or_else(|| anyhow!("the server issued no PIN"))?;
            Credential::pin(email, pin.expose())?
        }
        DemoCredential::Token => {
            let tok = admin
                .create_token(&protocol::CreateTokenRequest {
                    user: email.into(),
                    days: Some(7),
                    never_expires: false,
                })
                .await?;
            Credential::token(tok.token.expose())?
        }
        DemoCredential::Password => Credential::password(email, password.expose())?,
    };

    let simulated_id = format!("demo-{}", uuid_like());
    desktop::write_atomic(&agent_dir.join("simulated-device-id"), simulated_id.as_bytes())?;
    let settings = AgentSettings {
        server: Some(base.clone()),
        ca_pem: Some(server.ca_cert_pem()),
        spki_pins: Vec::new(),
        insecure_loopback_http: false,
    };
    save_settings(&agent_dir, &settings)?;
    let demo_cli_store = if cli.store == StoreKind::Auto {
        StoreKind::File
    } else {
        cli.store
    };
    let (store, store_name) = desktop::open_store(demo_cli_store, &agent_dir)?;
    let platform = Platform {
        store,
        installer: Arc::new(DirInstaller::new(agent_dir.join("profiles"))),
        device: Arc::new(HostDevice {
            hardware_id: Some(simulated_id.clone()),
        }),
        clock: Arc::new(SystemClock),
    };
    let agent = Agent::new(agent_config(&settings)?, platform)?;
    out.step(format!(
        "[4/6] Enrolling this machine as a simulated device ({simulated_id}) with the {} (secrets: {store_name}) …",
        credential.kind()
    ));
    let status = with_progress(&agent, out, agent.enroll(&invitation.url, credential)).await;
    let status = fail_with_status(status)?;
    let EnrollmentStatus::Active { device_id, .. } = &status else {
        bail!("not active")
    };

    out.step("[5/6] Checking in …");
    let outcome = agent.checkin(Default::default()).await?;
    out.step(format!("      server says {:?}", outcome.device_state));

    out.step("[6/6] Asking the server for the device record …");
    let detail = admin.device(device_id).await?;
    let active = detail.device.state == protocol::DeviceState::Active
        && detail.device.mdm == protocol::MdmStatus::Enabled;
    server.shutdown().await;
    if !active {
        bail!(
            "the server shows the device as {:?}/{:?}, not active",
            detail.device.state,
            detail.device.mdm
        );
    }
    out.result(
        format!(
            "Done: device {device_id} is active on the server (mdm enabled; history: {}).",
            detail.history.iter().map(|h| h.event.as_str()).collect::<Vec<_>>().join(", ")
        ),
        serde_json::json!({"device_id": device_id, "state": detail.device.state, "mdm": detail.device.mdm, "server": base}),
    );
    Ok(())
}

fn uuid_like() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn cmd_scan(cli: &Cli, dir: &Path, args: &ScanArgs, out: &Out) -> anyhow::Result<()> {
    use enroll_cli::scan;
    let options = enroll_core::qr::PayloadOptions {
        allow_insecure_loopback_http: args.connect.insecure_loopback_http,
        ..Default::default()
    };
    if !args.camera && args.frames.is_none() {
        if args.files.is_empty() {
            bail!("give image files, --frames DIR or --camera");
        }
        let results = scan::scan_files(&args.files, &options);
        let mut human = Vec::new();
        let mut json = Vec::new();
        let mut found_any = false;
        for (path, result) in &results {
            match result {
                Ok(codes) => {
                    found_any |= codes.iter().any(|c| c.intent.is_some());
                    if codes.is_empty() {
                        human.push(format!("{}: no QR code found", path.display()));
                    }
                    for c in codes {
                        human.push(match (&c.intent, &c.error) {
                            (Some(intent), _) => format!(
                                "{}: {} enrollment code ({} bytes)",
                                path.display(),
                                intent["kind"].as_str().unwrap_or("?"),
                                c.text.len()
                            ),
                            (None, Some(e)) => {
                                format!("{}: QR code, not an enrollment payload: {e}", path.display())
                            }
                            (None, None) => format!("{}: QR code", path.display()),
                        });
                    }
                    json.push(serde_json::json!({"file": path, "codes": codes.iter().map(scan::CodeReport::to_json).collect::<Vec<_>>()}));
                }
                Err(e) => {
                    human.push(format!("{}: {e}", path.display()));
                    json.push(serde_json::json!({"file": path, "error": e}));
                }
            }
        }
        out.result(human.join("\n"), serde_json::Value::Array(json));
        if !found_any {
            bail!("no enrollment code found");
        }
        return Ok(());
    }
    let source = match &args.frames {
        Some(dir) => scan::LiveSource::Frames(dir.clone()),
        None => scan::LiveSource::Camera(args.camera_index),
    };
    out.step("Scanning … (point the camera at the enrollment QR code)");
    let timeout = Duration::from_secs(args.timeout);
    let hit = tokio::task::spawn_blocking(move || scan::scan_live(source, options, timeout))
        .await?
        .map_err(|e| anyhow!(e))?;
    let Some(hit) = hit else {
        bail!("no enrollment code found before the timeout")
    };
    let summary = scan::intent_summary(&hit.intent);
    out.result(
        format!(
            "Found a {} enrollment code after {} frames",
            summary["kind"].as_str().unwrap_or("?"),
            hit.frames
        ),
        serde_json::json!({"text": hit.text, "intent": summary, "frames": hit.frames}),
    );
    let server = args
        .connect
        .server
        .clone()
        .or_else(|| hit.intent.server_url().map(|u| u.to_string()));
    let Some(server) = server else {
        out.step("The code names no server: run `enroll enroll --server URL --token …` to enroll.");
        return Ok(());
    };
    let wants = args.enroll
        || (std::io::stdin().is_terminal() && !cli.json && {
            eprint!("Enroll with {server}? [y/N] ");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            answer.trim().eq_ignore_ascii_case("y")
        });
    if !wants {
        return Ok(());
    }
    let mut credential = args.credential.clone();
    if credential.token.is_none() && credential.pin.is_none() && credential.user.is_none() {
        credential.token = hit.intent.token().map(|t| t.expose().to_owned());
    }
    let user_from_hint = match &hit.intent {
        enroll_core::qr::EnrollmentIntent::Invitation(i) => i.user_hint.clone(),
        _ => None,
    };
    if credential.user.is_none() && credential.token.is_none() {
        credential.user = user_from_hint;
    }
    let mut connect = args.connect.clone();
    connect.server = Some(server);
    cmd_enroll(cli, dir, &EnrollArgs { connect, credential }, out).await
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Out { json: cli.json };
    let dir = cli.state_dir.clone().unwrap_or_else(default_state_dir);
    match &cli.command {
        Command::Demo(args) => cmd_demo(&cli, args, &out).await,
        Command::Enroll(args) => cmd_enroll(&cli, &dir, args, &out).await,
        Command::Scan(args) => cmd_scan(&cli, &dir, args, &out).await,
        Command::Server(cmd) => cmd_server(cmd, &out).await,
        _ => cmd_agent(&cli, &dir, &out).await,
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ENROLL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({"error": format!("{e:#}")}));
            }
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
