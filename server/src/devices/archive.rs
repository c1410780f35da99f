//! Archiving (seed 003, Android 10 and later): when a re-enrollment of such a device is confirmed
//! as a new entry, the device's other entries (and the entry it replaces) become `archived`,
//! with a history line naming the new entry.

use super::queries::{add_history, device_by_id, matching_devices, update_device};
use crate::error::ApiError;
use enroll_proto::{DeviceDescriptor, DeviceState, MdmStatus};
use rusqlite::Connection;

/// Archives the entries of the device described by `descriptor`, and the entry `replaces`,
/// except `device_id` (the entry just activated).
pub(crate) fn archive_replaced(
    c: &Connection,
    descriptor: &DeviceDescriptor,
    replaces: Option<&str>,
    device_id: &str,
    now: i64,
) -> Result<(), ApiError> {
    let mut olds = matching_devices(c, descriptor, false)?;
    if let Some(replaced) = replaces.map(|id| device_by_id(c, id)).transpose()?.flatten() {
        if !olds.iter().any(|o| o.id == replaced.id) && replaced.state != DeviceState::Archived {
            olds.push(replaced);
        }
    }
    for mut old in olds {
        if old.id == device_id {
            continue;
        }
        old.state = DeviceState::Archived;
        old.mdm = MdmStatus::Deactivated;
        old.archived_at = Some(now);
        old.pending_action = None;
        update_device(c, &old)?;
        add_history(
            c,
            &old.id,
            now,
            "archived",
            &format!("replaced by device {}", device_id),
        )?;
        tracing::info!(device_id = %old.id, replaced_by = %device_id, "device entry archived");
    }
    Ok(())
}
