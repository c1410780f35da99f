//! OMA-DM management sessions (MS-MDM over SyncML 1.2) at `/ManagementServer/MDM.svc`.
//!
//! The device is known by the client certificate of its TLS connection (issued at enrollment,
//! checked by serial and bytes); the SyncML `Source` must be its device id. A session starts
//! with Alert 1201 (or 1200) in message 1 and lasts at most [`MAX_SESSION_MESSAGES`] messages
//! and [`MAX_SESSION_SECS`] seconds. Every device command gets a Status; the server's reply
//! carries the queued commands. The first session's DevInfo fills the record (manufacturer,
//! model, device id) and a `Get ./DevDetail/SwV` the OS version; the device becomes active.
//! Retire and wipe become `Exec ./Device/Vendor/MSFT/DMClient/Provider/<id>/Unenroll` and
//! `Exec ./Device/Vendor/MSFT/RemoteWipe/doWipe`, done when the device answers 200.
//! A `./User/…` command is never sent to a bulk-enrolled device (seed 001): it is refused when
//! queued and, as a last guard, dropped here.

use super::queries;
use super::{WindowsService, MANAGEMENT_PATH, MAX_SESSION_MESSAGES, MAX_SESSION_SECS, PROVIDER_ID};
use crate::devices;
use crate::error::ApiError;
use axum::http::StatusCode;
use enroll_proto::{DeviceAction, DeviceState, ErrorCode, MdmStatus};
use enroll_wmdm::syncml::{self, Command, Item, Kind, Message, SyncHdr};
use rusqlite::TransactionBehavior;

/// Most server commands sent in one message.
const MAX_COMMANDS_PER_MESSAGE: i64 = 20;

/// The CSP URI that unenrolls the device (retire).
pub fn unenroll_uri() -> String {
    format!("./Device/Vendor/MSFT/DMClient/Provider/{PROVIDER_ID}/Unenroll")
}
/// The CSP URI that wipes the device.
pub const WIPE_URI: &str = "./Device/Vendor/MSFT/RemoteWipe/doWipe";
/// The OS version node.
pub const SWV_URI: &str = "./DevDetail/SwV";

/// Whether a URI is user-scoped (never sent to a bulk-enrolled device).
pub fn is_user_scoped(uri: &str) -> bool {
    let u = uri.trim_start();
    u.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("./User/")) || u.eq_ignore_ascii_case("./User")
}

fn refuse(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, msg).with_status(status)
}

impl WindowsService<'_> {
    /// One OMA-DM message from a device; the reply message.
    pub(crate) fn manage(&self, cert: Option<&[u8]>, body: &[u8]) -> Result<String, ApiError> {
        let cert = cert.ok_or_else(|| {
            refuse(
                StatusCode::UNAUTHORIZED,
                "OMA-DM needs the client certificate issued at enrollment (mutual TLS)",
            )
        })?;
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("the SyncML message is not UTF-8"))?;
        let msg = Message::parse(text)
            .map_err(|e| ApiError::bad_request(format!("not a SyncML 1.2 message: {e}")))?;
        let serial = crate::pki::serial_hex(cert)
            .map_err(|_| refuse(StatusCode::FORBIDDEN, "unreadable client certificate"))?;
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let not_ours = || {
            refuse(
                StatusCode::FORBIDDEN,
                "this certificate was not issued to an enrolled Windows device",
            )
        };
        let w = queries::windows_device_by_serial(&tx, &serial)?.ok_or_else(not_ours)?;
        if w.cert_der != cert {
            return Err(not_ours());
        }
        if msg.hdr.source != w.hw_dev_id {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "the SyncML Source is not the device this certificate belongs to",
            ));
        }
        let mut d = devices::device_by_id(&tx, &w.device_id)?.ok_or_else(not_ours)?;
        let open = matches!(d.state, DeviceState::Pending | DeviceState::Active)
            || (matches!(d.state, DeviceState::Retired | DeviceState::Wiped) && d.pending_action.is_some());
        if !open {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "this device is no longer enrolled: enroll it again",
            ));
        }
        let sid = msg.hdr.session_id.clone();
        match queries::session(&tx, &d.id, &sid)? {
            None => {
                let starts = msg.hdr.msg_id == 1
                    && msg.commands.iter().any(|c| {
                        c.kind == Kind::Alert
                            && matches!(
                                c.data.as_deref(),
                                Some(syncml::ALERT_CLIENT_INITIATED | syncml::ALERT_SERVER_INITIATED)
                            )
                    });
                if !starts {
                    return Err(ApiError::bad_request(
                        "a session starts with message 1 and Alert 1201 or 1200",
                    ));
                }
            }
            Some((_, _, Some(_))) => {
                return Err(
                    ApiError::bad_request("this OMA-DM session has ended: start a new one")
                        .with_status(StatusCode::CONFLICT),
                );
            }
            Some((n, started, None)) => {
                if n >= MAX_SESSION_MESSAGES || now - started > MAX_SESSION_SECS {
                    queries::end_session(&tx, &d.id, &sid, now)?;
                    tx.commit()?;
                    return Err(ApiError::bad_request(format!(
                        "this OMA-DM session reached its limit ({MAX_SESSION_MESSAGES} messages, {MAX_SESSION_SECS} s) and is closed: the device starts a new session at its next check-in"
                    ))
                    .with_status(StatusCode::CONFLICT));
                }
            }
        }
        queries::session_message(&tx, &d.id, &sid, now)?;
        let bulk = w.bulk_owner.is_some();
        let mut out = vec![Command::status(1, msg.hdr.msg_id, 0, "SyncHdr", 200)];
        let mut next_id = 2u32;
        let mut devinfo = false;
        let mut history: Vec<(&'static str, String)> = Vec::new();
        for c in &msg.commands {
            match c.kind {
                Kind::Status => {
                    let (Some(mref), Some(cref)) = (c.msg_ref, c.cmd_ref) else {
                        continue;
                    };
                    if cref == 0 {
                        continue;
                    }
                    if let Some(sent) = queries::sent_command(&tx, &d.id, &sid, mref, cref)? {
                        queries::set_command_outcome(&tx, sent.id, c.data.as_deref(), None)?;
                        let ok = c.data.as_deref().is_some_and(|s| s.starts_with('2'));
                        let action = if sent.uri == unenroll_uri() {
                            Some(DeviceAction::Retire)
                        } else if sent.uri == WIPE_URI {
                            Some(DeviceAction::Wipe)
                        } else {
                            None
                        };
                        if let (true, Some(a)) = (ok, action) {
                            if d.pending_action == Some(a) {
                                d.pending_action = None;
                                d.last_action = Some(a);
                                history.push((
                                    "action_done",
                                    format!("{} done by the device ({})", devices::action_str(a), sent.uri),
                                ));
                            }
                        }
                    }
                }
                Kind::Results => {
                    for item in &c.items {
                        let (Some(uri), Some(value)) = (item.source.as_deref(), item.data.as_deref()) else {
                            continue;
                        };
                        if let (Some(mref), Some(cref)) = (c.msg_ref, c.cmd_ref) {
                            if let Some(sent) = queries::sent_command(&tx, &d.id, &sid, mref, cref)? {
                                queries::set_command_outcome(&tx, sent.id, None, Some(value))?;
                            }
                        }
                        apply_node(&mut d, uri, value);
                    }
                    out.push(Command::status(next_id, msg.hdr.msg_id, c.cmd_id, "Results", 200));
                    next_id += 1;
                }
                Kind::Alert | Kind::Replace | Kind::Add => {
                    for item in &c.items {
                        if let (Some(uri), Some(value)) = (item.source.as_deref(), item.data.as_deref()) {
                            if uri.starts_with("./DevInfo/") {
                                devinfo = true;
                            }
                            apply_node(&mut d, uri, value);
                        }
                    }
                    out.push(Command::status(
                        next_id,
                        msg.hdr.msg_id,
                        c.cmd_id,
                        c.kind.as_str(),
                        200,
                    ));
                    next_id += 1;
                }
                // A device does not manage the server.
                Kind::Get | Kind::Delete | Kind::Exec => {
                    out.push(Command::status(
                        next_id,
                        msg.hdr.msg_id,
                        c.cmd_id,
                        c.kind.as_str(),
                        405,
                    ));
                    next_id += 1;
                }
            }
        }
        if d.state == DeviceState::Pending && devinfo {
            d.state = DeviceState::Active;
            d.mdm = MdmStatus::Enabled;
            d.enrolled_at = Some(now);
            history.push((
                "enrolled",
                "Windows: first OMA-DM session (DevInfo received)".into(),
            ));
            if !queries::commands_of(&tx, &d.id)?.iter().any(|c| c.uri == SWV_URI) {
                queries::queue_command(&tx, &d.id, "Get", SWV_URI, None, now)?;
            }
        }
        match d.pending_action {
            Some(DeviceAction::Retire) => queue_once(&tx, &d.id, &unenroll_uri(), Some(PROVIDER_ID), now)?,
            Some(DeviceAction::Wipe) => queue_once(&tx, &d.id, WIPE_URI, None, now)?,
            _ => {}
        }
        for cmd in queries::unsent_commands(&tx, &d.id, MAX_COMMANDS_PER_MESSAGE)? {
            if bulk && is_user_scoped(&cmd.uri) {
                tracing::warn!(device_id = %d.id, "a ./User command for a bulk-enrolled device was dropped");
                queries::set_command_outcome(
                    &tx,
                    cmd.id,
                    Some("refused: user-level command on a bulk-enrolled device"),
                    None,
                )?;
                queries::mark_sent(&tx, cmd.id, "", 0, 0)?;
                continue;
            }
            let kind = match cmd.verb.as_str() {
                "Get" => Kind::Get,
                "Replace" => Kind::Replace,
                "Add" => Kind::Add,
                "Delete" => Kind::Delete,
                _ => Kind::Exec,
            };
            let mut item = Item::target(&cmd.uri);
            item.data = cmd.data.clone();
            out.push(Command::new(kind, next_id, vec![item]));
            queries::mark_sent(&tx, cmd.id, &sid, msg.hdr.msg_id, next_id)?;
            next_id += 1;
        }
        let ends = out.iter().all(|c| c.kind == Kind::Status);
        if ends {
            queries::end_session(&tx, &d.id, &sid, now)?;
        }
        d.last_checkin_at = Some(now);
        devices::update_device(&tx, &d)?;
        for (event, detail) in history {
            devices::add_history(&tx, &d.id, now, event, &detail)?;
        }
        tx.commit()?;
        let reply = Message {
            hdr: SyncHdr {
                session_id: sid,
                msg_id: msg.hdr.msg_id,
                target: w.hw_dev_id,
                source: format!("{}{MANAGEMENT_PATH}", self.base_url),
            },
            commands: out,
            is_final: true,
        };
        Ok(reply.to_xml())
    }
}

fn queue_once(
    c: &rusqlite::Connection,
    device: &str,
    uri: &str,
    data: Option<&str>,
    now: i64,
) -> Result<(), ApiError> {
    if !queries::commands_of(c, device)?
        .iter()
        .any(|x| x.uri == uri && x.sent.is_none())
    {
        queries::queue_command(c, device, "Exec", uri, data, now)?;
    }
    Ok(())
}

/// What a reported node means for the device record.
fn apply_node(d: &mut devices::DeviceRow, uri: &str, value: &str) {
    let value: String = value.chars().take(256).collect();
    match uri {
        "./DevInfo/Man" => d.descriptor.manufacturer = value,
        "./DevInfo/Mod" => d.descriptor.model = value,
        "./DevInfo/DevId" => {
            d.details.insert("windows_device_id".into(), value);
        }
        "./DevInfo/Lang" => {
            d.details.insert("language".into(), value);
        }
        "./DevInfo/DmV" => {
            d.details.insert("dm_version".into(), value);
        }
        SWV_URI => d.descriptor.os_version = value,
        u if (u.starts_with("./DevDetail/")
            || u.starts_with("./Vendor/MSFT/")
            || u.starts_with("./Device/"))
            && d.details.len() < 64 =>
        {
            d.details.insert(u.chars().take(128).collect(), value);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_scope_is_recognised() {
        assert!(is_user_scoped("./User/Vendor/MSFT/Policy/Config/X"));
        assert!(is_user_scoped("./user/Vendor/MSFT/Policy"));
        assert!(!is_user_scoped("./Device/Vendor/MSFT/Policy"));
        assert!(!is_user_scoped("./Vendor/MSFT/RemoteWipe/doWipe"));
    }
}
