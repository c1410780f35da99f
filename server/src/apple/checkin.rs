//! MDM check-in at the profile's `CheckInURL` (`/mdm/checkin`): `Authenticate`, `TokenUpdate`,
//! `CheckOut`, each signed in `Mdm-Signature` by the SCEP identity (`signature.rs`).
//!
//! - `Authenticate` binds the message's UDID to the identity that signed it (one UDID, one
//!   identity). The device stays a pending install (the reminder list) until `TokenUpdate`. A
//!   new `Authenticate` from the same UDID (re-enrolled from Troubleshooting) replaces the
//!   binding; when it comes for another device record, the old record is archived, so one
//!   active record remains.
//! - `TokenUpdate` from the bound identity makes the device **active** with MDM enabled
//!   (through the enrollment domain's activation, as the JSON confirm does) and queues
//!   `DeviceInformation`; later ones only refresh the push token.
//! - `CheckOut` deactivates MDM (history line) and revokes the identity. It is taken from a
//!   retired or wiped device too: that is the device confirming it left.
//!
//! Refusals (each changes nothing): a malformed plist, a wrong `Topic`, a message signed by an
//! identity not bound to its UDID (a replay of another device's or an older identity) → 400;
//! an unknown UDID, or a device that is retired, wiped, cancelled or archived → 403
//! `com.apple.unrecognized.device`, never 401 (which would make the device drop its profile
//! without telling anyone). `UserAuthenticate` (macOS user channel) is declined with 410.

use super::signature::Caller;
use super::{commands, mdm_queries as mq, unrecognized, AppleService, CLOSED_STATES};
use crate::devices::{self, DeviceRow};
use crate::enrollment::EnrollmentService;
use crate::error::ApiError;
use crate::store;
use enroll_mdm::checkin::{Authenticate, CheckOut, CheckinMessage, TokenUpdate};
use enroll_proto::{DeviceState, MdmStatus};
use rusqlite::{Connection, TransactionBehavior};

/// What a check-in is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckinReply {
    /// 200, empty body.
    Ok,
    /// 410: the message type is declined (`UserAuthenticate`).
    Gone,
}

impl AppleService<'_> {
    /// Handles one check-in body.
    pub(crate) fn checkin(&self, signature: Option<&str>, body: &[u8]) -> Result<CheckinReply, ApiError> {
        let signer = self.verify_signature(signature, body)?;
        let msg = CheckinMessage::parse(body)
            .map_err(|e| ApiError::bad_request(format!("check-in message refused: {e}")))?;
        let topic = match &msg {
            CheckinMessage::Authenticate(m) => &m.topic,
            CheckinMessage::TokenUpdate(m) => &m.topic,
            CheckinMessage::CheckOut(m) => &m.topic,
            CheckinMessage::Other(t) if t == "UserAuthenticate" => return Ok(CheckinReply::Gone),
            CheckinMessage::Other(t) => {
                return Err(ApiError::bad_request(format!(
                    "check-in MessageType {t} is not supported"
                )))
            }
        };
        if topic != &self.topic {
            return Err(ApiError::bad_request("Topic is not this server's push topic"));
        }
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let caller = self.caller(&tx, &signer)?;
        match &msg {
            CheckinMessage::Authenticate(m) => self.authenticate(&tx, &caller, m, now)?,
            CheckinMessage::TokenUpdate(m) => self.token_update(&tx, &caller, m, now)?,
            CheckinMessage::CheckOut(m) => self.check_out(&tx, &caller, m, now)?,
            CheckinMessage::Other(_) => {}
        }
        tx.commit()?;
        tracing::info!(device_id = %caller.device_id, message = msg.message_type(), "MDM check-in");
        Ok(CheckinReply::Ok)
    }

    fn authenticate(
        &self,
        tx: &Connection,
        caller: &Caller,
        m: &Authenticate,
        now: i64,
    ) -> Result<(), ApiError> {
        let device = reachable_device(tx, &caller.device_id)?;
        if let Some(eid) = &caller.enrollment_id {
            let open = store::enrollment_by_id(tx, eid)?.is_some_and(|e| e.closed_at.is_none());
            // A confirmed enrollment's identity re-authenticates (a device restored from backup).
            if !open && device.state != DeviceState::Active {
                return Err(unrecognized("enrollment closed"));
            }
        }
        if let Some(udid) = mq::udid_of_cert(tx, &caller.serial)? {
            if udid != m.udid {
                return Err(ApiError::bad_request(
                    "this identity is bound to another UDID (replayed Authenticate)",
                ));
            }
        }
        if let Some(old) = mq::binding(tx, &m.udid)? {
            if old.cert_serial != caller.serial {
                super::queries::revoke_identity(tx, &old.cert_serial, now)?;
            }
            if old.device_id != device.id {
                if let Some(mut prev) = devices::device_by_id(tx, &old.device_id)? {
                    if !CLOSED_STATES.contains(&devices::state_str(prev.state)) {
                        prev.state = DeviceState::Archived;
                        prev.mdm = MdmStatus::Deactivated;
                        prev.archived_at = Some(now);
                        devices::update_device(tx, &prev)?;
                        devices::add_history(
                            tx,
                            &prev.id,
                            now,
                            "archived",
                            &format!("the same UDID enrolled again as {}", device.id),
                        )?;
                    }
                }
            }
        }
        mq::bind(
            tx,
            &m.udid,
            &device.id,
            &caller.serial,
            caller.enrollment_id.as_deref(),
            &m.topic,
            now,
        )?;
        let what = m
            .model_name
            .as_deref()
            .or(m.product_name.as_deref())
            .unwrap_or("Apple device");
        devices::add_history(
            tx,
            &device.id,
            now,
            "mdm_authenticated",
            &format!("{what}, UDID {}", m.udid),
        )?;
        Ok(())
    }

    fn token_update(
        &self,
        tx: &Connection,
        caller: &Caller,
        m: &TokenUpdate,
        now: i64,
    ) -> Result<(), ApiError> {
        let binding = self.bound(tx, caller, &m.udid)?;
        let device = reachable_device(tx, &caller.device_id)?;
        let first = binding.token_updated_at.is_none();
        mq::set_token(
            tx,
            &m.udid,
            m.token.as_ref(),
            &m.push_magic,
            m.unlock_token.as_ref().map(AsRef::as_ref),
            now,
        )?;
        let enrollment = match &binding.enrollment_id {
            Some(eid) => store::enrollment_by_id(tx, eid)?,
            None => None,
        };
        match enrollment {
            Some(e) if e.closed_at.is_none() && e.confirmed_at.is_none() => {
                EnrollmentService(self.0).activate_in(tx, &e, device, now, "by MDM TokenUpdate")?;
            }
            _ if device.mdm != MdmStatus::Enabled || device.state != DeviceState::Active => {
                let mut d = device;
                d.state = DeviceState::Active;
                d.mdm = MdmStatus::Enabled;
                devices::update_device(tx, &d)?;
                devices::add_history(tx, &d.id, now, "mdm_enabled", "MDM TokenUpdate")?;
            }
            _ => {}
        }
        if first {
            commands::queue_device_information(tx, &caller.device_id, "enrollment", now)?;
        }
        Ok(())
    }

    fn check_out(&self, tx: &Connection, caller: &Caller, m: &CheckOut, now: i64) -> Result<(), ApiError> {
        let binding = self.bound(tx, caller, &m.udid)?;
        if binding.checked_out_at.is_some() {
            return Ok(());
        }
        mq::check_out(tx, &m.udid, now)?;
        super::queries::revoke_identity(tx, &caller.serial, now)?;
        if let Some(mut d) = devices::device_by_id(tx, &caller.device_id)? {
            d.mdm = MdmStatus::Deactivated;
            devices::update_device(tx, &d)?;
            devices::add_history(
                tx,
                &d.id,
                now,
                "mdm_checked_out",
                "the MDM profile was removed on the device",
            )?;
        }
        Ok(())
    }

    /// The binding of `udid`, which must be the caller's.
    pub(super) fn bound(
        &self,
        tx: &Connection,
        caller: &Caller,
        udid: &str,
    ) -> Result<mq::Binding, ApiError> {
        let b = mq::binding(tx, udid)?.ok_or_else(|| unrecognized("unknown UDID"))?;
        if b.cert_serial != caller.serial || b.device_id != caller.device_id {
            return Err(ApiError::bad_request(
                "signed by an identity not bound to this UDID (replayed message)",
            ));
        }
        Ok(b)
    }
}

/// The device record, when it may still talk MDM.
fn reachable_device(tx: &Connection, device_id: &str) -> Result<DeviceRow, ApiError> {
    let d = devices::device_by_id(tx, device_id)?.ok_or_else(|| unrecognized("no device record"))?;
    if CLOSED_STATES.contains(&devices::state_str(d.state)) {
        return Err(unrecognized("device closed"));
    }
    Ok(d)
}
