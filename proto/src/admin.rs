//! Administrator API (feature `admin`): users, invitations and one-time PINs, enrollment
//! tokens, device listings with history, and pending installs (the reminder list).

use crate::secret::SecretString;
use crate::{DeviceAction, DeviceDescriptor, DeviceState, MdmStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /admin/users` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUserRequest {
    /// E-mail (the username).
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Password of a local account (hashed with argon2 by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretString>,
    /// Directory (LDAP) account: the user signs in with network credentials.
    #[serde(default)]
    pub directory: bool,
}

/// A user as listed by the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// Stable identifier.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Directory account.
    pub directory: bool,
    /// Whether a local password is set.
    pub has_password: bool,
    /// Creation time.
    pub created_at: i64,
}

/// `POST /admin/users/{email}/invitations` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteRequest {
    /// Also issue a one-time PIN.
    #[serde(default)]
    pub with_pin: bool,
    /// PIN lifetime in seconds (default 24 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_ttl_secs: Option<u64>,
}

/// An invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteResponse {
    /// Enrollment URL; its path ends in `/go` and its query carries `user=<email>`.
    pub url: String,
    /// The one-time PIN, when requested (shown once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<SecretString>,
    /// When the PIN expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_expires_at: Option<i64>,
}

/// `POST /admin/tokens` body: an enrollment token for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTokenRequest {
    /// The user the token enrolls devices for.
    pub user: String,
    /// Validity in days, 7 to 999 (default 7). Ignored when `never_expires`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// The token never expires.
    #[serde(default)]
    pub never_expires: bool,
}

/// A freshly issued enrollment token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The token (shown once).
    pub token: SecretString,
    /// Expiry, absent when the token never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// A device record as listed by the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceView {
    /// Record identifier.
    pub id: String,
    /// User the device belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Description last reported.
    pub device: DeviceDescriptor,
    /// Record state.
    pub state: DeviceState,
    /// MDM status.
    pub mdm: MdmStatus,
    /// Action waiting for the next check-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_action: Option<DeviceAction>,
    /// Last administrator action applied by the device (a reset device shows `active` + `reset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<DeviceAction>,
    /// Creation of the record.
    pub created_at: i64,
    /// Last activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_at: Option<i64>,
    /// Last check-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkin_at: Option<i64>,
    /// Custom attributes (from bulk profiles).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// One line of a device's change history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When.
    pub at: i64,
    /// What: `enrolled`, `reenrolled`, `archived`, `cancelled`, `retired`, `wiped`, `reset`, …
    pub event: String,
    /// Extra detail (never secret).
    #[serde(default)]
    pub detail: String,
}

/// `GET /admin/devices/{id}` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDetail {
    /// The record.
    pub device: DeviceView,
    /// Its change history, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Other (archived) entries of the same physical device, newest first.
    #[serde(default)]
    pub archived: Vec<DeviceView>,
}

/// An enrollment whose profile is not installed yet (for reminders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingInstall {
    /// Enrollment identifier.
    pub enrollment_id: String,
    /// Device record.
    pub device_id: String,
    /// User.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// When the enrollment started.
    pub started_at: i64,
    /// When the last profile was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_profile_at: Option<i64>,
}
