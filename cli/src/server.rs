//! `enroll server …`: the reference server (`run`) and its admin actions on a running one:
//! users, invitations, tokens, devices and their retire/wipe/reset, pending enrollments. The
//! `bulk` subcommands are in [`crate::bulk`] (and [`crate::kme`]).

use crate::agent::credential::read_password;
use crate::bulk;
use crate::conn::{client, AdminConn};
use crate::global::default_server_dir;
use crate::out::Out;
use clap::{Args, Subcommand};
use enroll_proto::secret::SecretString;
use enroll_proto::{self as protocol, DeviceAction};
use std::path::PathBuf;
use std::time::Duration;

/// `enroll server …`: run the reference server, or act on a running one.
#[derive(Subcommand)]
pub enum ServerCommand {
    /// Run the reference server until interrupted.
    Run(ServerRunArgs),
    /// Create a user.
    UserAdd {
        /// How to reach the server.
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
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
    },
    /// Invite a user: prints the enrollment URL (ending in /go) and, with --pin, a one-time PIN.
    Invite {
        /// How to reach the server.
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
        /// How to reach the server.
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
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Include archived entries.
        #[arg(long)]
        all: bool,
    },
    /// Show a device and its change history.
    Device {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
    },
    /// Retire a device (applied at its next check-in).
    Retire {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
    },
    /// Wipe a device (applied at its next check-in).
    Wipe {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
    },
    /// Reset a device (stays active on the server until it enrolls again).
    Reset {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
    },
    /// Enrollments whose profile is not installed yet (for reminders).
    Pending {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
    },
    /// Bulk enrollment (CSV profiles, QR codes, tokens) and Samsung KME.
    #[command(subcommand)]
    Bulk(bulk::BulkCommand),
    /// Apple MDM commands of a device (queue, list, DeviceInformation).
    #[command(subcommand)]
    Mdm(crate::mdm::MdmCommand),
    /// Windows MDM: provisioning packages (seed 001), Assign to user, the Entra tenant (seed 002).
    #[command(subcommand)]
    Windows(crate::windows::WindowsCommand),
}

/// `enroll server run`: where the server keeps its data and how it listens.
#[derive(Args)]
pub struct ServerRunArgs {
    /// Data directory (database, PKI, admin token).
    #[arg(long, env = "ENROLL_SERVER_DATA")]
    data_dir: Option<PathBuf>,
    /// Listen address.
    #[arg(long, default_value = enroll_server::DEFAULT_BIND)]
    bind: std::net::SocketAddr,
    /// Extra host name for the TLS certificate (repeatable).
    #[arg(long)]
    hostname: Vec<String>,
    /// Public base URL (put in profiles, invitations and QR codes) and the DPC of Android
    /// provisioning codes.
    #[command(flatten)]
    provisioning: bulk::provisioning::ProvisioningArgs,
    /// A DPC APK to serve at /dpc/enroll-agent.apk (its SHA-256 goes into provisioning codes).
    #[arg(long)]
    dpc_apk: Option<PathBuf>,
    /// Seconds a profile stays installable.
    #[arg(long, default_value_t = 300)]
    profile_validity: u64,
    /// Serve plain http (loopback only; development).
    #[arg(long)]
    insecure_http: bool,
    /// Android package of the enrollment app (`/go`'s intent URL, `/.well-known/assetlinks.json`).
    #[arg(long)]
    android_package: Option<String>,
    /// SHA-256 fingerprint of the Android app's signing certificate (`AB:CD:…`, from `apksigner
    /// verify --print-certs` or `keytool -list`): serves `/.well-known/assetlinks.json`.
    #[arg(long)]
    android_cert_sha256: Option<String>,
    /// The iOS app as `TEAMID.bundle.id`: serves `/.well-known/apple-app-site-association`
    /// (universal links for `/go`).
    #[arg(long)]
    apple_app_id: Option<String>,
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

/// Runs a server command, printing through `out`.
pub async fn run(cmd: &ServerCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        ServerCommand::Run(args) => {
            let mut config =
                enroll_server::ServerConfig::new(args.data_dir.clone().unwrap_or_else(default_server_dir));
            config.bind = args.bind;
            config.hostnames = args.hostname.clone();
            let provisioning = args.provisioning.resolve()?;
            config.public_url = provisioning.public_url.clone();
            config.dpc = provisioning.dpc();
            config.dpc_package = args.dpc_apk.clone().or(provisioning.apk.clone());
            config.profile_validity = Duration::from_secs(args.profile_validity);
            config.insecure_http = args.insecure_http;
            if let Some(pkg) = args
                .android_package
                .clone()
                .or(provisioning.android_package.clone())
            {
                config.app_links.android_package = pkg;
            }
            if let Some(fp) = args
                .android_cert_sha256
                .as_ref()
                .or(provisioning.android_cert_sha256.as_ref())
            {
                config.app_links.android_cert_sha256 = Some(enroll_server::normalize_cert_sha256(fp).ok_or_else(
                    || anyhow::anyhow!("--android-cert-sha256 must be the certificate's SHA-256 as 32 hex bytes (AB:CD:…)"),
                )?);
            }
            config.app_links.apple_app_id = args.apple_app_id.clone().or(provisioning.apple_app_id.clone());
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
                Some(p) => format!(
                    "Enrollment URL: {}\nOne-time PIN: {} (expires {})",
                    inv.url,
                    p.expose(),
                    crate::out::date_or_never(inv.pin_expires_at)
                ),
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
                    crate::out::date_or_never(tok.expires_at)
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
                human.push_str(&format!(
                    "\n  {}  {:<12} {}",
                    crate::out::date(h.at),
                    h.event,
                    h.detail
                ));
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
                        "{}  device {}  user {}  started {}  last profile {}",
                        e.enrollment_id,
                        e.device_id,
                        e.user.as_deref().unwrap_or("-"),
                        crate::out::date(e.started_at),
                        e.last_profile_at
                            .map(crate::out::date)
                            .unwrap_or_else(|| "-".into())
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            out.result(human, serde_json::to_value(&p)?);
        }
        ServerCommand::Bulk(cmd) => bulk::run(cmd, out).await?,
        ServerCommand::Mdm(cmd) => crate::mdm::run(cmd, out).await?,
        ServerCommand::Windows(cmd) => crate::windows::run(cmd, out).await?,
    }
    Ok(())
}
