//! The agent's protocol: server information, enrollment, profile, confirm/cancel, check-in,
//! re-enrollment, device states and actions, and the error body every route answers with.
//!
//! Everything a device sends or reads lives here; the mobile library is built from this module
//! (and [`crate::payload`]) only.

use crate::secret::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Windows PC (enrolled by Windows' own MDM client: MS-MDE2 and OMA-DM).
    Windows,
}

impl Platform {
    /// Lower-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Macos => "macos",
            Platform::Linux => "linux",
            Platform::Windows => "windows",
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
    /// `offered`: the enrollment used an invitation's one-time PIN and the user has no password
    /// yet, so the agent may set one once with `POST /enrollments/{id}/password` (seed 003, the
    /// same step as the portal's). Absent otherwise (and from servers without the step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_setup: Option<PasswordSetup>,
}

/// Whether the user of an enrollment may set their first password through the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordSetup {
    /// The user has no password yet: `POST /enrollments/{id}/password` sets one.
    Offered,
}

/// `POST /enrollments/{id}/password` body: the user's first password (8 to 1024 bytes,
/// [`MIN_NEW_PASSWORD_BYTES`] to [`MAX_PASSWORD_BYTES`]). Redacted in `Debug`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPasswordRequest {
    /// The new password.
    pub password: SecretString,
}

/// Reply to `POST /enrollments/{id}/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPasswordResponse {
    /// The user (e-mail) whose password is now set.
    pub user: String,
}

/// Shortest password a user may set (portal and agent), in bytes.
pub const MIN_NEW_PASSWORD_BYTES: usize = 8;
/// Longest password accepted anywhere, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

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
///
/// On the wire each code is its snake_case name (`"invalid_pin"`, [`ErrorCode::as_str`]). The
/// serde implementations are written by hand over that one table: the derived deserializer of a
/// 26-variant enum cost about 5 KB of the mobile library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// The new password is too short or too long (8 to 1024 bytes).
    WeakPassword,
    /// The account already has a password: sign in with it.
    PasswordAlreadySet,
    /// No password can be set through this enrollment (not a PIN enrollment, a directory
    /// account, or the offer ended).
    PasswordNotOffered,
    /// A code this version does not know (its wire name is `unknown`).
    Unknown,
}

impl ErrorCode {
    /// Every code this version knows, in declaration order ([`ErrorCode::Unknown`] aside).
    pub const KNOWN: [ErrorCode; 25] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::InvalidCredentials,
        Self::InvalidPin,
        Self::PinLocked,
        Self::PinUsed,
        Self::PinExpired,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::EnrollmentNotFound,
        Self::EnrollmentClosed,
        Self::DeviceNotFound,
        Self::DeviceInactive,
        Self::IdempotencyConflict,
        Self::NotFound,
        Self::PayloadTooLarge,
        Self::RateLimited,
        Self::Unavailable,
        Self::Internal,
        Self::DeviceNotMatched,
        Self::DeviceNotApproved,
        Self::DeviceUnassigned,
        Self::WeakPassword,
        Self::PasswordAlreadySet,
        Self::PasswordNotOffered,
    ];

    /// The code's wire name, e.g. `"invalid_pin"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidPin => "invalid_pin",
            Self::PinLocked => "pin_locked",
            Self::PinUsed => "pin_used",
            Self::PinExpired => "pin_expired",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::EnrollmentNotFound => "enrollment_not_found",
            Self::EnrollmentClosed => "enrollment_closed",
            Self::DeviceNotFound => "device_not_found",
            Self::DeviceInactive => "device_inactive",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::NotFound => "not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::DeviceNotMatched => "device_not_matched",
            Self::DeviceNotApproved => "device_not_approved",
            Self::DeviceUnassigned => "device_unassigned",
            Self::WeakPassword => "weak_password",
            Self::PasswordAlreadySet => "password_already_set",
            Self::PasswordNotOffered => "password_not_offered",
            Self::Unknown => "unknown",
        }
    }

    /// The code of a wire name; names this version does not know give [`ErrorCode::Unknown`].
    pub fn from_wire(name: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|c| c.as_str() == name)
            .unwrap_or(Self::Unknown)
    }
}

// `KNOWN` lists every variant but `Unknown`, which comes last.
const _: () = assert!(ErrorCode::KNOWN.len() == ErrorCode::Unknown as usize);

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = ErrorCode;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an error code")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<ErrorCode, E> {
                Ok(ErrorCode::from_wire(name))
            }
        }
        deserializer.deserialize_str(Name)
    }
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
    fn error_codes_keep_their_wire_names() {
        for (i, code) in ErrorCode::KNOWN.into_iter().enumerate() {
            assert_eq!(code as usize, i, "KNOWN is in declaration order");
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        assert_eq!(ErrorCode::InvalidPin.as_str(), "invalid_pin");
        assert_eq!(ErrorCode::DeviceNotApproved.as_str(), "device_not_approved");
        assert_eq!(
            serde_json::to_string(&ErrorCode::Unknown).unwrap(),
            r#""unknown""#
        );
        assert!(serde_json::from_str::<ErrorCode>("7").is_err());
    }

    #[test]
    fn error_codes_are_the_ones_openapi_lists() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let listed: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let known: Vec<&str> = ErrorCode::KNOWN.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, known);
    }

    #[test]
    fn unknown_error_code_is_tolerated() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"brand_new","message":"x"}}"#).unwrap();
        assert_eq!(body.error.code, ErrorCode::Unknown);
    }
}
