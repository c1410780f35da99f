//! CMS SignedData (RFC 5652): parsing, the signer's chain to a trusted CA, signed attributes
//! and the signature. Steps 1 to 3 of the overview in [`super`].

use super::{ProfileError, MAX_PROFILE_BYTES};
use crate::asn1::{self, oid, tag, Certificate, Reader, Tlv};

/// Longest certificate chain followed.
const MAX_CHAIN: usize = 4;
/// Most certificates read from one message.
const MAX_CERTIFICATES: usize = 16;

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
