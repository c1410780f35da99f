//! The administrator's side of Apple MDM: queue a command for a device (then push, when a
//! provider is configured), list its commands with their results, show its MDM enrollment and
//! last `DeviceInformation`.

use super::{commands, mdm_queries as mq, plist_json, AppleService};
use crate::common::id_ok;
use crate::devices;
use crate::error::ApiError;
use crate::push::PushTarget;
use enroll_proto::secret::SecretString;
use enroll_proto::{AppleMdmView, ErrorCode, MdmCommandView, MdmErrorItem, QueueCommandRequest};
use rusqlite::{Connection, TransactionBehavior};
use std::collections::BTreeMap;

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::DeviceNotFound, "no such device")
}

fn no_mdm() -> ApiError {
    ApiError::new(
        ErrorCode::DeviceInactive,
        "this device has not enrolled in Apple MDM (no TokenUpdate yet), or has left it",
    )
    .with_status(axum::http::StatusCode::CONFLICT)
}

fn view(c: &mq::CommandRow) -> MdmCommandView {
    let response = c.result.as_deref().and_then(|xml| {
        plist::Value::from_reader_xml(std::io::Cursor::new(xml))
            .ok()
            .map(|v| plist_json::to_json(&v))
    });
    let error_chain: Vec<MdmErrorItem> = c
        .error_chain
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    MdmCommandView {
        command_uuid: c.uuid.clone(),
        request_type: c.request_type.clone(),
        status: c.status,
        origin: c.origin.clone(),
        queued_at: c.queued_at,
        sent_at: c.sent_at,
        answered_at: c.answered_at,
        error_chain,
        response,
    }
}

fn device_exists(c: &Connection, id: &str) -> Result<(), ApiError> {
    if !id_ok(id) || devices::device_by_id(c, id)?.is_none() {
        return Err(not_found());
    }
    Ok(())
}

impl AppleService<'_> {
    /// `POST /admin/devices/{id}/commands`: the queued command, and where to push.
    pub(crate) fn queue_command(
        &self,
        id: &str,
        req: &QueueCommandRequest,
    ) -> Result<(MdmCommandView, Option<PushTarget>), ApiError> {
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        device_exists(&tx, id)?;
        let b = mq::binding_of_device(&tx, id)?.ok_or_else(no_mdm)?;
        if b.token_updated_at.is_none() || b.checked_out_at.is_some() || b.removed_at.is_some() {
            return Err(no_mdm());
        }
        let uuid = commands::queue_admin(&tx, id, req, now)?;
        let row =
            mq::command(&tx, id, &uuid)?.ok_or_else(|| ApiError::internal(&"queued command vanished"))?;
        let target = mq::push_target(&tx, id)?.map(|(token, magic)| PushTarget {
            token,
            push_magic: SecretString::new(magic),
            topic: b.topic.clone(),
        });
        devices::add_history(&tx, id, now, "mdm_command_queued", req.request_type.as_str())?;
        tx.commit()?;
        tracing::info!(device_id = %id, request_type = req.request_type.as_str(), "MDM command queued");
        Ok((view(&row), target))
    }

    /// `GET /admin/devices/{id}/commands`, oldest first.
    pub(crate) fn list_commands(&self, id: &str) -> Result<Vec<MdmCommandView>, ApiError> {
        let store = self.lock()?;
        device_exists(store.conn(), id)?;
        Ok(mq::commands_of(store.conn(), id)?.iter().map(view).collect())
    }

    /// `GET /admin/devices/{id}/mdm`.
    pub(crate) fn mdm_view(&self, id: &str) -> Result<AppleMdmView, ApiError> {
        let store = self.lock()?;
        device_exists(store.conn(), id)?;
        let b = mq::binding_of_device(store.conn(), id)?.ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound, "this device never checked in over Apple MDM")
        })?;
        let device_information: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(&b.device_information).unwrap_or_default();
        Ok(AppleMdmView {
            device_id: b.device_id,
            udid: b.udid,
            topic: b.topic,
            authenticated_at: b.authenticated_at,
            token_updated_at: b.token_updated_at,
            checked_out_at: b.checked_out_at,
            removed_at: b.removed_at,
            last_seen_at: b.last_seen_at,
            push_registered: b.push_registered,
            device_information,
            information_at: b.information_at,
        })
    }
}
