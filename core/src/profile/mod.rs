//! Verification of signed enrollment profiles (`.mobileconfig` in CMS SignedData).
//!
//! The server delivers an Apple configuration profile: a plist wrapped in CMS SignedData
//! (RFC 5652). Before anything is installed the agent:
//! 1. bounds the size and parses the CMS structure;
//! 2. finds the signer certificate, checks its validity dates and chains it (through
//!    certificates carried in the message) to one of the trusted CAs;
//! 3. checks the `messageDigest` and `contentType` signed attributes and the signature
//!    (ECDSA P-256/P-384 or RSA PKCS#1 v1.5, SHA-256/384/512, through `ring`);
//! 4. checks the plist content ([`content`]): XML with its nesting bounded before parsing, or
//!    binary (`bplist00`) with its structure checked first ([`bplist`]: offsets, references,
//!    cycles, depth, expansion of shared references); then the keys of Apple's payload schemas
//!    (`../shared/specs/apple/mdm/profiles`): the top level, the common keys of every payload,
//!    unique `PayloadUUID`s, exactly one `com.apple.mdm` payload (https `ServerURL` and
//!    `CheckInURL` without user info, a `Topic` starting `com.apple.mgmt.`, `AccessRights` in
//!    1..=8191, …) whose `IdentityCertificateUUID` names a `com.apple.security.scep` or
//!    `com.apple.security.pkcs12` payload of the same profile.
//!
//! Profiles from any MDM server pass if they meet the schemas; nothing here is specific to the
//! reference server. The install window (`PayloadExpirationDate`, read here) is checked
//! afterwards by the state machine against skew-corrected time, so a profile that is both
//! malformed and expired is refused as malformed.

pub mod bplist;
mod cms;
pub mod content;

pub use bplist::BplistDefect;
pub use cms::verify_cms;
pub use content::check_profile_content;

use crate::asn1::DerError;

/// Largest signed profile accepted.
pub const MAX_PROFILE_BYTES: usize = 256 * 1024;
/// Deepest plist nesting accepted (real profiles use fewer than 8 levels).
pub const MAX_PLIST_DEPTH: usize = 32;

/// Why a profile was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// Larger than [`MAX_PROFILE_BYTES`].
    #[error("the profile is larger than {MAX_PROFILE_BYTES} bytes")]
    TooLarge,
    /// Not a DER CMS structure (for example an unsigned plist).
    #[error("the profile is not CMS-signed: {0}")]
    NotSigned(String),
    /// A CMS feature this agent does not accept.
    #[error("unsupported CMS structure: {0}")]
    Unsupported(String),
    /// No signer, or its certificate is not in the message.
    #[error("the profile carries no usable signature: {0}")]
    MissingSignature(String),
    /// The signer does not chain to a trusted CA.
    #[error("the profile signer is not trusted: {0}")]
    UntrustedSigner(String),
    /// The signer certificate is outside its validity dates.
    #[error("the profile signer certificate is not valid at this time")]
    SignerExpired,
    /// The content does not match the signed digest.
    #[error("the profile content does not match its signed digest")]
    DigestMismatch,
    /// The signature does not verify.
    #[error("the profile signature is invalid")]
    BadSignature,
    /// The signed content is not a readable plist.
    #[error("the profile content is not a valid plist: {0}")]
    MalformedPlist(String),
    /// The signed content is a binary plist with a structural defect (see [`bplist`]).
    #[error("the profile content is not a valid binary plist: {0}")]
    BinaryPlist(BplistDefect),
    /// A required key is absent.
    #[error("the profile lacks required key {0}")]
    MissingKey(String),
    /// A key has an unacceptable value.
    #[error("the profile key {key} is invalid: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<DerError> for ProfileError {
    fn from(e: DerError) -> Self {
        ProfileError::NotSigned(e.to_string())
    }
}

/// A profile whose signature and required keys were checked.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedProfile {
    /// Top-level `PayloadUUID`.
    pub uuid: String,
    /// Top-level `PayloadIdentifier`.
    pub identifier: String,
    /// `PayloadExpirationDate`, Unix seconds (server time), if the profile has one (it is
    /// optional). The install window is the earlier of this and the server's header
    /// ([`earliest_deadline`]).
    pub expires_at: Option<i64>,
    /// The MDM `ServerURL` (https).
    pub server_url: String,
    /// The MDM push `Topic`.
    pub topic: String,
    /// `PayloadType` of the identity payload.
    pub identity_type: String,
    /// Subject of the signing certificate.
    pub signer: String,
}

impl std::fmt::Debug for VerifiedProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedProfile")
            .field("uuid", &self.uuid)
            .field("identifier", &self.identifier)
            .field("expires_at", &self.expires_at)
            .field("server_url", &self.server_url)
            .field("topic", &self.topic)
            .field("identity_type", &self.identity_type)
            .field("signer", &self.signer)
            .finish()
    }
}

/// The install window of a profile: the earlier of its `PayloadExpirationDate` and the server's
/// `enroll-profile-expires` header; `None` when neither exists (no window).
pub fn earliest_deadline(profile: Option<i64>, header: Option<i64>) -> Option<i64> {
    match (profile, header) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (one, other) => one.or(other),
    }
}

/// Verifies a signed profile completely: signature against `anchors`, then required keys.
pub fn verify_profile(
    der_bytes: &[u8],
    anchors: &[Vec<u8>],
    now: i64,
) -> Result<VerifiedProfile, ProfileError> {
    let (content, signer) = verify_cms(der_bytes, anchors, now)?;
    let mut profile = check_profile_content(&content)?;
    profile.signer = signer;
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plist_with(mdm_extra: &str, top_extra: &str) -> Vec<u8> {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadVersion</key><integer>1</integer>
<key>PayloadUUID</key><string>A-1</string>
<key>PayloadIdentifier</key><string>com.enroll.mdm.d1</string>
{top_extra}
<key>PayloadContent</key><array>
 <dict><key>PayloadType</key><string>com.apple.security.scep</string><key>PayloadUUID</key><string>1B2C3D4E-0000-4000-8000-00000000AB01</string>
  <key>PayloadIdentifier</key><string>com.enroll.mdm.d1.identity</string><key>PayloadVersion</key><integer>1</integer>
  <key>PayloadContent</key><dict><key>URL</key><string>https://mdm.example.com/scep</string><key>Keysize</key><integer>2048</integer></dict></dict>
 <dict><key>PayloadType</key><string>com.apple.mdm</string><key>PayloadUUID</key><string>1B2C3D4E-0000-4000-8000-00000000AB02</string>
  <key>PayloadIdentifier</key><string>com.enroll.mdm.d1.mdm</string><key>PayloadVersion</key><integer>1</integer>
 {mdm_extra}</dict>
</array></dict></plist>"#
        )
        .into_bytes()
    }

    const GOOD_MDM: &str = "<key>ServerURL</key><string>https://mdm.example.com/mdm</string>\
        <key>Topic</key><string>com.apple.mgmt.External.1</string>\
        <key>IdentityCertificateUUID</key><string>1B2C3D4E-0000-4000-8000-00000000AB01</string>";
    const EXP: &str = "<key>PayloadExpirationDate</key><date>2030-01-01T00:00:00Z</date>";

    #[test]
    fn good_content_passes() {
        let p = check_profile_content(&plist_with(GOOD_MDM, EXP)).unwrap();
        assert_eq!(p.uuid, "A-1");
        assert_eq!(p.expires_at, Some(1_893_456_000));
        assert_eq!(p.identity_type, "com.apple.security.scep");
    }

    #[test]
    fn missing_and_bad_keys() {
        let cases: Vec<(String, &str)> = vec![
            (GOOD_MDM.replace("https://", "http://"), "ServerURL"),
            (
                GOOD_MDM.replace("com.apple.mgmt.External.1", "com.example.topic"),
                "Topic",
            ),
            (
                GOOD_MDM.replace("-00000000AB01</string>", "-00000000AB99</string>"),
                "IdentityCertificateUUID",
            ),
            (
                GOOD_MDM.replace("-00000000AB01</string>", "-00000000AB02</string>"),
                "IdentityCertificateUUID",
            ),
            (
                GOOD_MDM.replace("<key>Topic</key>", "<key>Topique</key>"),
                "Topic",
            ),
            (
                GOOD_MDM.replace("<key>ServerURL</key>", "<key>X</key>"),
                "ServerURL",
            ),
        ];
        for (mdm, key) in cases {
            let err = check_profile_content(&plist_with(&mdm, EXP)).unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
        // PayloadExpirationDate is optional (TopLevel.yaml), but a date when present.
        assert_eq!(
            check_profile_content(&plist_with(GOOD_MDM, ""))
                .unwrap()
                .expires_at,
            None
        );
        let err = check_profile_content(&plist_with(
            GOOD_MDM,
            "<key>PayloadExpirationDate</key><string>soon</string>",
        ))
        .unwrap_err();
        assert_eq!(invalid_key(&err), "PayloadExpirationDate");
    }

    /// The error for the MDM payload extended by `extra` (keys appended to [`GOOD_MDM`]).
    fn mdm_error(extra: &str) -> ProfileError {
        check_profile_content(&plist_with(&format!("{GOOD_MDM}{extra}"), EXP)).unwrap_err()
    }

    fn invalid_key(err: &ProfileError) -> &str {
        match err {
            ProfileError::InvalidValue { key, .. } => key,
            other => panic!("not InvalidValue: {other}"),
        }
    }

    #[test]
    fn apple_schema_keys_are_checked() {
        // AccessRights: 1..=8191, 2 needs 1, 128 needs 64.
        for bad in ["0", "8192", "-1", "2", "128", "99999999999"] {
            let err = mdm_error(&format!("<key>AccessRights</key><integer>{bad}</integer>"));
            assert_eq!(invalid_key(&err), "AccessRights", "{bad}");
        }
        assert!(check_profile_content(&plist_with(
            &format!("{GOOD_MDM}<key>AccessRights</key><integer>8191</integer>"),
            EXP
        ))
        .is_ok());
        let err = mdm_error("<key>AccessRights</key><string>all</string>");
        assert_eq!(invalid_key(&err), "AccessRights");

        let err = mdm_error("<key>CheckInURL</key><string>http://mdm.example.com/checkin</string>");
        assert_eq!(invalid_key(&err), "CheckInURL");
        let err = mdm_error("<key>CheckInURL</key><integer>1</integer>");
        assert_eq!(invalid_key(&err), "CheckInURL");

        let userinfo = GOOD_MDM.replace("https://mdm", "https://admin:hunter2@mdm");
        let err = check_profile_content(&plist_with(&userinfo, EXP)).unwrap_err();
        assert_eq!(invalid_key(&err), "ServerURL");
        assert!(!err.to_string().contains("hunter2"), "{err}");

        let err = mdm_error("<key>ServerCapabilities</key><array><integer>1</integer></array>");
        assert_eq!(invalid_key(&err), "ServerCapabilities");
        let twice = "<string>com.apple.mdm.token</string>".repeat(2);
        let err = mdm_error(&format!("<key>ServerCapabilities</key><array>{twice}</array>"));
        assert_eq!(invalid_key(&err), "ServerCapabilities");
        let err = mdm_error("<key>SignMessage</key><string>yes</string>");
        assert_eq!(invalid_key(&err), "SignMessage");
        let err = mdm_error("<key>EnrollmentMode</key><string>SOMETIMES</string>");
        assert_eq!(invalid_key(&err), "EnrollmentMode");
    }

    #[test]
    fn payload_common_keys_and_uniqueness() {
        let good = plist_with(GOOD_MDM, EXP);
        let text = String::from_utf8(good.clone()).unwrap();
        let with = |from: &str, to: &str| {
            assert!(text.contains(from), "{from}");
            check_profile_content(text.replacen(from, to, 1).as_bytes()).unwrap_err()
        };
        // Two payloads with one PayloadUUID, and a payload reusing the top-level UUID.
        let err = with("-00000000AB02</string>", "-00000000AB01</string>");
        assert_eq!(invalid_key(&err), "PayloadUUID");
        assert!(!err.to_string().contains("AB01"), "{err}");
        let err = with(
            "<string>1B2C3D4E-0000-4000-8000-00000000AB02</string>",
            "<string>A-1</string>",
        );
        assert_eq!(invalid_key(&err), "PayloadUUID");
        let err = with(">com.enroll.mdm.d1.mdm<", ">com.enroll.mdm.d1.identity<");
        assert_eq!(invalid_key(&err), "PayloadIdentifier");
        // Common keys of every payload.
        let err = with(
            "<key>PayloadIdentifier</key><string>com.enroll.mdm.d1.mdm</string>",
            "",
        );
        assert_eq!(err, ProfileError::MissingKey("PayloadIdentifier".into()));
        let err = with(
            "d1.mdm</string><key>PayloadVersion</key><integer>1</integer>",
            "d1.mdm</string><key>PayloadVersion</key><integer>2</integer>",
        );
        assert_eq!(invalid_key(&err), "PayloadVersion");
        // Top level: PayloadVersion = 1, not encrypted.
        let err = with(
            "<key>PayloadVersion</key><integer>1</integer>
",
            "<key>PayloadVersion</key><integer>3</integer>
",
        );
        assert_eq!(invalid_key(&err), "PayloadVersion");
        let err = with(
            "<key>PayloadContent</key><array>",
            "<key>IsEncrypted</key><true/><key>PayloadContent</key><array>",
        );
        assert_eq!(invalid_key(&err), "IsEncrypted");
        // SCEP: PayloadContent with a URL, Keysize in range.
        let err = with("<key>URL</key>", "<key>Address</key>");
        assert_eq!(err, ProfileError::MissingKey("URL".into()));
        let err = with("<integer>2048</integer>", "<integer>512</integer>");
        assert_eq!(invalid_key(&err), "Keysize");
        let err = with("https://mdm.example.com/scep", "https://u:p@mdm.example.com/scep");
        assert_eq!(invalid_key(&err), "URL");
    }

    #[test]
    fn a_missing_key_is_reported_even_when_expired() {
        let expired = "<key>PayloadExpirationDate</key><date>2001-01-01T00:00:00Z</date>";
        let no_topic = GOOD_MDM.replace("<key>Topic</key>", "<key>Topique</key>");
        assert_eq!(
            check_profile_content(&plist_with(&no_topic, expired)),
            Err(ProfileError::MissingKey("Topic".into()))
        );
    }

    #[test]
    fn the_earlier_window_counts() {
        assert_eq!(earliest_deadline(Some(10), Some(20)), Some(10));
        assert_eq!(earliest_deadline(Some(30), Some(20)), Some(20));
        assert_eq!(earliest_deadline(None, Some(20)), Some(20));
        assert_eq!(earliest_deadline(Some(10), None), Some(10));
        assert_eq!(earliest_deadline(None, None), None);
    }

    #[test]
    fn hostile_plists() {
        let deep = format!(
            "<plist><dict><key>a</key>{}{}</dict></plist>",
            "<array>".repeat(5000),
            "</array>".repeat(5000)
        );
        assert!(matches!(
            check_profile_content(deep.as_bytes()),
            Err(ProfileError::MalformedPlist(_))
        ));
        assert_eq!(
            check_profile_content(b"bplist00\x00\x01"),
            Err(ProfileError::BinaryPlist(BplistDefect::TruncatedTrailer))
        );
        assert_eq!(
            check_profile_content(&vec![b'<'; MAX_PROFILE_BYTES + 1]),
            Err(ProfileError::TooLarge)
        );
        assert!(matches!(
            check_profile_content(b"<plist><dict><key>x</key>"),
            Err(ProfileError::MalformedPlist(_))
        ));
        assert!(matches!(
            check_profile_content(b"\xff\xfe\x00garbage"),
            Err(ProfileError::MalformedPlist(_))
        ));
        assert!(matches!(
            check_profile_content(b"<plist version=\"1.0\"><array/></plist>"),
            Err(ProfileError::MalformedPlist(_))
        ));
    }

    /// The XML of `plist_with`, rewritten as a binary plist by the `plist` crate.
    fn to_binary(xml: &[u8]) -> Vec<u8> {
        let value = plist::Value::from_reader(std::io::Cursor::new(xml)).unwrap();
        let mut out = Vec::new();
        value.to_writer_binary(&mut out).unwrap();
        out
    }

    #[test]
    fn binary_profiles_pass_like_xml() {
        let xml = plist_with(GOOD_MDM, EXP);
        let binary = to_binary(&xml);
        assert!(binary.starts_with(b"bplist00"));
        assert_eq!(check_profile_content(&binary), check_profile_content(&xml));
        assert!(check_profile_content(&binary).is_ok());
        // The key checks apply to binary content the same way.
        let bad = to_binary(&plist_with(&GOOD_MDM.replace("https://", "http://"), EXP));
        assert!(
            matches!(check_profile_content(&bad), Err(ProfileError::InvalidValue { ref key, .. }) if key == "ServerURL")
        );
    }

    #[test]
    fn mutated_binary_profiles_never_panic_nor_echo_input() {
        let binary = to_binary(&plist_with(GOOD_MDM, EXP));
        for at in 0..binary.len() {
            for byte in [0x00, 0xff, 0xaf, 0xd3, binary[at].wrapping_add(1)] {
                let mut mutated = binary.clone();
                mutated[at] = byte;
                if let Err(err) = check_profile_content(&mutated) {
                    let text = err.to_string();
                    assert!(
                        !text.contains("mdm.example.com") && !text.contains("External"),
                        "{text}"
                    );
                }
            }
        }
        for len in 0..binary.len() {
            assert!(
                check_profile_content(&binary[..len]).is_err(),
                "truncated to {len}"
            );
        }
    }

    #[test]
    fn hostile_cms() {
        assert_eq!(
            verify_cms(&vec![0u8; MAX_PROFILE_BYTES + 1], &[], 0),
            Err(ProfileError::TooLarge)
        );
        assert!(matches!(
            verify_cms(b"<plist/>", &[], 0),
            Err(ProfileError::NotSigned(_))
        ));
        assert!(matches!(
            verify_cms(&[0x30, 0x82, 0xff, 0xff, 0x06], &[], 0),
            Err(ProfileError::NotSigned(_))
        ));
        // A ContentInfo of type id-data, not signed data.
        let data_info = [
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
        ];
        assert!(matches!(
            verify_cms(&data_info, &[], 0),
            Err(ProfileError::NotSigned(_))
        ));
    }
}
