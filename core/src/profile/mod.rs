//! Verification of signed enrollment profiles (`.mobileconfig` in CMS SignedData).
//!
//! The server delivers an Apple configuration profile: a plist wrapped in CMS SignedData
//! (RFC 5652). Before anything is installed the agent:
//! 1. bounds the size and parses the CMS structure;
//! 2. finds the signer certificate, checks its validity dates and chains it (through
//!    certificates carried in the message) to one of the trusted CAs;
//! 3. checks the `messageDigest` and `contentType` signed attributes and the signature
//!    (ECDSA P-256/P-384 or RSA PKCS#1 v1.5, SHA-256/384/512, through `ring`);
//! 4. parses the plist (XML, nesting bounded before parsing) and checks the required keys of
//!    `../shared/specs/apple/mdm/profiles`: top-level `PayloadType = Configuration`,
//!    `PayloadUUID`, `PayloadIdentifier`, `PayloadExpirationDate` (the install window), one
//!    `com.apple.mdm` payload with an https `ServerURL`, a `Topic` starting `com.apple.mgmt.`
//!    and an `IdentityCertificateUUID` naming a `com.apple.security.scep` or
//!    `com.apple.security.pkcs12` payload of the same profile.
//!
//! The window itself is checked by the state machine against skew-corrected time.

mod cms;
mod content;

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
    /// A required key is absent or has the wrong type.
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
    /// `PayloadExpirationDate`, Unix seconds (server time).
    pub expires_at: i64,
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
 <dict><key>PayloadType</key><string>com.apple.security.scep</string><key>PayloadUUID</key><string>ID-1</string></dict>
 <dict><key>PayloadType</key><string>com.apple.mdm</string><key>PayloadUUID</key><string>M-1</string>
 {mdm_extra}</dict>
</array></dict></plist>"#
        )
        .into_bytes()
    }

    const GOOD_MDM: &str = "<key>ServerURL</key><string>https://mdm.example.com/mdm</string>\
        <key>Topic</key><string>com.apple.mgmt.External.1</string>\
        <key>IdentityCertificateUUID</key><string>ID-1</string>";
    const EXP: &str = "<key>PayloadExpirationDate</key><date>2030-01-01T00:00:00Z</date>";

    #[test]
    fn good_content_passes() {
        let p = check_profile_content(&plist_with(GOOD_MDM, EXP)).unwrap();
        assert_eq!(p.uuid, "A-1");
        assert_eq!(p.expires_at, 1_893_456_000);
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
                GOOD_MDM.replace("<string>ID-1</string>", "<string>NOPE</string>"),
                "IdentityCertificateUUID",
            ),
            (
                GOOD_MDM.replace("<string>ID-1</string>", "<string>M-1</string>"),
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
        let err = check_profile_content(&plist_with(GOOD_MDM, "")).unwrap_err();
        assert_eq!(err, ProfileError::MissingKey("PayloadExpirationDate".into()));
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
        assert!(matches!(
            check_profile_content(b"bplist00\x00\x01"),
            Err(ProfileError::MalformedPlist(_))
        ));
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
