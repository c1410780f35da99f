//! Enrollment rows: opened and confirmed by the enrollment flow (`enrollment/`), closed by it
//! (cancel, superseded) and by administrator actions (`devices/`).

use super::CachedSql;
use super::{from_json, json_err, StoreResult};
use enroll_proto::{DeviceDescriptor, EnrollmentKind};
use rusqlite::{params, Connection, OptionalExtension, Row};

fn kind_str(k: EnrollmentKind) -> &'static str {
    match k {
        EnrollmentKind::New => "new",
        EnrollmentKind::Reenroll => "reenroll",
    }
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
    c.exec(
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
    c.row(
        &format!("SELECT {ENROLLMENT_COLS} FROM enrollments WHERE id = ?1"),
        [id],
        enrollment_from_row,
    )
    .optional()
}

/// Marks an enrollment confirmed.
pub fn enrollment_confirm(c: &Connection, id: &str, now: i64) -> StoreResult<()> {
    c.exec(
        "UPDATE enrollments SET confirmed_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// Closes an enrollment (`cancelled` or `superseded`).
pub fn enrollment_close(c: &Connection, id: &str, now: i64, reason: &str) -> StoreResult<()> {
    c.exec(
        "UPDATE enrollments SET closed_at = ?2, close_reason = ?3 WHERE id = ?1 AND closed_at IS NULL",
        params![id, now, reason],
    )?;
    Ok(())
}

/// Open (not confirmed, not closed) enrollments of a device record.
pub fn open_enrollments_for_device(c: &Connection, device_id: &str) -> StoreResult<Vec<EnrollmentRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {ENROLLMENT_COLS} FROM enrollments
         WHERE device_id = ?1 AND confirmed_at IS NULL AND closed_at IS NULL ORDER BY created_at"
    ))?;
    let rows = st.query_map([device_id], enrollment_from_row)?;
    rows.collect()
}
