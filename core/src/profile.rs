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

use crate::asn1::{self, oid, tag, Certificate, DerError, Reader, Tlv};
use std::io::Cursor;

/// Largest signed profile accepted.
pub const MAX_PROFILE_BYTES: usize = 256 * 1024;
/// Deepest plist nesting accepted (real profiles use fewer than 8 levels).
pub const MAX_PLIST_DEPTH: usize = 32;
/// Longest certificate chain followed.
const MAX_CHAIN: usize = 4;
/// Most certificates read from one message.
const MAX_CERTIFICATES: usize = 16;

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

/// An OID for error messages.
fn show_oid(bytes: &[u8]) -> String {
    asn1::oid_to_string(bytes).unwrap_or_else(|| "(malformed OID)".into())
}

fn digest_alg(oid: &[u8]) -> Result<&'static ring::digest::Algorithm, ProfileError> {
    match oid {
        oid::SHA256 => Ok(&ring::digest::SHA256),
        oid::SHA384 => Ok(&ring::digest::SHA384),
        oid::SHA512 => Ok(&ring::digest::SHA512),
        _ => Err(ProfileError::Unsupported(format!(
            "digest algorithm {}",
            show_oid(oid)
        ))),
    }
}

/// Picks the ring verification algorithm for a signature algorithm and a key, and verifies.
fn verify_signature(
    sig_alg: &[u8],
    digest: Option<&[u8]>,
    key: &Certificate<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), ProfileError> {
    use ring::signature as sig;
    let hash = match sig_alg {
        oid::ECDSA_SHA256 | oid::SHA256_RSA => oid::SHA256,
        oid::ECDSA_SHA384 | oid::SHA384_RSA => oid::SHA384,
        oid::SHA512_RSA => oid::SHA512,
        // CMS allows the bare key algorithm, with the digest from `digestAlgorithm`.
        oid::EC_PUBLIC_KEY | oid::RSA_ENCRYPTION => {
            digest.ok_or_else(|| ProfileError::Unsupported("digest".into()))?
        }
        other => {
            return Err(ProfileError::Unsupported(format!(
                "signature algorithm {}",
                show_oid(other)
            )))
        }
    };
    let alg: &dyn sig::VerificationAlgorithm = match (key.key_algorithm, key.key_curve, hash) {
        (oid::EC_PUBLIC_KEY, Some(oid::SECP256R1), oid::SHA256) => &sig::ECDSA_P256_SHA256_ASN1,
        (oid::EC_PUBLIC_KEY, Some(oid::SECP256R1), oid::SHA384) => &sig::ECDSA_P256_SHA384_ASN1,
        (oid::EC_PUBLIC_KEY, Some(oid::SECP384R1), oid::SHA256) => &sig::ECDSA_P384_SHA256_ASN1,
        (oid::EC_PUBLIC_KEY, Some(oid::SECP384R1), oid::SHA384) => &sig::ECDSA_P384_SHA384_ASN1,
        (oid::RSA_ENCRYPTION, _, oid::SHA256) => &sig::RSA_PKCS1_2048_8192_SHA256,
        (oid::RSA_ENCRYPTION, _, oid::SHA384) => &sig::RSA_PKCS1_2048_8192_SHA384,
        (oid::RSA_ENCRYPTION, _, oid::SHA512) => &sig::RSA_PKCS1_2048_8192_SHA512,
        _ => {
            return Err(ProfileError::Unsupported(format!(
                "key {} with hash {}",
                show_oid(key.key_algorithm),
                show_oid(hash)
            )))
        }
    };
    sig::UnparsedPublicKey::new(alg, key.public_key)
        .verify(message, signature)
        .map_err(|_| ProfileError::BadSignature)
}

fn cert_valid_at(cert: &Certificate<'_>, now: i64) -> bool {
    // Five minutes of tolerance for device clocks.
    cert.not_before.saturating_sub(300) <= now && now <= cert.not_after.saturating_add(300)
}

/// Checks that `cert` was signed by `issuer`'s key.
fn issued_by(cert: &Certificate<'_>, issuer: &Certificate<'_>) -> bool {
    cert.issuer == issuer.subject
        && verify_signature(cert.signature_algorithm, None, issuer, cert.tbs, cert.signature).is_ok()
}

/// Chains `signer` to an anchor, through the certificates of the message. Intermediates must
/// be CAs (`basicConstraints` with `cA`); anchors are trusted as configured.
fn chain_to_anchor(
    signer: &Certificate<'_>,
    pool: &[Certificate<'_>],
    anchors: &[Certificate<'_>],
    now: i64,
) -> Result<(), ProfileError> {
    let mut current = signer;
    for _ in 0..MAX_CHAIN {
        if anchors.iter().any(|a| a.raw == current.raw) && cert_valid_at(current, now) {
            return Ok(());
        }
        if let Some(anchor) = anchors.iter().find(|a| issued_by(current, a)) {
            if !cert_valid_at(anchor, now) {
                return Err(ProfileError::UntrustedSigner(
                    "the trusted CA is outside its validity dates".into(),
                ));
            }
            return Ok(());
        }
        match pool
            .iter()
            .find(|c| c.raw != current.raw && issued_by(current, c))
        {
            Some(next) if !next.is_ca => {
                return Err(ProfileError::UntrustedSigner(
                    "an intermediate certificate is not a CA".into(),
                ))
            }
            Some(next) if cert_valid_at(next, now) => current = next,
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

/// The `SignerInfo` fields the agent uses (RFC 5652 5.3).
struct SignerInfo<'a> {
    issuer: &'a [u8],
    serial: &'a [u8],
    digest_algorithm: &'a [u8],
    /// The `[0] IMPLICIT` signed attributes, as received.
    signed_attrs: Option<Tlv<'a>>,
    signature_algorithm: &'a [u8],
    signature: &'a [u8],
}

/// `SignedData` as the agent reads it: id-data content, certificates, one signer.
struct SignedData<'a> {
    content: &'a [u8],
    certificates: Vec<Certificate<'a>>,
    signer: SignerInfo<'a>,
}

fn parse_signed_data(der_bytes: &[u8]) -> Result<SignedData<'_>, ProfileError> {
    let info = asn1::single(der_bytes, tag::SEQUENCE, "ContentInfo")?;
    let mut r = info.reader();
    let content_type = r.expect(tag::OID, "contentType")?.value;
    if content_type != oid::SIGNED_DATA {
        return Err(ProfileError::NotSigned(format!(
            "content type {}",
            show_oid(content_type)
        )));
    }
    let explicit = r.expect(tag::context(0), "content")?;
    r.finish("ContentInfo")?;
    let signed = asn1::single(explicit.value, tag::SEQUENCE, "SignedData")?;
    let mut sd = signed.reader();
    sd.expect(tag::INTEGER, "version")?;
    sd.expect(tag::SET, "digestAlgorithms")?;

    let mut encap = sd.expect(tag::SEQUENCE, "encapContentInfo")?.reader();
    if encap.expect(tag::OID, "eContentType")?.value != oid::DATA {
        return Err(ProfileError::Unsupported(
            "encapsulated content is not id-data".into(),
        ));
    }
    let econtent = encap
        .optional(tag::context(0), "eContent")?
        .ok_or_else(|| ProfileError::Unsupported("detached signature".into()))?;
    encap.finish("encapContentInfo")?;
    let content = asn1::single(econtent.value, tag::OCTET_STRING, "eContent")?.value;

    let mut certificates = Vec::new();
    if let Some(set) = sd.optional(tag::context(0), "certificates")? {
        let mut certs = set.reader();
        while !certs.is_empty() {
            let choice = certs.any("certificates")?;
            // Other certificate formats (attribute certificates, …) are not used here.
            if choice.tag == tag::SEQUENCE {
                if certificates.len() == MAX_CERTIFICATES {
                    return Err(ProfileError::Unsupported(format!(
                        "more than {MAX_CERTIFICATES} certificates"
                    )));
                }
                certificates.push(Certificate::parse(choice.raw)?);
            }
        }
    }
    sd.optional(tag::context(1), "crls")?;
    let signer_infos = sd.expect(tag::SET, "signerInfos")?;
    sd.finish("SignedData")?;

    let mut infos = signer_infos.reader();
    if infos.is_empty() {
        return Err(ProfileError::MissingSignature("no signer".into()));
    }
    let info = infos.expect(tag::SEQUENCE, "SignerInfo")?;
    if !infos.is_empty() {
        return Err(ProfileError::Unsupported("more than one signer".into()));
    }
    Ok(SignedData {
        content,
        certificates,
        signer: parse_signer_info(&info)?,
    })
}

fn parse_signer_info<'a>(info: &Tlv<'a>) -> Result<SignerInfo<'a>, ProfileError> {
    let mut si = info.reader();
    si.expect(tag::INTEGER, "SignerInfo version")?;
    let sid = si.any("sid")?;
    if sid.tag != tag::SEQUENCE {
        return Err(ProfileError::Unsupported(
            "signer identified by key identifier".into(),
        ));
    }
    let mut iasn = sid.reader();
    let issuer = iasn.expect(tag::SEQUENCE, "sid issuer")?.raw;
    let serial = iasn.expect(tag::INTEGER, "sid serialNumber")?.value;
    iasn.finish("sid")?;
    let digest_algorithm = asn1::algorithm(&mut si, "digestAlgorithm")?.oid;
    let signed_attrs = si.optional(tag::context(0), "signedAttrs")?;
    let signature_algorithm = asn1::algorithm(&mut si, "signatureAlgorithm")?.oid;
    let signature = si.expect(tag::OCTET_STRING, "signature")?.value;
    si.optional(tag::context(1), "unsignedAttrs")?;
    si.finish("SignerInfo")?;
    Ok(SignerInfo {
        issuer,
        serial,
        digest_algorithm,
        signed_attrs,
        signature_algorithm,
        signature,
    })
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
    let signed = parse_signed_data(der_bytes)?;
    let anchors: Vec<Certificate<'_>> = anchors
        .iter()
        .map(|a| {
            Certificate::parse(a)
                .map_err(|_| ProfileError::UntrustedSigner("a trust anchor is not valid DER".into()))
        })
        .collect::<Result<_, _>>()?;
    if anchors.is_empty() {
        return Err(ProfileError::UntrustedSigner(
            "no trusted CA configured for profiles".into(),
        ));
    }

    let signer_info = &signed.signer;
    let signer_cert = signed
        .certificates
        .iter()
        .find(|c| c.issuer == signer_info.issuer && c.serial == signer_info.serial)
        .ok_or_else(|| ProfileError::MissingSignature("signer certificate not in the message".into()))?;

    if !cert_valid_at(signer_cert, now) {
        return Err(ProfileError::SignerExpired);
    }
    chain_to_anchor(signer_cert, &signed.certificates, &anchors, now)?;

    let alg = digest_alg(signer_info.digest_algorithm)?;
    let digest = ring::digest::digest(alg, signed.content);
    let signed_bytes = match &signer_info.signed_attrs {
        Some(attrs) => {
            check_signed_attrs(attrs, digest.as_ref())?;
            // The signature covers the attributes as a SET OF (tag 0x31), not as the
            // [0] IMPLICIT element they are inside SignerInfo: same bytes, other tag.
            let mut bytes = attrs.raw.to_vec();
            bytes[0] = tag::SET;
            bytes
        }
        None => signed.content.to_vec(),
    };
    verify_signature(
        signer_info.signature_algorithm,
        Some(signer_info.digest_algorithm),
        signer_cert,
        &signed_bytes,
        signer_info.signature,
    )?;
    Ok((signed.content.to_vec(), signer_cert.subject_string()))
}

/// The single value of a signed attribute.
fn single_value<'a>(values: &Tlv<'a>, name: &str) -> Result<Tlv<'a>, ProfileError> {
    let mut r: Reader<'a> = values.reader();
    let value = r.any("attribute value")?;
    if !r.is_empty() {
        return Err(ProfileError::MissingSignature(format!(
            "{name} must have one value"
        )));
    }
    Ok(value)
}

fn check_signed_attrs(attrs: &Tlv<'_>, digest: &[u8]) -> Result<(), ProfileError> {
    let mut digest_ok = false;
    let mut type_ok = false;
    let mut r = attrs.reader();
    while !r.is_empty() {
        let mut attr = r.expect(tag::SEQUENCE, "signed attribute")?.reader();
        let id = attr.expect(tag::OID, "attribute type")?.value;
        let values = attr.expect(tag::SET, "attribute values")?;
        attr.finish("signed attribute")?;
        if id == oid::MESSAGE_DIGEST {
            if digest_ok {
                return Err(ProfileError::MissingSignature(
                    "two messageDigest attributes".into(),
                ));
            }
            let value = single_value(&values, "messageDigest")?;
            if value.tag != tag::OCTET_STRING || !crate::secret::ct_eq(value.value, digest) {
                return Err(ProfileError::DigestMismatch);
            }
            digest_ok = true;
        } else if id == oid::CONTENT_TYPE {
            if type_ok {
                return Err(ProfileError::MissingSignature(
                    "two contentType attributes".into(),
                ));
            }
            let value = single_value(&values, "contentType")?;
            if value.tag != tag::OID {
                return Err(ProfileError::Unsupported("contentType".into()));
            }
            if value.value != oid::DATA {
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
    let url = crate::qr::payload::parse_url(value).map_err(|e| ProfileError::InvalidValue {
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
