//! Wire protocol v1 between the agent and an enrollment server.
//!
//! These types are the single source of truth for the JSON bodies: the agent (this crate) and
//! the reference server (`enroll-server`) both use them, and `docs/protocol.md` plus
//! `docs/openapi.json` describe the same routes for other implementers.
//!
//! Conventions:
//! - every route lives under [`API_PREFIX`]; the server sends [`PROTOCOL_HEADER`] on every reply;
//! - times are Unix seconds (`i64`), UTC;
//! - errors are [`ErrorBody`] with a machine-readable [`ErrorCode`];
//! - device-side calls after authentication carry `Authorization: Bearer <secret>` where the
//!   secret is the enrollment secret (enrollment routes) or the device secret (device routes);
//! - `POST /enrollments` and `POST /devices/{id}/reenroll` require [`IDEMPOTENCY_HEADER`]: the
//!   same key with the same request replays the first answer and never creates a second record.

use crate::secret::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Protocol version spoken by this crate.
pub const PROTOCOL_VERSION: u32 = 1;
/// Prefix of every API route.
pub const API_PREFIX: &str = "/api/v1";
/// Header carrying the protocol version on every server reply.
pub const PROTOCOL_HEADER: &str = "enroll-protocol";
/// Header carrying the idempotency key of an enrollment attempt.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Content type of a signed enrollment profile (CMS SignedData, DER).
pub const PROFILE_CONTENT_TYPE: &str = "application/x-apple-aspen-config";
/// Content type of every JSON body.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// Longest accepted idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 64;
/// Shortest accepted idempotency key.
pub const MIN_IDEMPOTENCY_KEY_LEN: usize = 16;
/// Header of a profile reply carrying the profile's `PayloadExpirationDate` (Unix seconds):
/// the device must install the profile before then.
pub const PROFILE_EXPIRES_HEADER: &str = "enroll-profile-expires";
/// Largest request body the server accepts, in bytes; larger bodies get `payload_too_large`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Content type of CSV uploads and downloads (bulk enrollment).
pub const CSV_CONTENT_TYPE: &str = "text/csv";
/// Largest CSV upload the server accepts (bulk enrollment), in bytes: 64 MiB. Only the CSV
/// upload routes accept bodies larger than [`MAX_BODY_BYTES`].
pub const MAX_CSV_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;
/// Most data rows in one bulk-enrollment CSV upload.
pub const MAX_CSV_ROWS: u64 = 200_000;
/// `ErrorInfo::fallback` value telling the device to fall back to the user + password flow.
pub const FALLBACK_PASSWORD: &str = "password";

/// Route templates (axum and OpenAPI share the `{param}` syntax).
pub mod routes {
    /// `GET`: server identity, protocol version and time. No authentication.
    pub const INFO: &str = "/api/v1/info";
    /// `POST` [`super::EnrollRequest`] → [`super::EnrollResponse`]. Needs an idempotency key.
    pub const ENROLLMENTS: &str = "/api/v1/enrollments";
    /// `GET` → signed profile (DER CMS, [`super::PROFILE_CONTENT_TYPE`]). Enrollment bearer.
    pub const ENROLLMENT_PROFILE: &str = "/api/v1/enrollments/{id}/profile";
    /// `POST` [`super::CancelRequest`] → [`super::CancelResponse`]. Enrollment bearer.
    pub const ENROLLMENT_CANCEL: &str = "/api/v1/enrollments/{id}/cancel";
    /// `POST` [`super::ConfirmRequest`] → [`super::ConfirmResponse`]. Enrollment bearer.
    pub const ENROLLMENT_CONFIRM: &str = "/api/v1/enrollments/{id}/confirm";
    /// `POST` [`super::CheckinRequest`] → [`super::CheckinResponse`]. Device bearer.
    pub const DEVICE_CHECKIN: &str = "/api/v1/devices/{id}/checkin";
    /// `POST` [`super::AckRequest`] → [`super::CheckinResponse`]. Device bearer.
    pub const DEVICE_ACK: &str = "/api/v1/devices/{id}/ack";
    /// `POST` [`super::ReenrollRequest`] → [`super::EnrollResponse`]. Device bearer + idempotency key.
    pub const DEVICE_REENROLL: &str = "/api/v1/devices/{id}/reenroll";

    /// `POST` [`super::CreateUserRequest`] → [`super::UserView`]; `GET` → `Vec<UserView>`. Admin.
    pub const ADMIN_USERS: &str = "/api/v1/admin/users";
    /// `POST` [`super::InviteRequest`] → [`super::InviteResponse`]. Admin. `{email}` is the user.
    pub const ADMIN_INVITATIONS: &str = "/api/v1/admin/users/{email}/invitations";
    /// `POST` [`super::CreateTokenRequest`] → [`super::TokenResponse`]. Admin.
    pub const ADMIN_TOKENS: &str = "/api/v1/admin/tokens";
    /// `GET` → `Vec<DeviceView>` (query `include_archived=true` to list archived entries). Admin.
    pub const ADMIN_DEVICES: &str = "/api/v1/admin/devices";
    /// `GET` → [`super::DeviceDetail`] (device plus change history). Admin.
    pub const ADMIN_DEVICE: &str = "/api/v1/admin/devices/{id}";
    /// `POST` → [`super::DeviceView`]: retire the device (delivered at its next check-in). Admin.
    pub const ADMIN_DEVICE_RETIRE: &str = "/api/v1/admin/devices/{id}/retire";
    /// `POST` → [`super::DeviceView`]: wipe the device. Admin.
    pub const ADMIN_DEVICE_WIPE: &str = "/api/v1/admin/devices/{id}/wipe";
    /// `POST` → [`super::DeviceView`]: reset the device (stays active until re-enrollment). Admin.
    pub const ADMIN_DEVICE_RESET: &str = "/api/v1/admin/devices/{id}/reset";
    /// `GET` → `Vec<PendingInstall>`: enrollments whose profile is not installed yet (reminders). Admin.
    pub const ADMIN_PENDING: &str = "/api/v1/admin/enrollments/pending";

    /// `GET` → the bulk-enrollment CSV template (`text/csv`). Admin.
    pub const ADMIN_BULK_TEMPLATE: &str = "/api/v1/admin/bulk/template";
    /// `GET` → `Vec<BulkProfileView>` (the default Samsung KME profile first); `POST`
    /// [`super::CreateBulkProfileRequest`] → [`super::BulkProfileDetail`]. Admin.
    pub const ADMIN_BULK_PROFILES: &str = "/api/v1/admin/bulk/profiles";
    /// `GET` → [`super::BulkProfileDetail`]; `PATCH` [`super::UpdateBulkProfileRequest`] →
    /// [`super::BulkProfileDetail`]; `DELETE` → 204. Admin.
    pub const ADMIN_BULK_PROFILE: &str = "/api/v1/admin/bulk/profiles/{id}";
    /// `POST` [`super::BulkTokenRequest`] → [`super::TokenResponse`]: refresh or extend the
    /// profile's enrollment token. Admin.
    pub const ADMIN_BULK_TOKEN: &str = "/api/v1/admin/bulk/profiles/{id}/token";
    /// `GET` → `Vec<BulkDeviceView>` (`offset`, `limit`); `POST` [`super::AddBulkDevicesRequest`]
    /// → [`super::ImportReport`]; `PATCH` [`super::EditBulkDevicesRequest`] →
    /// `Vec<BulkDeviceView>`. Admin.
    pub const ADMIN_BULK_DEVICES: &str = "/api/v1/admin/bulk/profiles/{id}/devices";
    /// `GET` → the profile's inventory as CSV; `POST` a CSV (`text/csv`, up to
    /// [`super::MAX_CSV_UPLOAD_BYTES`], query `mode=append|replace`) → [`super::ImportReport`].
    /// Admin.
    pub const ADMIN_BULK_DEVICES_CSV: &str = "/api/v1/admin/bulk/profiles/{id}/devices/csv";
    /// `POST` [`super::DeviceIdsRequest`] → [`super::AffectedResponse`]: delete devices. Admin.
    pub const ADMIN_BULK_DEVICES_DELETE: &str = "/api/v1/admin/bulk/profiles/{id}/devices/delete";
    /// `POST` [`super::MoveDevicesRequest`] → [`super::AffectedResponse`]: move Samsung KME
    /// devices to another KME profile. Admin.
    pub const ADMIN_BULK_DEVICES_MOVE: &str = "/api/v1/admin/bulk/profiles/{id}/devices/move";
    /// `POST` [`super::DeviceIdsRequest`] → [`super::AffectedResponse`]: send Samsung KME devices
    /// back to the default KME profile. Admin.
    pub const ADMIN_BULK_DEVICES_UNASSIGN: &str = "/api/v1/admin/bulk/profiles/{id}/devices/unassign";
    /// `GET` → [`super::ProvisioningPayloads`]: the Android provisioning JSON and the Samsung KME
    /// DPC extras of the profile (they carry its token). Admin.
    pub const ADMIN_BULK_PROVISIONING: &str = "/api/v1/admin/bulk/profiles/{id}/provisioning";
    /// `GET` (`format=png|svg`, `scale`) → the profile's Android provisioning QR code. Admin.
    pub const ADMIN_BULK_QR: &str = "/api/v1/admin/bulk/profiles/{id}/qr";
    /// `GET` (`format=png|svg`, `scale`) → QR code of the user's invitation URL
    /// (`{base}/go?user=<email>`). Admin.
    pub const ADMIN_INVITATION_QR: &str = "/api/v1/admin/users/{email}/invitation/qr";
    /// `GET` → [`super::KmeIntegrationView`]; `POST` [`super::KmeIntegrationRequest`] →
    /// [`super::KmeIntegrationView`]: turn the Samsung KME integration on. Admin.
    pub const ADMIN_KME_INTEGRATION: &str = "/api/v1/admin/kme/integration";
    /// `GET` → `Vec<BulkDeviceView>`: Samsung KME uploads waiting for approval. Admin.
    pub const ADMIN_KME_UPLOADS: &str = "/api/v1/admin/kme/uploads";
    /// `POST` a CSV → [`super::ImportReport`]: the reseller upload / Knox sync seam; `GET` → the
    /// devices waiting for approval as CSV. Admin.
    pub const ADMIN_KME_UPLOADS_CSV: &str = "/api/v1/admin/kme/uploads/csv";
    /// `POST` [`super::KmeApproveRequest`] → [`super::AffectedResponse`]: approve uploads (they
    /// land in the default KME profile). Admin.
    pub const ADMIN_KME_APPROVE: &str = "/api/v1/admin/kme/uploads/approve";

    /// `GET` → HTML page telling the user to open the invitation link on the device, in the app.
    /// Not under the API prefix: it is the URL of invitations (`{base}/go?user=<email>`).
    pub const GO: &str = "/go";
    /// `GET` → the server's CA certificate (PEM, public). Not under the API prefix.
    pub const CA_PEM: &str = "/ca.pem";
}

/// `GET /info` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Highest protocol version the server speaks.
    pub protocol: u32,
    /// Human-readable server name.
    pub name: String,
    /// Server time, Unix milliseconds (used to detect clock skew).
    pub server_time_ms: i64,
    /// How long a freshly issued profile stays installable, in seconds.
    pub profile_validity_secs: u64,
}

/// Device operating system family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Android phone or tablet.
    Android,
    /// iPhone or iPad.
    Ios,
    /// Mac.
    Macos,
    /// Linux desktop (the desktop agent).
    Linux,
}

impl Platform {
    /// Lower-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Macos => "macos",
            Platform::Linux => "linux",
        }
    }
}

/// What the device says about itself. Sent at enrollment and at every check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDescriptor {
    /// Operating system family.
    pub platform: Platform,
    /// OS version, e.g. `14` (Android) or `17.4.1` (iOS).
    pub os_version: String,
    /// Model name.
    pub model: String,
    /// Manufacturer; compared case-insensitively by the server.
    pub manufacturer: String,
    /// Hardware serial number, when the platform exposes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// IMEIs (15 digits each), zero to two.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imeis: Vec<String>,
    /// Apple UDID or Android ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_id: Option<String>,
    /// Version of the agent.
    #[serde(default)]
    pub agent_version: String,
}

/// A credential as sent on the wire. Secret fields are redacted in `Debug`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CredentialWire {
    /// Enrollment token (per user, or of a bulk profile).
    Token {
        /// The token.
        token: SecretString,
    },
    /// One-time PIN from an invitation.
    Pin {
        /// The invited user's e-mail.
        user: String,
        /// The PIN.
        pin: SecretString,
    },
    /// Username and password (local account, or directory "network credentials").
    Password {
        /// The user's e-mail.
        user: String,
        /// The password.
        password: SecretString,
    },
    /// Tokenless bulk enrollment: the device's identifiers (IMEI, or serial number and
    /// manufacturer, from [`EnrollRequest::device`]) must match a device of a tokenless bulk
    /// profile (or of a tokenless Samsung KME profile).
    Tokenless {
        /// The profile named by the QR code or the KME extras (`enroll.PROFILE_ID`); absent:
        /// any tokenless profile.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile_id: Option<String>,
    },
}

/// `POST /enrollments` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// How the user proves they may enroll.
    pub credential: CredentialWire,
    /// The device being enrolled.
    pub device: DeviceDescriptor,
}

/// Whether an enrollment is a first enrollment or a re-enrollment of a known device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentKind {
    /// First enrollment of this device.
    New,
    /// The device had an entry already.
    Reenroll,
}

/// Reply to `POST /enrollments` and `POST /devices/{id}/reenroll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// Identifier of the enrollment attempt.
    pub enrollment_id: String,
    /// Bearer secret for the enrollment routes.
    pub enrollment_secret: SecretString,
    /// Device record this enrollment will activate.
    pub device_id: String,
    /// First enrollment or re-enrollment.
    pub kind: EnrollmentKind,
    /// The user the device enrolls for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Seconds a profile stays installable once issued.
    pub profile_validity_secs: u64,
}

/// `POST /devices/{id}/reenroll` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReenrollRequest {
    /// The device's current description.
    pub device: DeviceDescriptor,
}

/// `POST /enrollments/{id}/cancel` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    /// Why the enrollment stopped, e.g. `user_cancelled`.
    pub reason: String,
}

/// Reply to a cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelResponse {
    /// State of the device record after the cancel.
    pub device_state: DeviceState,
    /// MDM status of the device after the cancel (`deactivated`).
    pub mdm: MdmStatus,
}

/// `POST /enrollments/{id}/confirm` body: the profile was installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmRequest {
    /// `PayloadUUID` of the installed profile.
    pub profile_uuid: String,
}

/// Reply to a confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmResponse {
    /// The device record, now active.
    pub device_id: String,
    /// Bearer secret for the device routes.
    pub device_secret: SecretString,
    /// Device state (`active`).
    pub device_state: DeviceState,
}

/// `POST /devices/{id}/checkin` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinRequest {
    /// The device's current description.
    pub device: DeviceDescriptor,
    /// Free-form facts reported by the agent (battery, storage, …), at most 64 entries.
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

/// Reply to a check-in or an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinResponse {
    /// State of the device record.
    pub device_state: DeviceState,
    /// Action the agent must apply now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<DeviceAction>,
}

/// `POST /devices/{id}/ack` body: the agent applied an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRequest {
    /// The action applied.
    pub action: DeviceAction,
}

/// Device record state on the server.
///
/// Seed 003 lists Active, Retired, Wiped and Reset; a reset device "stays Active on the server
/// until the next enrollment", so a reset shows as `active` with `last_action = reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Enrollment started; the profile is not installed yet.
    Pending,
    /// Enrolled and managed.
    Active,
    /// Retired by the administrator.
    Retired,
    /// Wiped by the administrator.
    Wiped,
    /// Enrollment cancelled by the user during install; MDM deactivated.
    Cancelled,
    /// An older entry of an Android 10+ device that re-enrolled.
    Archived,
}

/// MDM status of a device record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MdmStatus {
    /// Waiting for the profile install.
    Pending,
    /// MDM active.
    Enabled,
    /// MDM deactivated (cancelled, retired, wiped).
    Deactivated,
}

/// An administrator action delivered to the device at check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceAction {
    /// Remove management; clear secrets and local state.
    Retire,
    /// Erase the device; clear secrets and local state.
    Wipe,
    /// Reset the device; the server keeps the entry active until the next enrollment.
    Reset,
}

/// Body of every error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorInfo,
}

/// Machine-readable error with a human message (never containing secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// What went wrong.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// PIN attempts left before the PIN locks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
    /// When to retry, for `rate_limited` and `unavailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// A flow the device should fall back to (`password` after a wrong bulk token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// Error codes. Unknown codes from newer servers deserialize as [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed.
    BadRequest,
    /// Missing or wrong bearer / admin credential.
    Unauthorized,
    /// Wrong username or password.
    InvalidCredentials,
    /// Wrong PIN; `attempts_left` tells how many tries remain.
    InvalidPin,
    /// Too many wrong PINs: the PIN is locked.
    PinLocked,
    /// The PIN was already used.
    PinUsed,
    /// The PIN expired.
    PinExpired,
    /// Unknown or revoked enrollment token.
    InvalidToken,
    /// The enrollment token expired.
    TokenExpired,
    /// No such enrollment.
    EnrollmentNotFound,
    /// The enrollment is closed (cancelled, or superseded).
    EnrollmentClosed,
    /// No such device.
    DeviceNotFound,
    /// The device is retired or wiped and must enroll again.
    DeviceInactive,
    /// The idempotency key was used with a different request.
    IdempotencyConflict,
    /// No such resource.
    NotFound,
    /// The body is too large.
    PayloadTooLarge,
    /// Too many requests.
    RateLimited,
    /// The server cannot serve now; retry later.
    Unavailable,
    /// Unexpected server failure.
    Internal,
    /// The device's identifiers match no device of a tokenless bulk profile.
    DeviceNotMatched,
    /// The device waits for administrator approval (Samsung KME).
    DeviceNotApproved,
    /// The device is not assigned to an enrollment profile (Samsung KME).
    DeviceUnassigned,
    /// A code this version does not know.
    #[serde(other)]
    Unknown,
}

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

// ---------------------------------------------------------------------------------------------
// Bulk enrollment (CSV) and Samsung Knox Mobile Enrollment: admin API types.

/// Type of a bulk-enrollment profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkProfileKind {
    /// Devices listed by the administrator (CSV upload or one by one): "Auto-entretien".
    #[default]
    SelfMaintained,
    /// Samsung Knox Mobile Enrollment: devices come from the reseller uploads, once approved.
    SamsungKme,
}

/// Predefined Android system extras of a profile's provisioning JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AndroidSystemExtras {
    /// `PROVISIONING_LEAVE_ALL_SYSTEM_APPS_ENABLED` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leave_all_system_apps_enabled: Option<bool>,
    /// `PROVISIONING_SKIP_ENCRYPTION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_encryption: Option<bool>,
    /// `PROVISIONING_SKIP_EDUCATION_SCREENS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_education_screens: Option<bool>,
    /// `PROVISIONING_LOCALE`, e.g. `fr_FR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// `PROVISIONING_TIME_ZONE`, e.g. `Europe/Paris`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// "Edit configuration" of a bulk profile: what goes into the provisioning JSON and the
/// `PROVISIONING_ADMIN_EXTRAS_BUNDLE`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BulkProfileConfig {
    /// Product-specific keys of the admin extras bundle (`enroll.<KEY>`, string values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub product_keys: BTreeMap<String, String>,
    /// Predefined Android system extras.
    #[serde(default)]
    pub system_extras: AndroidSystemExtras,
    /// Custom Android system keys: full `android.app.extra.PROVISIONING_*` names → a string,
    /// boolean or integer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_system_keys: BTreeMap<String, serde_json::Value>,
    /// Custom attributes given to every device of the profile (a device's own CSV attributes
    /// win); also put in the QR code as `enroll.attr.<name>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// `POST /admin/bulk/profiles` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateBulkProfileRequest {
    /// Profile name.
    pub name: String,
    /// Optional description.
    #[serde(default)]
    pub description: String,
    /// Self-maintained (default) or Samsung KME (needs the KME integration).
    #[serde(default)]
    pub kind: BulkProfileKind,
    /// Associated user (e-mail): enrolled devices belong to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// "Assign custom attributes without token": devices enroll by their identifiers alone.
    #[serde(default)]
    pub tokenless: bool,
    /// Token validity in days, 7 to 999 (default 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_days: Option<u32>,
    /// The token never expires.
    #[serde(default)]
    pub never_expires: bool,
    /// Provisioning configuration.
    #[serde(default)]
    pub config: BulkProfileConfig,
}

/// `PATCH /admin/bulk/profiles/{id}` body: only the fields present change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UpdateBulkProfileRequest {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New associated user (e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Remove the associated user.
    #[serde(default)]
    pub clear_user: bool,
    /// Switch tokenless enrollment on (the token is revoked) or off (a 7-day token is issued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenless: Option<bool>,
    /// New provisioning configuration (replaces the old one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BulkProfileConfig>,
}

/// A bulk profile as listed: the columns of the "Bulk enrollment profiles" page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkProfileView {
    /// Identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Type.
    pub kind: BulkProfileKind,
    /// The default Samsung KME profile (devices not assigned to a KME profile; cannot enroll).
    pub default_kme: bool,
    /// Devices enroll without a token.
    pub tokenless: bool,
    /// Last modification (profile, configuration, token or devices).
    pub modified_at: i64,
    /// Devices in the profile.
    pub device_count: u64,
    /// Associated user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A bulk profile with its token and counters ("View").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkProfileDetail {
    /// The listed columns.
    pub profile: BulkProfileView,
    /// Current enrollment token (absent for tokenless and default KME profiles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretString>,
    /// Token expiry (absent: never, or no token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<i64>,
    /// Devices of the profile that enrolled.
    pub enrolled_devices: u64,
    /// Devices of the profile that did not enroll yet.
    pub pending_devices: u64,
    /// Samsung KME profiles: `synced` (after a reseller upload / sync) or `never_synced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<String>,
    /// Samsung KME profiles: time of the last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_at: Option<i64>,
    /// Provisioning configuration.
    pub config: BulkProfileConfig,
}

/// One device to add to a profile: an IMEI, or a serial number plus a manufacturer (or both),
/// and custom attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BulkDeviceInput {
    /// IMEI: 15 digits with a valid Luhn check digit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// Serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Manufacturer (compared case-insensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Custom attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// `POST /admin/bulk/profiles/{id}/devices` body (at most 1000 devices; all or nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddBulkDevicesRequest {
    /// The devices.
    pub devices: Vec<BulkDeviceInput>,
}

/// One device edit: its new identifiers and attributes (replacing the old ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkDeviceEdit {
    /// The bulk device.
    pub id: i64,
    /// New IMEI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// New serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// New manufacturer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// New custom attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// `PATCH /admin/bulk/profiles/{id}/devices` body (at most 1000 devices; all or nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditBulkDevicesRequest {
    /// The edits.
    pub devices: Vec<BulkDeviceEdit>,
}

/// A device of a bulk profile (or a Samsung KME upload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkDeviceView {
    /// Identifier.
    pub id: i64,
    /// Profile (absent: a KME upload waiting for approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// IMEI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// Serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Manufacturer as entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Custom attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Samsung KME device.
    pub kme: bool,
    /// Approved (always true outside KME uploads).
    pub approved: bool,
    /// Device record created when it enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_device_id: Option<String>,
    /// When it enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_at: Option<i64>,
    /// When it was added.
    pub created_at: i64,
}

/// A selection of bulk devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIdsRequest {
    /// Bulk device identifiers (at most 10,000).
    pub device_ids: Vec<i64>,
}

/// `POST /admin/bulk/profiles/{id}/devices/move` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveDevicesRequest {
    /// Bulk device identifiers (at most 10,000).
    pub device_ids: Vec<i64>,
    /// Destination Samsung KME profile.
    pub to_profile: String,
}

/// How many records an action changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedResponse {
    /// Records changed.
    pub affected: u64,
}

/// What to do with a profile's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkTokenAction {
    /// A new token; the old one stops working at once.
    Refresh,
    /// Same token, new expiry.
    Extend,
}

/// `POST /admin/bulk/profiles/{id}/token` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkTokenRequest {
    /// Refresh or extend.
    pub action: BulkTokenAction,
    /// Validity from now, 7 to 999 days (default 7 for a refresh; required for an extension
    /// unless `never_expires`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// The token never expires.
    #[serde(default)]
    pub never_expires: bool,
}

/// A rejected CSV line (or request entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportLineError {
    /// 1-based line of the CSV file (the header is line 1), or 1-based index of a JSON entry.
    pub line: u64,
    /// Why (never quotes the value).
    pub reason: String,
}

/// Result of a CSV upload or of adding devices.
///
/// Uploads are all or nothing: when `errors` is not empty nothing was imported (`imported` is
/// 0) and the reply is `400 bad_request` with this report under `report`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImportReport {
    /// Data rows read (the header and blank rows excluded).
    pub rows: u64,
    /// Devices added.
    pub imported: u64,
    /// Rows skipped: blank rows, and KME uploads already known (re-sync).
    pub skipped: u64,
    /// Custom attribute columns of the file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attribute_columns: Vec<String>,
    /// Rejected lines, in file order, at most 1000.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ImportLineError>,
    /// Number of rejected lines (may exceed the length of `errors`).
    #[serde(default)]
    pub error_count: u64,
}

/// Error body of a rejected import: an [`ErrorBody`] with the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRejected {
    /// The error (`bad_request`).
    pub error: ErrorInfo,
    /// Every bad line (bounded) and the counts; nothing was imported.
    pub report: ImportReport,
}

/// The provisioning payloads of a bulk profile (what its QR code and KME profile carry). They
/// hold the profile's token: `Debug` shows only their keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningPayloads {
    /// Android Enterprise QR provisioning JSON.
    pub android: serde_json::Value,
    /// Samsung KME "Custom JSON" (DPC extras): the admin extras bundle on its own.
    pub kme_dpc_extras: serde_json::Value,
}

impl std::fmt::Debug for ProvisioningPayloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        f.debug_struct("ProvisioningPayloads")
            .field("android_keys", &keys(&self.android))
            .field("kme_dpc_extras_keys", &keys(&self.kme_dpc_extras))
            .finish()
    }
}

/// `POST /admin/kme/integration` body: turn the Samsung KME integration on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmeIntegrationRequest {
    /// Integration name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// State of the Samsung KME integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmeIntegrationView {
    /// Turned on.
    pub enabled: bool,
    /// Integration name.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// When it was turned on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_at: Option<i64>,
    /// The default Samsung KME profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile_id: Option<String>,
    /// Uploads waiting for approval.
    pub pending_approval: u64,
    /// Last reseller upload / sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_at: Option<i64>,
}

/// `POST /admin/kme/uploads/approve` body: all uploads, or the selected ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KmeApproveRequest {
    /// Approve every upload waiting.
    #[serde(default)]
    pub all: bool,
    /// Or these (at most 10,000).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_wire_shape_and_redaction() {
        let c = CredentialWire::Pin {
            user: "a@example.com".into(),
            pin: "123456".into(),
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["kind"], "pin");
        assert_eq!(json["pin"], "123456");
        assert!(!format!("{c:?}").contains("123456"));
    }

    #[test]
    fn tokenless_credential_wire_shape() {
        let c = CredentialWire::Tokenless { profile_id: None };
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"kind":"tokenless"}"#);
        let back: CredentialWire = serde_json::from_str(r#"{"kind":"tokenless","profile_id":"p1"}"#).unwrap();
        assert_eq!(
            back,
            CredentialWire::Tokenless {
                profile_id: Some("p1".into())
            }
        );
    }

    #[test]
    fn provisioning_payloads_debug_hides_the_token() {
        let p = ProvisioningPayloads {
            android: serde_json::json!({"a": {"enroll.ENROLLMENT_TOKEN": "ent_SECRET"}}),
            kme_dpc_extras: serde_json::json!({"enroll.ENROLLMENT_TOKEN": "ent_SECRET"}),
        };
        let d = format!("{p:?}");
        assert!(
            !d.contains("ent_SECRET") && d.contains("enroll.ENROLLMENT_TOKEN"),
            "{d}"
        );
    }

    #[test]
    fn import_rejection_is_an_error_body() {
        let body = ImportRejected {
            error: ErrorInfo {
                code: ErrorCode::BadRequest,
                message: "x".into(),
                attempts_left: None,
                retry_after_secs: None,
                fallback: None,
            },
            report: ImportReport::default(),
        };
        let json = serde_json::to_string(&body).unwrap();
        let as_error: ErrorBody = serde_json::from_str(&json).unwrap();
        assert_eq!(as_error.error.code, ErrorCode::BadRequest);
    }

    #[test]
    fn unknown_error_code_is_tolerated() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"brand_new","message":"x"}}"#).unwrap();
        assert_eq!(body.error.code, ErrorCode::Unknown);
    }
}
