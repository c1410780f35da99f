//! Devices: the registry of device records and what the administrator sees and does with it.
//!
//! - **States** (seed 003): `pending` → `active` on confirm; `cancelled`; `retired` / `wiped`
//!   (administrator actions, delivered at the next check-in); `archived` (an Android 10+ device
//!   re-enrolled as a new entry: [`archives_on_reenroll`], [`archive_replaced`]). The state columns and their text
//!   forms are in [`queries`].
//! - **History**: every change of state appends a line (`device_history`).
//! - **Admin actions**: retire, wipe, reset ([`DeviceService::device_action`]) close the
//!   device's open enrollments.
//! - **Pending installs**: enrollments started and never confirmed.
//!
//! The device rows ([`queries::DeviceRow`] and their look-ups) are this domain's API for the
//! enrollment flow, which creates, activates and archives entries. This domain depends on
//! `users` (an owner's e-mail in views) and on the shared layers only.

mod archive;
pub(crate) mod queries;
mod routes;

pub(crate) use archive::archive_replaced;
pub(crate) use queries::*;
pub(crate) use routes::table;

use crate::common::id_ok;
use crate::error::ApiError;
use crate::state::domain_service;
use crate::store;
use enroll_proto::{
    DeviceAction, DeviceDescriptor, DeviceDetail, DeviceState, DeviceView, ErrorCode, MdmStatus,
    PendingInstall, Platform,
};
use rusqlite::TransactionBehavior;

domain_service!(
    /// Rules of the device registry (admin views and actions).
    DeviceService
);

/// Major version of an OS version string (`"10.0.1"` → 10); `None` if it does not start with
/// digits.
pub fn os_major(version: &str) -> Option<u32> {
    let digits: String = version.trim().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Whether re-enrolling this device creates a new entry and archives the old ones (Android 10
/// and later; an unreadable version counts as recent).
pub fn archives_on_reenroll(d: &DeviceDescriptor) -> bool {
    d.platform == Platform::Android && os_major(&d.os_version).is_none_or(|v| v >= 10)
}

fn action_event(a: DeviceAction) -> &'static str {
    match a {
        DeviceAction::Retire => "retired",
        DeviceAction::Wipe => "wiped",
        DeviceAction::Reset => "reset",
    }
}

impl DeviceService<'_> {
    /// `GET /admin/devices` (archived entries only when asked).
    pub fn list_devices(&self, include_archived: bool) -> Result<Vec<DeviceView>, ApiError> {
        let store = self.read()?;
        let c: &rusqlite::Connection = &store;
        queries::list_devices(c, include_archived)?
            .iter()
            .map(|d| Ok(queries::device_view(c, d)?))
            .collect()
    }

    /// `GET /admin/devices/{id}`: the record, its history and its archived entries.
    pub fn device_detail(&self, id: &str) -> Result<DeviceDetail, ApiError> {
        let store = self.read()?;
        let c: &rusqlite::Connection = &store;
        let not_found = || ApiError::new(ErrorCode::DeviceNotFound, "no such device");
        if !id_ok(id) {
            return Err(not_found());
        }
        let d = queries::device_by_id(c, id)?.ok_or_else(not_found)?;
        let mut archived: Vec<DeviceRow> = queries::matching_devices(c, &d.descriptor, true)?
            .into_iter()
            .filter(|o| o.id != d.id && o.state == DeviceState::Archived)
            .collect();
        archived.sort_by_key(|o| std::cmp::Reverse((o.archived_at, o.created_at)));
        Ok(DeviceDetail {
            device: queries::device_view(c, &d)?,
            history: queries::history(c, &d.id)?,
            archived: archived
                .iter()
                .map(|o| queries::device_view(c, o))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Retire, wipe or reset: applied on the server at once, delivered at the next check-in.
    pub fn device_action(&self, id: &str, action: DeviceAction) -> Result<DeviceView, ApiError> {
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let not_found = || ApiError::new(ErrorCode::DeviceNotFound, "no such device");
        if !id_ok(id) {
            return Err(not_found());
        }
        let mut d = queries::device_by_id(&tx, id)?.ok_or_else(not_found)?;
        if d.state != DeviceState::Active {
            return Err(ApiError::new(
                ErrorCode::DeviceInactive,
                "only an active device can take this action",
            )
            .with_status(axum::http::StatusCode::CONFLICT));
        }
        match action {
            DeviceAction::Retire => {
                d.state = DeviceState::Retired;
                d.mdm = MdmStatus::Deactivated;
            }
            DeviceAction::Wipe => {
                d.state = DeviceState::Wiped;
                d.mdm = MdmStatus::Deactivated;
            }
            DeviceAction::Reset => {}
        }
        d.pending_action = Some(action);
        queries::update_device(&tx, &d)?;
        queries::add_history(&tx, &d.id, now, action_event(action), "waiting for the device")?;
        if action != DeviceAction::Reset {
            for open in store::open_enrollments_for_device(&tx, &d.id)? {
                store::enrollment_close(&tx, &open.id, now, action_event(action))?;
            }
        }
        let view = queries::device_view(&tx, &d)?;
        tx.commit()?;
        tracing::info!(device_id = %d.id, action = queries::action_str(action), "administrator action");
        Ok(view)
    }

    /// `GET /admin/enrollments/pending`: enrollments started and never confirmed.
    pub fn pending_installs(&self) -> Result<Vec<PendingInstall>, ApiError> {
        Ok(queries::pending_installs(&*self.read()?)?
            .into_iter()
            .map(|p| PendingInstall {
                enrollment_id: p.enrollment_id,
                device_id: p.device_id,
                user: p.user,
                started_at: p.started_at,
                last_profile_at: p.last_profile_at,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_major_versions() {
        assert_eq!(os_major("14"), Some(14));
        assert_eq!(os_major("9"), Some(9));
        assert_eq!(os_major("10.0.1"), Some(10));
        assert_eq!(os_major("beta"), None);
    }
}
