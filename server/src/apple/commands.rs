//! The MDM command channel at the profile's `ServerURL` (`/mdm/server`) and the command queue.
//!
//! A device's report is signed like a check-in (`signature.rs`) by the identity bound to its
//! UDID. `Idle` asks for work; `Acknowledged`, `Error` (its `ErrorChain` stored),
//! `CommandFormatError` and `NotNow` answer a command by `CommandUUID`. The reply is the next
//! command, or an empty 200 when there is none.
//!
//! - **Sessions and NotNow.** A session starts with `Idle` and lasts until the empty 200. A
//!   command answered `NotNow` is kept and sent again only after the next `Idle`: at most once
//!   per session, never right after the `NotNow` itself.
//! - **Order.** Oldest first; a command sent and never answered is sent again.
//! - **DeviceInformation** is queued at the first `TokenUpdate`; its `QueryResponses` fill the
//!   device record (model, OS version, serial number, name) and the admin view.
//! - **Retire and wipe** (seed rules, see `devices`): at the next contact of a retired device
//!   the server queues `RemoveProfile` of the MDM profile (`com.enroll.mdm.<device>`), of a
//!   wiped one `EraseDevice`, and sends nothing else. Once the device answered it (anything but
//!   `NotNow`), the device is refused with 403 `com.apple.unrecognized.device` at its next
//!   contact (its `CheckOut` excepted). The administrator's action itself is immediate on the
//!   server (state, enrollments closed).
//! - A report for a `CommandUUID` this device was never sent → 400, nothing changes.

use super::{mdm_queries as mq, plist_json, unrecognized, AppleService, MDM_SERVER_BODY_LIMIT};
use crate::devices;
use crate::enrollment::profile::profile_identifier;
use crate::error::ApiError;
use base64::Engine as _;
use enroll_mdm::command::{CommandRequest, Report, Status};
use enroll_proto::{DeviceState, MdmCommandStatus, MdmErrorItem, MdmRequestType, QueueCommandRequest};
use plist::{Dictionary, Value};
use rusqlite::{Connection, TransactionBehavior};

/// What `DeviceInformation` asks at enrollment.
pub(super) const DEVICE_INFORMATION_QUERIES: &[&str] = &[
    "UDID",
    "DeviceName",
    "Model",
    "ModelName",
    "ProductName",
    "OSVersion",
    "BuildVersion",
    "SerialNumber",
    "IMEI",
    "MEID",
    "IsSupervised",
];

/// Largest profile an `InstallProfile` carries (the admin JSON body limit bounds it too).
const MAX_INSTALL_PROFILE: usize = 48 * 1024;

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string().to_ascii_uppercase()
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::String((*s).to_owned())).collect())
}

/// Queues a command of `request_type` with `fields`; returns its `CommandUUID`.
fn queue(
    tx: &Connection,
    device_id: &str,
    request_type: &str,
    fields: Dictionary,
    origin: &str,
    now: i64,
) -> Result<String, ApiError> {
    let uuid = new_uuid();
    let body = CommandRequest::build(&uuid, request_type, fields).map_err(|e| ApiError::internal(&e))?;
    mq::insert_command(tx, &uuid, device_id, request_type, &body, origin, now)?;
    Ok(uuid)
}

/// Queues `DeviceInformation` with the enrollment queries.
pub(super) fn queue_device_information(
    tx: &Connection,
    device_id: &str,
    origin: &str,
    now: i64,
) -> Result<String, ApiError> {
    let mut f = Dictionary::new();
    f.insert("Queries".into(), strings(DEVICE_INFORMATION_QUERIES));
    queue(tx, device_id, "DeviceInformation", f, origin, now)
}

fn bounded(name: &str, v: &Option<String>, max: usize) -> Result<(), ApiError> {
    match v {
        Some(s) if s.len() > max || s.chars().any(char::is_control) => Err(ApiError::bad_request(format!(
            "{name} must be at most {max} bytes, without control characters"
        ))),
        _ => Ok(()),
    }
}

/// The `Command` fields of an administrator's request, checked.
pub(super) fn admin_fields(req: &QueueCommandRequest) -> Result<Dictionary, ApiError> {
    let t = req.request_type;
    let only = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(ApiError::bad_request(format!(
                "{what} is not a field of {}",
                t.as_str()
            )))
        }
    };
    only(
        req.queries.is_empty() || t == MdmRequestType::DeviceInformation,
        "queries",
    )?;
    only(
        !req.managed_only || t == MdmRequestType::ProfileList,
        "managed_only",
    )?;
    only(
        req.payload.is_none() || t == MdmRequestType::InstallProfile,
        "payload",
    )?;
    only(
        req.identifier.is_none() || t == MdmRequestType::RemoveProfile,
        "identifier",
    )?;
    only(
        (req.message.is_none() && req.phone_number.is_none()) || t == MdmRequestType::DeviceLock,
        "message / phone_number",
    )?;
    only(
        req.pin.is_none() || matches!(t, MdmRequestType::DeviceLock | MdmRequestType::EraseDevice),
        "pin",
    )?;
    bounded("message", &req.message, 1024)?;
    bounded("phone_number", &req.phone_number, 64)?;
    bounded("identifier", &req.identifier, 512)?;
    let mut f = Dictionary::new();
    match t {
        MdmRequestType::DeviceInformation => {
            if req.queries.len() > 64 || req.queries.iter().any(|q| q.is_empty() || q.len() > 128) {
                return Err(ApiError::bad_request(
                    "queries: at most 64 names of 1 to 128 bytes",
                ));
            }
            let q: Vec<&str> = if req.queries.is_empty() {
                DEVICE_INFORMATION_QUERIES.to_vec()
            } else {
                req.queries.iter().map(String::as_str).collect()
            };
            f.insert("Queries".into(), strings(&q));
        }
        MdmRequestType::ProfileList => {
            if req.managed_only {
                f.insert("ManagedOnly".into(), Value::Boolean(true));
            }
        }
        MdmRequestType::InstallProfile => {
            let b64 = req
                .payload
                .as_deref()
                .ok_or_else(|| ApiError::bad_request("InstallProfile needs payload (the profile, base64)"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| ApiError::bad_request("payload is not standard base64"))?;
            if bytes.is_empty() || bytes.len() > MAX_INSTALL_PROFILE {
                return Err(ApiError::bad_request(format!(
                    "payload must hold 1 to {MAX_INSTALL_PROFILE} bytes"
                )));
            }
            f.insert("Payload".into(), Value::Data(bytes));
        }
        MdmRequestType::RemoveProfile => {
            let id = req
                .identifier
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request("RemoveProfile needs identifier (the profile's PayloadIdentifier)")
                })?;
            f.insert("Identifier".into(), Value::String(id.to_owned()));
        }
        MdmRequestType::SecurityInfo => {}
        MdmRequestType::DeviceLock | MdmRequestType::EraseDevice => {
            if let Some(m) = &req.message {
                f.insert("Message".into(), Value::String(m.clone()));
            }
            if let Some(p) = &req.phone_number {
                f.insert("PhoneNumber".into(), Value::String(p.clone()));
            }
            if let Some(pin) = &req.pin {
                let p = pin.expose();
                if p.len() != 6 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ApiError::bad_request("pin must be six digits"));
                }
                f.insert("PIN".into(), Value::String(p.to_owned()));
            }
        }
    }
    Ok(f)
}

/// Queues an administrator's command.
pub(super) fn queue_admin(
    tx: &Connection,
    device_id: &str,
    req: &QueueCommandRequest,
    now: i64,
) -> Result<String, ApiError> {
    let fields = admin_fields(req)?;
    queue(tx, device_id, req.request_type.as_str(), fields, "admin", now)
}

fn status_of(s: Status) -> MdmCommandStatus {
    match s {
        Status::Idle | Status::Acknowledged => MdmCommandStatus::Acknowledged,
        Status::Error => MdmCommandStatus::Error,
        Status::CommandFormatError => MdmCommandStatus::CommandFormatError,
        Status::NotNow => MdmCommandStatus::NotNow,
    }
}

/// Fills the device record from `QueryResponses`.
fn apply_device_information(
    tx: &Connection,
    udid: &str,
    device_id: &str,
    responses: &Dictionary,
    now: i64,
) -> Result<(), ApiError> {
    let json = plist_json::to_json(&Value::Dictionary(responses.clone()));
    mq::set_information(tx, udid, &json.to_string(), now)?;
    let Some(mut d) = devices::device_by_id(tx, device_id)? else {
        return Ok(());
    };
    let get = |k: &str| {
        responses
            .get(k)
            .and_then(Value::as_string)
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .map(str::to_owned)
    };
    if let Some(m) = get("ProductName").or_else(|| get("Model")) {
        d.descriptor.model = m;
    }
    if let Some(v) = get("OSVersion") {
        d.descriptor.os_version = v;
    }
    if let Some(s) = get("SerialNumber") {
        d.descriptor.serial = Some(s);
    }
    if let Some(imei) = get("IMEI") {
        let digits: String = imei.chars().filter(char::is_ascii_digit).collect();
        if !digits.is_empty() && !d.descriptor.imeis.contains(&digits) {
            d.descriptor.imeis = vec![digits];
        }
    }
    for (key, name) in [
        ("DeviceName", "device_name"),
        ("ModelName", "model_name"),
        ("BuildVersion", "build_version"),
    ] {
        if let Some(v) = get(key) {
            d.details.insert(name.into(), v);
        }
    }
    d.details.insert("udid".into(), udid.to_owned());
    devices::update_device(tx, &d)?;
    Ok(())
}

impl AppleService<'_> {
    /// Handles one command-channel report; the next command's body, or `None` (empty 200).
    pub(crate) fn command_report(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Option<Vec<u8>>, ApiError> {
        let signer = self.verify_signature(signature, body)?;
        let report = Report::parse_limited(body, MDM_SERVER_BODY_LIMIT)
            .map_err(|e| ApiError::bad_request(format!("report refused: {e}")))?;
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let caller = self.caller(&tx, &signer)?;
        let binding = self.bound(&tx, &caller, &report.udid)?;
        if binding.removed_at.is_some() || binding.checked_out_at.is_some() {
            return Err(unrecognized("unenrolled"));
        }
        if binding.token_updated_at.is_none() {
            return Err(ApiError::bad_request(
                "send TokenUpdate before using the command channel",
            ));
        }
        let device =
            devices::device_by_id(&tx, &caller.device_id)?.ok_or_else(|| unrecognized("no record"))?;
        let removal = match device.state {
            DeviceState::Retired => Some("retire"),
            DeviceState::Wiped => Some("wipe"),
            DeviceState::Active | DeviceState::Pending => None,
            DeviceState::Cancelled | DeviceState::Archived => return Err(unrecognized("device closed")),
        };
        let mut removed = false;
        if let Some(uuid) = &report.command_uuid {
            if report.status != Status::Idle {
                let cmd = mq::command(&tx, &device.id, uuid)?.ok_or_else(|| {
                    ApiError::bad_request("no command with this CommandUUID was sent to this device")
                })?;
                if cmd.status == MdmCommandStatus::Queued {
                    return Err(ApiError::bad_request(
                        "this command was not sent to the device yet",
                    ));
                }
                let status = status_of(report.status);
                let result = if report.fields.is_empty() {
                    None
                } else {
                    let mut xml = Vec::new();
                    plist::to_writer_xml(&mut xml, &Value::Dictionary(report.fields.clone()))
                        .map_err(|e| ApiError::internal(&e))?;
                    Some(xml)
                };
                let errors: Vec<MdmErrorItem> = report
                    .error_chain
                    .iter()
                    .map(|e| MdmErrorItem {
                        code: e.code,
                        domain: e.domain.clone(),
                        description: e.description.clone(),
                    })
                    .collect();
                mq::answer(&tx, uuid, status, result.as_deref(), &errors, now)?;
                if status == MdmCommandStatus::Acknowledged && cmd.request_type == "DeviceInformation" {
                    if let Some(Value::Dictionary(r)) = report.fields.get("QueryResponses") {
                        apply_device_information(&tx, &report.udid, &device.id, r, now)?;
                    }
                }
                if status != MdmCommandStatus::NotNow && Some(cmd.origin.as_str()) == removal {
                    mq::mark_removed(&tx, &report.udid, now)?;
                    let mut d = device.clone();
                    if let Some(a) = d.pending_action.take() {
                        d.last_action = Some(a);
                    }
                    devices::update_device(&tx, &d)?;
                    let what = format!("{} answered {}", cmd.request_type, report.status.as_str());
                    devices::add_history(&tx, &d.id, now, "action_applied", &what)?;
                    removed = true;
                }
            }
        }
        mq::seen(&tx, &report.udid, now)?;
        devices::touch_checkin(&tx, &device.id, now)?;
        let next = if removed {
            None
        } else {
            if let Some(origin) = removal {
                if !mq::has_origin(&tx, &device.id, origin)? {
                    if origin == "retire" {
                        let mut f = Dictionary::new();
                        f.insert("Identifier".into(), Value::String(profile_identifier(&device.id)));
                        queue(&tx, &device.id, "RemoveProfile", f, origin, now)?;
                    } else {
                        queue(&tx, &device.id, "EraseDevice", Dictionary::new(), origin, now)?;
                    }
                }
            }
            mq::next_command(&tx, &device.id, report.status == Status::Idle, removal)?
        };
        if let Some(cmd) = &next {
            mq::mark_sent(&tx, &cmd.uuid, now)?;
        }
        tx.commit()?;
        Ok(next.map(|c| c.body))
    }
}
