//! `enroll demo --platform windows` (seed 001): an embedded reference server on loopback, a
//! `windows-bulkenroll` user and its provisioning package project (`customizations.xml`), a
//! simulated Windows PC (`enroll-wsim`) that enrolls from it step by step on the core's step
//! machine (state file in the demo directory), the server's record (Active, bulk-enrolled), then
//! "Assign to user" to a real user and the PC's next OMA-DM session with the same certificate.

use crate::admin::AdminClient;
use crate::out::Out;
use anyhow::{anyhow, bail, Context as _};
use enroll_core::tls::TrustConfig;
use enroll_proto as protocol;
use enroll_proto::secret::SecretString;
use enroll_wsim::{Config, Credential, DeviceInfo, MemoryTree, WindowsDevice};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The bulk user of the demo.
const BULK_USER: &str = "windows-bulkenroll-demo@example.com";
/// The real user the PC is assigned to.
const REAL_USER: &str = "demo.user@example.com";

fn record<'a>(list: &'a Value, hw: &str) -> anyhow::Result<&'a Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .find(|v| v["hw_dev_id"] == hw)
        .ok_or_else(|| anyhow!("the server has no Windows device record for the simulated PC"))
}

fn history(v: &Value) -> String {
    v["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            format!(
                "{} ({})",
                h["event"].as_str().unwrap_or(""),
                h["detail"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the Windows demo; data in `keep` (or a temporary directory).
pub(crate) async fn run(keep: Option<PathBuf>, out: &Out) -> anyhow::Result<()> {
    let tmp;
    let root = match keep {
        Some(dir) => dir,
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let pc_dir = root.join("pc");
    std::fs::create_dir_all(&pc_dir)?;
    out.step("[1/7] Starting the reference server on loopback (TLS, SQLite, Windows enrollment services) …");
    let mut config = enroll_server::ServerConfig::new(root.join("server"));
    config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let server = enroll_server::start(config).await?;
    let base = server.base_url();
    out.step(format!("      {base}  CA SHA-256 {}", server.ca_fingerprint()));
    let trust = TrustConfig::with_ca(server.ca_cert_pem().as_bytes())?;
    let admin = AdminClient::new(&base, trust.clone(), server.admin_token().clone(), false)?;

    out.step(format!(
        "[2/7] Creating the bulk-enrollment user {BULK_USER} and the real user {REAL_USER} …"
    ));
    let secret = SecretString::new(format!("Bulk-{}", uuid::Uuid::new_v4().simple()));
    for (email, name, password) in [
        (BULK_USER, "Windows bulk enrollment", secret.clone()),
        (
            REAL_USER,
            "Demo User",
            SecretString::new(format!("User-{}", uuid::Uuid::new_v4().simple())),
        ),
    ] {
        admin
            .create_user(&protocol::CreateUserRequest {
                email: email.into(),
                display_name: name.into(),
                password: Some(password),
                directory: false,
            })
            .await?;
    }

    out.step("[3/7] Writing the provisioning package project (customizations.xml) …");
    let v = admin
        .windows_post(
            "/api/v1/admin/windows/packages",
            &json!({ "user": BULK_USER, "secret": secret.expose() }),
        )
        .await?;
    let xml = v["customizations_xml"]
        .as_str()
        .context("the server sent no customizations.xml")?;
    let package = enroll_wmdm::customizations::Customizations::parse(xml)?;
    let path = pc_dir.join("customizations.xml");
    crate::desktop::write_atomic(&path, xml.as_bytes())?;
    out.step(format!(
        "      {} (UPN {}, AuthPolicy {}, DiscoveryServiceFullUrl {}, secret not shown)",
        path.display(),
        package.enrollment.upn,
        package.enrollment.auth_policy,
        package.enrollment.discovery_url
    ));
    out.step(format!(
        "      on Windows, the .ppkg is built with: {}",
        v["build_command"].as_str().unwrap_or("")
    ));

    let info = DeviceInfo::random();
    let state_file = pc_dir.join("state.json");
    out.step(format!(
        "[4/7] PC {} applies the package and enrolls as Windows does (state committed after each step to {}) …",
        info.device_id,
        state_file.display()
    ));
    let mut pc = WindowsDevice::new(
        info.clone(),
        Credential::Package(package),
        Config {
            trust: trust.ca_certificates.clone(),
            state_file: Some(state_file),
            sessions: 1,
        },
        MemoryTree::for_device(&info),
    )?;
    let progress = |line: &str| out.step(format!("      {line}"));
    pc.run(&progress).await?;

    out.step("[5/7] Asking the server for the device record …");
    let list = admin.windows_get("/api/v1/admin/windows/devices").await?;
    let rec = record(&list, &info.device_id)?;
    let id = rec["id"]
        .as_str()
        .context("the device record has no id")?
        .to_owned();
    let serial = rec["certificate_serial"].clone();
    out.step(format!(
        "      device {id}: {}, user {}, bulk owner {}, {} {} (Windows {})",
        rec["state"].as_str().unwrap_or("?"),
        rec["user"].as_str().unwrap_or("-"),
        rec["bulk_owner"].as_str().unwrap_or("-"),
        rec["manufacturer"].as_str().unwrap_or(""),
        rec["model"].as_str().unwrap_or(""),
        rec["os_version"].as_str().unwrap_or("")
    ));
    if rec["state"] != "active" || rec["user"] != BULK_USER || rec["bulk_enrolled"] != true {
        server.shutdown().await;
        bail!("the server shows the PC as {rec}, not active and bulk-enrolled under {BULK_USER}");
    }

    out.step(format!(
        "[6/7] Assign to user: {REAL_USER}; the PC opens its next OMA-DM session …"
    ));
    let assigned = admin
        .windows_post(
            &format!("/api/v1/admin/windows/devices/{id}/assign"),
            &json!({ "user": REAL_USER }),
        )
        .await?;
    pc.config.sessions = 2;
    pc.run(&progress).await?;

    out.step("[7/7] Asking the server for the device record again, then stopping the server …");
    let list = admin.windows_get("/api/v1/admin/windows/devices").await?;
    let rec = record(&list, &info.device_id)?.clone();
    out.step(format!("      history: {}", history(&rec)));
    server.shutdown().await;
    if rec["state"] != "active" || rec["user"] != REAL_USER || rec["certificate_serial"] != serial {
        bail!("after the assignment the server shows the PC as {rec}, not active under {REAL_USER} with the same certificate");
    }
    out.result(
        format!(
            "Done: Windows PC {id} enrolled Active under {BULK_USER} (bulk-enrolled), then was assigned to {REAL_USER}, \
             who must change their password at the first sign-in; the same certificate keeps checking in."
        ),
        json!({
            "device_id": id,
            "hw_dev_id": info.device_id,
            "state": rec["state"],
            "user": rec["user"],
            "bulk_owner": rec["bulk_owner"],
            "certificate_serial": rec["certificate_serial"],
            "password_change_required": assigned["password_change_required"],
            "server": base,
        }),
    );
    Ok(())
}
