//! Store queries of the device registry: device records (with their IMEIs), the text forms of
//! states, MDM statuses and actions, the history, and the pending installs.

use crate::store::CachedSql;
use crate::store::{from_json, json_err, StoreResult};
use crate::users;
use enroll_proto::{DeviceAction, DeviceDescriptor, DeviceState, DeviceView, HistoryEntry, MdmStatus};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::BTreeMap;

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

impl DeviceRow {
    /// A new record, pending its first activation, with a fresh id.
    pub fn pending(user_id: Option<String>, descriptor: DeviceDescriptor, now: i64) -> Self {
        Self {
            id: crate::common::new_id(),
            user_id,
            descriptor,
            state: DeviceState::Pending,
            mdm: MdmStatus::Pending,
            pending_action: None,
            last_action: None,
            created_at: now,
            enrolled_at: None,
            last_checkin_at: None,
            archived_at: None,
            activated_by: None,
            details: BTreeMap::new(),
            attributes: BTreeMap::new(),
        }
    }
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
    c.exec("DELETE FROM device_imeis WHERE device_id = ?1", [device_id])?;
    for imei in imeis {
        c.exec(
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
    c.exec(
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
    c.exec(
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

/// Records a contact of the device (`last_checkin_at`) without rewriting the whole record.
pub fn touch_checkin(c: &Connection, id: &str, now: i64) -> StoreResult<()> {
    c.exec(
        "UPDATE devices SET last_checkin_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// Finds a device record.
pub fn device_by_id(c: &Connection, id: &str) -> StoreResult<Option<DeviceRow>> {
    c.row(
        &format!("SELECT {DEVICE_COLS} FROM devices WHERE id = ?1"),
        [id],
        device_from_row,
    )
    .optional()
}

/// The matching query of [`matching_devices`]: one indexed lookup per identifier (hardware id,
/// serial + manufacturer, IMEI), united. Written as one `OR` over the three, SQLite walked every
/// device of the platform (`devices_serial` on its `platform` prefix only) on each enrollment;
/// `+platform` keeps the outer filter off that index. A NULL identifier matches nothing
/// (`= NULL` is never true), as before.
pub(crate) fn matching_sql() -> String {
    format!(
        "SELECT {DEVICE_COLS} FROM devices
         WHERE id IN (
             SELECT id FROM devices WHERE platform = ?1 AND hardware_id = ?2
             UNION SELECT id FROM devices
                   WHERE platform = ?1 AND serial = ?3 AND manufacturer_norm = ?4
             UNION SELECT device_id FROM device_imeis WHERE imei IN (?5, ?7))
           AND +platform = ?1 AND (?6 OR state != 'archived')
         ORDER BY created_at DESC, rowid DESC"
    )
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
    let mut st = c.prepare_cached(&matching_sql())?;
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
    let mut st = c.prepare_cached(&format!(
        "SELECT {DEVICE_COLS} FROM devices WHERE (?1 OR state != 'archived') ORDER BY created_at DESC, rowid DESC"
    ))?;
    let rows = st.query_map([include_archived], device_from_row)?;
    rows.collect()
}

/// The admin view of a device record (`user` is the owner's e-mail).
pub fn device_view(c: &Connection, d: &DeviceRow) -> StoreResult<DeviceView> {
    let user = match &d.user_id {
        Some(id) => users::user_by_id(c, id)?.map(|u| u.email),
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
    c.exec(
        "INSERT INTO device_history(device_id, at, event, detail) VALUES (?1, ?2, ?3, ?4)",
        params![device_id, at, event, detail],
    )?;
    Ok(())
}

/// History of a device, oldest first.
pub fn history(c: &Connection, device_id: &str) -> StoreResult<Vec<HistoryEntry>> {
    let mut st =
        c.prepare_cached("SELECT at, event, detail FROM device_history WHERE device_id = ?1 ORDER BY id")?;
    let rows = st.query_map([device_id], |r| {
        Ok(HistoryEntry {
            at: r.get(0)?,
            event: r.get(1)?,
            detail: r.get(2)?,
        })
    })?;
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
    let mut st = c.prepare_cached(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::mem;
    use enroll_proto::Platform;

    #[test]
    fn matching_looks_devices_up_by_index_only() {
        let store = mem();
        let steps = crate::store::tests::row_by_row_steps(store.conn(), &matching_sql());
        assert!(steps.is_empty(), "{steps:?}");
    }

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
}
