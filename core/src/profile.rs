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

use der::asn1::{OctetString, SetOfVec};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use std::io::Cursor;
use x509_cert::Certificate;

/// Largest signed profile accepted.
pub const MAX_PROFILE_BYTES: usize = 256 * 1024;
/// Deepest plist nesting accepted (real profiles use fewer than 8 levels).
pub const MAX_PLIST_DEPTH: usize = 32;
/// Longest certificate chain followed.
const MAX_CHAIN: usize = 4;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

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

fn digest_alg(oid: &ObjectIdentifier) -> Result<&'static ring::digest::Algorithm, ProfileError> {
    match *oid {
        ID_SHA256 => Ok(&ring::digest::SHA256),
        ID_SHA384 => Ok(&ring::digest::SHA384),
        ID_SHA512 => Ok(&ring::digest::SHA512),
        _ => Err(ProfileError::Unsupported(format!("digest algorithm {oid}"))),
    }
}

/// Picks the ring verification algorithm for a signature algorithm and a key.
fn verify_signature(
    sig_alg: &ObjectIdentifier,
    digest: Option<&ObjectIdentifier>,
    spki: &spki::SubjectPublicKeyInfoOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), ProfileError> {
    use ring::signature as sig;
    let key_alg = spki.algorithm.oid;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    let hash = match *sig_alg {
        ECDSA_SHA256 | SHA256_RSA => ID_SHA256,
        ECDSA_SHA384 | SHA384_RSA => ID_SHA384,
        SHA512_RSA => ID_SHA512,
        // CMS allows the bare key algorithm, with the digest from `digestAlgorithm`.
        ID_EC_PUBLIC_KEY | RSA_ENCRYPTION => {
            *digest.ok_or_else(|| ProfileError::Unsupported("digest".into()))?
        }
        other => return Err(ProfileError::Unsupported(format!("signature algorithm {other}"))),
    };
    let alg: &dyn sig::VerificationAlgorithm = match (key_alg, curve, hash) {
        (ID_EC_PUBLIC_KEY, Some(SECP256R1), ID_SHA256) => &sig::ECDSA_P256_SHA256_ASN1,
        (ID_EC_PUBLIC_KEY, Some(SECP256R1), ID_SHA384) => &sig::ECDSA_P256_SHA384_ASN1,
        (ID_EC_PUBLIC_KEY, Some(SECP384R1), ID_SHA256) => &sig::ECDSA_P384_SHA256_ASN1,
        (ID_EC_PUBLIC_KEY, Some(SECP384R1), ID_SHA384) => &sig::ECDSA_P384_SHA384_ASN1,
        (RSA_ENCRYPTION, _, ID_SHA256) => &sig::RSA_PKCS1_2048_8192_SHA256,
        (RSA_ENCRYPTION, _, ID_SHA384) => &sig::RSA_PKCS1_2048_8192_SHA384,
        (RSA_ENCRYPTION, _, ID_SHA512) => &sig::RSA_PKCS1_2048_8192_SHA512,
        _ => {
            return Err(ProfileError::Unsupported(format!(
                "key {key_alg} with hash {hash}"
            )))
        }
    };
    let key = spki.subject_public_key.raw_bytes();
    sig::UnparsedPublicKey::new(alg, key)
        .verify(message, signature)
        .map_err(|_| ProfileError::BadSignature)
}

fn cert_valid_at(cert: &Certificate, now: i64) -> bool {
    let validity = &cert.tbs_certificate.validity;
    let secs = |t: &x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    // Five minutes of tolerance for device clocks.
    secs(&validity.not_before) - 300 <= now && now <= secs(&validity.not_after) + 300
}

/// Checks that `cert` was signed by `issuer`'s key.
fn issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return false;
    }
    let Ok(tbs) = cert.tbs_certificate.to_der() else {
        return false;
    };
    let Some(signature) = cert.signature.as_bytes() else {
        return false;
    };
    verify_signature(
        &cert.signature_algorithm.oid,
        None,
        &issuer.tbs_certificate.subject_public_key_info,
        &tbs,
        signature,
    )
    .is_ok()
}

/// Chains `signer` to an anchor, through the certificates of the message.
fn chain_to_anchor(
    signer: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    now: i64,
) -> Result<(), ProfileError> {
    let mut current = signer.clone();
    for _ in 0..MAX_CHAIN {
        if anchors.iter().any(|a| a == &current) && cert_valid_at(&current, now) {
            return Ok(());
        }
        if let Some(anchor) = anchors.iter().find(|a| issued_by(&current, a)) {
            if !cert_valid_at(anchor, now) {
                return Err(ProfileError::UntrustedSigner(
                    "the trusted CA is outside its validity dates".into(),
                ));
            }
            return Ok(());
        }
        match pool.iter().find(|c| *c != &current && issued_by(&current, c)) {
            Some(next) if cert_valid_at(next, now) => current = next.clone(),
            Some(_) => {
                return Err(ProfileError::UntrustedSigner(
                    "an intermediate is outside its validity dates".into(),
                ))
            }
            None => break,
        }
    }
    Err(ProfileError::UntrustedSigner("no chain to a trusted CA".into()))
}

/// Verifies the CMS signature and returns the signed content (the plist bytes).
///
/// `anchors` are DER CA certificates; `now` is Unix seconds.
pub fn verify_cms(
    der_bytes: &[u8],
    anchors: &[Vec<u8>],
    now: i64,
) -> Result<(Vec<u8>, String), ProfileError> {
    if der_bytes.len() > MAX_PROFILE_BYTES {
        return Err(ProfileError::TooLarge);
    }
    let info = cms::content_info::ContentInfo::from_der(der_bytes)
        .map_err(|e| ProfileError::NotSigned(e.to_string()))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(ProfileError::NotSigned(format!(
            "content type {}",
            info.content_type
        )));
    }
    let signed: cms::signed_data::SignedData = info
        .content
        .decode_as()
        .map_err(|e| ProfileError::NotSigned(e.to_string()))?;
    if signed.encap_content_info.econtent_type != ID_DATA {
        return Err(ProfileError::Unsupported(
            "encapsulated content is not id-data".into(),
        ));
    }
    let content = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| ProfileError::Unsupported("detached signature".into()))?
        .decode_as::<OctetString>()
        .map_err(|e| ProfileError::NotSigned(e.to_string()))?
        .into_bytes();

    let pool: Vec<Certificate> = signed
        .certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|c| match c {
                    cms::cert::CertificateChoices::Certificate(cert) => Some(cert.clone()),
                    cms::cert::CertificateChoices::Other(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let anchors: Vec<Certificate> = anchors
        .iter()
        .map(|a| {
            Certificate::from_der(a)
                .map_err(|_| ProfileError::UntrustedSigner("a trust anchor is not valid DER".into()))
        })
        .collect::<Result<_, _>>()?;
    if anchors.is_empty() {
        return Err(ProfileError::UntrustedSigner(
            "no trusted CA configured for profiles".into(),
        ));
    }

    let signers: Vec<&cms::signed_data::SignerInfo> = signed.signer_infos.0.iter().collect();
    let signer_info = match signers.as_slice() {
        [one] => *one,
        [] => return Err(ProfileError::MissingSignature("no signer".into())),
        _ => return Err(ProfileError::Unsupported("more than one signer".into())),
    };
    let signer_cert = match &signer_info.sid {
        cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(iasn) => pool.iter().find(|c| {
            c.tbs_certificate.issuer == iasn.issuer && c.tbs_certificate.serial_number == iasn.serial_number
        }),
        cms::signed_data::SignerIdentifier::SubjectKeyIdentifier(_) => {
            return Err(ProfileError::Unsupported(
                "signer identified by key identifier".into(),
            ))
        }
    }
    .ok_or_else(|| ProfileError::MissingSignature("signer certificate not in the message".into()))?;

    if !cert_valid_at(signer_cert, now) {
        return Err(ProfileError::SignerExpired);
    }
    chain_to_anchor(signer_cert, &pool, &anchors, now)?;

    let digest_oid = signer_info.digest_alg.oid;
    let alg = digest_alg(&digest_oid)?;
    let digest = ring::digest::digest(alg, &content);
    let signed_bytes = match &signer_info.signed_attrs {
        Some(attrs) => {
            check_signed_attrs(attrs, digest.as_ref())?;
            // The signature covers the DER of the attributes as a SET OF (tag 0x31).
            let set: &SetOfVec<x509_cert::attr::Attribute> = attrs;
            set.to_der().map_err(|e| ProfileError::NotSigned(e.to_string()))?
        }
        None => content.clone(),
    };
    verify_signature(
        &signer_info.signature_algorithm.oid,
        Some(&digest_oid),
        &signer_cert.tbs_certificate.subject_public_key_info,
        &signed_bytes,
        signer_info.signature.as_bytes(),
    )?;
    Ok((content, signer_cert.tbs_certificate.subject.to_string()))
}

fn check_signed_attrs(
    attrs: &SetOfVec<x509_cert::attr::Attribute>,
    digest: &[u8],
) -> Result<(), ProfileError> {
    let mut digest_ok = false;
    let mut type_ok = false;
    for attr in attrs.iter() {
        let values: Vec<_> = attr.values.iter().collect();
        if attr.oid == ID_MESSAGE_DIGEST {
            let [value] = values.as_slice() else {
                return Err(ProfileError::MissingSignature(
                    "messageDigest must have one value".into(),
                ));
            };
            let got = value
                .decode_as::<OctetString>()
                .map_err(|_| ProfileError::DigestMismatch)?;
            if !crate::secret::ct_eq(got.as_bytes(), digest) {
                return Err(ProfileError::DigestMismatch);
            }
            digest_ok = true;
        } else if attr.oid == ID_CONTENT_TYPE {
            let [value] = values.as_slice() else {
                return Err(ProfileError::MissingSignature(
                    "contentType must have one value".into(),
                ));
            };
            let oid = value
                .decode_as::<ObjectIdentifier>()
                .map_err(|_| ProfileError::Unsupported("contentType".into()))?;
            if oid != ID_DATA {
                return Err(ProfileError::Unsupported(
                    "signed contentType is not id-data".into(),
                ));
            }
            type_ok = true;
        }
    }
    if !digest_ok {
        return Err(ProfileError::MissingSignature(
            "no messageDigest attribute".into(),
        ));
    }
    if !type_ok {
        return Err(ProfileError::MissingSignature("no contentType attribute".into()));
    }
    Ok(())
}

/// Rejects XML plists nested deeper than [`MAX_PLIST_DEPTH`] before handing them to the parser,
/// and binary plists altogether (profiles are XML; the binary form allows reference cycles).
fn check_plist_shape(content: &[u8]) -> Result<(), ProfileError> {
    if content.starts_with(b"bplist") {
        return Err(ProfileError::MalformedPlist(
            "binary plists are not accepted; profiles are XML".into(),
        ));
    }
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(pos) = content[i..].iter().position(|b| *b == b'<') {
        let tag = &content[i + pos + 1..];
        let opens = tag.starts_with(b"dict>") || tag.starts_with(b"array>");
        let closes = tag.starts_with(b"/dict>") || tag.starts_with(b"/array>");
        if opens {
            depth += 1;
            if depth > MAX_PLIST_DEPTH {
                return Err(ProfileError::MalformedPlist(format!(
                    "nested deeper than {MAX_PLIST_DEPTH} levels"
                )));
            }
        } else if closes {
            depth = depth.saturating_sub(1);
        }
        i += pos + 1;
    }
    Ok(())
}

fn get_string<'a>(dict: &'a plist::Dictionary, key: &str) -> Result<&'a str, ProfileError> {
    dict.get(key)
        .and_then(plist::Value::as_string)
        .ok_or_else(|| ProfileError::MissingKey(key.to_owned()))
}

fn https_url(key: &str, value: &str) -> Result<String, ProfileError> {
    let url = url::Url::parse(value).map_err(|e| ProfileError::InvalidValue {
        key: key.to_owned(),
        reason: e.to_string(),
    })?;
    if url.scheme() != "https" {
        return Err(ProfileError::InvalidValue {
            key: key.to_owned(),
            reason: "must be an https URL".into(),
        });
    }
    Ok(url.to_string())
}

/// Checks the plist content of a profile and extracts what the agent needs.
pub fn check_profile_content(content: &[u8]) -> Result<VerifiedProfile, ProfileError> {
    check_plist_shape(content)?;
    let value = plist::Value::from_reader(Cursor::new(content))
        .map_err(|e| ProfileError::MalformedPlist(e.to_string()))?;
    let top = value
        .as_dictionary()
        .ok_or_else(|| ProfileError::MalformedPlist("top level is not a dictionary".into()))?;
    let payload_type = get_string(top, "PayloadType")?;
    if payload_type != "Configuration" {
        return Err(ProfileError::InvalidValue {
            key: "PayloadType".into(),
            reason: "must be Configuration".into(),
        });
    }
    let uuid = get_string(top, "PayloadUUID")?.to_owned();
    let identifier = get_string(top, "PayloadIdentifier")?.to_owned();
    if top
        .get("PayloadVersion")
        .and_then(plist::Value::as_signed_integer)
        .is_none()
    {
        return Err(ProfileError::MissingKey("PayloadVersion".into()));
    }
    let expires = top
        .get("PayloadExpirationDate")
        .and_then(plist::Value::as_date)
        .ok_or_else(|| ProfileError::MissingKey("PayloadExpirationDate".into()))?;
    let expires_at = match std::time::SystemTime::from(expires).duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    let content_items = top
        .get("PayloadContent")
        .and_then(plist::Value::as_array)
        .ok_or_else(|| ProfileError::MissingKey("PayloadContent".into()))?;
    let payloads: Vec<&plist::Dictionary> = content_items
        .iter()
        .map(|v| {
            v.as_dictionary()
                .ok_or_else(|| ProfileError::MalformedPlist("PayloadContent item is not a dictionary".into()))
        })
        .collect::<Result<_, _>>()?;
    let mdm: Vec<&&plist::Dictionary> = payloads
        .iter()
        .filter(|p| p.get("PayloadType").and_then(plist::Value::as_string) == Some("com.apple.mdm"))
        .collect();
    let mdm = match mdm.as_slice() {
        [one] => **one,
        [] => return Err(ProfileError::MissingKey("com.apple.mdm payload".into())),
        _ => {
            return Err(ProfileError::InvalidValue {
                key: "PayloadContent".into(),
                reason: "more than one com.apple.mdm payload".into(),
            })
        }
    };
    let server_url = https_url("ServerURL", get_string(mdm, "ServerURL")?)?;
    if let Some(checkin) = mdm.get("CheckInURL") {
        let text = checkin
            .as_string()
            .ok_or_else(|| ProfileError::MissingKey("CheckInURL".into()))?;
        https_url("CheckInURL", text)?;
    }
    let topic = get_string(mdm, "Topic")?.to_owned();
    if !topic.starts_with("com.apple.mgmt.") || topic.len() <= "com.apple.mgmt.".len() {
        return Err(ProfileError::InvalidValue {
            key: "Topic".into(),
            reason: "must start with com.apple.mgmt.".into(),
        });
    }
    let identity_uuid = get_string(mdm, "IdentityCertificateUUID")?;
    let identity = payloads
        .iter()
        .find(|p| p.get("PayloadUUID").and_then(plist::Value::as_string) == Some(identity_uuid))
        .ok_or_else(|| ProfileError::InvalidValue {
            key: "IdentityCertificateUUID".into(),
            reason: "names no payload of this profile".into(),
        })?;
    let identity_type = get_string(identity, "PayloadType")?;
    if identity_type != "com.apple.security.scep" && identity_type != "com.apple.security.pkcs12" {
        return Err(ProfileError::InvalidValue {
            key: "IdentityCertificateUUID".into(),
            reason: format!("names a {identity_type} payload, not an identity (scep or pkcs12)"),
        });
    }
    Ok(VerifiedProfile {
        uuid,
        identifier,
        expires_at,
        server_url,
        topic,
        identity_type: identity_type.to_owned(),
        signer: String::new(),
    })
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
