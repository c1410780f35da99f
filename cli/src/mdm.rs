//! `enroll server mdm …`: Apple MDM commands of the reference server — queue a command for a
//! device, list its commands and their results, show its MDM enrollment and the
//! `DeviceInformation` it reported.

use crate::conn::{client, AdminConn};
use crate::out::Out;
use anyhow::Context as _;
use base64::Engine as _;
use clap::{Subcommand, ValueEnum};
use enroll_proto::secret::SecretString;
use enroll_proto::{self as protocol, MdmRequestType, QueueCommandRequest};
use std::io::Read as _;
use std::path::PathBuf;

/// The command types (`RequestType`).
#[derive(ValueEnum, Clone, Copy, Debug)]
#[value(rename_all = "PascalCase")]
pub enum RequestType {
    /// `DeviceInformation` (`--query` to choose the keys).
    DeviceInformation,
    /// `ProfileList` (`--managed-only`).
    ProfileList,
    /// `InstallProfile` (`--profile FILE`).
    InstallProfile,
    /// `RemoveProfile` (`--identifier`).
    RemoveProfile,
    /// `SecurityInfo`.
    SecurityInfo,
    /// `DeviceLock` (`--message`, `--phone`, `--pin-stdin` on macOS).
    DeviceLock,
    /// `EraseDevice` (`--pin-stdin` on macOS).
    EraseDevice,
}

impl From<RequestType> for MdmRequestType {
    fn from(t: RequestType) -> Self {
        match t {
            RequestType::DeviceInformation => Self::DeviceInformation,
            RequestType::ProfileList => Self::ProfileList,
            RequestType::InstallProfile => Self::InstallProfile,
            RequestType::RemoveProfile => Self::RemoveProfile,
            RequestType::SecurityInfo => Self::SecurityInfo,
            RequestType::DeviceLock => Self::DeviceLock,
            RequestType::EraseDevice => Self::EraseDevice,
        }
    }
}

/// `enroll server mdm …`.
#[derive(Subcommand, Debug)]
pub enum MdmCommand {
    /// Queue an MDM command for an Apple device (it runs when the device next checks in).
    Queue {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
        /// Which command.
        request_type: RequestType,
        /// DeviceInformation: a key to ask (repeatable; default the enrollment set).
        #[arg(long = "query")]
        queries: Vec<String>,
        /// ProfileList: managed profiles only.
        #[arg(long)]
        managed_only: bool,
        /// InstallProfile: the .mobileconfig to install.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// RemoveProfile: the profile's PayloadIdentifier.
        #[arg(long)]
        identifier: Option<String>,
        /// DeviceLock: the message on the lock screen.
        #[arg(long)]
        message: Option<String>,
        /// DeviceLock: the phone number on the lock screen.
        #[arg(long)]
        phone: Option<String>,
        /// DeviceLock / EraseDevice on macOS: read the six-digit PIN from stdin.
        #[arg(long)]
        pin_stdin: bool,
    },
    /// List a device's MDM commands and their results.
    Commands {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
    },
    /// Show a device's MDM enrollment and the DeviceInformation it reported.
    Info {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Device id.
        id: String,
    },
}

fn command_line(c: &protocol::MdmCommandView) -> String {
    let mut line = format!(
        "{}  {:<18} {:<20} {}",
        c.command_uuid,
        c.request_type,
        c.status.as_str(),
        c.origin
    );
    if let Some(e) = c.error_chain.first() {
        line.push_str(&format!("  ({} {}: {})", e.domain, e.code, e.description));
    }
    line
}

/// Runs an `enroll server mdm` command.
pub async fn run(cmd: &MdmCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        MdmCommand::Queue {
            conn,
            id,
            request_type,
            queries,
            managed_only,
            profile,
            identifier,
            message,
            phone,
            pin_stdin,
        } => {
            let mut req = QueueCommandRequest::new((*request_type).into());
            req.queries = queries.clone();
            req.managed_only = *managed_only;
            req.identifier = identifier.clone();
            req.message = message.clone();
            req.phone_number = phone.clone();
            if let Some(path) = profile {
                let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                req.payload = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
            }
            if *pin_stdin {
                let mut pin = String::new();
                std::io::stdin()
                    .take(64)
                    .read_to_string(&mut pin)
                    .context("reading the PIN from stdin")?;
                req.pin = Some(SecretString::new(pin.trim()));
            }
            let view = client(conn)?.queue_command(id, &req).await?;
            out.result(
                format!(
                    "{} {} queued for device {id}; it runs at the device's next check-in\n(see it with: enroll server mdm commands {id})",
                    view.request_type, view.command_uuid
                ),
                serde_json::to_value(&view)?,
            );
        }
        MdmCommand::Commands { conn, id } => {
            let list = client(conn)?.commands(id).await?;
            let human = if list.is_empty() {
                format!("no MDM command for device {id}")
            } else {
                list.iter().map(command_line).collect::<Vec<_>>().join("\n")
            };
            out.result(human, serde_json::to_value(&list)?);
        }
        MdmCommand::Info { conn, id } => {
            let v = client(conn)?.mdm(id).await?;
            let mut human = format!(
                "device {}  UDID {}\ntopic {}\nauthenticated {}  token update {}  checked out {}  removed {}",
                v.device_id,
                v.udid,
                v.topic,
                v.authenticated_at,
                v.token_updated_at.map_or("-".into(), |t| t.to_string()),
                v.checked_out_at.map_or("-".into(), |t| t.to_string()),
                v.removed_at.map_or("-".into(), |t| t.to_string()),
            );
            if v.device_information.is_empty() {
                human.push_str("\nno DeviceInformation yet");
            } else {
                human.push_str("\nDeviceInformation:");
                for (k, val) in &v.device_information {
                    human.push_str(&format!("\n  {k}: {val}"));
                }
            }
            out.result(human, serde_json::to_value(&v)?);
        }
    }
    Ok(())
}
