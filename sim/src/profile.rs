//! Enrollment profiles: reading what a device needs from a `.mobileconfig` (XML or binary
//! plist, CMS-signed or not), and building one for a NanoMDM + scepserver pair.
//!
//! A signed profile's content is taken from the CMS; when trusted CAs are given the signature
//! is verified first with `enroll_core::profile::verify_cms` (as the agent does). The SCEP and
//! MDM payloads are read per `specs/apple/mdm/profiles`: the MDM payload's
//! `IdentityCertificateUUID` must name the SCEP payload.

use crate::error::{Result, SimError};
use plist::{Dictionary, Value};
use std::io::Cursor;
use zeroize::Zeroizing;

/// Largest profile read.
pub const MAX_PROFILE_BYTES: usize = 256 * 1024;

/// The `com.apple.security.scep` payload's content.
#[derive(Clone)]
pub struct ScepPayload {
    /// `URL`.
    pub url: String,
    /// `Name` (the CA identifier sent as `message=`), if any.
    pub name: Option<String>,
    /// `Subject` as RDNs of `(type, value)` pairs.
    pub subject: Vec<Vec<(String, String)>>,
    /// `Challenge` (one-time secret).
    pub challenge: Option<Zeroizing<String>>,
    /// `Keysize` (default 1024 per the schema; devices use 2048 when unset, as here).
    pub key_size: u64,
}

impl std::fmt::Debug for ScepPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScepPayload")
            .field("url", &self.url)
            .field("subject", &self.subject)
            .field("challenge", &self.challenge.as_ref().map(|_| "<redacted>"))
            .field("key_size", &self.key_size)
            .finish_non_exhaustive()
    }
}

/// The `com.apple.mdm` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdmPayload {
    /// `ServerURL` (command channel).
    pub server_url: String,
    /// `CheckInURL` (check-in messages); `ServerURL` when absent.
    pub checkin_url: String,
    /// `Topic`.
    pub topic: String,
    /// `SignMessage`: send `Mdm-Signature`.
    pub sign_message: bool,
    /// `CheckOutWhenRemoved`.
    pub check_out_when_removed: bool,
}

/// What the simulator reads from an enrollment profile.
#[derive(Debug, Clone)]
pub struct EnrollmentProfile {
    /// Top-level `PayloadIdentifier`.
    pub identifier: String,
    /// Top-level `PayloadUUID`.
    pub uuid: String,
    /// `PayloadDisplayName`, if any.
    pub display_name: Option<String>,
    /// The identity payload.
    pub scep: ScepPayload,
    /// The MDM payload.
    pub mdm: MdmPayload,
    /// `(PayloadType, PayloadIdentifier, PayloadUUID)` of every payload (for `ProfileList`).
    pub payloads: Vec<(String, String, String)>,
}

/// A profile's plist content: the CMS content when signed (verified against `trusted_cas`
/// when any are given, DER certificates), else the bytes as they are (NanoMDM set-ups serve
/// unsigned profiles; there is nothing to verify then).
pub fn profile_content(bytes: &[u8], trusted_cas: &[Vec<u8>]) -> Result<Vec<u8>> {
    if bytes.len() > MAX_PROFILE_BYTES {
        return Err(SimError::Profile(format!(
            "larger than {MAX_PROFILE_BYTES} bytes"
        )));
    }
    if bytes.first() != Some(&0x30) {
        if !trusted_cas.is_empty() {
            return Err(SimError::Profile(
                "a trusted CA was given but the profile is not signed".into(),
            ));
        }
        return Ok(bytes.to_vec());
    }
    if !trusted_cas.is_empty() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let (content, _signer) = enroll_core::profile::verify_cms(bytes, trusted_cas, now)
            .map_err(|e| SimError::Profile(e.to_string()))?;
        return Ok(content);
    }
    let signed =
        enroll_mdm::signed::parse_signed_data(bytes).map_err(|e| SimError::Profile(e.to_string()))?;
    signed
        .content
        .ok_or_else(|| SimError::Profile("signed profile without content".into()))
}

fn get_str<'a>(d: &'a Dictionary, key: &str) -> Option<&'a str> {
    d.get(key).and_then(Value::as_string)
}

fn need_str(d: &Dictionary, key: &str, what: &str) -> Result<String> {
    get_str(d, key)
        .map(str::to_owned)
        .ok_or_else(|| SimError::Profile(format!("{what} lacks {key}")))
}

fn subject(value: Option<&Value>) -> Result<Vec<Vec<(String, String)>>> {
    let bad = || SimError::Profile("SCEP Subject is not an array of arrays of pairs".into());
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let rdns = value.as_array().ok_or_else(bad)?;
    let mut out = Vec::new();
    for rdn in rdns.iter().take(16) {
        let mut pairs = Vec::new();
        for pair in rdn.as_array().ok_or_else(bad)?.iter().take(8) {
            let pair = pair.as_array().ok_or_else(bad)?;
            match pair.as_slice() {
                [k, v] => pairs.push((
                    k.as_string().ok_or_else(bad)?.to_owned(),
                    v.as_string().ok_or_else(bad)?.to_owned(),
                )),
                _ => return Err(bad()),
            }
        }
        out.push(pairs);
    }
    Ok(out)
}

impl EnrollmentProfile {
    /// Reads a profile (see [`profile_content`] for signed ones).
    pub fn parse(bytes: &[u8], trusted_cas: &[Vec<u8>]) -> Result<Self> {
        let content = profile_content(bytes, trusted_cas)?;
        let value = Value::from_reader(Cursor::new(&content))
            .map_err(|_| SimError::Profile("not a readable plist".into()))?;
        let top = value
            .as_dictionary()
            .ok_or_else(|| SimError::Profile("top level is not a dictionary".into()))?;
        if get_str(top, "PayloadType") != Some("Configuration") {
            return Err(SimError::Profile("PayloadType is not Configuration".into()));
        }
        let payloads = top
            .get("PayloadContent")
            .and_then(Value::as_array)
            .ok_or_else(|| SimError::Profile("no PayloadContent array".into()))?;
        let dicts: Vec<&Dictionary> = payloads
            .iter()
            .filter_map(Value::as_dictionary)
            .take(64)
            .collect();
        let mdm = dicts
            .iter()
            .find(|d| get_str(d, "PayloadType") == Some("com.apple.mdm"))
            .ok_or_else(|| SimError::Profile("no com.apple.mdm payload".into()))?;
        let identity = need_str(mdm, "IdentityCertificateUUID", "the MDM payload")?;
        let scep = dicts
            .iter()
            .find(|d| {
                get_str(d, "PayloadType") == Some("com.apple.security.scep")
                    && get_str(d, "PayloadUUID") == Some(identity.as_str())
            })
            .ok_or_else(|| SimError::Profile("IdentityCertificateUUID names no SCEP payload".into()))?;
        let scep_content = scep
            .get("PayloadContent")
            .and_then(Value::as_dictionary)
            .ok_or_else(|| SimError::Profile("the SCEP payload has no PayloadContent".into()))?;
        let server_url = need_str(mdm, "ServerURL", "the MDM payload")?;
        let scep = ScepPayload {
            url: need_str(scep_content, "URL", "the SCEP payload")?,
            name: get_str(scep_content, "Name").map(str::to_owned),
            subject: subject(scep_content.get("Subject"))?,
            challenge: get_str(scep_content, "Challenge").map(|c| Zeroizing::new(c.to_owned())),
            key_size: scep_content
                .get("Keysize")
                .and_then(Value::as_unsigned_integer)
                .unwrap_or(2048),
        };
        let mdm = MdmPayload {
            checkin_url: get_str(mdm, "CheckInURL").unwrap_or(&server_url).to_owned(),
            server_url,
            topic: need_str(mdm, "Topic", "the MDM payload")?,
            sign_message: mdm
                .get("SignMessage")
                .and_then(Value::as_boolean)
                .unwrap_or(false),
            check_out_when_removed: mdm
                .get("CheckOutWhenRemoved")
                .and_then(Value::as_boolean)
                .unwrap_or(false),
        };
        Ok(Self {
            identifier: need_str(top, "PayloadIdentifier", "the profile")?,
            uuid: need_str(top, "PayloadUUID", "the profile")?,
            display_name: get_str(top, "PayloadDisplayName").map(str::to_owned),
            payloads: dicts
                .iter()
                .map(|d| {
                    let s = |k| get_str(d, k).unwrap_or_default().to_owned();
                    (s("PayloadType"), s("PayloadIdentifier"), s("PayloadUUID"))
                })
                .collect(),
            scep,
            mdm,
        })
    }
}

/// What goes into a profile for a NanoMDM + scepserver pair ([`build_profile`]).
#[derive(Clone)]
pub struct ProfileSpec {
    /// scepserver's URL (`http://127.0.0.1:PORT/scep`).
    pub scep_url: String,
    /// scepserver's `-challenge`.
    pub challenge: String,
    /// NanoMDM's MDM endpoint (`http://127.0.0.1:PORT/mdm`), both ServerURL and CheckInURL.
    pub server_url: String,
    /// A separate CheckInURL (NanoMDM's `/checkin` with `-checkin`), if any.
    pub checkin_url: Option<String>,
    /// Push topic (`com.apple.mgmt.External.<uuid>`).
    pub topic: String,
    /// `CN` of the requested certificate.
    pub common_name: String,
    /// Organization shown.
    pub organization: String,
}

impl std::fmt::Debug for ProfileSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileSpec")
            .field("scep_url", &self.scep_url)
            .field("server_url", &self.server_url)
            .field("topic", &self.topic)
            .field("challenge", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// Builds an unsigned XML enrollment profile (SCEP + MDM payloads, `SignMessage` on).
pub fn build_profile(spec: &ProfileSpec) -> Vec<u8> {
    let profile_uuid = uuid::Uuid::new_v4().to_string().to_uppercase();
    let scep_uuid = uuid::Uuid::new_v4().to_string().to_uppercase();
    let mdm_uuid = uuid::Uuid::new_v4().to_string().to_uppercase();
    let ident = "com.enroll.sim.mdm";

    let mut scep_content = Dictionary::new();
    scep_content.insert("URL".into(), s(spec.scep_url.clone()));
    scep_content.insert("Name".into(), s("enroll-sim"));
    scep_content.insert("Challenge".into(), s(spec.challenge.clone()));
    scep_content.insert(
        "Subject".into(),
        Value::Array(vec![
            Value::Array(vec![Value::Array(vec![s("O"), s(spec.organization.clone())])]),
            Value::Array(vec![Value::Array(vec![s("CN"), s(spec.common_name.clone())])]),
        ]),
    );
    scep_content.insert("Keysize".into(), Value::Integer(2048.into()));
    scep_content.insert("Key Type".into(), s("RSA"));
    scep_content.insert("Key Usage".into(), Value::Integer(5.into()));
    let mut scep = Dictionary::new();
    scep.insert("PayloadType".into(), s("com.apple.security.scep"));
    scep.insert("PayloadUUID".into(), s(scep_uuid.clone()));
    scep.insert("PayloadIdentifier".into(), s(format!("{ident}.identity")));
    scep.insert("PayloadVersion".into(), Value::Integer(1.into()));
    scep.insert("PayloadContent".into(), Value::Dictionary(scep_content));

    let mut mdm = Dictionary::new();
    mdm.insert("PayloadType".into(), s("com.apple.mdm"));
    mdm.insert("PayloadUUID".into(), s(mdm_uuid));
    mdm.insert("PayloadIdentifier".into(), s(format!("{ident}.mdm")));
    mdm.insert("PayloadVersion".into(), Value::Integer(1.into()));
    mdm.insert("ServerURL".into(), s(spec.server_url.clone()));
    mdm.insert(
        "CheckInURL".into(),
        s(spec
            .checkin_url
            .clone()
            .unwrap_or_else(|| spec.server_url.clone())),
    );
    mdm.insert("Topic".into(), s(spec.topic.clone()));
    mdm.insert("IdentityCertificateUUID".into(), s(scep_uuid));
    mdm.insert("AccessRights".into(), Value::Integer(8191.into()));
    mdm.insert("SignMessage".into(), Value::Boolean(true));
    mdm.insert("CheckOutWhenRemoved".into(), Value::Boolean(true));

    let mut top = Dictionary::new();
    top.insert("PayloadType".into(), s("Configuration"));
    top.insert("PayloadVersion".into(), Value::Integer(1.into()));
    top.insert("PayloadIdentifier".into(), s(ident));
    top.insert("PayloadUUID".into(), s(profile_uuid));
    top.insert(
        "PayloadDisplayName".into(),
        s(format!("{} MDM enrollment", spec.organization)),
    );
    top.insert("PayloadOrganization".into(), s(spec.organization.clone()));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProfileSpec {
        ProfileSpec {
            scep_url: "http://127.0.0.1:1/scep".into(),
            challenge: "ch-secret".into(),
            server_url: "http://127.0.0.1:2/mdm".into(),
            checkin_url: None,
            topic: "com.apple.mgmt.External.x".into(),
            common_name: "sim".into(),
            organization: "Org".into(),
        }
    }

    #[test]
    fn built_profiles_read_back_in_xml_and_binary() {
        let xml = build_profile(&spec());
        let p = EnrollmentProfile::parse(&xml, &[]).unwrap();
        assert_eq!(p.mdm.server_url, "http://127.0.0.1:2/mdm");
        assert_eq!(p.mdm.checkin_url, p.mdm.server_url);
        assert!(p.mdm.sign_message && p.mdm.check_out_when_removed);
        assert_eq!(p.scep.challenge.as_deref().map(String::as_str), Some("ch-secret"));
        assert_eq!(p.scep.subject[1], vec![("CN".to_owned(), "sim".to_owned())]);
        assert!(!format!("{p:?}").contains("ch-secret"));
        let mut bin = Vec::new();
        Value::from_reader(Cursor::new(&xml))
            .unwrap()
            .to_writer_binary(&mut bin)
            .unwrap();
        assert_eq!(EnrollmentProfile::parse(&bin, &[]).unwrap().mdm, p.mdm);
        // A signed profile that does not verify against the trusted CA is refused.
        assert!(EnrollmentProfile::parse(&[0x30, 0x03, 0x01, 0x01, 0x00], &[vec![0x30]]).is_err());
    }

    #[test]
    fn signed_profiles_are_verified_when_a_ca_is_given() {
        use enroll_mdm::cert::{
            build_certificate, common_name, self_signed, CertificateKind, CertificateSpec,
        };
        use enroll_mdm::key::{DigestAlgorithm, RsaBits, RsaPrivateKey};
        use std::time::{Duration, SystemTime};
        let ca_key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        let ca_name = common_name("Profile CA").unwrap();
        let ca = self_signed(&ca_key, &ca_name, CertificateKind::Ca, Duration::from_secs(3600)).unwrap();
        let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        let now = SystemTime::now();
        let signer = build_certificate(
            &CertificateSpec {
                subject: common_name("Profile signer").unwrap(),
                subject_public_key: key.public_key_der().to_vec(),
                not_before: now - Duration::from_secs(60),
                not_after: now + Duration::from_secs(3600),
                kind: CertificateKind::ClientIdentity,
            },
            &ca_name,
            &ca_key,
        )
        .unwrap();
        let xml = build_profile(&spec());
        let signed = enroll_mdm::signed::build_signed_data(
            &xml,
            false,
            enroll_mdm::signed::Signer {
                key: &key,
                certificate: &signer,
                digest: DigestAlgorithm::Sha256,
            },
            &[&ca],
            &[],
        )
        .unwrap();
        // Without a CA the content is taken; with the right CA it verifies; with another it does not.
        assert_eq!(profile_content(&signed, &[]).unwrap(), xml);
        assert_eq!(
            EnrollmentProfile::parse(&signed, std::slice::from_ref(&ca))
                .unwrap()
                .mdm
                .topic,
            "com.apple.mgmt.External.x"
        );
        let other = self_signed(
            &key,
            &common_name("Other").unwrap(),
            CertificateKind::Ca,
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(EnrollmentProfile::parse(&signed, &[other]).is_err());
    }

    #[test]
    fn broken_profiles_are_refused() {
        let xml = String::from_utf8(build_profile(&spec())).unwrap();
        let broken = xml.replace("<key>IdentityCertificateUUID</key>", "<key>Other</key>");
        assert!(EnrollmentProfile::parse(broken.as_bytes(), &[]).is_err());
        assert!(EnrollmentProfile::parse(b"not a plist", &[]).is_err());
        assert!(EnrollmentProfile::parse(&[0x30, 0x03, 0x01, 0x01, 0x00], &[]).is_err());
        assert!(EnrollmentProfile::parse(&vec![b' '; MAX_PROFILE_BYTES + 1], &[]).is_err());
    }
}
