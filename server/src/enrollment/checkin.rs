//! What an enrolled agent calls with its device secret: check-in (its description and details,
//! the pending action in the answer) and the acknowledgement of a retire / wipe / reset.

use super::validate::validate_descriptor;
use super::{EnrollmentService, MAX_DETAILS};
use crate::common::{field, id_ok};
use crate::crypto;
use crate::devices::{self, DeviceRow};
use crate::error::ApiError;
use enroll_proto::{AckRequest, CheckinRequest, CheckinResponse, DeviceState, ErrorCode};
use rusqlite::{Connection, TransactionBehavior};

impl EnrollmentService<'_> {
    /// Finds a device and checks its bearer secret (derived from the enrollment that last
    /// activated it).
    pub(super) fn auth_device(
        &self,
        c: &Connection,
        id: &str,
        bearer: Option<&str>,
    ) -> Result<DeviceRow, ApiError> {
        let bearer = bearer.ok_or_else(ApiError::unauthorized)?;
        let not_found = || ApiError::new(ErrorCode::DeviceNotFound, "no such device");
        if !id_ok(id) {
            return Err(not_found());
        }
        let d = devices::device_by_id(c, id)?.ok_or_else(not_found)?;
        let Some(activated_by) = &d.activated_by else {
            return Err(ApiError::unauthorized());
        };
        if !crypto::ct_eq_str(bearer, &self.device_secret(&d.id, activated_by)) {
            return Err(ApiError::unauthorized());
        }
        Ok(d)
    }

    /// Devices may call check-in/ack while active, or while a retire/wipe waits for them.
    pub(super) fn require_reachable(d: &DeviceRow) -> Result<(), ApiError> {
        let ok = match d.state {
            DeviceState::Active => true,
            DeviceState::Retired | DeviceState::Wiped => d.pending_action.is_some(),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::DeviceInactive,
                "the device is no longer managed: enroll again",
            ))
        }
    }

    /// `POST /devices/{id}/checkin`.
    pub fn checkin(
        &self,
        id: &str,
        bearer: Option<&str>,
        req: &CheckinRequest,
    ) -> Result<CheckinResponse, ApiError> {
        validate_descriptor(&req.device)?;
        if req.details.len() > MAX_DETAILS {
            return Err(ApiError::bad_request(format!(
                "details has more than {MAX_DETAILS} entries"
            )));
        }
        for (k, v) in &req.details {
            field("details key", k)?;
            field("details value", v)?;
        }
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut d = self.auth_device(&tx, id, bearer)?;
        Self::require_reachable(&d)?;
        if req.device.platform != d.descriptor.platform {
            return Err(ApiError::bad_request(
                "device.platform differs from the enrolled device",
            ));
        }
        d.descriptor = req.device.clone();
        d.details = req.details.clone();
        d.last_checkin_at = Some(now);
        devices::update_device(&tx, &d)?;
        tx.commit()?;
        Ok(CheckinResponse {
            device_state: d.state,
            action: d.pending_action,
        })
    }

    /// `POST /devices/{id}/ack`.
    pub fn ack(&self, id: &str, bearer: Option<&str>, req: &AckRequest) -> Result<CheckinResponse, ApiError> {
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut d = self.auth_device(&tx, id, bearer)?;
        Self::require_reachable(&d)?;
        match d.pending_action {
            Some(a) if a == req.action => {
                d.pending_action = None;
                d.last_action = Some(a);
                devices::update_device(&tx, &d)?;
                devices::add_history(&tx, &d.id, now, "action_applied", devices::action_str(a))?;
                tx.commit()?;
                tracing::info!(device_id = %d.id, action = devices::action_str(a), "action acknowledged");
            }
            None if d.last_action == Some(req.action) => {}
            _ => return Err(ApiError::bad_request("this action is not pending for the device")),
        }
        Ok(CheckinResponse {
            device_state: d.state,
            action: None,
        })
    }
}
