//! Seed 001: Windows bulk enrollment through a provisioning package.
//!
//! - [`WindowsService::package`]: the Windows Configuration Designer project
//!   (`customizations.xml`: Workplace/Enrollments/UPN with AuthPolicy OnPremise,
//!   DiscoveryServiceFullUrl and Secret) and the `icd.exe` command that builds the `.ppkg`;
//!   refused for a user whose name lacks the `windows-bulkenroll` prefix, and for a wrong
//!   secret (the package would never enroll).
//! - [`WindowsService::assign`]: "Assign to user", for bulk-enrolled devices only: the owner
//!   becomes the real user, the history says so, the certificate stays; the real user must
//!   change their password at their first sign-in ([`WindowsService::sign_in`]).
//! - [`WindowsService::queue`]: an administrator's OMA-DM command; a `./User/…` command is
//!   refused for a bulk-enrolled device (device-level configurations only).
//! - [`WindowsService::list`]: Windows devices with platform, bulk owner and enrollment kind.

use super::omadm::is_user_scoped;
use super::{is_bulk_upn, queries, WindowsService};
use crate::common::id_ok;
use crate::crypto;
use crate::devices;
use crate::error::ApiError;
use crate::users;
use axum::http::StatusCode;
use enroll_proto::secret::SecretString;
use enroll_proto::{DeviceState, ErrorCode};
use enroll_wmdm::customizations::{build_command, Customizations, WorkplaceEnrollment};
use rusqlite::TransactionBehavior;
use serde::Deserialize;

/// `POST /api/v1/admin/windows/packages`.
#[derive(Deserialize)]
pub struct PackageRequest {
    /// The `windows-bulkenroll…` user.
    pub user: String,
    /// Its password (goes into the package as `Secret`).
    pub secret: SecretString,
    /// `DiscoveryServiceFullUrl` (default: this server's public URL, a bare host as in seed 001).
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// Project name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/v1/admin/windows/devices/{id}/assign`.
#[derive(Debug, Deserialize)]
pub struct AssignRequest {
    /// The real user's e-mail.
    pub user: String,
}

/// `POST /api/v1/admin/windows/devices/{id}/commands`.
#[derive(Debug, Deserialize)]
pub struct QueueRequest {
    /// `Get`, `Replace`, `Add`, `Delete` or `Exec`.
    pub verb: String,
    /// The CSP node.
    pub uri: String,
    /// Data for Replace/Add/Exec.
    #[serde(default)]
    pub data: Option<String>,
}

/// `POST /api/v1/windows/sign-in` and `/api/v1/windows/password`.
#[derive(Deserialize)]
pub struct SignInRequest {
    /// The user.
    pub user: String,
    /// Current password.
    pub password: SecretString,
    /// New password (password change only).
    #[serde(default)]
    pub new_password: Option<SecretString>,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::DeviceNotFound, "no such Windows device")
}

impl WindowsService<'_> {
    /// The WCD project file for a bulk user and the command that builds the package.
    pub(crate) fn package(&self, req: &PackageRequest) -> Result<serde_json::Value, ApiError> {
        if !is_bulk_upn(&req.user) {
            return Err(ApiError::bad_request(format!(
                "{} cannot enroll devices in bulk: the user name must start with windows-bulkenroll (for example windows-bulkenroll-user1@abc.com); create such a user first",
                req.user
            )));
        }
        let user = self.check_password(&req.user, &req.secret).map_err(|f| {
            ApiError::new(
                ErrorCode::InvalidCredentials,
                format!("{}: the package would not enroll", f.reason),
            )
        })?;
        let discovery_url = req.discovery_url.clone().unwrap_or_else(|| self.base_url.clone());
        let parsed = url::Url::parse(&discovery_url)
            .map_err(|_| ApiError::bad_request("discovery_url is not a URL"))?;
        if parsed.scheme() != "https" && !self.base_url.starts_with("http://") {
            return Err(ApiError::bad_request("discovery_url must be https"));
        }
        let c = Customizations {
            package_id: format!("{{{}}}", uuid::Uuid::new_v4().to_string().to_uppercase()),
            name: req.name.clone().unwrap_or_else(|| "enroll-bulk".into()),
            enrollment: WorkplaceEnrollment {
                upn: user.email.clone(),
                auth_policy: "OnPremise".into(),
                discovery_url,
                secret: req.secret.expose().to_owned(),
            },
        };
        Ok(serde_json::json!({
            "user": user.email,
            "file_name": "customizations.xml",
            "customizations_xml": c.to_xml(),
            "build_command": build_command("customizations.xml", "enroll-bulk.ppkg"),
        }))
    }

    /// "Assign to user": a bulk-enrolled device gets its real owner.
    pub(crate) fn assign(&self, device_id: &str, req: &AssignRequest) -> Result<serde_json::Value, ApiError> {
        if !id_ok(device_id) {
            return Err(not_found());
        }
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let w = queries::windows_device(&tx, device_id)?.ok_or_else(not_found)?;
        let Some(owner) = &w.bulk_owner else {
            return Err(ApiError::bad_request(
                "Assign to user is only available for bulk-enrolled devices (enrolled with a windows-bulkenroll user or an Entra bulk token); this device was enrolled by its user",
            )
            .with_status(StatusCode::CONFLICT));
        };
        let mut d = devices::device_by_id(&tx, device_id)?.ok_or_else(not_found)?;
        if !matches!(d.state, DeviceState::Active | DeviceState::Pending) {
            return Err(ApiError::new(
                ErrorCode::DeviceInactive,
                "only an enrolled device can be assigned",
            )
            .with_status(StatusCode::CONFLICT));
        }
        let user = users::user_by_email(&tx, &req.user)?
            .ok_or_else(|| ApiError::not_found(format!("no user {}: create the user first", req.user)))?;
        if is_bulk_upn(&user.email) {
            return Err(ApiError::bad_request(
                "assign the device to a real user, not to a windows-bulkenroll user",
            ));
        }
        let bulk_email = users::user_by_id(&tx, owner)?
            .map(|u| u.email)
            .unwrap_or_default();
        d.user_id = Some(user.id.clone());
        devices::update_device(&tx, &d)?;
        devices::add_history(
            &tx,
            &d.id,
            now,
            "assigned",
            &format!("assigned to {} (bulk-enrolled by {bulk_email})", user.email),
        )?;
        queries::require_password_change(&tx, &user.id, now)?;
        tx.commit()?;
        tracing::info!(device_id = %d.id, user_id = %user.id, "bulk-enrolled Windows device assigned");
        Ok(serde_json::json!({
            "device_id": d.id,
            "user": user.email,
            "bulk_owner": bulk_email,
            "password_change_required": true,
        }))
    }

    /// A sign-in on a Windows device: refused with `password_change_required` until the user
    /// changed the password (seed 001, after assignment); with `new_password`, the change.
    pub(crate) fn sign_in(&self, req: &SignInRequest) -> Result<serde_json::Value, ApiError> {
        let user = self
            .check_password(&req.user, &req.password)
            .map_err(|_| ApiError::new(ErrorCode::InvalidCredentials, "invalid username or password"))?;
        let store = self.lock()?;
        let required = queries::password_change_required(store.conn(), &user.id)?;
        match (&req.new_password, required) {
            (None, true) => Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "password_change_required: this is your first sign-in on this device; choose a new password",
            )
            .with_status(StatusCode::FORBIDDEN)),
            (None, false) => Ok(serde_json::json!({ "user": user.email, "signed_in": true })),
            (Some(new), _) => {
                if new.expose().len() < 8 || new.expose().len() > crate::common::MAX_PASSWORD_BYTES {
                    return Err(ApiError::bad_request("the new password must be 8 to 1024 bytes"));
                }
                if user.directory {
                    return Err(ApiError::bad_request(
                        "change a directory user's password in the directory",
                    ));
                }
                if crypto::ct_eq_str(new.expose(), req.password.expose()) {
                    return Err(ApiError::bad_request(
                        "the new password must differ from the old one",
                    ));
                }
                let hash = crypto::argon2_hash(new.expose().as_bytes())?;
                queries::set_password(store.conn(), &user.id, &hash)?;
                Ok(serde_json::json!({ "user": user.email, "signed_in": true, "password_changed": true }))
            }
        }
    }

    /// Queues an OMA-DM command for a device.
    pub(crate) fn queue(&self, device_id: &str, req: &QueueRequest) -> Result<serde_json::Value, ApiError> {
        if !id_ok(device_id) {
            return Err(not_found());
        }
        if !matches!(req.verb.as_str(), "Get" | "Replace" | "Add" | "Delete" | "Exec") {
            return Err(ApiError::bad_request(
                "verb must be Get, Replace, Add, Delete or Exec",
            ));
        }
        if !req.uri.starts_with("./")
            || req.uri.len() > 512
            || req.data.as_ref().is_some_and(|d| d.len() > 64 * 1024)
        {
            return Err(ApiError::bad_request(
                "uri must be an OMA-DM node (./…, at most 512 bytes), data at most 64 KiB",
            ));
        }
        let store = self.lock()?;
        let w = queries::windows_device(store.conn(), device_id)?.ok_or_else(not_found)?;
        if w.bulk_owner.is_some() && is_user_scoped(&req.uri) {
            return Err(ApiError::bad_request(
                "only device-level configurations reach bulk-enrolled devices (seed 001): use a ./Device/… node instead of ./User/…",
            )
            .with_status(StatusCode::CONFLICT));
        }
        let id = queries::queue_command(
            store.conn(),
            device_id,
            &req.verb,
            &req.uri,
            req.data.as_deref(),
            self.now(),
        )?;
        Ok(serde_json::json!({ "command_id": id, "device_id": device_id, "status": "queued" }))
    }

    /// Windows devices: platform, owner, bulk owner, enrollment kind, Entra device, commands.
    pub(crate) fn list(&self) -> Result<serde_json::Value, ApiError> {
        let store = self.lock()?;
        let c = store.conn();
        let mut out = Vec::new();
        for w in queries::all_windows_devices(c)? {
            let Some(d) = devices::device_by_id(c, &w.device_id)? else {
                continue;
            };
            let email = |id: &Option<String>| -> Result<Option<String>, ApiError> {
                Ok(match id {
                    Some(id) => users::user_by_id(c, id)?.map(|u| u.email),
                    None => None,
                })
            };
            let commands: Vec<serde_json::Value> = queries::commands_of(c, &w.device_id)?
                .into_iter()
                .map(|k| serde_json::json!({ "verb": k.verb, "uri": k.uri, "sent": k.sent.is_some(), "status": k.status, "result": k.result }))
                .collect();
            out.push(serde_json::json!({
                "id": d.id,
                "platform": d.descriptor.platform.as_str(),
                "state": devices::state_str(d.state),
                "user": email(&d.user_id)?,
                "bulk_enrolled": w.bulk_owner.is_some(),
                "bulk_owner": email(&w.bulk_owner)?,
                "enrollment": w.enrollment_kind,
                "entra_device_id": w.entra_device_id,
                "hw_dev_id": w.hw_dev_id,
                "manufacturer": d.descriptor.manufacturer,
                "model": d.descriptor.model,
                "os_version": d.descriptor.os_version,
                "certificate_serial": w.cert_serial,
                "pending_action": d.pending_action.map(devices::action_str),
                "last_action": d.last_action.map(devices::action_str),
                "commands": commands,
                "history": devices::history(c, &d.id)?,
            }));
        }
        Ok(serde_json::Value::Array(out))
    }
}
