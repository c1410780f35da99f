//! After `POST /enrollments`: the signed profile (short-lived, at most
//! [`MAX_PROFILE_ISSUANCES`] per enrollment), confirm (the device entry becomes active; on
//! Android 10+ the replaced entries are archived) and cancel (MDM deactivated).

use super::profile::{self, ProfileParams};
use super::{queries, EnrollmentService, MAX_PROFILE_ISSUANCES};
use crate::bulk::BulkService;
use crate::common::{field, id_ok, MAX_ID_BYTES};
use crate::crypto;
use crate::devices;
use crate::error::ApiError;
use crate::store::{self, EnrollmentRow};
use enroll_proto::secret::SecretString;
use enroll_proto::{
    CancelRequest, CancelResponse, ConfirmRequest, ConfirmResponse, DeviceState, EnrollmentKind, ErrorCode,
    MdmStatus,
};
use rusqlite::{Connection, TransactionBehavior};

impl EnrollmentService<'_> {
    /// Finds an enrollment and checks its bearer secret.
    pub(super) fn auth_enrollment(
        &self,
        c: &Connection,
        id: &str,
        bearer: Option<&str>,
    ) -> Result<EnrollmentRow, ApiError> {
        let bearer = bearer.ok_or_else(ApiError::unauthorized)?;
        if !id_ok(id) {
            return Err(ApiError::new(ErrorCode::EnrollmentNotFound, "no such enrollment"));
        }
        let e = store::enrollment_by_id(c, id)?
            .ok_or_else(|| ApiError::new(ErrorCode::EnrollmentNotFound, "no such enrollment"))?;
        if !crypto::ct_eq_str(bearer, &self.enrollment_secret(&e.id)) {
            return Err(ApiError::unauthorized());
        }
        Ok(e)
    }

    pub(super) fn closed_error(e: &EnrollmentRow) -> ApiError {
        let why = match e.close_reason.as_deref() {
            Some("cancelled") => "the enrollment was cancelled",
            Some("superseded") => "the enrollment was superseded by a newer attempt for this device",
            Some(_) => "the enrollment was closed by an administrator action",
            None => "the enrollment is already confirmed",
        };
        ApiError::new(ErrorCode::EnrollmentClosed, why)
    }

    /// `GET /enrollments/{id}/profile`: a newly signed profile and its expiry.
    ///
    /// The checks run on a reader, the profile is built and signed with no connection held,
    /// and only the issuance record is written (the checks again, inside the write
    /// transaction: the enrollment may have been closed meanwhile). Signing under the writer's
    /// lock serialised every request behind it (issue 13, load benchmark).
    pub fn issue_profile(&self, id: &str, bearer: Option<&str>) -> Result<(Vec<u8>, i64), ApiError> {
        let check = |c: &Connection| -> Result<EnrollmentRow, ApiError> {
            let e = self.auth_enrollment(c, id, bearer)?;
            if e.closed_at.is_some() || e.confirmed_at.is_some() {
                return Err(Self::closed_error(&e));
            }
            if queries::issuance_count(c, &e.id)? >= MAX_PROFILE_ISSUANCES {
                // Final for this enrollment, so not `rate_limited`: agents retry that code, and
                // an agent whose profile replies were lost (each fetch issues a profile) looped
                // on it for ever (issue 13, fault proxy). `enrollment_closed` ends the attempt
                // with a typed error; a new enrollment starts afresh.
                return Err(ApiError::new(
                    ErrorCode::EnrollmentClosed,
                    "too many profiles were issued for this enrollment: start a new enrollment",
                ));
            }
            Ok(e)
        };
        let now = self.now();
        let e = check(&*self.read()?)?;
        let challenge = crypto::random_b64(24)?;
        let expires_at = now.saturating_add(self.profile_validity);
        let params = ProfileParams {
            device_id: e.device_id.clone(),
            payload_uuid: profile::new_uuid(),
            identity_uuid: profile::new_uuid(),
            mdm_uuid: profile::new_uuid(),
            base_url: self.base_url.clone(),
            challenge: challenge.clone(),
            topic: self.topic.clone(),
            organization: self.name.clone(),
            issued_at: now,
            expires_at,
        };
        let plist = profile::build_enrollment_profile(&params);
        let signed = self
            .pki
            .signer()
            .sign_at(&plist, u64::try_from(now).unwrap_or(0))?;
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let e = check(&tx)?;
        queries::insert_issuance(
            &tx,
            &params.payload_uuid,
            &e.id,
            now,
            expires_at,
            &crypto::sha256(challenge.as_bytes()),
        )?;
        tx.commit()?;
        tracing::info!(enrollment_id = %e.id, expires_at, "profile issued");
        Ok((signed, expires_at))
    }

    /// `POST /enrollments/{id}/confirm`.
    pub fn confirm(
        &self,
        id: &str,
        bearer: Option<&str>,
        req: &ConfirmRequest,
    ) -> Result<ConfirmResponse, ApiError> {
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let e = self.auth_enrollment(&tx, id, bearer)?;
        if e.closed_at.is_some() {
            return Err(Self::closed_error(&e));
        }
        if req.profile_uuid.len() > MAX_ID_BYTES || !queries::issuance_exists(&tx, &e.id, &req.profile_uuid)?
        {
            return Err(ApiError::bad_request(
                "profile_uuid is not a profile issued for this enrollment",
            ));
        }
        let device = devices::device_by_id(&tx, &e.device_id)?
            .ok_or_else(|| ApiError::internal(&"enrollment without device record"))?;
        if e.confirmed_at.is_some() {
            // Idempotent: the same answer again.
            return Ok(ConfirmResponse {
                device_id: device.id.clone(),
                device_secret: SecretString::new(self.device_secret(&device.id, &e.id)),
                device_state: device.state,
            });
        }
        let (device, event) = self.activate_in(&tx, &e, device, now, "")?;
        tx.commit()?;
        tracing::info!(enrollment_id = %e.id, device_id = %device.id, event, "enrollment confirmed");
        Ok(ConfirmResponse {
            device_id: device.id.clone(),
            device_secret: SecretString::new(self.device_secret(&device.id, &e.id)),
            device_state: DeviceState::Active,
        })
    }

    /// Makes the device of the open, unconfirmed enrollment `e` active with MDM enabled, inside
    /// the caller's transaction: the JSON confirm, and an Apple device's first `TokenUpdate`
    /// (`note` is added to the history line, e.g. `"by MDM TokenUpdate"`). Returns the record
    /// and the history event (`enrolled` or `reenrolled`).
    pub(crate) fn activate_in(
        &self,
        tx: &Connection,
        e: &EnrollmentRow,
        mut device: devices::DeviceRow,
        now: i64,
        note: &str,
    ) -> Result<(devices::DeviceRow, &'static str), ApiError> {
        let event = if e.kind == EnrollmentKind::New {
            "enrolled"
        } else {
            "reenrolled"
        };
        device.state = DeviceState::Active;
        device.mdm = MdmStatus::Enabled;
        device.enrolled_at = Some(now);
        device.activated_by = Some(e.id.clone());
        device.descriptor = e.descriptor.clone();
        device.user_id = e.user_id.clone();
        device.pending_action = None;
        device.last_action = None;
        device.archived_at = None;
        if let Some(bulk_device) = e.bulk_device_id {
            if let Some(attributes) = BulkService(self.0).bulk_on_confirm(tx, bulk_device, &device.id, now)? {
                device.attributes = attributes;
            }
        }
        devices::update_device(tx, &device)?;
        store::enrollment_confirm(tx, &e.id, now)?;
        let detail = if note.is_empty() {
            format!("enrollment {}", e.id)
        } else {
            format!("enrollment {} {note}", e.id)
        };
        devices::add_history(tx, &device.id, now, event, &detail)?;
        if e.archive_on_confirm {
            devices::archive_replaced(tx, &e.descriptor, e.replaces.as_deref(), &device.id, now)?;
        }
        Ok((device, event))
    }

    /// `POST /enrollments/{id}/cancel`.
    pub fn cancel(
        &self,
        id: &str,
        bearer: Option<&str>,
        req: &CancelRequest,
    ) -> Result<CancelResponse, ApiError> {
        field("reason", &req.reason)?;
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let e = self.auth_enrollment(&tx, id, bearer)?;
        let mut device = devices::device_by_id(&tx, &e.device_id)?
            .ok_or_else(|| ApiError::internal(&"enrollment without device record"))?;
        match (e.confirmed_at, e.close_reason.as_deref()) {
            (None, Some("cancelled")) => {
                return Ok(CancelResponse {
                    device_state: device.state,
                    mdm: device.mdm,
                });
            }
            (None, None) => {}
            _ => return Err(Self::closed_error(&e)),
        }
        store::enrollment_close(&tx, &e.id, now, "cancelled")?;
        device.state = DeviceState::Cancelled;
        device.mdm = MdmStatus::Deactivated;
        device.pending_action = None;
        devices::update_device(&tx, &device)?;
        let reason = if req.reason.is_empty() {
            "no reason given"
        } else {
            req.reason.as_str()
        };
        devices::add_history(&tx, &device.id, now, "cancelled", reason)?;
        tx.commit()?;
        tracing::info!(enrollment_id = %e.id, device_id = %device.id, "enrollment cancelled; MDM deactivated");
        Ok(CancelResponse {
            device_state: device.state,
            mdm: device.mdm,
        })
    }
}
