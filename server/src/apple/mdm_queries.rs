//! Store queries of Apple MDM: the UDID binding of each device (`apple_enrollments`: SCEP
//! identity, push token, check-out and removal) and the command queue (`apple_commands`).

use crate::store::CachedSql;
use enroll_proto::{MdmCommandStatus, MdmErrorItem};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// A device's Apple MDM enrollment, by UDID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Binding {
    /// The UDID.
    pub udid: String,
    /// The device record.
    pub device_id: String,
    /// Serial (hex) of the SCEP identity bound at `Authenticate`.
    pub cert_serial: String,
    /// The enrollment that identity was issued for (none after a renewal).
    pub enrollment_id: Option<String>,
    /// Topic.
    pub topic: String,
    /// Whether a push token was given.
    pub push_registered: bool,
    /// `Authenticate`.
    pub authenticated_at: i64,
    /// Last `TokenUpdate`.
    pub token_updated_at: Option<i64>,
    /// `CheckOut`.
    pub checked_out_at: Option<i64>,
    /// Removal or erase acknowledged.
    pub removed_at: Option<i64>,
    /// Last command-channel contact.
    pub last_seen_at: Option<i64>,
    /// The last `QueryResponses`, JSON.
    pub device_information: String,
    /// When it came.
    pub information_at: Option<i64>,
}

const BINDING_COLS: &str = "udid, device_id, cert_serial, enrollment_id, topic, push_token IS NOT NULL, \
     authenticated_at, token_updated_at, checked_out_at, removed_at, last_seen_at, device_information, \
     information_at";

fn binding_from_row(r: &Row<'_>) -> rusqlite::Result<Binding> {
    Ok(Binding {
        udid: r.get(0)?,
        device_id: r.get(1)?,
        cert_serial: r.get(2)?,
        enrollment_id: r.get(3)?,
        topic: r.get(4)?,
        push_registered: r.get(5)?,
        authenticated_at: r.get(6)?,
        token_updated_at: r.get(7)?,
        checked_out_at: r.get(8)?,
        removed_at: r.get(9)?,
        last_seen_at: r.get(10)?,
        device_information: r.get(11)?,
        information_at: r.get(12)?,
    })
}

/// The binding of `udid`.
pub(super) fn binding(c: &Connection, udid: &str) -> rusqlite::Result<Option<Binding>> {
    c.row(
        &format!("SELECT {BINDING_COLS} FROM apple_enrollments WHERE udid = ?1"),
        [udid],
        binding_from_row,
    )
    .optional()
}

/// The latest binding of a device record.
pub(super) fn binding_of_device(c: &Connection, device_id: &str) -> rusqlite::Result<Option<Binding>> {
    c.row(
        &format!(
            "SELECT {BINDING_COLS} FROM apple_enrollments WHERE device_id = ?1
             ORDER BY authenticated_at DESC, rowid DESC LIMIT 1"
        ),
        [device_id],
        binding_from_row,
    )
    .optional()
}

/// The UDID an identity is bound to, if any.
pub(super) fn udid_of_cert(c: &Connection, serial: &str) -> rusqlite::Result<Option<String>> {
    c.row(
        "SELECT udid FROM apple_enrollments WHERE cert_serial = ?1",
        [serial],
        |r| r.get(0),
    )
    .optional()
}

/// `Authenticate`: binds `udid` to the identity `serial` of `device_id`, a fresh enrollment
/// (push token, check-out and removal cleared).
pub(super) fn bind(
    c: &Connection,
    udid: &str,
    device_id: &str,
    serial: &str,
    enrollment_id: Option<&str>,
    topic: &str,
    now: i64,
) -> rusqlite::Result<()> {
    c.exec(
        "INSERT INTO apple_enrollments(udid, device_id, cert_serial, enrollment_id, topic, authenticated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(udid) DO UPDATE SET device_id = excluded.device_id, cert_serial = excluded.cert_serial,
             enrollment_id = excluded.enrollment_id, topic = excluded.topic,
             authenticated_at = excluded.authenticated_at, push_token = NULL, push_magic = NULL,
             unlock_token = NULL, token_updated_at = NULL, checked_out_at = NULL, removed_at = NULL",
        params![udid, device_id, serial, enrollment_id, topic, now],
    )?;
    Ok(())
}

/// `TokenUpdate`: the push token, `PushMagic` and unlock token.
pub(super) fn set_token(
    c: &Connection,
    udid: &str,
    token: &[u8],
    push_magic: &str,
    unlock_token: Option<&[u8]>,
    now: i64,
) -> rusqlite::Result<()> {
    c.exec(
        "UPDATE apple_enrollments SET push_token = ?2, push_magic = ?3,
             unlock_token = COALESCE(?4, unlock_token), token_updated_at = ?5 WHERE udid = ?1",
        params![udid, token, push_magic, unlock_token, now],
    )?;
    Ok(())
}

/// The push token and `PushMagic` of a device record's current binding.
pub(super) fn push_target(c: &Connection, device_id: &str) -> rusqlite::Result<Option<(Vec<u8>, String)>> {
    c.row(
        "SELECT push_token, push_magic FROM apple_enrollments
         WHERE device_id = ?1 AND push_token IS NOT NULL AND push_magic IS NOT NULL
             AND checked_out_at IS NULL AND removed_at IS NULL
         ORDER BY authenticated_at DESC LIMIT 1",
        [device_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// `CheckOut`.
pub(super) fn check_out(c: &Connection, udid: &str, now: i64) -> rusqlite::Result<()> {
    c.exec(
        "UPDATE apple_enrollments SET checked_out_at = ?2, push_token = NULL, push_magic = NULL
         WHERE udid = ?1",
        params![udid, now],
    )?;
    Ok(())
}

/// The MDM profile's removal (retire) or the erase (wipe) was acknowledged.
pub(super) fn mark_removed(c: &Connection, udid: &str, now: i64) -> rusqlite::Result<()> {
    c.exec(
        "UPDATE apple_enrollments SET removed_at = ?2, push_token = NULL, push_magic = NULL WHERE udid = ?1",
        params![udid, now],
    )?;
    Ok(())
}

/// A command-channel contact.
pub(super) fn seen(c: &Connection, udid: &str, now: i64) -> rusqlite::Result<()> {
    c.exec(
        "UPDATE apple_enrollments SET last_seen_at = ?2 WHERE udid = ?1",
        params![udid, now],
    )?;
    Ok(())
}

/// Stores the last `DeviceInformation` answer.
pub(super) fn set_information(c: &Connection, udid: &str, json: &str, now: i64) -> rusqlite::Result<()> {
    c.exec(
        "UPDATE apple_enrollments SET device_information = ?2, information_at = ?3 WHERE udid = ?1",
        params![udid, json, now],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// commands

/// A queued command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CommandRow {
    /// `CommandUUID`.
    pub uuid: String,
    /// The device record.
    pub device_id: String,
    /// `RequestType`.
    pub request_type: String,
    /// The command plist as sent.
    pub body: Vec<u8>,
    /// Status.
    pub status: MdmCommandStatus,
    /// Who queued it.
    pub origin: String,
    /// Queued.
    pub queued_at: i64,
    /// Last sent.
    pub sent_at: Option<i64>,
    /// Last answered.
    pub answered_at: Option<i64>,
    /// The answer's keys (XML plist).
    pub result: Option<Vec<u8>>,
    /// `ErrorChain`, JSON.
    pub error_chain: Option<String>,
}

const COMMAND_COLS: &str =
    "uuid, device_id, request_type, body, status, origin, queued_at, sent_at, answered_at, result, error_chain";

fn command_from_row(r: &Row<'_>) -> rusqlite::Result<CommandRow> {
    let status: String = r.get(4)?;
    Ok(CommandRow {
        uuid: r.get(0)?,
        device_id: r.get(1)?,
        request_type: r.get(2)?,
        body: r.get(3)?,
        status: MdmCommandStatus::parse(&status).unwrap_or(MdmCommandStatus::Queued),
        origin: r.get(5)?,
        queued_at: r.get(6)?,
        sent_at: r.get(7)?,
        answered_at: r.get(8)?,
        result: r.get(9)?,
        error_chain: r.get(10)?,
    })
}

/// Queues a command.
pub(super) fn insert_command(
    c: &Connection,
    uuid: &str,
    device_id: &str,
    request_type: &str,
    body: &[u8],
    origin: &str,
    now: i64,
) -> rusqlite::Result<()> {
    c.exec(
        "INSERT INTO apple_commands(uuid, device_id, request_type, body, status, origin, queued_at)
         VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6)",
        params![uuid, device_id, request_type, body, origin, now],
    )?;
    Ok(())
}

/// The command `uuid` of `device_id`.
pub(super) fn command(c: &Connection, device_id: &str, uuid: &str) -> rusqlite::Result<Option<CommandRow>> {
    c.row(
        &format!("SELECT {COMMAND_COLS} FROM apple_commands WHERE uuid = ?1 AND device_id = ?2"),
        params![uuid, device_id],
        command_from_row,
    )
    .optional()
}

/// Whether the device has a command of this origin.
pub(super) fn has_origin(c: &Connection, device_id: &str, origin: &str) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT 1 FROM apple_commands WHERE device_id = ?1 AND origin = ?2")?
        .exists(params![device_id, origin])
}

/// The next command to send: the oldest one waiting (queued, sent and never answered, or — at
/// the start of a session, after `Idle` — answered `NotNow`), of `origin` only when given.
pub(super) fn next_command(
    c: &Connection,
    device_id: &str,
    include_not_now: bool,
    origin: Option<&str>,
) -> rusqlite::Result<Option<CommandRow>> {
    c.row(
        &format!(
            "SELECT {COMMAND_COLS} FROM apple_commands
             WHERE device_id = ?1 AND (status IN ('queued', 'sent') OR (?2 AND status = 'not_now'))
                 AND (?3 IS NULL OR origin = ?3)
             ORDER BY seq LIMIT 1"
        ),
        params![device_id, include_not_now, origin],
        command_from_row,
    )
    .optional()
}

/// Marks a command sent.
pub(super) fn mark_sent(c: &Connection, uuid: &str, now: i64) -> rusqlite::Result<()> {
    c.exec(
        "UPDATE apple_commands SET status = 'sent', sent_at = ?2 WHERE uuid = ?1",
        params![uuid, now],
    )?;
    Ok(())
}

/// Records the device's answer.
pub(super) fn answer(
    c: &Connection,
    uuid: &str,
    status: MdmCommandStatus,
    result: Option<&[u8]>,
    errors: &[MdmErrorItem],
    now: i64,
) -> rusqlite::Result<()> {
    let chain = if errors.is_empty() {
        None
    } else {
        serde_json::to_string(errors).ok()
    };
    c.exec(
        "UPDATE apple_commands SET status = ?2, result = ?3, error_chain = ?4, answered_at = ?5 WHERE uuid = ?1",
        params![uuid, status.as_str(), result, chain, now],
    )?;
    Ok(())
}

/// Every command of a device, oldest first.
pub(super) fn commands_of(c: &Connection, device_id: &str) -> rusqlite::Result<Vec<CommandRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COMMAND_COLS} FROM apple_commands WHERE device_id = ?1 ORDER BY seq"
    ))?;
    let rows = st.query_map([device_id], command_from_row)?;
    rows.collect()
}
