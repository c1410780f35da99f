//! How a simulated device answers commands: its state (installed profiles, lock, NotNow
//! budget) and one report per command.
//!
//! - `DeviceInformation`: the `Queries` this device knows (all known keys when empty);
//! - `ProfileList`: the enrollment profile and every profile installed since;
//! - `SecurityInfo`: a plausible unencrypted-passcode-less device;
//! - `InstallProfile`: kept (replaces a profile of the same `PayloadIdentifier`);
//! - `RemoveProfile`: removes it; removing the MDM profile ends enrollment (`CheckOut` when
//!   `CheckOutWhenRemoved`);
//! - `DeviceLock`: acknowledged, the device is locked; `EraseDevice`: acknowledged, then the
//!   device is gone;
//! - anything else: `Error` (`MCMDMErrorDomain` 12021); an unreadable command:
//!   `CommandFormatError`;
//! - while [`DeviceState::not_now`] is above zero, commands get `NotNow` (one each).

use crate::device::DeviceIdentity;
use crate::profile::EnrollmentProfile;
use enroll_mdm::command::{command_uuid_of, Command, CommandRequest, ErrorChainItem, Report, Status};
use plist::{Dictionary, Value};

/// A profile the device has installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledProfile {
    /// `PayloadIdentifier`.
    pub identifier: String,
    /// `PayloadUUID`.
    pub uuid: String,
    /// `PayloadDisplayName`.
    pub display_name: Option<String>,
    /// `(PayloadType, PayloadIdentifier, PayloadUUID)` of its payloads.
    pub payloads: Vec<(String, String, String)>,
    /// Installed through MDM (`InstallProfile`) rather than by the user.
    pub managed: bool,
}

/// What happens after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Ask for the next command.
    Continue,
    /// The MDM profile was removed: send `CheckOut` (when the payload asks) and stop.
    Unenrolled,
    /// The device was erased: stop.
    Erased,
}

/// The mutable state of a simulated device.
#[derive(Debug, Clone)]
pub struct DeviceState {
    /// Identity.
    pub identity: DeviceIdentity,
    /// Installed profiles (the enrollment profile first).
    pub profiles: Vec<InstalledProfile>,
    /// `PayloadIdentifier` of the enrollment (MDM) profile.
    pub mdm_profile: String,
    /// Locked by `DeviceLock`.
    pub locked: bool,
    /// Commands still to answer `NotNow`.
    pub not_now: u32,
    /// Commands answered, by request type.
    pub answered: Vec<(String, Status)>,
}

fn error_report(udid: &str, uuid: &str, status: Status, code: i64, domain: &str, text: &str) -> Report {
    let mut r = Report::for_command(udid, uuid, status, Dictionary::new());
    r.error_chain.push(ErrorChainItem {
        code,
        domain: domain.into(),
        description: text.into(),
    });
    r
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

impl DeviceState {
    /// A freshly enrolled device.
    pub fn new(identity: DeviceIdentity, profile: &EnrollmentProfile) -> Self {
        Self {
            identity,
            profiles: vec![InstalledProfile {
                identifier: profile.identifier.clone(),
                uuid: profile.uuid.clone(),
                display_name: profile.display_name.clone(),
                payloads: profile.payloads.clone(),
                managed: false,
            }],
            mdm_profile: profile.identifier.clone(),
            locked: false,
            not_now: 0,
            answered: Vec::new(),
        }
    }

    /// Answers one command body.
    pub fn answer(&mut self, body: &[u8]) -> (Report, After) {
        let udid = self.identity.udid.clone();
        let cmd = match CommandRequest::parse(body) {
            Ok(cmd) => cmd,
            Err(_) => {
                let uuid = command_uuid_of(body).unwrap_or_default();
                self.answered.push((String::new(), Status::CommandFormatError));
                return (
                    error_report(
                        &udid,
                        &uuid,
                        Status::CommandFormatError,
                        12001,
                        "MCMDMErrorDomain",
                        "Invalid command",
                    ),
                    After::Continue,
                );
            }
        };
        if self.not_now > 0 {
            self.not_now -= 1;
            self.answered.push((cmd.request_type.clone(), Status::NotNow));
            return (
                Report::for_command(&udid, &cmd.command_uuid, Status::NotNow, Dictionary::new()),
                After::Continue,
            );
        }
        let uuid = cmd.command_uuid.as_str();
        let ack = |fields| Report::for_command(&udid, uuid, Status::Acknowledged, fields);
        let (report, after) = match &cmd.decoded {
            Command::DeviceInformation { queries } => {
                let mut responses = Dictionary::new();
                let keys: Vec<&str> = if queries.is_empty() {
                    DeviceIdentity::ALL_QUERIES.to_vec()
                } else {
                    queries.iter().map(String::as_str).collect()
                };
                for key in keys {
                    if let Some(v) = self.identity.query(key) {
                        responses.insert(key.to_owned(), v);
                    }
                }
                let mut fields = Dictionary::new();
                fields.insert("QueryResponses".into(), Value::Dictionary(responses));
                (ack(fields), After::Continue)
            }
            Command::ProfileList { managed_only } => {
                let list = self
                    .profiles
                    .iter()
                    .filter(|p| !managed_only || p.managed)
                    .map(|p| {
                        let mut d = Dictionary::new();
                        d.insert("PayloadIdentifier".into(), s(&p.identifier));
                        d.insert("PayloadUUID".into(), s(&p.uuid));
                        d.insert("PayloadVersion".into(), Value::Integer(1.into()));
                        if let Some(name) = &p.display_name {
                            d.insert("PayloadDisplayName".into(), s(name));
                        }
                        d.insert("PayloadRemovalDisallowed".into(), Value::Boolean(false));
                        d.insert("HasRemovalPasscode".into(), Value::Boolean(false));
                        d.insert("IsEncrypted".into(), Value::Boolean(false));
                        d.insert("IsManaged".into(), Value::Boolean(p.managed));
                        let content = p
                            .payloads
                            .iter()
                            .map(|(ty, id, uuid)| {
                                let mut c = Dictionary::new();
                                c.insert("PayloadType".into(), s(ty));
                                c.insert("PayloadIdentifier".into(), s(id));
                                c.insert("PayloadUUID".into(), s(uuid));
                                c.insert("PayloadVersion".into(), Value::Integer(1.into()));
                                Value::Dictionary(c)
                            })
                            .collect();
                        d.insert("PayloadContent".into(), Value::Array(content));
                        Value::Dictionary(d)
                    })
                    .collect();
                let mut fields = Dictionary::new();
                fields.insert("ProfileList".into(), Value::Array(list));
                (ack(fields), After::Continue)
            }
            Command::SecurityInfo => {
                let mut info = Dictionary::new();
                info.insert("HardwareEncryptionCaps".into(), Value::Integer(3.into()));
                info.insert("PasscodePresent".into(), Value::Boolean(false));
                info.insert("PasscodeCompliant".into(), Value::Boolean(true));
                info.insert("PasscodeCompliantWithProfiles".into(), Value::Boolean(true));
                let mut mgmt = Dictionary::new();
                mgmt.insert("EnrolledViaDEP".into(), Value::Boolean(false));
                mgmt.insert("UserApprovedEnrollment".into(), Value::Boolean(true));
                mgmt.insert("IsUserEnrollment".into(), Value::Boolean(false));
                info.insert("ManagementStatus".into(), Value::Dictionary(mgmt));
                let mut fields = Dictionary::new();
                fields.insert("SecurityInfo".into(), Value::Dictionary(info));
                (ack(fields), After::Continue)
            }
            Command::InstallProfile { payload } => match install(payload) {
                Some(p) => {
                    self.profiles.retain(|q| q.identifier != p.identifier);
                    self.profiles.push(p);
                    (ack(Dictionary::new()), After::Continue)
                }
                None => (
                    error_report(
                        &udid,
                        uuid,
                        Status::Error,
                        1000,
                        "MCProfileErrorDomain",
                        "Malformed profile",
                    ),
                    After::Continue,
                ),
            },
            Command::RemoveProfile { identifier } => {
                if *identifier == self.mdm_profile {
                    (ack(Dictionary::new()), After::Unenrolled)
                } else if self.profiles.iter().any(|p| &p.identifier == identifier) {
                    self.profiles.retain(|p| &p.identifier != identifier);
                    (ack(Dictionary::new()), After::Continue)
                } else {
                    (
                        error_report(
                            &udid,
                            uuid,
                            Status::Error,
                            1003,
                            "MCProfileErrorDomain",
                            "Profile not found",
                        ),
                        After::Continue,
                    )
                }
            }
            Command::DeviceLock { .. } => {
                self.locked = true;
                (ack(Dictionary::new()), After::Continue)
            }
            Command::EraseDevice { .. } => (ack(Dictionary::new()), After::Erased),
            Command::Other => (
                error_report(
                    &udid,
                    uuid,
                    Status::Error,
                    12021,
                    "MCMDMErrorDomain",
                    "Unknown command",
                ),
                After::Continue,
            ),
        };
        self.answered.push((cmd.request_type.clone(), report.status));
        (report, after)
    }
}

/// Reads an `InstallProfile` payload (signed or not) as an installed profile.
fn install(payload: &[u8]) -> Option<InstalledProfile> {
    let content = crate::profile::profile_content(payload, &[]).ok()?;
    let value = Value::from_reader(std::io::Cursor::new(content)).ok()?;
    let top = value.as_dictionary()?;
    let get = |d: &Dictionary, k: &str| d.get(k).and_then(Value::as_string).map(str::to_owned);
    let payloads = top
        .get("PayloadContent")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_dictionary)
                .take(64)
                .map(|d| {
                    (
                        get(d, "PayloadType").unwrap_or_default(),
                        get(d, "PayloadIdentifier").unwrap_or_default(),
                        get(d, "PayloadUUID").unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Some(InstalledProfile {
        identifier: get(top, "PayloadIdentifier")?,
        uuid: get(top, "PayloadUUID")?,
        display_name: get(top, "PayloadDisplayName"),
        payloads,
        managed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::ApplePlatform;
    use crate::profile::{build_profile, ProfileSpec};

    fn state() -> DeviceState {
        let profile = build_profile(&ProfileSpec {
            scep_url: "http://127.0.0.1:1/scep".into(),
            challenge: "c".into(),
            server_url: "http://127.0.0.1:2/mdm".into(),
            checkin_url: None,
            topic: "com.apple.mgmt.External.t".into(),
            common_name: "d".into(),
            organization: "O".into(),
        });
        let profile = EnrollmentProfile::parse(&profile, &[]).unwrap();
        DeviceState::new(DeviceIdentity::simulated(1, ApplePlatform::Ios), &profile)
    }

    fn cmd(uuid: &str, ty: &str, fields: Dictionary) -> Vec<u8> {
        CommandRequest::build(uuid, ty, fields).unwrap()
    }

    #[test]
    fn answers() {
        let mut st = state();
        let mut q = Dictionary::new();
        q.insert("Queries".into(), Value::Array(vec![s("SerialNumber"), s("Nope")]));
        let (r, after) = st.answer(&cmd("1", "DeviceInformation", q));
        assert_eq!((r.status, after), (Status::Acknowledged, After::Continue));
        let qr = r.fields["QueryResponses"].as_dictionary().unwrap();
        assert_eq!(qr.len(), 1);
        assert_eq!(
            qr["SerialNumber"].as_string(),
            Some(st.identity.serial_number.as_str())
        );

        let mut p = Dictionary::new();
        let extra = r#"<?xml version="1.0"?><plist version="1.0"><dict><key>PayloadType</key><string>Configuration</string><key>PayloadIdentifier</key><string>com.x.wifi</string><key>PayloadUUID</key><string>W-1</string></dict></plist>"#;
        p.insert("Payload".into(), Value::Data(extra.as_bytes().to_vec()));
        assert_eq!(
            st.answer(&cmd("2", "InstallProfile", p)).0.status,
            Status::Acknowledged
        );
        let (r, _) = st.answer(&cmd("3", "ProfileList", Dictionary::new()));
        assert_eq!(r.fields["ProfileList"].as_array().unwrap().len(), 2);
        let mut rm = Dictionary::new();
        rm.insert("Identifier".into(), s("com.x.wifi"));
        assert_eq!(
            st.answer(&cmd("4", "RemoveProfile", rm.clone())).0.status,
            Status::Acknowledged
        );
        assert_eq!(st.answer(&cmd("5", "RemoveProfile", rm)).0.status, Status::Error);
        assert_eq!(
            st.answer(&cmd("6", "SecurityInfo", Dictionary::new())).0.status,
            Status::Acknowledged
        );
        let (r, _) = st.answer(&cmd("7", "Frobnicate", Dictionary::new()));
        assert_eq!(r.status, Status::Error);
        assert_eq!(r.error_chain[0].code, 12021);
        let (r, _) = st.answer(b"<plist><dict><key>CommandUUID</key><string>8</string></dict></plist>");
        assert_eq!(
            (r.status, r.command_uuid.as_deref()),
            (Status::CommandFormatError, Some("8"))
        );
        st.not_now = 1;
        assert_eq!(
            st.answer(&cmd("9", "SecurityInfo", Dictionary::new())).0.status,
            Status::NotNow
        );
        assert_eq!(
            st.answer(&cmd("9", "SecurityInfo", Dictionary::new())).0.status,
            Status::Acknowledged
        );
        assert_eq!(
            st.answer(&cmd("10", "DeviceLock", Dictionary::new())).0.status,
            Status::Acknowledged
        );
        assert!(st.locked);
        let mut rm = Dictionary::new();
        rm.insert("Identifier".into(), s(&st.mdm_profile.clone()));
        assert_eq!(st.answer(&cmd("11", "RemoveProfile", rm)).1, After::Unenrolled);
        assert_eq!(
            st.answer(&cmd("12", "EraseDevice", Dictionary::new())).1,
            After::Erased
        );
    }
}
