//! The enrollment profile (`.mobileconfig`): an XML property list with an SCEP identity payload
//! and an MDM payload, built fresh for every issuance.
//!
//! Keys follow the Apple profile schemas (`TopLevel`, `com.apple.security.scep`,
//! `com.apple.mdm`). `PayloadExpirationDate` is the install window: the device must install the
//! profile before it, otherwise the enrollment has to fetch a new one.
//!
//! The URLs it points to (`/scep`, `/mdm/server`, `/mdm/checkin`) are not served by this
//! reference server yet.

use plist::{Dictionary, Value};
use std::time::{Duration, UNIX_EPOCH};

/// Everything that goes into one issued profile.
#[derive(Clone)]
pub struct ProfileParams {
    /// Device record the profile enrolls (makes `PayloadIdentifier` stable per device).
    pub device_id: String,
    /// Top-level `PayloadUUID`, fresh per issuance (upper-case UUID).
    pub payload_uuid: String,
    /// `PayloadUUID` of the SCEP identity payload (referenced by `IdentityCertificateUUID`).
    pub identity_uuid: String,
    /// `PayloadUUID` of the MDM payload.
    pub mdm_uuid: String,
    /// Server base URL, e.g. `https://mdm.example.com:8443` (no trailing slash).
    pub base_url: String,
    /// One-time SCEP challenge.
    pub challenge: String,
    /// APNs topic, stable per server (`com.apple.mgmt.External.<uuid>`).
    pub topic: String,
    /// `PayloadOrganization`.
    pub organization: String,
    /// Issue time, Unix seconds.
    pub issued_at: i64,
    /// `PayloadExpirationDate`, Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for ProfileParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileParams")
            .field("device_id", &self.device_id)
            .field("payload_uuid", &self.payload_uuid)
            .field("challenge", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// `PayloadIdentifier` of the enrollment profile of a device.
pub fn profile_identifier(device_id: &str) -> String {
    format!("com.enroll.mdm.{device_id}")
}

fn date(unix: i64) -> Value {
    let secs = u64::try_from(unix.max(0)).unwrap_or(0);
    Value::Date(plist::Date::from(UNIX_EPOCH + Duration::from_secs(secs)))
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// Builds the XML plist of an enrollment profile.
pub fn build_enrollment_profile(params: &ProfileParams) -> Vec<u8> {
    let base = params.base_url.trim_end_matches('/');
    let ident = profile_identifier(&params.device_id);

    let mut scep_content = Dictionary::new();
    scep_content.insert("URL".into(), s(format!("{base}/scep")));
    scep_content.insert("Name".into(), s("enroll"));
    scep_content.insert("Challenge".into(), s(params.challenge.clone()));
    scep_content.insert(
        "Subject".into(),
        Value::Array(vec![Value::Array(vec![Value::Array(vec![
            s("CN"),
            s(params.device_id.clone()),
        ])])]),
    );
    scep_content.insert("Keysize".into(), Value::Integer(2048.into()));
    scep_content.insert("Key Type".into(), s("RSA"));
    scep_content.insert("Key Usage".into(), Value::Integer(5.into()));

    let mut scep = Dictionary::new();
    scep.insert("PayloadType".into(), s("com.apple.security.scep"));
    scep.insert("PayloadUUID".into(), s(params.identity_uuid.clone()));
    scep.insert("PayloadIdentifier".into(), s(format!("{ident}.identity")));
    scep.insert("PayloadVersion".into(), Value::Integer(1.into()));
    scep.insert("PayloadDisplayName".into(), s("Device identity"));
    scep.insert(
        "PayloadDescription".into(),
        s("Requests the device identity certificate used by MDM."),
    );
    scep.insert("PayloadContent".into(), Value::Dictionary(scep_content));

    let mut mdm = Dictionary::new();
    mdm.insert("PayloadType".into(), s("com.apple.mdm"));
    mdm.insert("PayloadUUID".into(), s(params.mdm_uuid.clone()));
    mdm.insert("PayloadIdentifier".into(), s(format!("{ident}.mdm")));
    mdm.insert("PayloadVersion".into(), Value::Integer(1.into()));
    mdm.insert("PayloadDisplayName".into(), s("Mobile device management"));
    mdm.insert("ServerURL".into(), s(format!("{base}/mdm/server")));
    mdm.insert("CheckInURL".into(), s(format!("{base}/mdm/checkin")));
    mdm.insert("Topic".into(), s(params.topic.clone()));
    mdm.insert("IdentityCertificateUUID".into(), s(params.identity_uuid.clone()));
    mdm.insert("AccessRights".into(), Value::Integer(8191.into()));
    mdm.insert("SignMessage".into(), Value::Boolean(true));
    mdm.insert("CheckOutWhenRemoved".into(), Value::Boolean(true));
    mdm.insert(
        "ServerCapabilities".into(),
        Value::Array(vec![s("com.apple.mdm.per-user-connections")]),
    );

    let mut top = Dictionary::new();
    top.insert("PayloadType".into(), s("Configuration"));
    top.insert("PayloadVersion".into(), Value::Integer(1.into()));
    top.insert("PayloadIdentifier".into(), s(ident));
    top.insert("PayloadUUID".into(), s(params.payload_uuid.clone()));
    top.insert(
        "PayloadDisplayName".into(),
        s(format!("{} MDM enrollment", params.organization)),
    );
    top.insert("PayloadOrganization".into(), s(params.organization.clone()));
    top.insert(
        "PayloadDescription".into(),
        s("Enrolls this device in mobile device management. Install it within a few minutes: it expires."),
    );
    top.insert("PayloadScope".into(), s("System"));
    top.insert("PayloadExpirationDate".into(), date(params.expires_at));
    top.insert(
        "PayloadContent".into(),
        Value::Array(vec![Value::Dictionary(scep), Value::Dictionary(mdm)]),
    );

    let mut out = Vec::new();
    // Writing a plist Value into a Vec cannot fail.
    if plist::to_writer_xml(&mut out, &Value::Dictionary(top)).is_err() {
        out.clear();
    }
    out
}

/// A new upper-case random UUID.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string().to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ProfileParams {
        ProfileParams {
            device_id: "dev-1".into(),
            payload_uuid: new_uuid(),
            identity_uuid: new_uuid(),
            mdm_uuid: new_uuid(),
            base_url: "https://127.0.0.1:8443/".into(),
            challenge: "chal".into(),
            topic: "com.apple.mgmt.External.X".into(),
            organization: "Acme".into(),
            issued_at: 1_700_000_000,
            expires_at: 1_700_000_300,
        }
    }

    #[test]
    fn profile_has_expected_keys() {
        let p = params();
        let bytes = build_enrollment_profile(&p);
        let v: Value = plist::from_bytes(&bytes).unwrap();
        let top = v.as_dictionary().unwrap();
        assert_eq!(top["PayloadType"].as_string(), Some("Configuration"));
        assert_eq!(top["PayloadVersion"].as_signed_integer(), Some(1));
        assert_eq!(top["PayloadIdentifier"].as_string(), Some("com.enroll.mdm.dev-1"));
        assert_eq!(top["PayloadUUID"].as_string(), Some(p.payload_uuid.as_str()));
        assert_eq!(top["PayloadScope"].as_string(), Some("System"));
        let exp: std::time::SystemTime = top["PayloadExpirationDate"].as_date().unwrap().into();
        assert_eq!(exp.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1_700_000_300);
        let content = top["PayloadContent"].as_array().unwrap();
        assert_eq!(content.len(), 2);
        let scep = content[0].as_dictionary().unwrap();
        assert_eq!(scep["PayloadType"].as_string(), Some("com.apple.security.scep"));
        let sc = scep["PayloadContent"].as_dictionary().unwrap();
        assert_eq!(sc["URL"].as_string(), Some("https://127.0.0.1:8443/scep"));
        assert_eq!(sc["Keysize"].as_signed_integer(), Some(2048));
        assert_eq!(sc["Key Usage"].as_signed_integer(), Some(5));
        let subject = sc["Subject"].as_array().unwrap()[0].as_array().unwrap()[0]
            .as_array()
            .unwrap();
        assert_eq!(subject[1].as_string(), Some("dev-1"));
        let mdm = content[1].as_dictionary().unwrap();
        assert_eq!(mdm["PayloadType"].as_string(), Some("com.apple.mdm"));
        assert_eq!(
            mdm["ServerURL"].as_string(),
            Some("https://127.0.0.1:8443/mdm/server")
        );
        assert_eq!(
            mdm["CheckInURL"].as_string(),
            Some("https://127.0.0.1:8443/mdm/checkin")
        );
        assert_eq!(
            mdm["IdentityCertificateUUID"].as_string(),
            Some(p.identity_uuid.as_str())
        );
        assert_eq!(mdm["AccessRights"].as_signed_integer(), Some(8191));
        assert_eq!(mdm["SignMessage"].as_boolean(), Some(true));
        assert_eq!(mdm["CheckOutWhenRemoved"].as_boolean(), Some(true));
        assert!(format!("{p:?}").contains("redacted"));
    }

    #[test]
    fn uuids_are_upper_case() {
        let u = new_uuid();
        assert_eq!(u, u.to_ascii_uppercase());
        assert_eq!(u.len(), 36);
    }
}
