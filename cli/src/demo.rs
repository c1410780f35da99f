//! `enroll demo`: starts an embedded reference server on loopback and enrolls this machine, as a
//! simulated device, end to end. `--platform apple`: a simulated iPhone does what iOS does with
//! the profile — SCEP, MDM `Authenticate`, `TokenUpdate` (which makes it active), the command
//! channel — and the demo shows the server's record with its `DeviceInformation`.
//! `--platform windows` (seed 001): a simulated Windows PC (`enroll-wsim`) enrolls with a
//! provisioning package of a `windows-bulkenroll` user — discovery, policy, key and CSR,
//! enrollment, the provisioning document checked against its key, the first OMA-DM session —
//! ends Active under that user, and is then assigned to a real user.

use crate::admin::AdminClient;
use crate::agent::settings::{agent_config, save_settings, AgentSettings};
use crate::agent::{fail_with_status, with_progress};
use crate::desktop::{self, DirInstaller, HostDevice, StoreKind};
use crate::global::GlobalArgs;
use crate::out::Out;
use anyhow::{anyhow, bail};
use clap::Args;
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::platform::{Platform, SystemClock};
use enroll_core::tls::TrustConfig;
use enroll_core::{Agent, Credential};
use enroll_proto as protocol;
use enroll_proto::secret::SecretString;
use std::path::PathBuf;
use std::sync::Arc;

/// `enroll demo`: the credential to enroll with, and where to keep the data.
#[derive(Args)]
pub struct DemoArgs {
    /// Credential to enroll with.
    #[arg(long, value_enum, default_value = "pin")]
    with: DemoCredential,
    /// Keep the demo's server and agent data in this directory (default: a temporary one).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// `apple`: a simulated Apple device through SCEP and the MDM protocol instead of the agent;
    /// `windows`: a simulated Windows PC through MS-MDE2 and OMA-DM, bulk-enrolled, then assigned.
    #[arg(long, value_enum)]
    platform: Option<DemoPlatform>,
}

/// The demo's device platform.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum DemoPlatform {
    /// A simulated iPhone speaking SCEP and Apple MDM.
    Apple,
    /// A simulated Windows PC speaking MS-MDE2 and OMA-DM (seed 001 bulk enrollment).
    Windows,
}

/// The demo's credential kind.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum DemoCredential {
    Pin,
    Token,
    Password,
}

/// Runs the demo: an embedded server on loopback, a user, an invitation, an enrollment of a
/// simulated device, a check-in and the server's view of the device.
pub async fn run(global: &GlobalArgs, args: &DemoArgs, out: &Out) -> anyhow::Result<()> {
    match args.platform {
        Some(DemoPlatform::Apple) => return run_apple(args, out).await,
        Some(DemoPlatform::Windows) => return crate::demo_windows::run(args.keep.clone(), out).await,
        None => {}
    }
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
    let demo_cli_store = if global.store == StoreKind::Auto {
        StoreKind::File
    } else {
        global.store
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

/// `enroll demo --platform apple`.
async fn run_apple(args: &DemoArgs, out: &Out) -> anyhow::Result<()> {
    use enroll_sim::{
        ApplePlatform, DeviceIdentity, EnrollmentProfile, HttpConfig, SimulatedDevice, Transport,
    };
    out.step(
        "[1/7] Starting the reference server on loopback (TLS, SQLite, SCEP CA) with a user and a token …",
    );
    let e = crate::simulate::Embedded::start(args.keep.clone(), ApplePlatform::Ios).await?;
    out.step(format!(
        "      {}  CA SHA-256 {}",
        e.server.base_url(),
        e.server.ca_fingerprint()
    ));
    let identity = DeviceIdentity::simulated(0, ApplePlatform::Ios);
    out.step(format!(
        "[2/7] Enrolling iPhone UDID {} through the agent protocol and downloading its signed profile …",
        identity.udid
    ));
    use enroll_sim::ProfileSource as _;
    let bytes = e.source.profile(0, &identity).await?;
    let profile = EnrollmentProfile::parse(&bytes, &e.trust.ca_certificates)?;
    let pending = e.admin.pending().await?;
    out.step(format!(
        "      profile {} ({} bytes, signature verified); pending installs on the server: {}",
        profile.identifier,
        bytes.len(),
        pending.len()
    ));
    out.step("[3/7] Installing it as iOS does: RSA key, SCEP, Authenticate, TokenUpdate, first poll …");
    let transport = Transport::new(HttpConfig {
        trust: e.trust.clone(),
        ..HttpConfig::default()
    });
    let mut device = SimulatedDevice::enroll(transport, Arc::new(profile), identity).await?;
    let t = device.timings;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    out.step(format!(
        "      keygen {:.0} ms, SCEP {:.0} ms, Authenticate {:.0} ms, TokenUpdate {:.0} ms, first poll {:.0} ms ({} command(s) answered)",
        ms(t.keygen),
        ms(t.scep),
        ms(t.authenticate),
        ms(t.token_update),
        t.first_command.map_or(0.0, ms),
        device.state.answered.len()
    ));
    out.step("[4/7] Asking the server for the device record …");
    let devices = e.admin.devices(false).await?;
    let record = devices
        .iter()
        .find(|d| d.device.hardware_id.as_deref() == Some(device.state.identity.udid.as_str()))
        .ok_or_else(|| anyhow!("the server has no record for the simulated device"))?;
    let id = record.id.clone();
    let detail = e.admin.device(&id).await?;
    out.step(format!(
        "      device {id}: {:?}, MDM {:?}; history: {}",
        detail.device.state,
        detail.device.mdm,
        detail
            .history
            .iter()
            .map(|h| format!("{} ({})", h.event, h.detail))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.step("[5/7] Its DeviceInformation (queued at TokenUpdate, answered at the first poll) …");
    let mdm = e.admin.mdm(&id).await?;
    for key in ["DeviceName", "ProductName", "OSVersion", "SerialNumber"] {
        if let Some(v) = mdm.device_information.get(key) {
            out.step(format!("      {key}: {v}"));
        }
    }
    out.step("[6/7] Queuing SecurityInfo as the administrator; the device polls and answers …");
    let queued = e
        .admin
        .queue_command(
            &id,
            &protocol::QueueCommandRequest::new(protocol::MdmRequestType::SecurityInfo),
        )
        .await?;
    let polled = device.poll().await?;
    let commands = e.admin.commands(&id).await?;
    let answered = commands
        .iter()
        .find(|c| c.command_uuid == queued.command_uuid)
        .map(|c| c.status);
    out.step(format!(
        "      {} command(s) answered; SecurityInfo {}",
        polled.commands,
        answered.map_or("missing", |s| s.as_str())
    ));
    out.step("[7/7] Stopping the server …");
    e.server.shutdown().await;
    let active = detail.device.state == protocol::DeviceState::Active
        && detail.device.mdm == protocol::MdmStatus::Enabled
        && detail
            .history
            .iter()
            .any(|h| h.detail.ends_with("by MDM TokenUpdate"));
    if !active || mdm.device_information.is_empty() {
        bail!(
            "the server shows the device as {:?}/{:?} (DeviceInformation {}), not active through its TokenUpdate",
            detail.device.state,
            detail.device.mdm,
            if mdm.device_information.is_empty() { "missing" } else { "present" }
        );
    }
    out.result(
        format!("Done: Apple device {id} is active on the server because of its TokenUpdate (MDM enabled), and its DeviceInformation is on the record."),
        serde_json::json!({
            "device_id": id,
            "udid": mdm.udid,
            "state": detail.device.state,
            "mdm": detail.device.mdm,
            "device_information": mdm.device_information,
            "commands": commands,
        }),
    );
    Ok(())
}

fn uuid_like() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
