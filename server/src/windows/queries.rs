//! Store queries of the Windows domain: enrollments of Windows devices, queued OMA-DM
//! commands, OMA-DM sessions, the first-sign-in password change flag, and the simulated Entra
//! tenant's tables (tenants, users, bulk tokens, device objects).

use crate::store::CachedSql;
use crate::store::{normalize_email, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// The enrollment of one Windows device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsDeviceRow {
    /// The server's device record.
    pub device_id: String,
    /// The device's own id (`DeviceID` / `HWDevID` of the request, `Source` of OMA-DM).
    pub hw_dev_id: String,
    /// `user` (My/User) or `device` (My/System).
    pub enrollment_kind: String,
    /// The `windows-bulkenroll…` (or Entra package) user that enrolled it in bulk.
    pub bulk_owner: Option<String>,
    /// The Entra device object, for Entra device enrollments.
    pub entra_device_id: Option<String>,
    /// Serial of the client certificate (lower-case hex).
    pub cert_serial: String,
    /// The client certificate.
    pub cert_der: Vec<u8>,
    /// When it enrolled.
    pub enrolled_at: i64,
}

const WD_COLS: &str =
    "device_id, hw_dev_id, enrollment_kind, bulk_owner, entra_device_id, cert_serial, cert_der, enrolled_at";

fn wd_from_row(r: &Row<'_>) -> rusqlite::Result<WindowsDeviceRow> {
    Ok(WindowsDeviceRow {
        device_id: r.get(0)?,
        hw_dev_id: r.get(1)?,
        enrollment_kind: r.get(2)?,
        bulk_owner: r.get(3)?,
        entra_device_id: r.get(4)?,
        cert_serial: r.get(5)?,
        cert_der: r.get(6)?,
        enrolled_at: r.get(7)?,
    })
}

/// Inserts or replaces the enrollment of a device (a re-enrollment gets a new certificate).
pub fn upsert_windows_device(c: &Connection, w: &WindowsDeviceRow) -> StoreResult<()> {
    c.exec(
        &format!("INSERT OR REPLACE INTO windows_devices({WD_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            w.device_id,
            w.hw_dev_id,
            w.enrollment_kind,
            w.bulk_owner,
            w.entra_device_id,
            w.cert_serial,
            w.cert_der,
            w.enrolled_at
        ],
    )?;
    Ok(())
}

/// The enrollment of a device record.
pub fn windows_device(c: &Connection, device_id: &str) -> StoreResult<Option<WindowsDeviceRow>> {
    c.row(
        &format!("SELECT {WD_COLS} FROM windows_devices WHERE device_id = ?1"),
        [device_id],
        wd_from_row,
    )
    .optional()
}

/// The enrollment whose client certificate has this serial.
pub fn windows_device_by_serial(c: &Connection, serial: &str) -> StoreResult<Option<WindowsDeviceRow>> {
    c.row(
        &format!("SELECT {WD_COLS} FROM windows_devices WHERE cert_serial = ?1"),
        [serial],
        wd_from_row,
    )
    .optional()
}

/// Enrollments with this device id (newest first).
pub fn windows_devices_by_hw(c: &Connection, hw: &str) -> StoreResult<Vec<WindowsDeviceRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {WD_COLS} FROM windows_devices WHERE hw_dev_id = ?1 ORDER BY enrolled_at DESC"
    ))?;
    let rows = st.query_map([hw], wd_from_row)?;
    rows.collect::<Result<_, _>>()
}

/// Every Windows enrollment, newest first.
pub fn all_windows_devices(c: &Connection) -> StoreResult<Vec<WindowsDeviceRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {WD_COLS} FROM windows_devices ORDER BY enrolled_at DESC, rowid DESC"
    ))?;
    let rows = st.query_map([], wd_from_row)?;
    rows.collect::<Result<_, _>>()
}

/// Device records of `user_id` that are Windows and not archived/cancelled, other than `hw`.
pub fn other_windows_devices_of(c: &Connection, user_id: &str, hw: &str) -> StoreResult<i64> {
    c.row(
        "SELECT COUNT(*) FROM windows_devices w JOIN devices d ON d.id = w.device_id
         WHERE d.user_id = ?1 AND w.hw_dev_id != ?2 AND d.state IN ('pending', 'active')",
        params![user_id, hw],
        |r| r.get(0),
    )
}

// ---------------------------------------------------------------------------------------------
// OMA-DM commands and sessions

/// A queued or sent OMA-DM command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRow {
    /// Row id.
    pub id: i64,
    /// `Get`, `Replace`, `Add`, `Delete`, `Exec`.
    pub verb: String,
    /// Target URI.
    pub uri: String,
    /// Data, if any.
    pub data: Option<String>,
    /// The session / message / CmdID it was sent in.
    pub sent: Option<(String, i64, i64)>,
    /// The device's status code.
    pub status: Option<String>,
    /// The value a Get returned.
    pub result: Option<String>,
}

fn cmd_from_row(r: &Row<'_>) -> rusqlite::Result<CommandRow> {
    let session: Option<String> = r.get(4)?;
    let msg: Option<i64> = r.get(5)?;
    let cmd: Option<i64> = r.get(6)?;
    Ok(CommandRow {
        id: r.get(0)?,
        verb: r.get(1)?,
        uri: r.get(2)?,
        data: r.get(3)?,
        sent: match (session, msg, cmd) {
            (Some(s), Some(m), Some(c)) => Some((s, m, c)),
            _ => None,
        },
        status: r.get(7)?,
        result: r.get(8)?,
    })
}

const CMD_COLS: &str = "id, verb, uri, data, session_id, msg_id, cmd_id, status, result";

/// Queues a command.
pub fn queue_command(
    c: &Connection,
    device_id: &str,
    verb: &str,
    uri: &str,
    data: Option<&str>,
    now: i64,
) -> StoreResult<i64> {
    c.exec(
        "INSERT INTO windows_commands(device_id, verb, uri, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![device_id, verb, uri, data, now],
    )?;
    Ok(c.last_insert_rowid())
}

/// Commands not sent yet, oldest first (at most `limit`).
pub fn unsent_commands(c: &Connection, device_id: &str, limit: i64) -> StoreResult<Vec<CommandRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {CMD_COLS} FROM windows_commands WHERE device_id = ?1 AND session_id IS NULL ORDER BY id LIMIT ?2"
    ))?;
    let rows = st.query_map(params![device_id, limit], cmd_from_row)?;
    rows.collect::<Result<_, _>>()
}

/// Every command of a device, oldest first.
pub fn commands_of(c: &Connection, device_id: &str) -> StoreResult<Vec<CommandRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {CMD_COLS} FROM windows_commands WHERE device_id = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([device_id], cmd_from_row)?;
    rows.collect::<Result<_, _>>()
}

/// Marks a command sent.
pub fn mark_sent(c: &Connection, id: i64, session: &str, msg_id: u32, cmd_id: u32) -> StoreResult<()> {
    c.exec(
        "UPDATE windows_commands SET session_id = ?2, msg_id = ?3, cmd_id = ?4 WHERE id = ?1",
        params![id, session, msg_id, cmd_id],
    )?;
    Ok(())
}

/// The command sent as (session, message, CmdID).
pub fn sent_command(
    c: &Connection,
    device_id: &str,
    session: &str,
    msg_id: u32,
    cmd_id: u32,
) -> StoreResult<Option<CommandRow>> {
    c
        .row(
            &format!(
                "SELECT {CMD_COLS} FROM windows_commands WHERE device_id = ?1 AND session_id = ?2 AND msg_id = ?3 AND cmd_id = ?4"
            ),
            params![device_id, session, msg_id, cmd_id],
            cmd_from_row,
        )
        .optional()
}

/// Records a command's status and (for a Get) result.
pub fn set_command_outcome(
    c: &Connection,
    id: i64,
    status: Option<&str>,
    result: Option<&str>,
) -> StoreResult<()> {
    c.exec(
        "UPDATE windows_commands SET status = COALESCE(?2, status), result = COALESCE(?3, result) WHERE id = ?1",
        params![id, status, result],
    )?;
    Ok(())
}

/// Messages seen in a session and whether it ended: `None` for a new session.
pub fn session(
    c: &Connection,
    device_id: &str,
    session: &str,
) -> StoreResult<Option<(i64, i64, Option<i64>)>> {
    c
        .row(
            "SELECT messages, started_at, ended_at FROM windows_sessions WHERE device_id = ?1 AND session_id = ?2",
            params![device_id, session],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
}

/// Counts one more message of a session (creating it).
pub fn session_message(c: &Connection, device_id: &str, session: &str, now: i64) -> StoreResult<()> {
    c.exec(
        "INSERT INTO windows_sessions(device_id, session_id, messages, started_at) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT(device_id, session_id) DO UPDATE SET messages = messages + 1",
        params![device_id, session, now],
    )?;
    Ok(())
}

/// Forgets the sessions of a device (a re-enrollment starts a new session numbering).
pub fn clear_sessions(c: &Connection, device_id: &str) -> StoreResult<()> {
    c.exec("DELETE FROM windows_sessions WHERE device_id = ?1", [device_id])?;
    Ok(())
}

/// Ends a session.
pub fn end_session(c: &Connection, device_id: &str, session: &str, now: i64) -> StoreResult<()> {
    c.exec(
        "UPDATE windows_sessions SET ended_at = ?3 WHERE device_id = ?1 AND session_id = ?2 AND ended_at IS NULL",
        params![device_id, session, now],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// first sign-in password change

/// Requires a password change at the user's next sign-in.
pub fn require_password_change(c: &Connection, user_id: &str, now: i64) -> StoreResult<()> {
    c.exec(
        "INSERT OR IGNORE INTO password_change_required(user_id, since) VALUES (?1, ?2)",
        params![user_id, now],
    )?;
    Ok(())
}

/// Whether the user must change their password.
pub fn password_change_required(c: &Connection, user_id: &str) -> StoreResult<bool> {
    c.prepare_cached("SELECT 1 FROM password_change_required WHERE user_id = ?1")?
        .exists([user_id])
}

/// Sets a local user's password hash and clears the flag.
pub fn set_password(c: &Connection, user_id: &str, hash: &str) -> StoreResult<()> {
    c.exec(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![user_id, hash],
    )?;
    c.exec(
        "DELETE FROM password_change_required WHERE user_id = ?1",
        [user_id],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// simulated Entra tenant

/// A connected tenant.
#[derive(Debug, Clone)]
pub struct TenantRow {
    /// Tenant id (GUID).
    pub id: String,
    /// Primary domain (`contoso.onmicrosoft.com`).
    pub domain: String,
    /// The tenant's token-signing key (PKCS #8).
    pub key_pkcs8: zeroize::Zeroizing<Vec<u8>>,
}

fn tenant_from_row(r: &Row<'_>) -> rusqlite::Result<TenantRow> {
    Ok(TenantRow {
        id: r.get(0)?,
        domain: r.get(1)?,
        key_pkcs8: zeroize::Zeroizing::new(r.get(2)?),
    })
}

/// Inserts a tenant.
pub fn insert_tenant(c: &Connection, t: &TenantRow, now: i64) -> StoreResult<()> {
    c.exec(
        "INSERT INTO entra_tenants(id, domain, key_pkcs8, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![t.id, t.domain.to_lowercase(), t.key_pkcs8.as_slice(), now],
    )?;
    Ok(())
}

/// The tenant of a domain.
pub fn tenant_by_domain(c: &Connection, domain: &str) -> StoreResult<Option<TenantRow>> {
    c.row(
        "SELECT id, domain, key_pkcs8 FROM entra_tenants WHERE domain = ?1",
        [domain.to_lowercase()],
        tenant_from_row,
    )
    .optional()
}

/// A tenant by id.
pub fn tenant_by_id(c: &Connection, id: &str) -> StoreResult<Option<TenantRow>> {
    c.row(
        "SELECT id, domain, key_pkcs8 FROM entra_tenants WHERE id = ?1",
        [id],
        tenant_from_row,
    )
    .optional()
}

/// A tenant user: (UPN, tenant id, MFA on, package user).
pub type EntraUser = (String, String, bool, bool);

/// Adds or updates a tenant user.
pub fn upsert_entra_user(
    c: &Connection,
    upn: &str,
    tenant_id: &str,
    mfa: bool,
    package: bool,
    now: i64,
) -> StoreResult<()> {
    c.exec(
        "INSERT INTO entra_users(upn_norm, upn, tenant_id, mfa, package, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(upn_norm) DO UPDATE SET mfa = excluded.mfa",
        params![normalize_email(upn), upn, tenant_id, mfa, package, now],
    )?;
    Ok(())
}

/// A tenant user by UPN.
pub fn entra_user(c: &Connection, upn: &str) -> StoreResult<Option<EntraUser>> {
    c.row(
        "SELECT upn, tenant_id, mfa, package FROM entra_users WHERE upn_norm = ?1",
        [normalize_email(upn)],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, i64>(2)? != 0,
                r.get::<_, i64>(3)? != 0,
            ))
        },
    )
    .optional()
}

/// Every user of a tenant.
pub fn entra_users(c: &Connection, tenant_id: &str) -> StoreResult<Vec<EntraUser>> {
    let mut st = c.prepare_cached(
        "SELECT upn, tenant_id, mfa, package FROM entra_users WHERE tenant_id = ?1 ORDER BY created_at",
    )?;
    let rows = st.query_map([tenant_id], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get::<_, i64>(2)? != 0,
            r.get::<_, i64>(3)? != 0,
        ))
    })?;
    rows.collect::<Result<_, _>>()
}

/// Stores a bulk token (its SHA-256).
pub fn insert_bulk_token(
    c: &Connection,
    hash: &[u8],
    package_upn: &str,
    expires_at: i64,
    now: i64,
) -> StoreResult<()> {
    c.exec(
        "INSERT INTO entra_bulk_tokens(token_hash, package_upn, expires_at, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash, package_upn, expires_at, now],
    )?;
    Ok(())
}

/// The package user and expiry of a bulk token.
pub fn bulk_token(c: &Connection, hash: &[u8]) -> StoreResult<Option<(String, i64)>> {
    c.row(
        "SELECT package_upn, expires_at FROM entra_bulk_tokens WHERE token_hash = ?1",
        [hash],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// An Entra device object: (id, owner UPN, display name).
pub type EntraDevice = (String, String, String);

/// Inserts a device object.
pub fn insert_entra_device(
    c: &Connection,
    id: &str,
    tenant_id: &str,
    owner: &str,
    name: &str,
    now: i64,
) -> StoreResult<()> {
    c.exec(
        "INSERT INTO entra_devices(id, tenant_id, owner_upn, display_name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, tenant_id, owner, name, now],
    )?;
    Ok(())
}

/// Every device object, oldest first.
pub fn entra_devices(c: &Connection) -> StoreResult<Vec<EntraDevice>> {
    let mut st =
        c.prepare_cached("SELECT id, owner_upn, display_name FROM entra_devices ORDER BY created_at, rowid")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect::<Result<_, _>>()
}

/// A device object by id.
pub fn entra_device(c: &Connection, id: &str) -> StoreResult<Option<EntraDevice>> {
    c.row(
        "SELECT id, owner_upn, display_name FROM entra_devices WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}
