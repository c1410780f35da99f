//! SQLite storage: schema and plain row functions.
//!
//! One database file (`enroll.db` in the data directory), WAL mode. Functions take a
//! `&Connection`, so they work the same on a connection and inside a transaction
//! (`rusqlite::Transaction` derefs to `Connection`); the business rules that combine them live in
//! `service`. Nothing here knows about HTTP.
//!
//! Secrets are never stored in clear: tokens as SHA-256, PINs and passwords as argon2 PHC
//! strings, SCEP challenges as SHA-256. Enrollment and device secrets are not stored at all
//! (they are HMACs derived from the server secret).

use enroll_core::protocol::{
    DeviceAction, DeviceDescriptor, DeviceState, DeviceView, EnrollmentKind, HistoryEntry, MdmStatus,
    UserView,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::BTreeMap;
use std::path::Path;

/// Storage error.
pub type StoreResult<T> = Result<T, rusqlite::Error>;

/// Schema version written to `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    email_norm TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    directory INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL REFERENCES users(id),
    pin_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS pins_user ON pins(user_id, id);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    user_id TEXT REFERENCES users(id),
    bulk_profile_id TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users(id),
    platform TEXT NOT NULL,
    serial TEXT,
    manufacturer_norm TEXT NOT NULL,
    hardware_id TEXT,
    descriptor TEXT NOT NULL,
    state TEXT NOT NULL,
    mdm TEXT NOT NULL,
    pending_action TEXT,
    last_action TEXT,
    created_at INTEGER NOT NULL,
    enrolled_at INTEGER,
    last_checkin_at INTEGER,
    archived_at INTEGER,
    activated_by TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS devices_hw ON devices(platform, hardware_id);
CREATE INDEX IF NOT EXISTS devices_serial ON devices(platform, serial);
CREATE INDEX IF NOT EXISTS devices_state ON devices(state);
CREATE TABLE IF NOT EXISTS device_imeis (
    device_id TEXT NOT NULL REFERENCES devices(id),
    imei TEXT NOT NULL,
    PRIMARY KEY (device_id, imei)
);
CREATE INDEX IF NOT EXISTS device_imeis_imei ON device_imeis(imei);
CREATE TABLE IF NOT EXISTS device_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL REFERENCES devices(id),
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS device_history_device ON device_history(device_id, id);
CREATE TABLE IF NOT EXISTS enrollments (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    user_id TEXT REFERENCES users(id),
    kind TEXT NOT NULL,
    credential TEXT NOT NULL,
    descriptor TEXT NOT NULL,
    archive_on_confirm INTEGER NOT NULL DEFAULT 0,
    replaces TEXT,
    created_at INTEGER NOT NULL,
    confirmed_at INTEGER,
    closed_at INTEGER,
    close_reason TEXT
);
CREATE INDEX IF NOT EXISTS enrollments_device ON enrollments(device_id);
CREATE INDEX IF NOT EXISTS enrollments_open ON enrollments(confirmed_at, closed_at);
CREATE TABLE IF NOT EXISTS profile_issuances (
    uuid TEXT PRIMARY KEY,
    enrollment_id TEXT NOT NULL REFERENCES enrollments(id),
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    challenge_hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS profile_issuances_enrollment ON profile_issuances(enrollment_id);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint BLOB NOT NULL,
    enrollment_id TEXT NOT NULL REFERENCES enrollments(id),
    created_at INTEGER NOT NULL
);
"#;

/// Schema version 2: bulk enrollment profiles, their devices (CSV imports and Samsung KME
/// uploads). `bulk_devices` has no foreign keys and few indexes so that a 200,000-row import
/// stays fast; the service keeps the references consistent (one writer, one transaction).
const BULK_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS bulk_profiles (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    tokenless INTEGER NOT NULL DEFAULT 0,
    user_id TEXT,
    config TEXT NOT NULL DEFAULT '{}',
    token_generation INTEGER NOT NULL DEFAULT 0,
    token_id TEXT,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bulk_devices (
    id INTEGER PRIMARY KEY,
    profile_pk INTEGER,
    imei INTEGER,
    serial TEXT,
    manufacturer TEXT,
    manufacturer_norm TEXT,
    attributes TEXT,
    kme INTEGER NOT NULL DEFAULT 0,
    approved INTEGER NOT NULL DEFAULT 1,
    enrolled_device_id TEXT,
    enrolled_at INTEGER,
    created_at INTEGER NOT NULL
);
"#;

/// The indexes of `bulk_devices` (a large CSV import into a small table drops them and builds
/// them again at the end of its transaction, see `bulk::import_csv`).
pub const BULK_INDEXES: &str = r#"
CREATE UNIQUE INDEX IF NOT EXISTS bulk_devices_imei ON bulk_devices(imei) WHERE imei IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS bulk_devices_serial ON bulk_devices(serial, manufacturer_norm)
    WHERE serial IS NOT NULL AND manufacturer_norm IS NOT NULL;
CREATE INDEX IF NOT EXISTS bulk_devices_profile ON bulk_devices(profile_pk);
"#;

/// Applies the whole schema to a connection, migrating an older database (version 1 had no
/// `enrollments.bulk_device_id`).
pub fn apply_schema(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch(SCHEMA)?;
    let has_bulk_col: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('enrollments') WHERE name = 'bulk_device_id'")?
        .exists([])?;
    if !has_bulk_col {
        conn.execute_batch("ALTER TABLE enrollments ADD COLUMN bulk_device_id INTEGER")?;
    }
    conn.execute_batch(BULK_SCHEMA)?;
    conn.execute_batch(BULK_INDEXES)?;
    Ok(())
}

/// The database connection.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

/// Applies the connection settings shared by every connection to the database file.
pub fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies the schema.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open(path)?;
        configure(&conn)?;
        apply_schema(&conn)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(Self { conn })
    }

    /// The connection (for reads and single statements).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection, mutably (to start transactions).
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

// ---------------------------------------------------------------------------------------------
// enum <-> text

/// Wire name of a device state.
pub fn state_str(s: DeviceState) -> &'static str {
    match s {
        DeviceState::Pending => "pending",
        DeviceState::Active => "active",
        DeviceState::Retired => "retired",
        DeviceState::Wiped => "wiped",
        DeviceState::Cancelled => "cancelled",
        DeviceState::Archived => "archived",
    }
}

fn parse_state(s: &str) -> DeviceState {
    match s {
        "active" => DeviceState::Active,
        "retired" => DeviceState::Retired,
        "wiped" => DeviceState::Wiped,
        "cancelled" => DeviceState::Cancelled,
        "archived" => DeviceState::Archived,
        _ => DeviceState::Pending,
    }
}

/// Wire name of an MDM status.
pub fn mdm_str(m: MdmStatus) -> &'static str {
    match m {
        MdmStatus::Pending => "pending",
        MdmStatus::Enabled => "enabled",
        MdmStatus::Deactivated => "deactivated",
    }
}

fn parse_mdm(s: &str) -> MdmStatus {
    match s {
        "enabled" => MdmStatus::Enabled,
        "deactivated" => MdmStatus::Deactivated,
        _ => MdmStatus::Pending,
    }
}

/// Wire name of an action.
pub fn action_str(a: DeviceAction) -> &'static str {
    match a {
        DeviceAction::Retire => "retire",
        DeviceAction::Wipe => "wipe",
        DeviceAction::Reset => "reset",
    }
}

fn parse_action(s: Option<String>) -> Option<DeviceAction> {
    match s.as_deref() {
        Some("retire") => Some(DeviceAction::Retire),
        Some("wipe") => Some(DeviceAction::Wipe),
        Some("reset") => Some(DeviceAction::Reset),
        _ => None,
    }
}

fn kind_str(k: EnrollmentKind) -> &'static str {
    match k {
        EnrollmentKind::New => "new",
        EnrollmentKind::Reenroll => "reenroll",
    }
}

fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn from_json<T: serde::de::DeserializeOwned>(idx: usize, text: &str) -> StoreResult<T> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

/// Case-folded e-mail used for uniqueness and look-ups.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

// ---------------------------------------------------------------------------------------------
// meta

/// Reads a `meta` value.
pub fn meta_get(c: &Connection, key: &str) -> StoreResult<Option<String>> {
    c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

/// Writes a `meta` value.
pub fn meta_set(c: &Connection, key: &str, value: &str) -> StoreResult<()> {
    c.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// users

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Identifier.
    pub id: String,
    /// E-mail as entered.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Directory (LDAP) account.
    pub directory: bool,
    /// argon2 hash of the local password.
    pub password_hash: Option<String>,
    /// Creation time.
    pub created_at: i64,
}

impl UserRow {
    /// The admin view.
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            directory: self.directory,
            has_password: self.password_hash.is_some(),
            created_at: self.created_at,
        }
    }
}

const USER_COLS: &str = "id, email, display_name, directory, password_hash, created_at";

fn user_from_row(r: &Row<'_>) -> StoreResult<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        email: r.get(1)?,
        display_name: r.get(2)?,
        directory: r.get::<_, i64>(3)? != 0,
        password_hash: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// Inserts a user. Fails with a constraint violation if the e-mail exists (any case).
pub fn insert_user(c: &Connection, u: &UserRow) -> StoreResult<()> {
    c.execute(
        "INSERT INTO users(id, email, email_norm, display_name, directory, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            u.id,
            u.email,
            normalize_email(&u.email),
            u.display_name,
            i64::from(u.directory),
            u.password_hash,
            u.created_at
        ],
    )?;
    Ok(())
}

/// Deletes a user that has nothing attached (undo of a failed creation).
pub fn delete_user(c: &Connection, id: &str) -> StoreResult<()> {
    c.execute("DELETE FROM users WHERE id = ?1", [id])?;
    Ok(())
}

/// Finds a user by e-mail, case-insensitively.
pub fn user_by_email(c: &Connection, email: &str) -> StoreResult<Option<UserRow>> {
    c.query_row(
        &format!("SELECT {USER_COLS} FROM users WHERE email_norm = ?1"),
        [normalize_email(email)],
        user_from_row,
    )
    .optional()
}

/// Finds a user by id.
pub fn user_by_id(c: &Connection, id: &str) -> StoreResult<Option<UserRow>> {
    c.query_row(
        &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
        [id],
        user_from_row,
    )
    .optional()
}

/// All users, by e-mail.
pub fn list_users(c: &Connection) -> StoreResult<Vec<UserRow>> {
    let mut st = c.prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY email_norm"))?;
    let rows = st.query_map([], user_from_row)?;
    rows.collect()
}

// ---------------------------------------------------------------------------------------------
// PINs

/// A one-time PIN row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRow {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub user_id: String,
    /// argon2 hash of the PIN.
    pub pin_hash: String,
    /// Creation.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Failed attempts that lock the PIN.
    pub max_attempts: u32,
    /// When it was used.
    pub used_at: Option<i64>,
}

/// Revokes every live PIN of a user and stores a new one.
pub fn replace_pin(
    c: &Connection,
    user_id: &str,
    pin_hash: &str,
    now: i64,
    expires_at: i64,
    max_attempts: u32,
) -> StoreResult<()> {
    c.execute(
        "UPDATE pins SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user_id, now],
    )?;
    c.execute(
        "INSERT INTO pins(user_id, pin_hash, created_at, expires_at, attempts, max_attempts)
         VALUES (?1, ?2, ?3, ?4, 0, ?5)",
        params![user_id, pin_hash, now, expires_at, max_attempts],
    )?;
    Ok(())
}

/// The current (latest, not revoked) PIN of a user.
pub fn current_pin(c: &Connection, user_id: &str) -> StoreResult<Option<PinRow>> {
    c.query_row(
        "SELECT id, user_id, pin_hash, created_at, expires_at, attempts, max_attempts, used_at
         FROM pins WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY id DESC LIMIT 1",
        [user_id],
        |r| {
            Ok(PinRow {
                id: r.get(0)?,
                user_id: r.get(1)?,
                pin_hash: r.get(2)?,
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
                attempts: r.get(5)?,
                max_attempts: r.get(6)?,
                used_at: r.get(7)?,
            })
        },
    )
    .optional()
}

/// Counts one failed attempt; returns the new count.
pub fn pin_failed_attempt(c: &Connection, pin_id: i64) -> StoreResult<u32> {
    c.execute("UPDATE pins SET attempts = attempts + 1 WHERE id = ?1", [pin_id])?;
    c.query_row("SELECT attempts FROM pins WHERE id = ?1", [pin_id], |r| r.get(0))
}

/// Marks a PIN used.
pub fn pin_mark_used(c: &Connection, pin_id: i64, now: i64) -> StoreResult<()> {
    c.execute("UPDATE pins SET used_at = ?2 WHERE id = ?1", params![pin_id, now])?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// tokens

/// An enrollment token row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Identifier.
    pub id: String,
    /// User the token enrolls for (absent for bulk-profile tokens).
    pub user_id: Option<String>,
    /// Bulk profile the token belongs to (its public id).
    pub bulk_profile_id: Option<String>,
    /// Creation.
    pub created_at: i64,
    /// Expiry (`None`: never).
    pub expires_at: Option<i64>,
    /// Revocation.
    pub revoked_at: Option<i64>,
}

/// Stores a token by the SHA-256 of its text.
pub fn insert_token(c: &Connection, t: &TokenRow, token_hash: &[u8]) -> StoreResult<()> {
    c.execute(
        "INSERT INTO tokens(id, token_hash, user_id, bulk_profile_id, created_at, expires_at, revoked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            t.id,
            token_hash,
            t.user_id,
            t.bulk_profile_id,
            t.created_at,
            t.expires_at,
            t.revoked_at
        ],
    )?;
    Ok(())
}

/// Finds a token by the SHA-256 of its text.
pub fn token_by_hash(c: &Connection, token_hash: &[u8]) -> StoreResult<Option<TokenRow>> {
    c.query_row(
        "SELECT id, user_id, bulk_profile_id, created_at, expires_at, revoked_at FROM tokens WHERE token_hash = ?1",
        [token_hash],
        |r| {
            Ok(TokenRow {
                id: r.get(0)?,
                user_id: r.get(1)?,
                bulk_profile_id: r.get(2)?,
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
                revoked_at: r.get(5)?,
            })
        },
    )
    .optional()
}

/// Revokes a token (a bulk profile's token after a refresh).
pub fn revoke_token(c: &Connection, id: &str, now: i64) -> StoreResult<()> {
    c.execute(
        "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now],
    )?;
    Ok(())
}

/// Sets a token's expiry (`None`: never).
pub fn set_token_expiry(c: &Connection, id: &str, expires_at: Option<i64>) -> StoreResult<()> {
    c.execute(
        "UPDATE tokens SET expires_at = ?2 WHERE id = ?1",
        params![id, expires_at],
    )?;
    Ok(())
}

/// Finds a token row by id.
pub fn token_by_id(c: &Connection, id: &str) -> StoreResult<Option<TokenRow>> {
    c.query_row(
        "SELECT id, user_id, bulk_profile_id, created_at, expires_at, revoked_at FROM tokens WHERE id = ?1",
        [id],
        |r| {
            Ok(TokenRow {
                id: r.get(0)?,
                user_id: r.get(1)?,
                bulk_profile_id: r.get(2)?,
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
                revoked_at: r.get(5)?,
            })
        },
    )
    .optional()
}

// ---------------------------------------------------------------------------------------------
// devices

/// A device record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Identifier.
    pub id: String,
    /// Owner.
    pub user_id: Option<String>,
    /// Last description.
    pub descriptor: DeviceDescriptor,
    /// State.
    pub state: DeviceState,
    /// MDM status.
    pub mdm: MdmStatus,
    /// Action waiting for the device.
    pub pending_action: Option<DeviceAction>,
    /// Last action applied.
    pub last_action: Option<DeviceAction>,
    /// Creation.
    pub created_at: i64,
    /// Last activation.
    pub enrolled_at: Option<i64>,
    /// Last check-in.
    pub last_checkin_at: Option<i64>,
    /// Archival.
    pub archived_at: Option<i64>,
    /// Enrollment that last activated the record (the device secret derives from it).
    pub activated_by: Option<String>,
    /// Facts reported at check-in.
    pub details: BTreeMap<String, String>,
    /// Custom attributes.
    pub attributes: BTreeMap<String, String>,
}

const DEVICE_COLS: &str = "id, user_id, descriptor, state, mdm, pending_action, last_action, created_at, \
     enrolled_at, last_checkin_at, archived_at, activated_by, details, attributes";

fn device_from_row(r: &Row<'_>) -> StoreResult<DeviceRow> {
    let descriptor: String = r.get(2)?;
    let state: String = r.get(3)?;
    let mdm: String = r.get(4)?;
    let details: String = r.get(12)?;
    let attributes: String = r.get(13)?;
    Ok(DeviceRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        descriptor: from_json(2, &descriptor)?,
        state: parse_state(&state),
        mdm: parse_mdm(&mdm),
        pending_action: parse_action(r.get(5)?),
        last_action: parse_action(r.get(6)?),
        created_at: r.get(7)?,
        enrolled_at: r.get(8)?,
        last_checkin_at: r.get(9)?,
        archived_at: r.get(10)?,
        activated_by: r.get(11)?,
        details: from_json(12, &details)?,
        attributes: from_json(13, &attributes)?,
    })
}

fn set_imeis(c: &Connection, device_id: &str, imeis: &[String]) -> StoreResult<()> {
    c.execute("DELETE FROM device_imeis WHERE device_id = ?1", [device_id])?;
    for imei in imeis {
        c.execute(
            "INSERT OR IGNORE INTO device_imeis(device_id, imei) VALUES (?1, ?2)",
            params![device_id, imei],
        )?;
    }
    Ok(())
}

fn opt_nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Inserts a device record.
pub fn insert_device(c: &Connection, d: &DeviceRow) -> StoreResult<()> {
    let descriptor = serde_json::to_string(&d.descriptor).map_err(json_err)?;
    let details = serde_json::to_string(&d.details).map_err(json_err)?;
    let attributes = serde_json::to_string(&d.attributes).map_err(json_err)?;
    c.execute(
        &format!(
            "INSERT INTO devices({DEVICE_COLS}, platform, serial, manufacturer_norm, hardware_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
        ),
        params![
            d.id,
            d.user_id,
            descriptor,
            state_str(d.state),
            mdm_str(d.mdm),
            d.pending_action.map(action_str),
            d.last_action.map(action_str),
            d.created_at,
            d.enrolled_at,
            d.last_checkin_at,
            d.archived_at,
            d.activated_by,
            details,
            attributes,
            d.descriptor.platform.as_str(),
            opt_nonempty(&d.descriptor.serial),
            d.descriptor.manufacturer.trim().to_lowercase(),
            opt_nonempty(&d.descriptor.hardware_id),
        ],
    )?;
    set_imeis(c, &d.id, &d.descriptor.imeis)
}

/// Writes every mutable column of a device record (identifiers are re-indexed too).
pub fn update_device(c: &Connection, d: &DeviceRow) -> StoreResult<()> {
    let descriptor = serde_json::to_string(&d.descriptor).map_err(json_err)?;
    let details = serde_json::to_string(&d.details).map_err(json_err)?;
    let attributes = serde_json::to_string(&d.attributes).map_err(json_err)?;
    c.execute(
        "UPDATE devices SET user_id = ?2, descriptor = ?3, state = ?4, mdm = ?5, pending_action = ?6,
             last_action = ?7, enrolled_at = ?8, last_checkin_at = ?9, archived_at = ?10, activated_by = ?11,
             details = ?12, attributes = ?13, platform = ?14, serial = ?15, manufacturer_norm = ?16,
             hardware_id = ?17
         WHERE id = ?1",
        params![
            d.id,
            d.user_id,
            descriptor,
            state_str(d.state),
            mdm_str(d.mdm),
            d.pending_action.map(action_str),
            d.last_action.map(action_str),
            d.enrolled_at,
            d.last_checkin_at,
            d.archived_at,
            d.activated_by,
            details,
            attributes,
            d.descriptor.platform.as_str(),
            opt_nonempty(&d.descriptor.serial),
            d.descriptor.manufacturer.trim().to_lowercase(),
            opt_nonempty(&d.descriptor.hardware_id),
        ],
    )?;
    set_imeis(c, &d.id, &d.descriptor.imeis)
}

/// Finds a device record.
pub fn device_by_id(c: &Connection, id: &str) -> StoreResult<Option<DeviceRow>> {
    c.query_row(
        &format!("SELECT {DEVICE_COLS} FROM devices WHERE id = ?1"),
        [id],
        device_from_row,
    )
    .optional()
}

/// Device records of the same platform that share an identifier with `d`: the hardware id, the
/// serial number (with the manufacturer, case-insensitively) or any IMEI. Newest first.
pub fn matching_devices(
    c: &Connection,
    d: &DeviceDescriptor,
    include_archived: bool,
) -> StoreResult<Vec<DeviceRow>> {
    let imei1 = d.imeis.first().map(String::as_str);
    let imei2 = d.imeis.get(1).map(String::as_str);
    let sql = format!(
        "SELECT {DEVICE_COLS} FROM devices
         WHERE platform = ?1 AND (?6 OR state != 'archived') AND (
             (?2 IS NOT NULL AND hardware_id = ?2)
             OR (?3 IS NOT NULL AND serial = ?3 AND manufacturer_norm = ?4)
             OR id IN (SELECT device_id FROM device_imeis WHERE imei IN (?5, ?7)))
         ORDER BY created_at DESC, rowid DESC"
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(
        params![
            d.platform.as_str(),
            opt_nonempty(&d.hardware_id),
            opt_nonempty(&d.serial),
            d.manufacturer.trim().to_lowercase(),
            imei1,
            include_archived,
            imei2
        ],
        device_from_row,
    )?;
    rows.collect()
}

/// Device records, newest first; archived ones only when asked.
pub fn list_devices(c: &Connection, include_archived: bool) -> StoreResult<Vec<DeviceRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {DEVICE_COLS} FROM devices WHERE (?1 OR state != 'archived') ORDER BY created_at DESC, rowid DESC"
    ))?;
    let rows = st.query_map([include_archived], device_from_row)?;
    rows.collect()
}

/// The admin view of a device record (`user` is the owner's e-mail).
pub fn device_view(c: &Connection, d: &DeviceRow) -> StoreResult<DeviceView> {
    let user = match &d.user_id {
        Some(id) => user_by_id(c, id)?.map(|u| u.email),
        None => None,
    };
    Ok(DeviceView {
        id: d.id.clone(),
        user,
        device: d.descriptor.clone(),
        state: d.state,
        mdm: d.mdm,
        pending_action: d.pending_action,
        last_action: d.last_action,
        created_at: d.created_at,
        enrolled_at: d.enrolled_at,
        last_checkin_at: d.last_checkin_at,
        attributes: d.attributes.clone(),
    })
}

/// Appends a history line.
pub fn add_history(c: &Connection, device_id: &str, at: i64, event: &str, detail: &str) -> StoreResult<()> {
    c.execute(
        "INSERT INTO device_history(device_id, at, event, detail) VALUES (?1, ?2, ?3, ?4)",
        params![device_id, at, event, detail],
    )?;
    Ok(())
}

/// History of a device, oldest first.
pub fn history(c: &Connection, device_id: &str) -> StoreResult<Vec<HistoryEntry>> {
    let mut st =
        c.prepare("SELECT at, event, detail FROM device_history WHERE device_id = ?1 ORDER BY id")?;
    let rows = st.query_map([device_id], |r| {
        Ok(HistoryEntry {
            at: r.get(0)?,
            event: r.get(1)?,
            detail: r.get(2)?,
        })
    })?;
    rows.collect()
}

// ---------------------------------------------------------------------------------------------
// enrollments

/// An enrollment attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentRow {
    /// Identifier.
    pub id: String,
    /// Device record it activates.
    pub device_id: String,
    /// User.
    pub user_id: Option<String>,
    /// New or re-enrollment.
    pub kind: EnrollmentKind,
    /// Credential kind used (`token`, `pin`, `password`, `device`).
    pub credential: String,
    /// Description sent by the device.
    pub descriptor: DeviceDescriptor,
    /// Archive the other entries of the same device on confirm (Android 10+).
    pub archive_on_confirm: bool,
    /// Device record a device-initiated re-enrollment came from (archived on confirm when
    /// `archive_on_confirm`, even if its identifiers changed).
    pub replaces: Option<String>,
    /// Start.
    pub created_at: i64,
    /// Profile installed.
    pub confirmed_at: Option<i64>,
    /// Closed (cancelled or superseded).
    pub closed_at: Option<i64>,
    /// `cancelled` or `superseded`.
    pub close_reason: Option<String>,
    /// The bulk device (CSV or Samsung KME) this enrollment matched: on confirm its custom
    /// attributes go to the device record and it is marked enrolled.
    pub bulk_device_id: Option<i64>,
}

const ENROLLMENT_COLS: &str =
    "id, device_id, user_id, kind, credential, descriptor, archive_on_confirm, created_at, \
     confirmed_at, closed_at, close_reason, replaces, bulk_device_id";

fn enrollment_from_row(r: &Row<'_>) -> StoreResult<EnrollmentRow> {
    let kind: String = r.get(3)?;
    let descriptor: String = r.get(5)?;
    Ok(EnrollmentRow {
        id: r.get(0)?,
        device_id: r.get(1)?,
        user_id: r.get(2)?,
        kind: if kind == "new" {
            EnrollmentKind::New
        } else {
            EnrollmentKind::Reenroll
        },
        credential: r.get(4)?,
        descriptor: from_json(5, &descriptor)?,
        archive_on_confirm: r.get::<_, i64>(6)? != 0,
        created_at: r.get(7)?,
        confirmed_at: r.get(8)?,
        closed_at: r.get(9)?,
        close_reason: r.get(10)?,
        replaces: r.get(11)?,
        bulk_device_id: r.get(12)?,
    })
}

/// Inserts an enrollment.
pub fn insert_enrollment(c: &Connection, e: &EnrollmentRow) -> StoreResult<()> {
    let descriptor = serde_json::to_string(&e.descriptor).map_err(json_err)?;
    c.execute(
        &format!("INSERT INTO enrollments({ENROLLMENT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
        params![
            e.id,
            e.device_id,
            e.user_id,
            kind_str(e.kind),
            e.credential,
            descriptor,
            i64::from(e.archive_on_confirm),
            e.created_at,
            e.confirmed_at,
            e.closed_at,
            e.close_reason,
            e.replaces,
            e.bulk_device_id
        ],
    )?;
    Ok(())
}

/// Finds an enrollment.
pub fn enrollment_by_id(c: &Connection, id: &str) -> StoreResult<Option<EnrollmentRow>> {
    c.query_row(
        &format!("SELECT {ENROLLMENT_COLS} FROM enrollments WHERE id = ?1"),
        [id],
        enrollment_from_row,
    )
    .optional()
}

/// Marks an enrollment confirmed.
pub fn enrollment_confirm(c: &Connection, id: &str, now: i64) -> StoreResult<()> {
    c.execute(
        "UPDATE enrollments SET confirmed_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// Closes an enrollment (`cancelled` or `superseded`).
pub fn enrollment_close(c: &Connection, id: &str, now: i64, reason: &str) -> StoreResult<()> {
    c.execute(
        "UPDATE enrollments SET closed_at = ?2, close_reason = ?3 WHERE id = ?1 AND closed_at IS NULL",
        params![id, now, reason],
    )?;
    Ok(())
}

/// Open (not confirmed, not closed) enrollments of a device record.
pub fn open_enrollments_for_device(c: &Connection, device_id: &str) -> StoreResult<Vec<EnrollmentRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {ENROLLMENT_COLS} FROM enrollments
         WHERE device_id = ?1 AND confirmed_at IS NULL AND closed_at IS NULL ORDER BY created_at"
    ))?;
    let rows = st.query_map([device_id], enrollment_from_row)?;
    rows.collect()
}

/// An open enrollment with its last profile issuance, for reminders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRow {
    /// Enrollment.
    pub enrollment_id: String,
    /// Device record.
    pub device_id: String,
    /// User e-mail.
    pub user: Option<String>,
    /// Start.
    pub started_at: i64,
    /// Last profile issuance.
    pub last_profile_at: Option<i64>,
}

/// Every open enrollment, oldest first.
pub fn pending_installs(c: &Connection) -> StoreResult<Vec<PendingRow>> {
    let mut st = c.prepare(
        "SELECT e.id, e.device_id, u.email, e.created_at,
                (SELECT MAX(issued_at) FROM profile_issuances p WHERE p.enrollment_id = e.id)
         FROM enrollments e LEFT JOIN users u ON u.id = e.user_id
         WHERE e.confirmed_at IS NULL AND e.closed_at IS NULL
         ORDER BY e.created_at, e.rowid",
    )?;
    let rows = st.query_map([], |r| {
        Ok(PendingRow {
            enrollment_id: r.get(0)?,
            device_id: r.get(1)?,
            user: r.get(2)?,
            started_at: r.get(3)?,
            last_profile_at: r.get(4)?,
        })
    })?;
    rows.collect()
}

// ---------------------------------------------------------------------------------------------
// profile issuances

/// Records an issued profile.
pub fn insert_issuance(
    c: &Connection,
    uuid: &str,
    enrollment_id: &str,
    issued_at: i64,
    expires_at: i64,
    challenge_hash: &[u8],
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO profile_issuances(uuid, enrollment_id, issued_at, expires_at, challenge_hash)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![uuid, enrollment_id, issued_at, expires_at, challenge_hash],
    )?;
    Ok(())
}

/// How many profiles an enrollment was issued.
pub fn issuance_count(c: &Connection, enrollment_id: &str) -> StoreResult<u32> {
    c.query_row(
        "SELECT COUNT(*) FROM profile_issuances WHERE enrollment_id = ?1",
        [enrollment_id],
        |r| r.get(0),
    )
}

/// Whether `uuid` was issued for `enrollment_id`.
pub fn issuance_exists(c: &Connection, enrollment_id: &str, uuid: &str) -> StoreResult<bool> {
    c.query_row(
        "SELECT COUNT(*) FROM profile_issuances WHERE enrollment_id = ?1 AND uuid = ?2",
        params![enrollment_id, uuid],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

// ---------------------------------------------------------------------------------------------
// idempotency

/// Looks up an idempotency key: (request fingerprint, enrollment id).
pub fn idempotency_get(c: &Connection, key: &str) -> StoreResult<Option<(Vec<u8>, String)>> {
    c.query_row(
        "SELECT fingerprint, enrollment_id FROM idempotency WHERE key = ?1",
        [key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Stores an idempotency key.
pub fn idempotency_put(
    c: &Connection,
    key: &str,
    fingerprint: &[u8],
    enrollment_id: &str,
    now: i64,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO idempotency(key, fingerprint, enrollment_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![key, fingerprint, enrollment_id, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use enroll_core::protocol::Platform;

    fn desc(hw: Option<&str>, serial: Option<&str>, imeis: &[&str]) -> DeviceDescriptor {
        DeviceDescriptor {
            platform: Platform::Android,
            os_version: "14".into(),
            model: "Pixel".into(),
            manufacturer: "Google".into(),
            serial: serial.map(Into::into),
            imeis: imeis.iter().map(|s| s.to_string()).collect(),
            hardware_id: hw.map(Into::into),
            agent_version: "1".into(),
        }
    }

    fn device(id: &str, d: DeviceDescriptor) -> DeviceRow {
        DeviceRow {
            id: id.into(),
            user_id: None,
            descriptor: d,
            state: DeviceState::Active,
            mdm: MdmStatus::Enabled,
            pending_action: None,
            last_action: None,
            created_at: 1,
            enrolled_at: Some(1),
            last_checkin_at: None,
            archived_at: None,
            activated_by: None,
            details: BTreeMap::new(),
            attributes: BTreeMap::new(),
        }
    }

    fn mem() -> Store {
        let conn = Connection::open_in_memory().unwrap();
        apply_schema(&conn).unwrap();
        Store { conn }
    }

    #[test]
    fn version_1_databases_are_migrated() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        apply_schema(&conn).unwrap();
        apply_schema(&conn).unwrap();
        let has: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('enrollments') WHERE name = 'bulk_device_id'")
            .unwrap()
            .exists([])
            .unwrap();
        assert!(has);
    }

    #[test]
    fn matching_by_each_identifier() {
        let s = mem();
        let c = s.conn();
        insert_device(c, &device("a", desc(Some("hw-a"), None, &[]))).unwrap();
        insert_device(c, &device("b", desc(None, Some("SER-B"), &[]))).unwrap();
        insert_device(
            c,
            &device("c", desc(None, None, &["490154203237518", "356938035643809"])),
        )
        .unwrap();

        let ids = |d: &DeviceDescriptor| -> Vec<String> {
            matching_devices(c, d, false)
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        assert_eq!(ids(&desc(Some("hw-a"), None, &[])), vec!["a"]);
        let mut by_serial = desc(None, Some("SER-B"), &[]);
        by_serial.manufacturer = "GOOGLE".into();
        assert_eq!(ids(&by_serial), vec!["b"]);
        by_serial.manufacturer = "Samsung".into();
        assert!(ids(&by_serial).is_empty());
        assert_eq!(ids(&desc(None, None, &["356938035643809"])), vec!["c"]);
        assert!(ids(&desc(Some(""), Some(""), &[])).is_empty());
        let mut other_platform = desc(Some("hw-a"), None, &[]);
        other_platform.platform = Platform::Ios;
        assert!(ids(&other_platform).is_empty());

        let mut archived = device("a", desc(Some("hw-a"), None, &[]));
        archived.state = DeviceState::Archived;
        update_device(c, &archived).unwrap();
        assert!(ids(&desc(Some("hw-a"), None, &[])).is_empty());
        assert_eq!(
            matching_devices(c, &desc(Some("hw-a"), None, &[]), true)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn emails_are_case_insensitive_unique() {
        let s = mem();
        let u = UserRow {
            id: "1".into(),
            email: "Alice@Example.com".into(),
            display_name: String::new(),
            directory: false,
            password_hash: None,
            created_at: 0,
        };
        insert_user(s.conn(), &u).unwrap();
        let mut dup = u.clone();
        dup.id = "2".into();
        dup.email = "alice@example.COM".into();
        assert!(insert_user(s.conn(), &dup).is_err());
        assert_eq!(
            user_by_email(s.conn(), "ALICE@example.com").unwrap().unwrap().id,
            "1"
        );
    }
}
