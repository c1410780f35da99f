//! `POST /enrollments` and `POST /devices/{id}/reenroll`: idempotency (same key and request:
//! the same answer; another request: `idempotency_conflict`), and the device-matching rules of
//! seed 003 (an open attempt is superseded; a never-activated entry is reused; Android 10+
//! re-enrollment makes a new entry and archives the old ones on confirm; other platforms keep
//! one entry).

use super::credentials::Principal;
use super::validate::{validate_credential, validate_descriptor, validate_idempotency_key};
use super::{queries, EnrollmentService};
use crate::common::new_id;
use crate::crypto;
use crate::devices::{self, DeviceRow};
use crate::error::ApiError;
use crate::store::{self, EnrollmentRow};
use crate::users;
use enroll_proto::secret::SecretString;
use enroll_proto::{
    CredentialWire, DeviceAction, DeviceDescriptor, DeviceState, EnrollRequest, EnrollResponse,
    EnrollmentKind, ErrorCode, MdmStatus, ReenrollRequest,
};
use rusqlite::{Connection, TransactionBehavior};

impl EnrollmentService<'_> {
    pub(super) fn enroll_response(
        &self,
        c: &Connection,
        e: &EnrollmentRow,
    ) -> Result<EnrollResponse, ApiError> {
        let user = match &e.user_id {
            Some(id) => users::user_by_id(c, id)?,
            None => None,
        };
        Ok(EnrollResponse {
            enrollment_id: e.id.clone(),
            enrollment_secret: SecretString::new(self.enrollment_secret(&e.id)),
            device_id: e.device_id.clone(),
            kind: e.kind,
            password_setup: self.password_setup(e, user.as_ref()),
            user: user.map(|u| u.email),
            profile_validity_secs: u64::try_from(self.profile_validity).unwrap_or(0),
        })
    }

    /// `Some(response)` when `key` was used with the same request; `idempotency_conflict` when
    /// it was used with another one; `None` for a new key.
    pub(super) fn check_replay(
        &self,
        c: &Connection,
        key: &str,
        fingerprint: &[u8],
    ) -> Result<Option<EnrollResponse>, ApiError> {
        let Some((stored, enrollment_id)) = queries::idempotency_get(c, key)? else {
            return Ok(None);
        };
        if !crypto::ct_eq_bytes(&stored, fingerprint) {
            return Err(ApiError::new(
                ErrorCode::IdempotencyConflict,
                "this idempotency key was used with a different request",
            ));
        }
        let e = store::enrollment_by_id(c, &enrollment_id)?
            .ok_or_else(|| ApiError::internal(&"idempotency key without enrollment"))?;
        tracing::info!(enrollment_id = %e.id, "idempotent replay");
        Ok(Some(self.enroll_response(c, &e)?))
    }

    /// `POST /enrollments`. Returns the response and whether it was created (201) or replayed (200).
    pub fn enroll(&self, key: &str, req: &EnrollRequest) -> Result<(EnrollResponse, bool), ApiError> {
        validate_idempotency_key(key)?;
        validate_descriptor(&req.device)?;
        validate_credential(&req.credential)?;
        let fingerprint = self.fingerprint("enroll", None, req)?;
        if let Some(resp) = self.check_replay(&*self.read()?, key, &fingerprint)? {
            return Ok((resp, false));
        }
        let pre_verified = match &req.credential {
            CredentialWire::Password { user, password } => Some(self.verify_password(user, password)?),
            _ => None,
        };
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Again inside the transaction: a concurrent request with the same key may have won.
        if let Some(resp) = self.check_replay(&tx, key, &fingerprint)? {
            return Ok((resp, false));
        }
        let principal = match pre_verified {
            Some(user) => Principal {
                user: Some(user),
                credential: "password",
                bulk_device: None,
            },
            None => match self.verify_in_tx(&tx, &req.credential, &req.device, now) {
                Ok(p) => p,
                Err(e) => {
                    // Keep the failed-attempt count.
                    tx.commit()?;
                    return Err(e);
                }
            },
        };
        let resp = self.create_enrollment(&tx, key, &fingerprint, &req.device, principal, None, now)?;
        tx.commit()?;
        Ok((resp, true))
    }

    /// `POST /devices/{id}/reenroll`.
    pub fn reenroll(
        &self,
        device_id: &str,
        bearer: Option<&str>,
        key: &str,
        req: &ReenrollRequest,
    ) -> Result<(EnrollResponse, bool), ApiError> {
        validate_idempotency_key(key)?;
        validate_descriptor(&req.device)?;
        let fingerprint = self.fingerprint("reenroll", Some(device_id), req)?;
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let device = self.auth_device(&tx, device_id, bearer)?;
        if let Some(resp) = self.check_replay(&tx, key, &fingerprint)? {
            return Ok((resp, false));
        }
        if device.state != DeviceState::Active
            || matches!(
                device.pending_action,
                Some(DeviceAction::Retire | DeviceAction::Wipe)
            )
        {
            return Err(ApiError::new(
                ErrorCode::DeviceInactive,
                "the device is not active",
            ));
        }
        if req.device.platform != device.descriptor.platform {
            return Err(ApiError::bad_request(
                "device.platform differs from the enrolled device",
            ));
        }
        let user = match &device.user_id {
            Some(id) => users::user_by_id(&tx, id)?,
            None => None,
        };
        let principal = Principal {
            user,
            credential: "device",
            bulk_device: None,
        };
        let resp =
            self.create_enrollment(&tx, key, &fingerprint, &req.device, principal, Some(device), now)?;
        tx.commit()?;
        Ok((resp, true))
    }

    /// Applies the device-matching rules and records the enrollment.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_enrollment(
        &self,
        c: &Connection,
        key: &str,
        fingerprint: &[u8],
        descriptor: &DeviceDescriptor,
        principal: Principal,
        forced: Option<DeviceRow>,
        now: i64,
    ) -> Result<EnrollResponse, ApiError> {
        let mut matched = devices::matching_devices(c, descriptor, false)?;
        if let Some(f) = &forced {
            if !matched.iter().any(|d| d.id == f.id) {
                matched.insert(0, f.clone());
            }
        }
        // An open enrollment for the same device is superseded: one attempt at a time.
        for d in &matched {
            for open in store::open_enrollments_for_device(c, &d.id)? {
                store::enrollment_close(c, &open.id, now, "superseded")?;
                tracing::info!(enrollment_id = %open.id, "enrollment superseded");
            }
        }
        let user_id = principal.user.as_ref().map(|u| u.id.clone());
        let ever_enrolled: Vec<&DeviceRow> = matched.iter().filter(|d| d.enrolled_at.is_some()).collect();

        let (device_id, kind, archive_on_confirm) = if matched.is_empty() {
            (
                self.insert_pending_device(c, descriptor, &user_id, now)?,
                EnrollmentKind::New,
                false,
            )
        } else if ever_enrolled.is_empty() {
            // Only never-activated entries (an abandoned or cancelled first attempt): reuse.
            let mut d = matched[0].clone();
            d.state = DeviceState::Pending;
            d.mdm = MdmStatus::Pending;
            d.descriptor = descriptor.clone();
            d.user_id = user_id.clone();
            devices::update_device(c, &d)?;
            (d.id, EnrollmentKind::New, false)
        } else if devices::archives_on_reenroll(descriptor) {
            // Android 10+: a new entry; the old ones are archived on confirm. A never-activated
            // entry left by a superseded or cancelled attempt is reused instead of adding one.
            let reusable = matched.iter().find(|d| {
                d.enrolled_at.is_none() && matches!(d.state, DeviceState::Pending | DeviceState::Cancelled)
            });
            let id = match reusable {
                Some(d) => {
                    let mut d = d.clone();
                    d.state = DeviceState::Pending;
                    d.mdm = MdmStatus::Pending;
                    d.descriptor = descriptor.clone();
                    d.user_id = user_id.clone();
                    devices::update_device(c, &d)?;
                    d.id
                }
                None => self.insert_pending_device(c, descriptor, &user_id, now)?,
            };
            (id, EnrollmentKind::Reenroll, true)
        } else {
            // Android 9 and older, iOS, macOS, Linux: one entry, reused.
            let target = match &forced {
                Some(f) => f.id.clone(),
                None => ever_enrolled
                    .iter()
                    .max_by_key(|d| d.enrolled_at)
                    .map(|d| d.id.clone())
                    .unwrap_or_else(|| matched[0].id.clone()),
            };
            (target, EnrollmentKind::Reenroll, false)
        };

        let enrollment = EnrollmentRow {
            id: new_id(),
            device_id: device_id.clone(),
            user_id,
            kind,
            credential: principal.credential.to_string(),
            descriptor: descriptor.clone(),
            archive_on_confirm,
            replaces: forced
                .as_ref()
                .map(|f| f.id.clone())
                .filter(|id| *id != device_id),
            created_at: now,
            confirmed_at: None,
            closed_at: None,
            close_reason: None,
            bulk_device_id: principal.bulk_device,
        };
        store::insert_enrollment(c, &enrollment)?;
        queries::idempotency_put(c, key, fingerprint, &enrollment.id, now)?;
        tracing::info!(
            enrollment_id = %enrollment.id,
            device_id = %enrollment.device_id,
            kind = ?kind,
            credential = principal.credential,
            "enrollment started"
        );
        self.enroll_response(c, &enrollment)
    }

    pub(super) fn insert_pending_device(
        &self,
        c: &Connection,
        descriptor: &DeviceDescriptor,
        user_id: &Option<String>,
        now: i64,
    ) -> Result<String, ApiError> {
        let d = DeviceRow::pending(user_id.clone(), descriptor.clone(), now);
        devices::insert_device(c, &d)?;
        Ok(d.id)
    }
}
