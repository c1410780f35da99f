//! `Mdm-Signature`: when the MDM payload sets `SignMessage`, the device signs every check-in
//! and command-channel body with its identity key and sends the base64 of a detached CMS
//! SignedData (carrying the identity certificate) in this header. Servers without TLS client
//! authentication (NanoMDM behind a proxy, or on plain HTTP in tests) identify the device by it.

use crate::cert::ParsedCertificate;
use crate::error::{malformed, MdmError, Result};
use crate::key::{DigestAlgorithm, RsaPrivateKey};
use crate::signed::{build_signed_data, parse_signed_data, Signer, MAX_CMS_BYTES};
use base64::Engine as _;

/// The header name.
pub const MDM_SIGNATURE_HEADER: &str = "Mdm-Signature";

/// The header value for `body`, signed with `key` whose certificate is `certificate` (DER).
pub fn sign(body: &[u8], key: &RsaPrivateKey, certificate: &[u8]) -> Result<String> {
    let cms = build_signed_data(
        body,
        true,
        Signer {
            key,
            certificate,
            digest: DigestAlgorithm::Sha256,
        },
        &[],
        &[],
    )?;
    Ok(base64::engine::general_purpose::STANDARD.encode(cms))
}

/// Verifies a header value over `body` and returns the signer's certificate (whose trust —
/// issued by the SCEP CA, bound to this enrollment — is the server's decision).
pub fn verify(header: &str, body: &[u8]) -> Result<ParsedCertificate> {
    let what = "Mdm-Signature";
    if header.len() > MAX_CMS_BYTES * 4 / 3 + 4 {
        return Err(MdmError::TooLarge {
            what,
            limit: MAX_CMS_BYTES * 4 / 3 + 4,
        });
    }
    let compact: String = header.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| malformed(what, "not base64"))?;
    let parsed = parse_signed_data(&der)?;
    if parsed.content.is_some() {
        return Err(malformed(what, "not a detached signature"));
    }
    Ok(parsed.verify(Some(body))?.signer)
}

/// Verifies a header value over `body` as servers must accept it: a detached signature, or an
/// attached one whose content is exactly `body`; SHA-1 or SHA-256. Returns the signer's
/// certificate (trusting it is the caller's decision).
pub fn verify_detached_or_attached(header: &str, body: &[u8]) -> Result<ParsedCertificate> {
    let what = "Mdm-Signature";
    let limit = MAX_CMS_BYTES * 4 / 3 + 4;
    if header.len() > limit {
        return Err(MdmError::TooLarge { what, limit });
    }
    let compact: String = header.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| malformed(what, "not base64"))?;
    let parsed = parse_signed_data(&der)?;
    Ok(parsed.verify(Some(body))?.signer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{common_name, self_signed, CertificateKind};
    use crate::key::RsaBits;
    use std::time::Duration;

    #[test]
    fn sign_and_verify() {
        let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        let cert = self_signed(
            &key,
            &common_name("d").unwrap(),
            CertificateKind::ClientIdentity,
            Duration::from_secs(60),
        )
        .unwrap();
        let header = sign(b"<plist/>", &key, &cert).unwrap();
        assert_eq!(verify(&header, b"<plist/>").unwrap().der, cert);
        assert_eq!(
            verify(&header, b"<plist />").map(|_| ()),
            Err(MdmError::DigestMismatch)
        );
        assert!(verify("!!", b"").is_err());
        assert!(verify(&header[..header.len() / 2], b"<plist/>").is_err());
        assert!(verify(&"A".repeat(MAX_CMS_BYTES * 2), b"").is_err());
        // An attached signature is not an Mdm-Signature.
        let attached = build_signed_data(
            b"x",
            false,
            Signer {
                key: &key,
                certificate: &cert,
                digest: DigestAlgorithm::Sha256,
            },
            &[],
            &[],
        )
        .unwrap();
        let attached = base64::engine::general_purpose::STANDARD.encode(attached);
        assert!(verify(&attached, b"x").is_err());
        // Servers take both forms; an attached content must be the body itself.
        assert_eq!(verify_detached_or_attached(&attached, b"x").unwrap().der, cert);
        assert!(verify_detached_or_attached(&attached, b"y").is_err());
        assert_eq!(
            verify_detached_or_attached(&header, b"<plist/>").unwrap().der,
            cert
        );
        assert!(verify_detached_or_attached(&header, b"<plist />").is_err());
        assert!(verify_detached_or_attached("!!", b"").is_err());
    }
}
