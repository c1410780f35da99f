//! The MDM command channel (`ServerURL`, content type `application/x-apple-aspen-mdm`): the
//! device's reports (`{UDID, Status, CommandUUID, ErrorChain, …}`) and the server's commands
//! (`{CommandUUID, Command: {RequestType, …}}`), following `specs/apple/mdm/commands`.
//!
//! The device sends `Status = Idle` to ask for work; the server answers with a command, or with
//! an empty 200 when there is none. The device answers each command with a report for its
//! `CommandUUID` and gets the next command in the reply.

use crate::error::{malformed, MdmError, Result};
use crate::plist_util::{self, required_string, string};
use plist::{Dictionary, Value};
use zeroize::Zeroizing;

/// Content type of command-channel requests.
pub const COMMAND_CONTENT_TYPE: &str = "application/x-apple-aspen-mdm";
/// Largest command accepted (an `InstallProfile` carries a whole profile).
pub const MAX_COMMAND_BYTES: usize = 1024 * 1024;
/// Largest report accepted.
pub const MAX_REPORT_BYTES: usize = 1024 * 1024;
/// Most entries in `Queries` or `ErrorChain`.
pub const MAX_LIST: usize = 256;
/// Longest `CommandUUID`, `UDID` or `RequestType`.
pub const MAX_ID: usize = 128;

/// `Status` of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Ready for a command.
    Idle,
    /// The command succeeded.
    Acknowledged,
    /// The command failed (see `ErrorChain`).
    Error,
    /// The command was not understood.
    CommandFormatError,
    /// Cannot be done now (device locked, …): the server sends it again later.
    NotNow,
}

impl Status {
    /// The string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Acknowledged => "Acknowledged",
            Self::Error => "Error",
            Self::CommandFormatError => "CommandFormatError",
            Self::NotNow => "NotNow",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "Idle" => Self::Idle,
            "Acknowledged" => Self::Acknowledged,
            "Error" => Self::Error,
            "CommandFormatError" => Self::CommandFormatError,
            "NotNow" => Self::NotNow,
            _ => {
                return Err(MdmError::Unsupported {
                    what: "report Status",
                })
            }
        })
    }
}

/// One `ErrorChain` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorChainItem {
    /// `ErrorCode`.
    pub code: i64,
    /// `ErrorDomain`.
    pub domain: String,
    /// `LocalizedDescription`.
    pub description: String,
}

/// A device's report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Device UDID.
    pub udid: String,
    /// Status.
    pub status: Status,
    /// The command answered (absent for `Idle`).
    pub command_uuid: Option<String>,
    /// Why it failed.
    pub error_chain: Vec<ErrorChainItem>,
    /// The command's response keys (`QueryResponses`, `ProfileList`, `SecurityInfo`, …).
    pub fields: Dictionary,
}

impl Report {
    /// `Status = Idle`.
    pub fn idle(udid: &str) -> Self {
        Self {
            udid: udid.to_owned(),
            status: Status::Idle,
            command_uuid: None,
            error_chain: Vec::new(),
            fields: Dictionary::new(),
        }
    }

    /// A report for a command.
    pub fn for_command(udid: &str, command_uuid: &str, status: Status, fields: Dictionary) -> Self {
        Self {
            udid: udid.to_owned(),
            status,
            command_uuid: Some(command_uuid.to_owned()),
            error_chain: Vec::new(),
            fields,
        }
    }

    /// The XML plist body.
    pub fn to_xml(&self) -> Result<Vec<u8>> {
        let mut dict = self.fields.clone();
        dict.insert("UDID".into(), Value::String(self.udid.clone()));
        dict.insert("Status".into(), Value::String(self.status.as_str().into()));
        if let Some(uuid) = &self.command_uuid {
            dict.insert("CommandUUID".into(), Value::String(uuid.clone()));
        }
        if !self.error_chain.is_empty() {
            let chain = self
                .error_chain
                .iter()
                .map(|e| {
                    let mut d = Dictionary::new();
                    d.insert("ErrorCode".into(), Value::Integer(e.code.into()));
                    d.insert("ErrorDomain".into(), Value::String(e.domain.clone()));
                    d.insert(
                        "LocalizedDescription".into(),
                        Value::String(e.description.clone()),
                    );
                    d.insert(
                        "USEnglishDescription".into(),
                        Value::String(e.description.clone()),
                    );
                    Value::Dictionary(d)
                })
                .collect();
            dict.insert("ErrorChain".into(), Value::Array(chain));
        }
        plist_util::to_xml(&Value::Dictionary(dict), "report")
    }

    /// Parses a report, bounded by [`MAX_REPORT_BYTES`].
    pub fn parse(body: &[u8]) -> Result<Self> {
        Self::parse_limited(body, MAX_REPORT_BYTES)
    }

    /// Parses a report of at most `limit` bytes (a server taking large `ProfileList` answers).
    pub fn parse_limited(body: &[u8], limit: usize) -> Result<Self> {
        let what = "report";
        let mut dict = plist_util::parse_dict(body, what, limit)?;
        let udid = required_string(&dict, "UDID", MAX_ID)?;
        let status = Status::parse(&required_string(&dict, "Status", 32)?)?;
        let command_uuid = string(&dict, "CommandUUID", MAX_ID)?;
        if status != Status::Idle && command_uuid.is_none() {
            return Err(MdmError::Missing { what: "CommandUUID" });
        }
        let mut error_chain = Vec::new();
        match dict.get("ErrorChain") {
            None => {}
            Some(Value::Array(items)) if items.len() <= MAX_LIST => {
                for item in items {
                    let d = item
                        .as_dictionary()
                        .ok_or(malformed("ErrorChain", "entry is not a dictionary"))?;
                    error_chain.push(ErrorChainItem {
                        code: d.get("ErrorCode").and_then(Value::as_signed_integer).unwrap_or(0),
                        domain: string(d, "ErrorDomain", 256)?.unwrap_or_default(),
                        description: string(d, "LocalizedDescription", 1024)?.unwrap_or_default(),
                    });
                }
            }
            Some(Value::Array(_)) => {
                return Err(MdmError::TooMany {
                    what: "ErrorChain",
                    limit: MAX_LIST,
                })
            }
            Some(_) => return Err(malformed("ErrorChain", "not an array")),
        }
        for key in ["UDID", "Status", "CommandUUID", "ErrorChain"] {
            dict.remove(key);
        }
        Ok(Self {
            udid,
            status,
            command_uuid,
            error_chain,
            fields: dict,
        })
    }
}

/// A secret from a command (a lock or erase PIN): `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(pub Zeroizing<String>);

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// A command, decoded for the request types the simulator answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `DeviceInformation` with its `Queries`.
    DeviceInformation {
        /// The keys asked for.
        queries: Vec<String>,
    },
    /// `ProfileList`.
    ProfileList {
        /// `ManagedOnly`.
        managed_only: bool,
    },
    /// `SecurityInfo`.
    SecurityInfo,
    /// `InstallProfile` with the profile (`Payload`).
    InstallProfile {
        /// The `.mobileconfig` (possibly signed).
        payload: Vec<u8>,
    },
    /// `RemoveProfile` of `Identifier`.
    RemoveProfile {
        /// The `PayloadIdentifier` of the profile to remove.
        identifier: String,
    },
    /// `DeviceLock`.
    DeviceLock {
        /// `Message` to show.
        message: Option<String>,
        /// `PIN` (macOS).
        pin: Option<Pin>,
    },
    /// `EraseDevice`.
    EraseDevice {
        /// `PIN` (macOS).
        pin: Option<Pin>,
    },
    /// Any other request type (its keys stay in [`CommandRequest::command`]).
    Other,
}

/// A command from the server. `Debug` shows the decoded form (secrets redacted) and the keys of
/// the raw dictionary only.
#[derive(Clone, PartialEq)]
pub struct CommandRequest {
    /// `CommandUUID`.
    pub command_uuid: String,
    /// `Command.RequestType`.
    pub request_type: String,
    /// Decoded.
    pub decoded: Command,
    /// The `Command` dictionary as sent.
    pub command: Dictionary,
}

impl std::fmt::Debug for CommandRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRequest")
            .field("command_uuid", &self.command_uuid)
            .field("request_type", &self.request_type)
            .field("decoded", &self.decoded)
            .field("keys", &self.command.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl CommandRequest {
    /// Builds a command body: `{CommandUUID, Command: {RequestType, …fields}}`.
    pub fn build(command_uuid: &str, request_type: &str, fields: Dictionary) -> Result<Vec<u8>> {
        let mut command = fields;
        command.insert("RequestType".into(), Value::String(request_type.into()));
        let mut top = Dictionary::new();
        top.insert("CommandUUID".into(), Value::String(command_uuid.into()));
        top.insert("Command".into(), Value::Dictionary(command));
        plist_util::to_xml(&Value::Dictionary(top), "command")
    }

    /// Parses a command body, bounded. A body that is a plist but not a valid command gives
    /// an error the device answers with `CommandFormatError` (when it has a `CommandUUID`, see
    /// [`command_uuid_of`]).
    pub fn parse(body: &[u8]) -> Result<Self> {
        let what = "command";
        let top = plist_util::parse_dict(body, what, MAX_COMMAND_BYTES)?;
        let command_uuid = required_string(&top, "CommandUUID", MAX_ID)?;
        let command = top
            .get("Command")
            .and_then(Value::as_dictionary)
            .ok_or(MdmError::Missing { what: "Command" })?
            .clone();
        let request_type = required_string(&command, "RequestType", MAX_ID)?;
        let pin = |d: &Dictionary| string(d, "PIN", 16).map(|p| p.map(|p| Pin(Zeroizing::new(p))));
        let decoded = match request_type.as_str() {
            "DeviceInformation" => {
                let queries = match command.get("Queries") {
                    None => Vec::new(),
                    Some(Value::Array(items)) if items.len() <= MAX_LIST => items
                        .iter()
                        .map(|q| q.as_string().filter(|s| s.len() <= 128).map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or(malformed("Queries", "entry is not a short string"))?,
                    Some(Value::Array(_)) => {
                        return Err(MdmError::TooMany {
                            what: "Queries",
                            limit: MAX_LIST,
                        })
                    }
                    Some(_) => return Err(malformed("Queries", "not an array")),
                };
                Command::DeviceInformation { queries }
            }
            "ProfileList" => Command::ProfileList {
                managed_only: command
                    .get("ManagedOnly")
                    .and_then(Value::as_boolean)
                    .unwrap_or(false),
            },
            "SecurityInfo" => Command::SecurityInfo,
            "InstallProfile" => Command::InstallProfile {
                payload: command
                    .get("Payload")
                    .and_then(Value::as_data)
                    .ok_or(MdmError::Missing { what: "Payload" })?
                    .to_vec(),
            },
            "RemoveProfile" => Command::RemoveProfile {
                identifier: required_string(&command, "Identifier", 512)?,
            },
            "DeviceLock" => Command::DeviceLock {
                message: string(&command, "Message", 1024)?,
                pin: pin(&command)?,
            },
            "EraseDevice" => Command::EraseDevice { pin: pin(&command)? },
            _ => Command::Other,
        };
        Ok(Self {
            command_uuid,
            request_type,
            decoded,
            command,
        })
    }
}

/// The `CommandUUID` of a body that may not be a valid command (to answer
/// `CommandFormatError` for it).
pub fn command_uuid_of(body: &[u8]) -> Option<String> {
    let top = plist_util::parse_dict(body, "command", MAX_COMMAND_BYTES).ok()?;
    string(&top, "CommandUUID", MAX_ID).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_reports_round_trip() {
        let mut fields = Dictionary::new();
        fields.insert(
            "Queries".into(),
            Value::Array(vec![
                Value::String("UDID".into()),
                Value::String("SerialNumber".into()),
            ]),
        );
        let body = CommandRequest::build("C-1", "DeviceInformation", fields).unwrap();
        let cmd = CommandRequest::parse(&body).unwrap();
        assert_eq!(cmd.command_uuid, "C-1");
        assert_eq!(
            cmd.decoded,
            Command::DeviceInformation {
                queries: vec!["UDID".into(), "SerialNumber".into()]
            }
        );
        let mut pin = Dictionary::new();
        pin.insert("PIN".into(), Value::String("123456".into()));
        let lock = CommandRequest::parse(&CommandRequest::build("C-2", "DeviceLock", pin).unwrap()).unwrap();
        assert!(!format!("{lock:?}").contains("123456"));
        let other =
            CommandRequest::parse(&CommandRequest::build("C-3", "Restart", Dictionary::new()).unwrap())
                .unwrap();
        assert_eq!(other.decoded, Command::Other);

        let mut resp = Dictionary::new();
        resp.insert("QueryResponses".into(), Value::Dictionary(Dictionary::new()));
        let report = Report::for_command("U", "C-1", Status::Acknowledged, resp);
        assert_eq!(Report::parse(&report.to_xml().unwrap()).unwrap(), report);
        let mut err = Report::for_command("U", "C-3", Status::Error, Dictionary::new());
        err.error_chain.push(ErrorChainItem {
            code: 12021,
            domain: "MCMDMErrorDomain".into(),
            description: "Unknown command".into(),
        });
        assert_eq!(Report::parse(&err.to_xml().unwrap()).unwrap(), err);
        assert_eq!(
            Report::parse(&Report::idle("U").to_xml().unwrap()).unwrap(),
            Report::idle("U")
        );
    }

    #[test]
    fn hostile_commands_and_reports() {
        let plist = |inner: &str| {
            format!(r#"<?xml version="1.0"?><plist version="1.0"><dict>{inner}</dict></plist>"#).into_bytes()
        };
        assert!(CommandRequest::parse(b"").is_err());
        assert_eq!(
            CommandRequest::parse(&plist("<key>CommandUUID</key><string>X</string>")),
            Err(MdmError::Missing { what: "Command" })
        );
        let no_type = plist("<key>CommandUUID</key><string>X</string><key>Command</key><dict/>");
        assert!(CommandRequest::parse(&no_type).is_err());
        assert_eq!(command_uuid_of(&no_type).as_deref(), Some("X"));
        assert!(CommandRequest::parse(&plist(
            "<key>CommandUUID</key><string>X</string><key>Command</key><dict><key>RequestType</key><string>DeviceInformation</string><key>Queries</key><string>UDID</string></dict>"
        ))
        .is_err());
        assert!(CommandRequest::parse(&plist(
            "<key>CommandUUID</key><string>X</string><key>Command</key><dict><key>RequestType</key><string>InstallProfile</string></dict>"
        ))
        .is_err());
        let long = "x".repeat(MAX_ID + 1);
        assert!(
            CommandRequest::parse(&plist(&format!("<key>CommandUUID</key><string>{long}</string>"))).is_err()
        );
        assert!(Report::parse(&plist(
            "<key>UDID</key><string>U</string><key>Status</key><string>Weird</string>"
        ))
        .is_err());
        assert_eq!(
            Report::parse(&plist(
                "<key>UDID</key><string>U</string><key>Status</key><string>Acknowledged</string>"
            )),
            Err(MdmError::Missing { what: "CommandUUID" })
        );
        assert!(Report::parse(&plist(
            "<key>UDID</key><string>U</string><key>Status</key><string>Idle</string><key>ErrorChain</key><string>x</string>"
        ))
        .is_err());
    }
}
