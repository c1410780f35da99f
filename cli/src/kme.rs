//! `enroll server bulk kme-*`: the Samsung KME (Knox Mobile Enrollment) integration: turning it
//! on, the reseller's device uploads waiting for approval, and moving KME devices between
//! profiles. The commands are listed with the other `enroll server bulk` commands.

use crate::admin::AdminClient;
use crate::bulk::print::devices_table;
use crate::bulk::upload::{report_outcome, streamed_body};
use crate::bulk::{profile_id, write_out};
use crate::conn::AdminConn;
use crate::out::Out;
use anyhow::bail;
use clap::Subcommand;
use enroll_proto as protocol;
use std::path::PathBuf;

/// The Samsung KME commands (flattened into [`crate::bulk::BulkCommand`]).
#[derive(Subcommand, Debug)]
pub enum KmeCommand {
    /// Turn the Samsung KME integration on (creates the default KME profile).
    KmeEnable {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Integration name.
        #[arg(long)]
        name: String,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Samsung KME integration state.
    KmeStatus {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
    },
    /// Upload the reseller's device list (the Knox sync seam; streamed).
    KmeUpload {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// The CSV file.
        file: PathBuf,
    },
    /// List the KME uploads waiting for approval (or write them as CSV with --out).
    KmePending {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Write the unapproved devices as CSV to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Approve KME uploads: --all, or the given ids. Approved devices land in the default
    /// KME profile (unassigned: move them to a KME profile to let them enroll).
    KmeApprove {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Approve every upload.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Upload ids.
        ids: Vec<i64>,
    },
    /// Move KME devices from a KME profile (e.g. the default one) to another KME profile.
    KmeMove {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Source profile id or name.
        profile: String,
        /// Destination profile id or name.
        #[arg(long)]
        to: String,
        /// Device ids.
        #[arg(required = true)]
        ids: Vec<i64>,
    },
    /// Unassign KME devices: back to the default KME profile.
    KmeUnassign {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
        /// Device ids.
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

impl KmeCommand {
    /// How the command reaches the server.
    pub(crate) fn conn(&self) -> &AdminConn {
        match self {
            KmeCommand::KmeEnable { conn, .. }
            | KmeCommand::KmeStatus { conn }
            | KmeCommand::KmeUpload { conn, .. }
            | KmeCommand::KmePending { conn, .. }
            | KmeCommand::KmeApprove { conn, .. }
            | KmeCommand::KmeMove { conn, .. }
            | KmeCommand::KmeUnassign { conn, .. } => conn,
        }
    }
}

/// Runs a KME command with `admin`, printing through `out`.
pub(crate) async fn run(cmd: &KmeCommand, admin: &AdminClient, out: &Out) -> anyhow::Result<()> {
    match cmd {
        KmeCommand::KmeEnable {
            name, description, ..
        } => {
            let v = admin
                .enable_kme(&protocol::KmeIntegrationRequest {
                    name: name.clone(),
                    description: description.clone(),
                })
                .await?;
            out.result(
                format!(
                    "Samsung KME integration on; default profile {}",
                    v.default_profile_id.as_deref().unwrap_or("-")
                ),
                serde_json::to_value(&v)?,
            );
        }
        KmeCommand::KmeStatus { .. } => {
            let v = admin.kme_integration().await?;
            out.result(
                format!(
                    "enabled: {}\nname: {}\ndefault profile: {}\nwaiting for approval: {}\nlast sync: {}",
                    v.enabled,
                    v.name,
                    v.default_profile_id.as_deref().unwrap_or("-"),
                    v.pending_approval,
                    crate::out::date_or_never(v.last_sync_at)
                ),
                serde_json::to_value(&v)?,
            );
        }
        KmeCommand::KmeUpload { file, .. } => {
            let (body, progress) = streamed_body(file, out.json).await?;
            eprintln!("Uploading {} to the Samsung KME uploads …", file.display());
            let outcome = crate::bulk::upload::interruptible(
                admin.upload_kme_csv(body),
                &progress,
                "`enroll server bulk kme-pending`",
            )
            .await?;
            progress.done();
            report_outcome(outcome, out)?;
        }
        KmeCommand::KmePending { out: file, .. } => match file {
            Some(_) => write_out(file, &admin.kme_uploads_csv().await?)?,
            None => {
                let list = admin.kme_uploads(0, 10_000).await?;
                out.result(devices_table(&list), serde_json::to_value(&list)?);
            }
        },
        KmeCommand::KmeApprove { all, ids, .. } => {
            if !*all && ids.is_empty() {
                bail!("give --all or upload ids");
            }
            let r = admin
                .kme_approve(&protocol::KmeApproveRequest {
                    all: *all,
                    device_ids: ids.clone(),
                })
                .await?;
            out.result(
                format!(
                    "Approved {} device(s); they are in the default KME profile until moved to a KME profile",
                    r.affected
                ),
                serde_json::to_value(r)?,
            );
        }
        KmeCommand::KmeMove { profile, to, ids, .. } => {
            let from = profile_id(admin, profile).await?;
            let to = profile_id(admin, to).await?;
            let r = admin.move_bulk_devices(&from, ids.clone(), &to).await?;
            out.result(
                format!("Moved {} device(s)", r.affected),
                serde_json::to_value(r)?,
            );
        }
        KmeCommand::KmeUnassign { profile, ids, .. } => {
            let id = profile_id(admin, profile).await?;
            let r = admin.unassign_bulk_devices(&id, ids.clone()).await?;
            out.result(
                format!(
                    "Unassigned {} device(s): back in the default KME profile",
                    r.affected
                ),
                serde_json::to_value(r)?,
            );
        }
    }
    Ok(())
}
