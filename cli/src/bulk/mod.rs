//! `enroll server bulk …`: bulk enrollment (CSV) and Samsung KME administration.
//!
//! Profiles are named by id or by name. CSV uploads are streamed from the file with progress on
//! stderr (bytes and rows sent); the server validates the whole file and imports all of it or
//! nothing, and the bad lines are printed.

use crate::admin::{AdminClient, ImportOutcome};
use crate::conn::{client, AdminConn};
use crate::out::Out;
use anyhow::{anyhow, bail, Context as _};
use clap::Subcommand;
use enroll_core::protocol::{self, BulkProfileKind, BulkTokenAction};
use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bulk enrollment and Samsung KME commands.
#[derive(Subcommand, Debug)]
pub enum BulkCommand {
    /// Write the CSV template (imei,serial_number,manufacturer; extra columns are attributes).
    Template {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List bulk profiles (the default Samsung KME profile first).
    List {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
    },
    /// Create a profile.
    Create {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile name.
        name: String,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
        /// A Samsung KME profile (needs the KME integration).
        #[arg(long)]
        kme: bool,
        /// Associated user (e-mail).
        #[arg(long)]
        user: Option<String>,
        /// Devices enroll without a token (by their identifiers).
        #[arg(long)]
        tokenless: bool,
        /// Token validity in days (7..=999, default 7).
        #[arg(long, conflicts_with_all = ["never", "tokenless"])]
        days: Option<u32>,
        /// The token never expires.
        #[arg(long, conflicts_with = "tokenless")]
        never: bool,
        /// Provisioning configuration (JSON file: product_keys, system_extras,
        /// custom_system_keys, attributes).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Show a profile: token, expiry, enrolled and pending devices, sync status.
    Show {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
    },
    /// Edit a profile (name, description, user, tokenless, configuration).
    Edit {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// New associated user (e-mail).
        #[arg(long, conflicts_with = "clear_user")]
        user: Option<String>,
        /// Remove the associated user.
        #[arg(long)]
        clear_user: bool,
        /// Switch tokenless enrollment on or off.
        #[arg(long)]
        tokenless: Option<bool>,
        /// New provisioning configuration (JSON file).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Delete a profile.
    Delete {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
    },
    /// Upload a CSV into a profile (streamed; all or nothing).
    Upload {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
        /// The CSV file (up to 64 MiB, 200,000 rows).
        file: PathBuf,
        /// Replace the inventory instead of adding to it.
        #[arg(long)]
        replace: bool,
    },
    /// Download a profile's inventory as CSV.
    Inventory {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List a profile's devices.
    Devices {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
        /// First device.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Devices per page.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Add one device (IMEI, or serial number and manufacturer).
    AddDevice {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
        /// IMEI (15 digits).
        #[arg(long)]
        imei: Option<String>,
        /// Serial number.
        #[arg(long)]
        serial: Option<String>,
        /// Manufacturer.
        #[arg(long)]
        manufacturer: Option<String>,
        /// Custom attribute `name=value` (repeatable).
        #[arg(long = "attr")]
        attributes: Vec<String>,
    },
    /// Delete devices of a profile.
    DeleteDevices {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
        /// Device ids.
        #[arg(required = true)]
        ids: Vec<i64>,
    },
    /// Refresh (new token, the old one stops working) or extend a profile's token.
    Token {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
        /// Keep the token, change its expiry.
        #[arg(long)]
        extend: bool,
        /// Validity from now, 7..=999 days.
        #[arg(long, conflicts_with = "never")]
        days: Option<u32>,
        /// Never expires.
        #[arg(long)]
        never: bool,
    },
    /// Write a profile's Android provisioning QR code.
    Qr {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
        /// Output file (.png or .svg).
        #[arg(long)]
        out: PathBuf,
        /// Pixels per module.
        #[arg(long, default_value_t = 8)]
        scale: u32,
    },
    /// Print a profile's provisioning JSON and Samsung KME DPC extras (they hold its token).
    Provisioning {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
    },
    /// Write the QR code of a user's invitation URL.
    InvitationQr {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// User e-mail.
        email: String,
        /// Output file (.png or .svg).
        #[arg(long)]
        out: PathBuf,
        /// Pixels per module.
        #[arg(long, default_value_t = 8)]
        scale: u32,
    },
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

fn conn_of(cmd: &BulkCommand) -> &AdminConn {
    match cmd {
        BulkCommand::Template { conn, .. }
        | BulkCommand::List { conn }
        | BulkCommand::Create { conn, .. }
        | BulkCommand::Show { conn, .. }
        | BulkCommand::Edit { conn, .. }
        | BulkCommand::Delete { conn, .. }
        | BulkCommand::Upload { conn, .. }
        | BulkCommand::Inventory { conn, .. }
        | BulkCommand::Devices { conn, .. }
        | BulkCommand::AddDevice { conn, .. }
        | BulkCommand::DeleteDevices { conn, .. }
        | BulkCommand::Token { conn, .. }
        | BulkCommand::Qr { conn, .. }
        | BulkCommand::Provisioning { conn, .. }
        | BulkCommand::InvitationQr { conn, .. }
        | BulkCommand::KmeEnable { conn, .. }
        | BulkCommand::KmeStatus { conn }
        | BulkCommand::KmeUpload { conn, .. }
        | BulkCommand::KmePending { conn, .. }
        | BulkCommand::KmeApprove { conn, .. }
        | BulkCommand::KmeMove { conn, .. }
        | BulkCommand::KmeUnassign { conn, .. } => conn,
    }
}

/// Resolves a profile given by id or (case-insensitive, unique) name.
async fn profile_id(admin: &AdminClient, given: &str) -> anyhow::Result<String> {
    let list = admin.bulk_profiles().await?;
    if let Some(p) = list.iter().find(|p| p.id == given) {
        return Ok(p.id.clone());
    }
    let named: Vec<_> = list
        .iter()
        .filter(|p| p.name.eq_ignore_ascii_case(given))
        .collect();
    match named.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => bail!("no bulk profile with id or name {given:?}"),
        _ => bail!("several profiles are named {given:?}: use the id"),
    }
}

fn read_config(path: &Option<PathBuf>) -> anyhow::Result<Option<protocol::BulkProfileConfig>> {
    match path {
        None => Ok(None),
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is not a profile configuration", p.display())
            })?))
        }
    }
}

fn write_out(out: &Option<PathBuf>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(p) => std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display())),
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(bytes)?;
            Ok(())
        }
    }
}

fn format_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => "svg",
        _ => "png",
    }
}

fn expiry(e: Option<i64>) -> String {
    e.map(|e| format!("{e} (Unix time)"))
        .unwrap_or_else(|| "never".into())
}

fn table(list: &[protocol::BulkProfileView]) -> String {
    let mut s = format!(
        "{:<38} {:<28} {:<16} {:>8} {:<12} {:<24} {}\n",
        "ID", "NAME", "TYPE", "DEVICES", "MODIFIED", "USER", "DESCRIPTION"
    );
    for p in list {
        let kind = match (p.kind, p.default_kme) {
            (_, true) => "kme (default)",
            (BulkProfileKind::SamsungKme, _) => "samsung kme",
            (BulkProfileKind::SelfMaintained, _) => "self-maintained",
        };
        s.push_str(&format!(
            "{:<38} {:<28} {:<16} {:>8} {:<12} {:<24} {}\n",
            p.id,
            p.name,
            kind,
            p.device_count,
            p.modified_at,
            p.user.as_deref().unwrap_or("-"),
            p.description
        ));
    }
    s.trim_end().to_owned()
}

fn devices_table(list: &[protocol::BulkDeviceView]) -> String {
    let mut s = format!(
        "{:>8} {:<16} {:<20} {:<14} {:<9} {:<38} {}\n",
        "ID", "IMEI", "SERIAL", "MANUFACTURER", "APPROVED", "ENROLLED AS", "ATTRIBUTES"
    );
    for d in list {
        let attrs = d
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        s.push_str(&format!(
            "{:>8} {:<16} {:<20} {:<14} {:<9} {:<38} {}\n",
            d.id,
            d.imei.as_deref().unwrap_or("-"),
            d.serial.as_deref().unwrap_or("-"),
            d.manufacturer.as_deref().unwrap_or("-"),
            d.approved,
            d.enrolled_device_id.as_deref().unwrap_or("-"),
            attrs
        ));
    }
    s.trim_end().to_owned()
}

/// Streams `path` as a request body, printing bytes and rows sent on stderr.
async fn streamed_body(
    path: &Path,
    json: bool,
) -> anyhow::Result<(enroll_core::client::Body, Arc<Progress>)> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let total = file.metadata().await?.len();
    if total > protocol::MAX_CSV_UPLOAD_BYTES {
        bail!(
            "{} is {total} bytes: the server accepts at most {} bytes (split the file)",
            path.display(),
            protocol::MAX_CSV_UPLOAD_BYTES
        );
    }
    let progress = Arc::new(Progress {
        total,
        sent: AtomicU64::new(0),
        rows: AtomicU64::new(0),
        started: Instant::now(),
        last: std::sync::Mutex::new(Instant::now()),
        json,
        tty: std::io::stderr().is_terminal(),
    });
    let p = progress.clone();
    let stream = futures_util::stream::unfold((file, p), |(mut file, p)| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                p.advance(&buf);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), (file, p)))
            }
            Err(e) => Some((Err(e), (file, p))),
        }
    });
    Ok((enroll_core::client::Body::wrap_stream(stream), progress))
}

/// Upload progress, printed at most every 250 ms.
struct Progress {
    total: u64,
    sent: AtomicU64,
    rows: AtomicU64,
    started: Instant,
    last: std::sync::Mutex<Instant>,
    json: bool,
    tty: bool,
}

impl Progress {
    fn advance(&self, chunk: &[u8]) {
        let sent = self.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
        let rows = self.rows.fetch_add(
            chunk.iter().filter(|b| **b == b'\n').count() as u64,
            Ordering::Relaxed,
        );
        let due = self
            .last
            .lock()
            .map(|mut last| {
                let due = last.elapsed() >= Duration::from_millis(250) || sent == self.total;
                if due {
                    *last = Instant::now();
                }
                due
            })
            .unwrap_or(false);
        if due {
            self.print(sent, rows);
        }
    }

    fn print(&self, sent: u64, rows: u64) {
        let pct = if self.total == 0 {
            100.0
        } else {
            sent as f64 * 100.0 / self.total as f64
        };
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({"progress": {"bytes_sent": sent, "bytes_total": self.total, "lines_sent": rows}})
            );
        } else {
            let text = format!(
                "  sent {:.1} / {:.1} MiB ({pct:.0} %), ~{rows} lines, {:.1} s",
                sent as f64 / 1_048_576.0,
                self.total as f64 / 1_048_576.0,
                self.started.elapsed().as_secs_f64()
            );
            if self.tty {
                eprint!("\r{text}   ");
            } else {
                eprintln!("{text}");
            }
        }
    }

    fn done(&self) {
        if self.tty && !self.json {
            eprintln!();
        }
        eprintln!(
            "  upload complete in {:.1} s; the server validated the file",
            self.started.elapsed().as_secs_f64()
        );
    }
}

fn report_outcome(outcome: ImportOutcome, out: &Out) -> anyhow::Result<()> {
    match outcome {
        ImportOutcome::Imported(r) => {
            out.result(format!(
                    "Validated {} rows: imported {} devices, skipped {} (blank rows or devices already synced){}",
                    r.rows,
                    r.imported,
                    r.skipped,
                    if r.attribute_columns.is_empty() {
                        String::new()
                    } else {
                        format!("; custom attributes: {}", r.attribute_columns.join(", "))
                    }
                ),
                serde_json::to_value(&r)?,
            );
            Ok(())
        }
        ImportOutcome::Rejected(rej) => {
            if out.json {
                println!("{}", serde_json::to_value(&rej)?);
            } else {
                eprintln!("{}", rej.error.message);
                for e in &rej.report.errors {
                    eprintln!("  line {}: {}", e.line, e.reason);
                }
                let listed = rej.report.errors.len() as u64;
                if rej.report.error_count > listed {
                    eprintln!("  … and {} more", rej.report.error_count - listed);
                }
            }
            Err(anyhow!(
                "the file was rejected: {} bad line(s), nothing was imported",
                rej.report.error_count
            ))
        }
    }
}

fn parse_attributes(list: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    list.iter()
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| anyhow!("--attr takes name=value"))
        })
        .collect()
}

/// Runs a bulk command, printing through `out`.
pub async fn run(cmd: &BulkCommand, out: &Out) -> anyhow::Result<()> {
    let admin = client(conn_of(cmd))?;
    match cmd {
        BulkCommand::Template { out: file, .. } => {
            let bytes = admin.bulk_template().await?;
            write_out(file, &bytes)?;
        }
        BulkCommand::List { .. } => {
            let list = admin.bulk_profiles().await?;
            out.result(table(&list), serde_json::to_value(&list)?);
        }
        BulkCommand::Create {
            name,
            description,
            kme,
            user,
            tokenless,
            days,
            never,
            config,
            ..
        } => {
            let req = protocol::CreateBulkProfileRequest {
                name: name.clone(),
                description: description.clone(),
                kind: if *kme {
                    BulkProfileKind::SamsungKme
                } else {
                    BulkProfileKind::SelfMaintained
                },
                user: user.clone(),
                tokenless: *tokenless,
                token_days: *days,
                never_expires: *never,
                config: read_config(config)?.unwrap_or_default(),
            };
            let d = admin.create_bulk_profile(&req).await?;
            out.result(describe(&d), detail_json(&d)?);
        }
        BulkCommand::Show { profile, .. } => {
            let id = profile_id(&admin, profile).await?;
            let d = admin.bulk_profile(&id).await?;
            out.result(describe(&d), detail_json(&d)?);
        }
        BulkCommand::Edit {
            profile,
            name,
            description,
            user,
            clear_user,
            tokenless,
            config,
            ..
        } => {
            let id = profile_id(&admin, profile).await?;
            let req = protocol::UpdateBulkProfileRequest {
                name: name.clone(),
                description: description.clone(),
                user: user.clone(),
                clear_user: *clear_user,
                tokenless: *tokenless,
                config: read_config(config)?,
            };
            let d = admin.update_bulk_profile(&id, &req).await?;
            out.result(describe(&d), detail_json(&d)?);
        }
        BulkCommand::Delete { profile, .. } => {
            let id = profile_id(&admin, profile).await?;
            admin.delete_bulk_profile(&id).await?;
            out.result(
                format!("Deleted bulk profile {id}"),
                serde_json::json!({"deleted": id}),
            );
        }
        BulkCommand::Upload {
            profile,
            file,
            replace,
            ..
        } => {
            let id = profile_id(&admin, profile).await?;
            let (body, progress) = streamed_body(file, out.json).await?;
            eprintln!("Uploading {} …", file.display());
            let outcome = admin.upload_bulk_csv(&id, body, *replace).await?;
            progress.done();
            report_outcome(outcome, out)?;
        }
        BulkCommand::Inventory {
            profile, out: file, ..
        } => {
            let id = profile_id(&admin, profile).await?;
            write_out(file, &admin.bulk_inventory_csv(&id).await?)?;
        }
        BulkCommand::Devices {
            profile,
            offset,
            limit,
            ..
        } => {
            let id = profile_id(&admin, profile).await?;
            let list = admin.bulk_devices(&id, *offset, *limit).await?;
            out.result(devices_table(&list), serde_json::to_value(&list)?);
        }
        BulkCommand::AddDevice {
            profile,
            imei,
            serial,
            manufacturer,
            attributes,
            ..
        } => {
            let id = profile_id(&admin, profile).await?;
            let req = protocol::AddBulkDevicesRequest {
                devices: vec![protocol::BulkDeviceInput {
                    imei: imei.clone(),
                    serial: serial.clone(),
                    manufacturer: manufacturer.clone(),
                    attributes: parse_attributes(attributes)?,
                }],
            };
            report_outcome(admin.add_bulk_devices(&id, &req).await?, out)?;
        }
        BulkCommand::DeleteDevices { profile, ids, .. } => {
            let id = profile_id(&admin, profile).await?;
            let r = admin.delete_bulk_devices(&id, ids.clone()).await?;
            out.result(
                format!("Deleted {} device(s)", r.affected),
                serde_json::to_value(r)?,
            );
        }
        BulkCommand::Token {
            profile,
            extend,
            days,
            never,
            ..
        } => {
            let id = profile_id(&admin, profile).await?;
            let req = protocol::BulkTokenRequest {
                action: if *extend {
                    BulkTokenAction::Extend
                } else {
                    BulkTokenAction::Refresh
                },
                days: *days,
                never_expires: *never,
            };
            let t = admin.bulk_token(&id, &req).await?;
            out.result(
                format!(
                    "Enrollment token: {}\nExpires: {}{}",
                    t.token.expose(),
                    expiry(t.expires_at),
                    if *extend {
                        ""
                    } else {
                        "\nThe previous token no longer works."
                    }
                ),
                serde_json::json!({"token": t.token.expose(), "expires_at": t.expires_at}),
            );
        }
        BulkCommand::Qr {
            profile,
            out: file,
            scale,
            ..
        } => {
            let id = profile_id(&admin, profile).await?;
            let bytes = admin.bulk_qr(&id, format_of(file), *scale).await?;
            std::fs::write(file, &bytes).with_context(|| format!("writing {}", file.display()))?;
            out.result(
                format!(
                    "Wrote the provisioning QR code of profile {id} to {} (it holds the profile's token)",
                    file.display()
                ),
                serde_json::json!({"profile": id, "file": file, "bytes": bytes.len()}),
            );
        }
        BulkCommand::Provisioning { profile, .. } => {
            let id = profile_id(&admin, profile).await?;
            let p = admin.bulk_provisioning(&id).await?;
            let value = serde_json::to_value(&p)?;
            out.result(serde_json::to_string_pretty(&value)?, value);
        }
        BulkCommand::InvitationQr {
            email,
            out: file,
            scale,
            ..
        } => {
            let bytes = admin.invitation_qr(email, format_of(file), *scale).await?;
            std::fs::write(file, &bytes).with_context(|| format!("writing {}", file.display()))?;
            out.result(
                format!("Wrote the invitation QR code of {email} to {}", file.display()),
                serde_json::json!({"user": email, "file": file, "bytes": bytes.len()}),
            );
        }
        BulkCommand::KmeEnable {
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
        BulkCommand::KmeStatus { .. } => {
            let v = admin.kme_integration().await?;
            out.result(
                format!(
                    "enabled: {}\nname: {}\ndefault profile: {}\nwaiting for approval: {}\nlast sync: {}",
                    v.enabled,
                    v.name,
                    v.default_profile_id.as_deref().unwrap_or("-"),
                    v.pending_approval,
                    v.last_sync_at
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "never".into())
                ),
                serde_json::to_value(&v)?,
            );
        }
        BulkCommand::KmeUpload { file, .. } => {
            let (body, progress) = streamed_body(file, out.json).await?;
            eprintln!("Uploading {} to the Samsung KME uploads …", file.display());
            let outcome = admin.upload_kme_csv(body).await?;
            progress.done();
            report_outcome(outcome, out)?;
        }
        BulkCommand::KmePending { out: file, .. } => match file {
            Some(_) => write_out(file, &admin.kme_uploads_csv().await?)?,
            None => {
                let list = admin.kme_uploads(0, 10_000).await?;
                out.result(devices_table(&list), serde_json::to_value(&list)?);
            }
        },
        BulkCommand::KmeApprove { all, ids, .. } => {
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
        BulkCommand::KmeMove { profile, to, ids, .. } => {
            let from = profile_id(&admin, profile).await?;
            let to = profile_id(&admin, to).await?;
            let r = admin.move_bulk_devices(&from, ids.clone(), &to).await?;
            out.result(
                format!("Moved {} device(s)", r.affected),
                serde_json::to_value(r)?,
            );
        }
        BulkCommand::KmeUnassign { profile, ids, .. } => {
            let id = profile_id(&admin, profile).await?;
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

fn detail_json(d: &protocol::BulkProfileDetail) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(d)?)
}

fn describe(d: &protocol::BulkProfileDetail) -> String {
    let p = &d.profile;
    let mut s = format!(
        "Profile {} ({})\n  type: {}{}\n  description: {}\n  user: {}\n  devices: {} ({} enrolled, {} pending)\n  modified: {}",
        p.name,
        p.id,
        match p.kind {
            BulkProfileKind::SelfMaintained => "self-maintained",
            BulkProfileKind::SamsungKme => "Samsung KME",
        },
        if p.default_kme { " (default: devices not assigned to a profile)" } else { "" },
        p.description,
        p.user.as_deref().unwrap_or("-"),
        p.device_count,
        d.enrolled_devices,
        d.pending_devices,
        p.modified_at
    );
    match &d.token {
        Some(t) => s.push_str(&format!(
            "\n  enrollment token: {}\n  token expires: {}",
            t.expose(),
            expiry(d.token_expires_at)
        )),
        None if p.tokenless => {
            s.push_str("\n  enrollment: without token (by IMEI, or serial number + manufacturer)")
        }
        None => {}
    }
    if let Some(sync) = &d.sync_status {
        s.push_str(&format!("\n  sync status: {sync}"));
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use clap::Parser;
    use enroll_core::tls::TrustConfig;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: BulkCommand,
    }

    struct Env {
        _dir: tempfile::TempDir,
        url: String,
        data: PathBuf,
        admin: AdminClient,
        work: PathBuf,
        server: enroll_server::RunningServer,
    }

    impl Env {
        async fn run(&self, args: &[&str]) -> anyhow::Result<()> {
            let mut argv = vec!["bulk".to_owned(), args[0].to_owned()];
            argv.extend(["--server".into(), self.url.clone()]);
            argv.extend(["--data-dir".into(), self.data.display().to_string()]);
            argv.extend(args[1..].iter().map(|s| s.to_string()));
            let cli = Cli::try_parse_from(argv)?;
            run(&cli.cmd, &Out { json: true }).await
        }

        fn file(&self, name: &str, text: &str) -> String {
            let p = self.work.join(name);
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        }
    }

    async fn env() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        let mut config = enroll_server::ServerConfig::new(&data);
        config.bind = "127.0.0.1:0".parse().unwrap();
        let server = enroll_server::start(config).await.unwrap();
        let url = server.base_url();
        let admin = AdminClient::new(
            &url,
            TrustConfig::with_ca(server.ca_cert_pem().as_bytes()).unwrap(),
            server.admin_token().clone(),
            false,
        )
        .unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        Env {
            _dir: dir,
            url,
            data,
            admin,
            work,
            server,
        }
    }

    fn imei(n: u64) -> String {
        let body = format!("35{n:012}");
        let mut sum = 0;
        for (i, c) in body.bytes().rev().enumerate() {
            let mut x = u32::from(c - b'0');
            if i % 2 == 0 {
                x *= 2;
                if x > 9 {
                    x -= 9;
                }
            }
            sum += x;
        }
        format!("{body}{}", (10 - sum % 10) % 10)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn upload_list_token_qr_and_kme_commands() {
        let e = env().await;
        e.run(&["create", "Warehouse", "--days", "30", "--description", "scanners"])
            .await
            .unwrap();
        e.run(&["list"]).await.unwrap();
        let id = profile_id(&e.admin, "warehouse").await.unwrap();
        let before = e.admin.bulk_profile(&id).await.unwrap().token.unwrap();

        // A streamed upload of 5,000 rows.
        let mut csv = String::from("imei,serial_number,manufacturer,department\n");
        for n in 0..5000 {
            csv.push_str(&format!("{},,,dept-{}\n", imei(n), n % 7));
        }
        let path = e.file("devices.csv", &csv);
        e.run(&["upload", "Warehouse", &path]).await.unwrap();
        assert_eq!(
            e.admin.bulk_profile(&id).await.unwrap().profile.device_count,
            5000
        );
        // A bad file is rejected whole.
        let bad = e.file("bad.csv", &format!("imei\n{}\n12345\n", imei(9999)));
        let err = e.run(&["upload", &id, &bad]).await.unwrap_err();
        assert!(err.to_string().contains("nothing was imported"), "{err}");
        assert_eq!(
            e.admin.bulk_profile(&id).await.unwrap().profile.device_count,
            5000
        );
        // Inventory, template, QR codes.
        let inv = e.work.join("inv.csv").display().to_string();
        e.run(&["inventory", "Warehouse", "--out", &inv]).await.unwrap();
        assert_eq!(std::fs::read_to_string(&inv).unwrap().lines().count(), 5001);
        let tpl = e.work.join("t.csv").display().to_string();
        e.run(&["template", "--out", &tpl]).await.unwrap();
        assert!(std::fs::read_to_string(&tpl).unwrap().starts_with("imei,"));
        let png = e.work.join("qr.png").display().to_string();
        e.run(&["qr", "Warehouse", "--out", &png]).await.unwrap();
        assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
        let svg = e.work.join("qr.svg").display().to_string();
        e.run(&["qr", "Warehouse", "--out", &svg, "--scale", "4"])
            .await
            .unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
        e.run(&["provisioning", "Warehouse"]).await.unwrap();
        // Tokens: refresh, extend, out of range.
        e.run(&["token", "Warehouse"]).await.unwrap();
        let after = e.admin.bulk_profile(&id).await.unwrap().token.unwrap();
        assert_ne!(before.expose(), after.expose());
        e.run(&["token", "Warehouse", "--extend", "--days", "999"])
            .await
            .unwrap();
        e.run(&["token", "Warehouse", "--extend", "--never"])
            .await
            .unwrap();
        assert!(e
            .run(&["token", "Warehouse", "--extend", "--days", "5"])
            .await
            .is_err());
        assert_eq!(
            e.admin.bulk_profile(&id).await.unwrap().token.unwrap().expose(),
            after.expose(),
            "extend keeps the token"
        );
        // Devices one by one.
        e.run(&[
            "add-device",
            "Warehouse",
            "--serial",
            "SN1",
            "--manufacturer",
            "Zebra",
            "--attr",
            "dept=x",
        ])
        .await
        .unwrap();
        assert!(e
            .run(&["add-device", "Warehouse", "--serial", "SN2"])
            .await
            .is_err());
        e.run(&["devices", "Warehouse", "--limit", "3"]).await.unwrap();
        let first = e.admin.bulk_devices(&id, 0, 1).await.unwrap()[0].id.to_string();
        e.run(&["delete-devices", "Warehouse", &first]).await.unwrap();
        e.run(&["edit", "Warehouse", "--name", "Depot", "--tokenless", "true"])
            .await
            .unwrap();
        assert!(e.admin.bulk_profile(&id).await.unwrap().token.is_none());

        // Samsung KME.
        e.run(&["kme-enable", "--name", "Knox"]).await.unwrap();
        let kme = e.file(
            "kme.csv",
            &format!("imei,asset\n{},A1\n{},A2\n", imei(70_000), imei(70_001)),
        );
        e.run(&["kme-upload", &kme]).await.unwrap();
        e.run(&["kme-pending"]).await.unwrap();
        let pending = e.work.join("pending.csv").display().to_string();
        e.run(&["kme-pending", "--out", &pending]).await.unwrap();
        assert_eq!(std::fs::read_to_string(&pending).unwrap().lines().count(), 3);
        assert!(e.run(&["kme-approve"]).await.is_err());
        e.run(&["kme-approve", "--all"]).await.unwrap();
        e.run(&["create", "Field", "--kme", "--tokenless"]).await.unwrap();
        let default_id = e
            .admin
            .kme_integration()
            .await
            .unwrap()
            .default_profile_id
            .unwrap();
        let ids: Vec<String> = e
            .admin
            .bulk_devices(&default_id, 0, 10)
            .await
            .unwrap()
            .iter()
            .map(|d| d.id.to_string())
            .collect();
        let mut args = vec!["kme-move", default_id.as_str(), "--to", "Field"];
        args.extend(ids.iter().map(String::as_str));
        e.run(&args).await.unwrap();
        let field = profile_id(&e.admin, "Field").await.unwrap();
        assert_eq!(
            e.admin.bulk_profile(&field).await.unwrap().profile.device_count,
            2
        );
        e.run(&["kme-unassign", "Field", &ids[0]]).await.unwrap();
        assert_eq!(
            e.admin.bulk_profile(&field).await.unwrap().profile.device_count,
            1
        );
        e.run(&["kme-status"]).await.unwrap();
        e.run(&["show", "Field"]).await.unwrap();
        e.run(&["delete", "Depot"]).await.unwrap();
        assert!(e.run(&["show", "Depot"]).await.is_err());
        e.server.shutdown().await;
    }
}
