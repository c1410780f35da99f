//! Administrator API of Apple MDM (feature `admin`): queue a command for a device, list its
//! commands and their results, show what the device reported (`DeviceInformation`).

use crate::secret::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The MDM commands the administrator can queue (Apple's `RequestType` names on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MdmRequestType {
    /// Ask the device about itself (`Queries`); the answer fills the device record.
    DeviceInformation,
    /// List the installed profiles.
    ProfileList,
    /// Install a profile (`payload`).
    InstallProfile,
    /// Remove the profile `identifier`.
    RemoveProfile,
    /// Security facts (passcode, encryption, FileVault…).
    SecurityInfo,
    /// Lock the screen (`message`, `phone_number`, `pin` on macOS).
    DeviceLock,
    /// Erase the device (`pin` on macOS).
    EraseDevice,
}

impl MdmRequestType {
    /// Every type, in declaration order.
    pub const ALL: [MdmRequestType; 7] = [
        Self::DeviceInformation,
        Self::ProfileList,
        Self::InstallProfile,
        Self::RemoveProfile,
        Self::SecurityInfo,
        Self::DeviceLock,
        Self::EraseDevice,
    ];

    /// Apple's `RequestType` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DeviceInformation => "DeviceInformation",
            Self::ProfileList => "ProfileList",
            Self::InstallProfile => "InstallProfile",
            Self::RemoveProfile => "RemoveProfile",
            Self::SecurityInfo => "SecurityInfo",
            Self::DeviceLock => "DeviceLock",
            Self::EraseDevice => "EraseDevice",
        }
    }

    /// Parses Apple's `RequestType` string.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// `POST /admin/devices/{id}/commands` body. Only the fields of the chosen type may be set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueCommandRequest {
    /// Which command.
    pub request_type: MdmRequestType,
    /// `DeviceInformation`: the keys asked for (empty: the server's usual set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<String>,
    /// `ProfileList`: managed profiles only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub managed_only: bool,
    /// `InstallProfile`: the `.mobileconfig`, standard base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// `RemoveProfile`: the profile's `PayloadIdentifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// `DeviceLock`: the message on the lock screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `DeviceLock`: the phone number on the lock screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// `DeviceLock` / `EraseDevice` on macOS: the six-digit PIN (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<SecretString>,
}

impl QueueCommandRequest {
    /// A request of `request_type` with no other field.
    pub fn new(request_type: MdmRequestType) -> Self {
        Self {
            request_type,
            queries: Vec::new(),
            managed_only: false,
            payload: None,
            identifier: None,
            message: None,
            phone_number: None,
            pin: None,
        }
    }
}

/// Where a command is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MdmCommandStatus {
    /// Waiting for the device to ask (`Idle`).
    Queued,
    /// Sent, no answer yet.
    Sent,
    /// Done.
    Acknowledged,
    /// Failed on the device (`error_chain` says why).
    Error,
    /// The device did not understand it.
    CommandFormatError,
    /// The device cannot do it now; sent again in a later session.
    NotNow,
}

impl MdmCommandStatus {
    /// Wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Acknowledged => "acknowledged",
            Self::Error => "error",
            Self::CommandFormatError => "command_format_error",
            Self::NotNow => "not_now",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Sent,
            Self::Acknowledged,
            Self::Error,
            Self::CommandFormatError,
            Self::NotNow,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// One `ErrorChain` entry of a failed command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MdmErrorItem {
    /// `ErrorCode`.
    pub code: i64,
    /// `ErrorDomain`.
    pub domain: String,
    /// `LocalizedDescription`.
    pub description: String,
}

/// A command of a device and its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MdmCommandView {
    /// `CommandUUID`.
    pub command_uuid: String,
    /// `RequestType`.
    pub request_type: String,
    /// Status.
    pub status: MdmCommandStatus,
    /// Who queued it: `admin`, `enrollment` (DeviceInformation at TokenUpdate), `retire`, `wipe`.
    pub origin: String,
    /// Queued, Unix seconds.
    pub queued_at: i64,
    /// Last sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<i64>,
    /// Last answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<i64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_chain: Vec<MdmErrorItem>,
    /// The answer's keys (`QueryResponses`, `ProfileList`, `SecurityInfo`…) as JSON (plist data
    /// as base64 strings, dates as RFC 3339 strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<serde_json::Value>,
}

/// `GET /admin/devices/{id}/mdm`: the device's Apple MDM enrollment and what it reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppleMdmView {
    /// The device record.
    pub device_id: String,
    /// The device's UDID.
    pub udid: String,
    /// The push topic it checked in with.
    pub topic: String,
    /// `Authenticate`, Unix seconds.
    pub authenticated_at: i64,
    /// Last `TokenUpdate` (MDM enabled since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_updated_at: Option<i64>,
    /// `CheckOut` (the MDM profile was removed on the device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_out_at: Option<i64>,
    /// When the MDM profile's removal (retire) or the erase (wipe) was acknowledged: the
    /// device is refused from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<i64>,
    /// Last contact on the command channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<i64>,
    /// Whether the device gave a push token (pushes are possible).
    pub push_registered: bool,
    /// The last `DeviceInformation` answer (`QueryResponses`), as JSON.
    pub device_information: BTreeMap<String, serde_json::Value>,
    /// When it was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub information_at: Option<i64>,
}
