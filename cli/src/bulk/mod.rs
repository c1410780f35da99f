//! `enroll server bulk …`: bulk enrollment: profiles, CSV uploads, inventory, devices, tokens and
//! QR codes. The Samsung KME commands (`kme-*`) are listed among them but live in [`crate::kme`].
//!
//! Profiles are named by id or by name. CSV uploads are streamed from the file with progress on
//! stderr (bytes and rows sent, `upload.rs`); the server validates the whole file and imports all
//! of it or nothing, and the bad lines are printed. Tables and a profile's detail are in
//! `print.rs`; the tests of every bulk and KME command in `tests.rs`.

pub(crate) mod print;
pub mod provisioning;
#[cfg(test)]
mod tests;
pub(crate) mod upload;

use crate::admin::AdminClient;
use crate::conn::{client, AdminConn};
use crate::kme::{self, KmeCommand};
use crate::out::Out;
use anyhow::{anyhow, bail, Context as _};
use clap::Subcommand;
use enroll_proto::{self as protocol, BulkProfileKind, BulkTokenAction};
use print::{describe, detail_json, devices_table, expiry, table};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use upload::{report_outcome, streamed_body};

/// Bulk enrollment commands, with the Samsung KME commands flattened in.
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
        /// The field separator: auto (from the header line), comma, semicolon or tab.
        #[arg(long, value_parser = ["auto", "comma", "semicolon", "tab", ",", ";"], default_value = "auto")]
        delimiter: String,
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
        /// The public URL and DPC to put in the code (default: the server's).
        #[command(flatten)]
        provisioning: provisioning::ProvisioningArgs,
    },
    /// Print a profile's provisioning JSON and Samsung KME DPC extras (they hold its token).
    Provisioning {
        /// How to reach the server.
        #[command(flatten)]
        conn: AdminConn,
        /// Profile id or name.
        profile: String,
        /// The public URL and DPC to put in the payload (default: the server's).
        #[command(flatten)]
        provisioning: provisioning::ProvisioningArgs,
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
    /// The Samsung KME commands (`kme-*`).
    #[command(flatten)]
    Kme(KmeCommand),
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
        | BulkCommand::InvitationQr { conn, .. } => conn,
        BulkCommand::Kme(cmd) => cmd.conn(),
    }
}

/// Resolves a profile given by id or (case-insensitive, unique) name.
pub(crate) async fn profile_id(admin: &AdminClient, given: &str) -> anyhow::Result<String> {
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

/// Writes `bytes` to the `--out` file, or to stdout without one.
pub(crate) fn write_out(out: &Option<PathBuf>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(p) => std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display())),
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(bytes)?;
            Ok(())
        }
    }
}

/// The profile's payloads as the server makes them, rewritten with `settings`, checked with the
/// device's parser; warnings (loopback URL, placeholder checksum) are printed on stderr.
async fn payloads(
    admin: &AdminClient,
    id: &str,
    settings: &provisioning::Provisioning,
    out: &Out,
) -> anyhow::Result<(serde_json::Value, serde_json::Value, Vec<String>)> {
    let p = admin.bulk_provisioning(id).await?;
    let (mut android, mut kme) = (p.android, p.kme_dpc_extras);
    settings.apply(&mut android, &mut kme);
    provisioning::check(&android)?;
    let warnings = provisioning::warnings(&android);
    for w in &warnings {
        out.step(format!("warning: {w}"));
    }
    Ok((android, kme, warnings))
}

fn format_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => "svg",
        _ => "png",
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
            delimiter,
            ..
        } => {
            let id = profile_id(&admin, profile).await?;
            let (body, progress) = streamed_body(file, out.json).await?;
            eprintln!("Uploading {} …", file.display());
            let check = format!("`enroll server bulk show {id}` (the device count)");
            let outcome = upload::interruptible(
                admin.upload_bulk_csv(&id, body, *replace, delimiter),
                &progress,
                &check,
            )
            .await?;
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
            provisioning: settings,
            ..
        } => {
            let settings = settings.resolve()?;
            let id = profile_id(&admin, profile).await?;
            let (android, _, warnings) = payloads(&admin, &id, &settings, out).await?;
            let format = match format_of(file) {
                "svg" => enroll_server::qr::ImageFormat::Svg,
                _ => enroll_server::qr::ImageFormat::Png,
            };
            let bytes = enroll_server::qr::render(&android.to_string(), format, *scale)?;
            std::fs::write(file, &bytes).with_context(|| format!("writing {}", file.display()))?;
            out.result(
                format!(
                    "Wrote the provisioning QR code of profile {id} to {} (it holds the profile's token)",
                    file.display()
                ),
                serde_json::json!({"profile": id, "file": file, "bytes": bytes.len(), "warnings": warnings}),
            );
        }
        BulkCommand::Provisioning {
            profile,
            provisioning: settings,
            ..
        } => {
            let settings = settings.resolve()?;
            let id = profile_id(&admin, profile).await?;
            let (android, kme, warnings) = payloads(&admin, &id, &settings, out).await?;
            let value = serde_json::json!({"android": android, "kme_dpc_extras": kme});
            let human = serde_json::to_string_pretty(&value)?;
            let mut doc = value;
            doc["warnings"] = serde_json::json!(warnings);
            out.result(human, doc);
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
        BulkCommand::Kme(cmd) => kme::run(cmd, &admin, out).await?,
    }
    Ok(())
}
