//! MDM check-in messages (`CheckInURL`, content type `application/x-apple-aspen-mdm-checkin`):
//! `Authenticate`, `TokenUpdate` and `CheckOut` as serde types, following
//! `specs/apple/mdm/checkin`.
//!
//! `TokenUpdate` carries the push token and `PushMagic`, secrets that let anyone wake the
//! device: its `Debug` redacts them.

use crate::error::{malformed, MdmError, Result};
use crate::plist_util::{self, required_string};
use serde::{Deserialize, Serialize};

/// Content type of check-in requests.
pub const CHECKIN_CONTENT_TYPE: &str = "application/x-apple-aspen-mdm-checkin";
/// Largest check-in message accepted.
pub const MAX_CHECKIN_BYTES: usize = 64 * 1024;

/// `MessageType = Authenticate`: the first check-in after the profile is installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticate {
    /// The push topic of the MDM payload.
    #[serde(rename = "Topic")]
    pub topic: String,
    /// Device UDID.
    #[serde(rename = "UDID")]
    pub udid: String,
    /// Device name.
    #[serde(rename = "DeviceName", default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// Model (e.g. `iPhone14,2`).
    #[serde(rename = "Model", default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model name (e.g. `iPhone`).
    #[serde(rename = "ModelName", default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// OS version.
    #[serde(rename = "OSVersion", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// OS build.
    #[serde(rename = "BuildVersion", default, skip_serializing_if = "Option::is_none")]
    pub build_version: Option<String>,
    /// Product name (e.g. `iPhone14,2`).
    #[serde(rename = "ProductName", default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// Serial number.
    #[serde(rename = "SerialNumber", default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// IMEI.
    #[serde(rename = "IMEI", default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// MEID.
    #[serde(rename = "MEID", default, skip_serializing_if = "Option::is_none")]
    pub meid: Option<String>,
}

/// `MessageType = TokenUpdate`: the push token, after `Authenticate` and whenever it changes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUpdate {
    /// The push topic.
    #[serde(rename = "Topic")]
    pub topic: String,
    /// Device UDID.
    #[serde(rename = "UDID")]
    pub udid: String,
    /// APNs device token (secret).
    #[serde(rename = "Token")]
    pub token: plist::Data,
    /// The magic string to put in pushes (secret).
    #[serde(rename = "PushMagic")]
    pub push_magic: String,
    /// Token to clear the passcode (secret).
    #[serde(rename = "UnlockToken", default, skip_serializing_if = "Option::is_none")]
    pub unlock_token: Option<plist::Data>,
    /// Set during Setup Assistant (automated enrollment).
    #[serde(
        rename = "AwaitingConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub awaiting_configuration: Option<bool>,
}

impl std::fmt::Debug for TokenUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenUpdate")
            .field("topic", &self.topic)
            .field("udid", &self.udid)
            .field("token", &"<redacted>")
            .field("push_magic", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// `MessageType = CheckOut`: the MDM profile was removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOut {
    /// The push topic.
    #[serde(rename = "Topic")]
    pub topic: String,
    /// Device UDID.
    #[serde(rename = "UDID")]
    pub udid: String,
}

/// A check-in message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckinMessage {
    /// `Authenticate`.
    Authenticate(Authenticate),
    /// `TokenUpdate`.
    TokenUpdate(TokenUpdate),
    /// `CheckOut`.
    CheckOut(CheckOut),
    /// Another `MessageType` (user channel, bootstrap token, declarative management…).
    Other(String),
}

/// `body` as a dictionary with `MessageType` added.
fn tagged(message_type: &str, body: &impl Serialize) -> Result<Vec<u8>> {
    let what = "check-in message";
    let mut value = plist::to_value(body).map_err(|_| malformed(what, "cannot be written as a plist"))?;
    let dict = value
        .as_dictionary_mut()
        .ok_or(malformed(what, "not a dictionary"))?;
    dict.insert("MessageType".into(), plist::Value::String(message_type.into()));
    plist_util::to_xml(&value, what)
}

impl CheckinMessage {
    /// The `MessageType`.
    pub fn message_type(&self) -> &str {
        match self {
            Self::Authenticate(_) => "Authenticate",
            Self::TokenUpdate(_) => "TokenUpdate",
            Self::CheckOut(_) => "CheckOut",
            Self::Other(t) => t,
        }
    }

    /// The XML plist body.
    pub fn to_xml(&self) -> Result<Vec<u8>> {
        let message_type = self.message_type();
        match self {
            Self::Authenticate(b) => tagged(message_type, b),
            Self::TokenUpdate(b) => tagged(message_type, b),
            Self::CheckOut(b) => tagged(message_type, b),
            Self::Other(_) => Err(MdmError::Unsupported {
                what: "writing this check-in message type",
            }),
        }
    }

    /// Parses a check-in body (XML or binary plist), bounded.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let what = "check-in message";
        let dict = plist_util::parse_dict(body, what, MAX_CHECKIN_BYTES)?;
        let message_type = required_string(&dict, "MessageType", 64)?;
        let value = plist::Value::Dictionary(dict);
        let bad = |_| malformed(what, "keys of the wrong type or missing");
        Ok(match message_type.as_str() {
            "Authenticate" => Self::Authenticate(plist::from_value(&value).map_err(bad)?),
            "TokenUpdate" => Self::TokenUpdate(plist::from_value(&value).map_err(bad)?),
            "CheckOut" => Self::CheckOut(plist::from_value(&value).map_err(bad)?),
            _ if message_type.bytes().all(|b| b.is_ascii_alphanumeric()) => Self::Other(message_type),
            _ => return Err(malformed(what, "MessageType is not a plain word")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_redaction() {
        let auth = CheckinMessage::Authenticate(Authenticate {
            topic: "com.apple.mgmt.x".into(),
            udid: "U1".into(),
            serial_number: Some("S1".into()),
            ..Default::default()
        });
        let xml = auth.to_xml().unwrap();
        assert!(String::from_utf8_lossy(&xml).contains("<key>MessageType</key>"));
        assert_eq!(CheckinMessage::parse(&xml).unwrap(), auth);
        let tu = TokenUpdate {
            topic: "t".into(),
            udid: "U1".into(),
            token: plist::Data::new(vec![1, 2, 3]),
            push_magic: "magic-secret".into(),
            unlock_token: None,
            awaiting_configuration: None,
        };
        let msg = CheckinMessage::TokenUpdate(tu);
        assert_eq!(CheckinMessage::parse(&msg.to_xml().unwrap()).unwrap(), msg);
        assert!(!format!("{msg:?}").contains("magic-secret"));
        let mut bin = Vec::new();
        plist::Value::from_reader(std::io::Cursor::new(msg.to_xml().unwrap()))
            .unwrap()
            .to_writer_binary(&mut bin)
            .unwrap();
        assert_eq!(CheckinMessage::parse(&bin).unwrap(), msg);
    }

    #[test]
    fn hostile_check_ins() {
        let plist = |inner: &str| {
            format!(r#"<?xml version="1.0"?><plist version="1.0"><dict>{inner}</dict></plist>"#).into_bytes()
        };
        assert!(CheckinMessage::parse(b"").is_err());
        assert!(CheckinMessage::parse(b"<plist><array/></plist>").is_err());
        assert_eq!(
            CheckinMessage::parse(&plist("")),
            Err(MdmError::Missing { what: "MessageType" })
        );
        assert!(CheckinMessage::parse(&plist("<key>MessageType</key><integer>1</integer>")).is_err());
        // Authenticate without UDID, and with a wrongly typed Topic.
        assert!(CheckinMessage::parse(&plist(
            "<key>MessageType</key><string>Authenticate</string><key>Topic</key><string>t</string>"
        ))
        .is_err());
        assert!(CheckinMessage::parse(&plist(
            "<key>MessageType</key><string>Authenticate</string><key>Topic</key><dict/><key>UDID</key><string>u</string>"
        ))
        .is_err());
        assert_eq!(
            CheckinMessage::parse(&plist("<key>MessageType</key><string>UserAuthenticate</string>")).unwrap(),
            CheckinMessage::Other("UserAuthenticate".into())
        );
        assert!(CheckinMessage::parse(&plist("<key>MessageType</key><string>a b</string>")).is_err());
        let deep = format!("{}{}", "<array>".repeat(40), "</array>".repeat(40));
        assert!(matches!(
            CheckinMessage::parse(&plist(&format!("<key>x</key>{deep}"))),
            Err(MdmError::TooMany { .. })
        ));
        assert!(matches!(
            CheckinMessage::parse(&vec![b' '; MAX_CHECKIN_BYTES + 1]),
            Err(MdmError::TooLarge { .. })
        ));
        let xml = CheckinMessage::CheckOut(CheckOut::default()).to_xml().unwrap();
        for n in 0..xml.len() {
            let _ = CheckinMessage::parse(&xml[..n]);
        }
    }
}
