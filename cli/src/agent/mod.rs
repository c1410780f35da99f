//! The agent commands: `enroll`, `status`, `checkin`, `reenroll`, `resume`, `cancel`, `forget`.
//!
//! They keep their settings in `<state-dir>/agent.json` (`settings.rs`) and their secrets in the
//! keychain (or the `secrets.insecure-file-store.json` fallback); the server and credential
//! flags are in `credential.rs`. State changes are printed as they happen.

pub(crate) mod credential;
pub(crate) mod password;
pub(crate) mod settings;

use crate::global::GlobalArgs;
use crate::out::Out;
use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Subcommand};
use credential::{credential, ConnectArgs, CredentialArgs};
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::platform::SystemClock;
use enroll_core::Agent;
use settings::{build_agent, load_settings, save_settings};
use std::path::Path;
use std::time::Duration;

/// The agent commands (listed among the top-level commands).
#[derive(Subcommand)]
pub enum AgentCommand {
    /// Enroll this machine with a server.
    Enroll(EnrollArgs),
    /// Show the enrollment state.
    Status,
    /// Report device state to the server; applies a retire, wipe or reset.
    Checkin,
    /// Re-enroll (Troubleshooting), or enroll again after a retire, wipe or reset.
    Reenroll(ReenrollArgs),
    /// Resume an interrupted enrollment, optionally with a corrected --server or --ca.
    Resume(ResumeArgs),
    /// Cancel the enrollment in progress (the server deactivates MDM for the device).
    Cancel,
    /// Forget all local enrollment state and secrets (does not contact the server).
    Forget,
}

/// `enroll enroll`: the server and the credential.
#[derive(Args)]
pub struct EnrollArgs {
    /// Where the server is.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// What to enroll with.
    #[command(flatten)]
    pub(crate) credential: CredentialArgs,
    /// The first password after a PIN enrollment.
    #[command(flatten)]
    pub(crate) new_password: password::NewPasswordArgs,
}

/// `enroll reenroll`: optionally another server, and the credential.
#[derive(Args)]
pub struct ReenrollArgs {
    /// Server (default: the one enrolled with).
    #[arg(long)]
    server: Option<String>,
    /// What to enroll with.
    #[command(flatten)]
    credential: CredentialArgs,
}

/// `enroll resume`: corrections for an attempt that did not get through.
#[derive(Args)]
pub struct ResumeArgs {
    /// Another server address (only while the server has not accepted the attempt yet).
    #[arg(long)]
    server: Option<String>,
    /// Another CA certificate (PEM or DER) to trust.
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// The first password after a PIN enrollment.
    #[command(flatten)]
    new_password: password::NewPasswordArgs,
}

/// Runs an agent command on the state in `--state-dir`, printing through `out`.
pub async fn run(global: &GlobalArgs, cmd: &AgentCommand, out: &Out) -> anyhow::Result<()> {
    let dir = global.state_dir();
    match cmd {
        AgentCommand::Enroll(args) => enroll(global, &dir, args, out).await,
        _ => agent_command(global, &dir, cmd, out).await,
    }
}

/// The status as JSON (as `--json` prints it).
pub(crate) fn status_json(status: &EnrollmentStatus) -> serde_json::Value {
    serde_json::to_value(status).unwrap_or(serde_json::Value::Null)
}

/// What is left of a profile's install window, for humans (never a negative count).
fn window_text(expires_at: Option<i64>, now: i64) -> String {
    match expires_at {
        None => "no install deadline".to_owned(),
        Some(at) if at > now => format!("profile valid for {} s more", at - now),
        Some(_) => "profile expired".to_owned(),
    }
}

/// The status for humans.
pub(crate) fn describe(status: &EnrollmentStatus) -> String {
    match status {
        EnrollmentStatus::ProfileReady { expires_at } | EnrollmentStatus::Installing { expires_at } => {
            format!(
                "{} ({})",
                status.name(),
                window_text(*expires_at, SystemClock.now_secs())
            )
        }
        EnrollmentStatus::Active {
            device_id,
            user,
            password_offered,
        } => {
            format!(
                "active (device {device_id}{}{})",
                user.as_ref().map(|u| format!(", user {u}")).unwrap_or_default(),
                if *password_offered {
                    "; the user may set a first password"
                } else {
                    ""
                }
            )
        }
        EnrollmentStatus::Failed { reason, .. } => format!("failed: {reason}"),
        other => other.name().to_owned(),
    }
}

/// The way on from `status`, for humans (`None`: nothing to do).
pub(crate) fn next_step(status: &EnrollmentStatus) -> Option<&'static str> {
    Some(match status {
        EnrollmentStatus::Idle => "Not enrolled: `enroll --server URL --ca FILE` with `--token`, `--pin` or `--user` enrolls this machine.",
        EnrollmentStatus::Discovered { .. } => {
            "The server has not accepted this attempt yet (not reached, or its certificate not trusted): `enroll resume` \
             retries it (`--server URL` and `--ca FILE` correct it), `enroll` with other values replaces it, `enroll cancel` \
             abandons it."
        }
        EnrollmentStatus::Authenticated { .. }
        | EnrollmentStatus::ProfileReady { .. }
        | EnrollmentStatus::Installing { .. } => {
            "The server accepted this enrollment: `enroll resume` continues it, `enroll cancel` abandons it (the server \
             deactivates MDM); if that server is gone for good, `enroll forget` clears the local state."
        }
        EnrollmentStatus::Active { .. } => return None,
        EnrollmentStatus::Cancelled | EnrollmentStatus::Expired { .. } => {
            "`enroll` with a credential starts a new enrollment."
        }
        EnrollmentStatus::Failed { .. } => {
            "The server refused the credential: run `enroll` again with a new token, PIN or password."
        }
        EnrollmentStatus::Retired | EnrollmentStatus::Wiped | EnrollmentStatus::Reset => {
            "The administrator removed this device from management: `enroll reenroll` with `--token`, `--pin` or \
             `--user` from a new invitation enrolls it again (`--server URL` for another server); `enroll forget` \
             clears what is left."
        }
    })
}

/// The status and its way on, for humans.
fn describe_with_next(status: &EnrollmentStatus) -> String {
    match next_step(status) {
        Some(next) => format!("{}\n{next}", describe(status)),
        None => describe(status),
    }
}

/// The status as JSON with its way on (`next_step`).
fn status_json_with_next(status: &EnrollmentStatus) -> serde_json::Value {
    let mut v = status_json(status);
    if let (Some(next), Some(map)) = (next_step(status), v.as_object_mut()) {
        map.insert("next_step".into(), serde_json::Value::from(next));
    }
    v
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
pub(crate) async fn with_progress<T>(
    agent: &Agent,
    out: &Out,
    fut: impl std::future::Future<Output = T>,
) -> T {
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

/// The status if the enrollment ended active, else an error naming how it ended.
pub(crate) fn fail_with_status(
    result: enroll_core::Result<EnrollmentStatus>,
) -> anyhow::Result<EnrollmentStatus> {
    let status = result?;
    match &status {
        EnrollmentStatus::Active { .. } => Ok(status),
        other => Err(anyhow!(
            "enrollment ended {}. {}",
            describe(other),
            next_step(other).unwrap_or_default()
        )),
    }
}

/// Reads the CA file `path` into the settings (PEM of every certificate in it).
fn set_ca(settings: &mut settings::AgentSettings, path: &Path) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the CA certificate {}", path.display()))?;
    let certs = enroll_core::tls::parse_certificates(&bytes)
        .with_context(|| format!("{} holds no certificate (PEM or DER)", path.display()))?;
    settings.ca_pem = Some(certs.iter().map(|d| pem_encode(d)).collect::<String>());
    Ok(())
}

/// `enroll enroll`: starts an attempt (replacing one the server never accepted), saves the
/// server settings once it is started, then enrolls with the credential.
pub(crate) async fn enroll(
    global: &GlobalArgs,
    dir: &Path,
    args: &EnrollArgs,
    out: &Out,
) -> anyhow::Result<()> {
    let mut settings = load_settings(dir)?;
    let server = args
        .connect
        .server
        .clone()
        .or(settings.server.clone())
        .ok_or_else(|| anyhow!("--server is required"))?;
    if let Some(ca) = &args.connect.ca {
        set_ca(&mut settings, ca)?;
    }
    if !args.connect.pin_spki.is_empty() {
        settings.spki_pins = args.connect.pin_spki.clone();
    }
    settings.insecure_loopback_http |= args.connect.insecure_loopback_http;
    settings.server = Some(enroll_core::agent::strip_go(&server));
    let credential = credential(&args.credential, Some(&server))?
        .ok_or_else(|| anyhow!("give --token, --pin (with --user) or --user (password prompt)"))?;
    crate::desktop::create_private_dir(dir)?;
    let agent = build_agent(global, dir, &settings, out)?;
    let before = agent.status();
    let kind = credential.kind();
    agent.begin(&server, credential).await?;
    save_settings(dir, &settings)?;
    if let EnrollmentStatus::Discovered { server: old } = &before {
        if Some(old.as_str()) != settings.server.as_deref().map(|s| s.trim_end_matches('/')) {
            out.step(format!(
                "Replacing the attempt with {old}, which the server never accepted."
            ));
        }
    }
    out.step(format!(
        "Enrolling with {} using a {} …",
        settings.server.as_deref().unwrap_or_default(),
        kind
    ));
    let status = with_progress(&agent, out, agent.run()).await;
    let status = fail_with_status(status)?;
    let (status, pw) = password::offer(&agent, status, &args.new_password, out).await?;
    out.result(
        format!("Enrolled: {}", describe(&status)),
        with_password(&status, &pw),
    );
    Ok(())
}

/// The status document with `password_set` (and `password_error` when setting it failed).
fn with_password(status: &EnrollmentStatus, pw: &password::PasswordOutcome) -> serde_json::Value {
    let mut v = status_json(status);
    if let Some(map) = v.as_object_mut() {
        map.insert("password_set".into(), serde_json::Value::from(pw.set));
        if let Some((code, message)) = &pw.error {
            map.insert(
                "password_error".into(),
                serde_json::json!({"code": code, "message": message}),
            );
        }
    }
    v
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

async fn agent_command(global: &GlobalArgs, dir: &Path, cmd: &AgentCommand, out: &Out) -> anyhow::Result<()> {
    let settings = load_settings(dir)?;
    match cmd {
        AgentCommand::Status => {
            let agent = build_agent(global, dir, &settings, out)?;
            let status = agent.status();
            out.result(describe_with_next(&status), status_json_with_next(&status));
        }
        AgentCommand::Checkin => {
            let agent = build_agent(global, dir, &settings, out)?;
            let outcome = agent.checkin(Default::default()).await?;
            let human = match outcome.applied {
                Some(a) => format!(
                    "Server asked to {}: applied; local state is now {}",
                    format!("{a:?}").to_lowercase(),
                    describe_with_next(&outcome.status)
                ),
                None => format!("Checked in: server state {:?}", outcome.device_state),
            };
            out.result(
                human,
                serde_json::json!({"device_state": outcome.device_state, "applied": outcome.applied, "status": status_json(&outcome.status)}),
            );
        }
        AgentCommand::Reenroll(args) => {
            let agent = build_agent(global, dir, &settings, out)?;
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
        AgentCommand::Resume(args) => {
            let mut settings = settings;
            if let Some(ca) = &args.ca {
                set_ca(&mut settings, ca)?;
            }
            let agent = build_agent(global, dir, &settings, out)?;
            if let Some(server) = &args.server {
                agent.retarget(server).await?;
                settings.server = Some(enroll_core::agent::strip_go(server));
            }
            save_settings(dir, &settings)?;
            let status = with_progress(&agent, out, agent.run()).await;
            let status = fail_with_status(status)?;
            let (status, pw) = password::offer(&agent, status, &args.new_password, out).await?;
            out.result(
                format!("Resumed: {}", describe(&status)),
                with_password(&status, &pw),
            );
        }
        AgentCommand::Cancel => {
            let agent = build_agent(global, dir, &settings, out)?;
            let status = agent.cancel().await?;
            out.result(format!("Cancelled: {}", describe(&status)), status_json(&status));
        }
        AgentCommand::Forget => {
            let agent = build_agent(global, dir, &settings, out)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_text_never_counts_below_zero() {
        assert_eq!(window_text(None, 100), "no install deadline");
        assert_eq!(window_text(Some(130), 100), "profile valid for 30 s more");
        assert_eq!(window_text(Some(100), 100), "profile expired");
        assert_eq!(window_text(Some(40), 100), "profile expired");
    }
}
