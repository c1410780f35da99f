//! Administrator API (feature `admin`) of bulk enrollment (seed 000: CSV inventories, tokens,
//! tokenless matching) and Samsung Knox Mobile Enrollment (seed 004: uploads, approval, moves).

use crate::secret::SecretString;
use crate::ErrorInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    use crate::{ErrorBody, ErrorCode};

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
}
