//! `enroll server windows …`: Windows MDM on a running server.
//!
//! - `package USER`: writes the Windows Configuration Designer project (`customizations.xml`,
//!   seed 001) for a `windows-bulkenroll…` user, with the secret read from stdin, and prints the
//!   `icd.exe` command that builds the `.ppkg` on a Windows PC; refused for other users.
//! - `devices`, `assign ID --user EMAIL`, `command ID VERB URI [DATA]`.
//! - `entra connect|user|bulk-token|sync|devices`: the simulated Entra tenant (seed 002).
//!
//! [`simulate`] is `enroll simulate --platform windows`: N PCs of the Windows device mode
//! (`enroll-wsim`) enroll with one package.

use crate::agent::credential::read_password;
use crate::conn::{client, AdminConn};
use crate::errors::AdminRefused;
use crate::out::Out;
use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;

/// `enroll server windows …`.
#[derive(Subcommand)]
pub enum WindowsCommand {
    /// Write customizations.xml for a windows-bulkenroll user (secret from stdin).
    Package {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// The windows-bulkenroll… user.
        user: String,
        /// Directory to write customizations.xml into.
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
        /// DiscoveryServiceFullUrl (default: the server's public URL).
        #[arg(long)]
        discovery_url: Option<String>,
    },
    /// List Windows devices (platform, owner, bulk owner, enrollment kind).
    Devices {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
    },
    /// Assign a bulk-enrolled device to a real user.
    Assign {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
        /// The real user's e-mail.
        #[arg(long)]
        user: String,
    },
    /// Queue an OMA-DM command (Get, Replace, Add, Delete, Exec).
    Command {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
        /// Verb.
        verb: String,
        /// CSP node (./Device/…).
        uri: String,
        /// Data.
        data: Option<String>,
    },
    /// The simulated Entra tenant (seed 002).
    #[command(subcommand)]
    Entra(EntraCommand),
}

/// `enroll server windows entra …`.
#[derive(Subcommand)]
pub enum EntraCommand {
    /// Connect a tenant (its domain becomes Federated at discovery).
    Connect {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Domain, e.g. contoso.onmicrosoft.com.
        domain: String,
    },
    /// Add a tenant user or set its MFA.
    User {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// UPN.
        upn: String,
        /// Multi-factor authentication on.
        #[arg(long)]
        mfa: bool,
    },
    /// Get a bulk token (creates the package_<guid> user).
    BulkToken {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// The requesting Entra administrator.
        #[arg(long)]
        admin: String,
        /// Lifetime, days (1..=180).
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// Sync the tenant's users to the server.
    Sync {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
    },
    /// List the tenant's device objects.
    Devices {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
    },
}

/// The next step after a refused `package`.
const NEXT_PACKAGE: &str =
    "check the user with `enroll server users`: it must exist, its name must start with \
     windows-bulkenroll, and the secret must be its password.";
/// The next step after a refused `assign`.
const NEXT_ASSIGN: &str =
    "`enroll server windows devices` lists the devices: only those with a BULK OWNER can be \
     assigned, to a user that exists (`enroll server user-add`) and is not a windows-bulkenroll user.";
/// The next step after a refused `command`.
const NEXT_COMMAND: &str =
    "use a verb among Get, Replace, Add, Delete, Exec and a ./Device/… node (bulk-enrolled \
     devices take device-level configurations only); `enroll server windows devices` lists the device ids.";
/// The next step after a refused Entra request.
const NEXT_ENTRA: &str = "connect the simulated tenant first (`enroll server windows entra connect DOMAIN`), \
     check the UPNs with `enroll server windows entra devices` and `enroll server users`, and turn MFA off for \
     the bulk-token administrator (`enroll server windows entra user UPN`).";
/// The next step after a refused listing.
const NEXT_LIST: &str =
    "check `--server`, the admin token (`--data-dir` or `--admin-token-file`) and `--ca`.";

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Runs a Windows command.
pub async fn run(cmd: &WindowsCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        WindowsCommand::Package {
            conn,
            user,
            out_dir,
            discovery_url,
        } => {
            if !user
                .split('@')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
                .starts_with("windows-bulkenroll")
            {
                anyhow::bail!(
                    "{user} cannot enroll devices in bulk: the user name must start with windows-bulkenroll (seed 001); create such a user with `enroll server user-add`"
                );
            }
            let secret = read_password("Secret (the user's password): ", true)?;
            let v = client(conn)?
                .windows_post(
                    "/api/v1/admin/windows/packages",
                    &json!({ "user": user, "secret": secret, "discovery_url": discovery_url }),
                )
                .await
                .map_err(|e| AdminRefused::wrap(e, NEXT_PACKAGE))?;
            let path = out_dir.join("customizations.xml");
            let xml = v["customizations_xml"]
                .as_str()
                .context("the server sent no customizations.xml")?;
            std::fs::write(&path, xml).with_context(|| format!("writing {}", path.display()))?;
            let build = v["build_command"].as_str().unwrap_or_default();
            out.result(
                format!(
                    "Wrote {} (it holds the secret: keep it private).\nOn a Windows PC with the Windows ADK's Configuration Designer, build the package with:\n  {build}",
                    path.display()
                ),
                json!({ "file": path, "user": v["user"], "build_command": build }),
            );
        }
        WindowsCommand::Devices { conn } => {
            let v = client(conn)?
                .windows_get("/api/v1/admin/windows/devices")
                .await
                .map_err(|e| AdminRefused::wrap(e, NEXT_LIST))?;
            let mut human = format!(
                "{:<38} {:<8} {:<8} {:<30} {}\n",
                "ID", "PLATFORM", "STATE", "USER", "BULK OWNER"
            );
            for d in v.as_array().into_iter().flatten() {
                human.push_str(&format!(
                    "{:<38} {:<8} {:<8} {:<30} {}\n",
                    d["id"].as_str().unwrap_or(""),
                    d["platform"].as_str().unwrap_or(""),
                    d["state"].as_str().unwrap_or(""),
                    d["user"].as_str().unwrap_or("-"),
                    d["bulk_owner"].as_str().unwrap_or("-")
                ));
            }
            out.result(human.trim_end(), v);
        }
        WindowsCommand::Assign { conn, id, user } => {
            let v = client(conn)?
                .windows_post(
                    &format!("/api/v1/admin/windows/devices/{id}/assign"),
                    &json!({ "user": user }),
                )
                .await
                .map_err(|e| AdminRefused::wrap(e, NEXT_ASSIGN))?;
            out.result(
                format!("Assigned {id} to {user}; {user} must change their password at the first sign-in."),
                v,
            );
        }
        WindowsCommand::Command {
            conn,
            id,
            verb,
            uri,
            data,
        } => {
            let v = client(conn)?
                .windows_post(
                    &format!("/api/v1/admin/windows/devices/{id}/commands"),
                    &json!({ "verb": verb, "uri": uri, "data": data }),
                )
                .await
                .map_err(|e| AdminRefused::wrap(e, NEXT_COMMAND))?;
            out.result(
                format!("Queued {verb} {uri} for {id} (sent at its next OMA-DM session)"),
                v,
            );
        }
        WindowsCommand::Entra(e) => {
            let (v, human) = match e {
                EntraCommand::Connect { conn, domain } => {
                    let v = client(conn)?
                        .windows_post("/api/v1/admin/windows/entra/tenant", &json!({ "domain": domain }))
                        .await
                        .map_err(|e| AdminRefused::wrap(e, NEXT_ENTRA))?;
                    (v, format!("Connected the simulated Entra tenant {domain}"))
                }
                EntraCommand::User { conn, upn, mfa } => {
                    let v = client(conn)?
                        .windows_post(
                            "/api/v1/admin/windows/entra/users",
                            &json!({ "upn": upn, "mfa": mfa }),
                        )
                        .await
                        .map_err(|e| AdminRefused::wrap(e, NEXT_ENTRA))?;
                    (v, format!("{upn}: MFA {}", if *mfa { "on" } else { "off" }))
                }
                EntraCommand::BulkToken { conn, admin, days } => {
                    let v = client(conn)?
                        .windows_post(
                            "/api/v1/admin/windows/entra/bulk-token",
                            &json!({ "admin_upn": admin, "expires_in_days": days }),
                        )
                        .await
                        .map_err(|e| AdminRefused::wrap(e, NEXT_ENTRA))?;
                    let h = format!(
                        "Bulk token for {} (keep it private):\n{}",
                        v["package_upn"].as_str().unwrap_or(""),
                        v["token"].as_str().unwrap_or("")
                    );
                    (v, h)
                }
                EntraCommand::Sync { conn } => {
                    let v = client(conn)?
                        .windows_post("/api/v1/admin/windows/entra/sync", &json!({}))
                        .await
                        .map_err(|e| AdminRefused::wrap(e, NEXT_ENTRA))?;
                    let h = format!("Synced: {}", pretty(&v["created"]));
                    (v, h)
                }
                EntraCommand::Devices { conn } => {
                    let v = client(conn)?
                        .windows_get("/api/v1/admin/windows/entra/devices")
                        .await
                        .map_err(|e| AdminRefused::wrap(e, NEXT_ENTRA))?;
                    let h = pretty(&v);
                    (v, h)
                }
            };
            out.result(human, v);
        }
    }
    Ok(())
}

/// `enroll simulate --platform windows`: `devices` PCs enroll with one customizations.xml,
/// `concurrency` at a time; prints how many became active and the enrollments/s.
pub async fn simulate(
    package: &std::path::Path,
    ca: Option<&std::path::Path>,
    devices: usize,
    concurrency: usize,
    out: &Out,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(package).with_context(|| format!("reading {}", package.display()))?;
    let custom = enroll_wmdm::customizations::Customizations::parse(&text)
        .with_context(|| format!("{} is not a customizations.xml", package.display()))?;
    let trust = match ca {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            enroll_core::tls::TrustConfig::with_ca(&bytes)
                .context("the --ca file holds no certificate")?
                .ca_certificates
        }
        None => anyhow::bail!("--ca is required: the server's CA certificate (PEM or DER)"),
    };
    out.step(format!(
        "simulating {devices} Windows PC(s) with {}, {} at a time",
        custom.enrollment.upn,
        concurrency.min(devices)
    ));
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..devices {
        let (sem, custom, trust) = (sem.clone(), custom.clone(), trust.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.ok()?;
            let info = enroll_wsim::DeviceInfo::random();
            let tree = enroll_wsim::MemoryTree::for_device(&info);
            let config = enroll_wsim::Config {
                trust,
                state_file: None,
                sessions: 1,
            };
            let mut d =
                enroll_wsim::WindowsDevice::new(info, enroll_wsim::Credential::Package(custom), config, tree)
                    .ok()?;
            Some(d.run(&|_| {}).await.map_err(|e| e.to_string()))
        }));
    }
    let (mut ok, mut failures) = (0usize, std::collections::BTreeMap::<String, usize>::new());
    for t in tasks {
        match t.await {
            Ok(Some(Ok(()))) => ok += 1,
            Ok(Some(Err(e))) => *failures.entry(e).or_default() += 1,
            _ => *failures.entry("task failed".into()).or_default() += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = ok as f64 / secs.max(1e-9);
    let human = format!(
        "{ok}/{devices} Windows PCs enrolled and finished their first OMA-DM session in {secs:.2} s ({rate:.1} enrollments/s){}",
        failures.iter().map(|(e, n)| format!("\n  {n} failed: {e}")).collect::<String>()
    );
    out.result(human, json!({ "platform": "windows", "devices": devices, "active": ok, "failed": failures, "seconds": secs, "enrollments_per_sec": rate }));
    if ok != devices {
        anyhow::bail!("{} of {devices} PCs did not enroll", devices - ok);
    }
    Ok(())
}
