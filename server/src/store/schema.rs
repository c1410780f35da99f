//! The database schema (one `CREATE TABLE IF NOT EXISTS` script per area) and its migrations,
//! applied by [`crate::store::Store::open`].

use super::StoreResult;
use rusqlite::Connection;

/// Schema version written to `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 3;

pub(super) const SCHEMA: &str = r#"
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
CREATE INDEX IF NOT EXISTS profile_issuances_challenge ON profile_issuances(challenge_hash);
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

/// Apple MDM: used SCEP challenges, identities issued by the SCEP CA.
const APPLE_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS scep_challenges_used (
    issuance_uuid TEXT PRIMARY KEY REFERENCES profile_issuances(uuid),
    used_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS apple_certificates (
    serial TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    enrollment_id TEXT REFERENCES enrollments(id),
    cert_der BLOB NOT NULL,
    issued_at INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS apple_certificates_device ON apple_certificates(device_id);
"#;

/// Schema version 3, Apple MDM check-in and command channel: the UDID each device checked in
/// with (bound to its SCEP identity at `Authenticate`, push token from `TokenUpdate`), and the
/// command queue with each command's result.
const APPLE_MDM_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS apple_enrollments (
    udid TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    cert_serial TEXT NOT NULL,
    enrollment_id TEXT,
    topic TEXT NOT NULL,
    push_token BLOB,
    push_magic TEXT,
    unlock_token BLOB,
    authenticated_at INTEGER NOT NULL,
    token_updated_at INTEGER,
    checked_out_at INTEGER,
    removed_at INTEGER,
    last_seen_at INTEGER,
    device_information TEXT NOT NULL DEFAULT '{}',
    information_at INTEGER
);
CREATE INDEX IF NOT EXISTS apple_enrollments_device ON apple_enrollments(device_id);
CREATE UNIQUE INDEX IF NOT EXISTS apple_enrollments_cert ON apple_enrollments(cert_serial);
CREATE TABLE IF NOT EXISTS apple_commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL REFERENCES devices(id),
    request_type TEXT NOT NULL,
    body BLOB NOT NULL,
    status TEXT NOT NULL,
    origin TEXT NOT NULL,
    queued_at INTEGER NOT NULL,
    sent_at INTEGER,
    answered_at INTEGER,
    result BLOB,
    error_chain TEXT
);
CREATE INDEX IF NOT EXISTS apple_commands_device ON apple_commands(device_id, status, seq);
"#;

/// Schema version 3 also holds Windows MDM (issue 12): the enrollment of each Windows device (certificate, bulk owner,
/// Entra device), queued OMA-DM commands, OMA-DM sessions, the users who must change their
/// password at their first sign-in (seed 001), and the simulated Entra tenant (seed 002).
const WINDOWS_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS windows_devices (
    device_id TEXT PRIMARY KEY REFERENCES devices(id),
    hw_dev_id TEXT NOT NULL,
    enrollment_kind TEXT NOT NULL,
    bulk_owner TEXT REFERENCES users(id),
    entra_device_id TEXT,
    cert_serial TEXT NOT NULL UNIQUE,
    cert_der BLOB NOT NULL,
    enrolled_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS windows_devices_hw ON windows_devices(hw_dev_id);
CREATE TABLE IF NOT EXISTS windows_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL REFERENCES devices(id),
    verb TEXT NOT NULL,
    uri TEXT NOT NULL,
    data TEXT,
    created_at INTEGER NOT NULL,
    session_id TEXT,
    msg_id INTEGER,
    cmd_id INTEGER,
    status TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS windows_commands_device ON windows_commands(device_id, id);
CREATE TABLE IF NOT EXISTS windows_sessions (
    device_id TEXT NOT NULL REFERENCES devices(id),
    session_id TEXT NOT NULL,
    messages INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    PRIMARY KEY (device_id, session_id)
);
CREATE TABLE IF NOT EXISTS password_change_required (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    since INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entra_tenants (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL UNIQUE,
    key_pkcs8 BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entra_users (
    upn_norm TEXT PRIMARY KEY,
    upn TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES entra_tenants(id),
    mfa INTEGER NOT NULL DEFAULT 0,
    package INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entra_bulk_tokens (
    token_hash BLOB PRIMARY KEY,
    package_upn TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entra_devices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES entra_tenants(id),
    owner_upn TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
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
    conn.execute_batch(APPLE_SCHEMA)?;
    conn.execute_batch(APPLE_MDM_SCHEMA)?;
    conn.execute_batch(WINDOWS_SCHEMA)?;
    Ok(())
}
