//! CMS `SignedData` (RFC 5652 §5): built with signed attributes by an RSA signer, parsed with
//! bounds and in any set order, verified against the certificate it carries; also the
//! degenerate certs-only form of SCEP `GetCACert` and `CertRep`.

use crate::cert::ParsedCertificate;
use crate::der_util::{self, attribute, ctx, elements, expect_tag, octets, RawAttribute};
use crate::error::{der_err, malformed, MdmError, Result};
use crate::key::{DigestAlgorithm, RsaPrivateKey};
use crate::oid;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, AnyRef, ObjectIdentifier, OctetString, OctetStringRef, SetOfVec};
use der::Tagged as _;
use der::{Decode, Encode, Tag};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

/// Largest CMS message parsed.
pub const MAX_CMS_BYTES: usize = 256 * 1024;
/// Most certificates read from one message.
pub const MAX_CERTIFICATES: usize = 16;
/// Most signers read from one message.
pub const MAX_SIGNERS: usize = 4;

/// A signed attribute to add (besides `contentType`, `messageDigest` and `signingTime`).
#[derive(Debug, Clone)]
pub struct SignedAttribute {
    /// Attribute type.
    pub oid: ObjectIdentifier,
    /// Its single value (a DER element).
    pub value: Any,
}

/// Who signs and how.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The signer's key.
    pub key: &'a RsaPrivateKey,
    /// The signer's certificate (DER; put in the message).
    pub certificate: &'a [u8],
    /// Digest (SHA-256 or stronger: SHA-1 signing is not offered).
    pub digest: DigestAlgorithm,
}

fn content_info(
    content_type: ObjectIdentifier,
    content: &(impl der::EncodeValue + der::Tagged),
) -> Result<Vec<u8>> {
    let what = "ContentInfo";
    ContentInfo {
        content_type,
        content: Any::encode_from(content).map_err(der_err(what))?,
    }
    .to_der()
    .map_err(der_err(what))
}

fn cert_set(certificates: &[&[u8]]) -> Result<Option<CertificateSet>> {
    if certificates.is_empty() {
        return Ok(None);
    }
    let mut set = Vec::new();
    for der in certificates {
        set.push(CertificateChoices::Certificate(
            x509_cert::Certificate::from_der(der).map_err(der_err("certificate"))?,
        ));
    }
    Ok(Some(
        CertificateSet::try_from(set).map_err(der_err("certificate set"))?,
    ))
}

/// Signs `content` (type `id-data`): `detached` leaves it out of the message (Mdm-Signature).
/// The message carries the signer's certificate and `extra_certificates`.
pub fn build_signed_data(
    content: &[u8],
    detached: bool,
    signer: Signer<'_>,
    extra_certificates: &[&[u8]],
    attributes: &[SignedAttribute],
) -> Result<Vec<u8>> {
    let what = "SignedData";
    let cert = x509_cert::Certificate::from_der(signer.certificate).map_err(der_err("signer certificate"))?;
    let digest_alg = AlgorithmIdentifierOwned {
        oid: signer.digest.oid(),
        parameters: None,
    };
    let value = |any: der::Result<Any>| any.map_err(der_err(what));
    let mut attrs = vec![
        attr(oid::CONTENT_TYPE, value(Any::encode_from(&oid::DATA))?)?,
        attr(
            oid::MESSAGE_DIGEST,
            value(Any::encode_from(
                &OctetString::new(signer.digest.digest(content)).map_err(der_err(what))?,
            ))?,
        )?,
        attr(
            oid::SIGNING_TIME,
            value(Any::encode_from(
                &Time::try_from(std::time::SystemTime::now()).map_err(der_err(what))?,
            ))?,
        )?,
    ];
    for a in attributes {
        attrs.push(attr(a.oid, a.value.clone())?);
    }
    let signed_attrs = SetOfVec::try_from(attrs).map_err(der_err(what))?;
    let to_sign = signed_attrs.to_der().map_err(der_err(what))?;
    let signature = signer.key.sign(signer.digest, &to_sign)?;
    let info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: oid::RSA_ENCRYPTION,
            parameters: Some(value(Any::encode_from(&der::asn1::Null))?),
        },
        signature: OctetString::new(signature).map_err(der_err(what))?,
        unsigned_attrs: None,
    };
    let mut certs: Vec<&[u8]> = vec![signer.certificate];
    certs.extend_from_slice(extra_certificates);
    let econtent = if detached {
        None
    } else {
        Some(value(Any::encode_from(
            &OctetStringRef::new(content).map_err(der_err(what))?,
        ))?)
    };
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg]).map_err(der_err(what))?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::DATA,
            econtent,
        },
        certificates: cert_set(&certs)?,
        crls: None,
        signer_infos: SignerInfos::try_from(vec![info]).map_err(der_err(what))?,
    };
    content_info(oid::SIGNED_DATA, &signed)
}

fn attr(oid: ObjectIdentifier, value: Any) -> Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(der_err("attribute"))?,
    })
}

/// A certs-only ("degenerate") SignedData carrying `certificates` (SCEP `GetCACert` with RA
/// certificates, and the inner content of a successful `CertRep`).
pub fn build_certs_only(certificates: &[&[u8]]) -> Result<Vec<u8>> {
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::DATA,
            econtent: None,
        },
        certificates: cert_set(certificates)?,
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    content_info(oid::SIGNED_DATA, &signed)
}

/// How a signer names its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerId {
    /// Issuer and serial number.
    IssuerSerial(Name, SerialNumber),
    /// Subject key identifier.
    KeyId(Vec<u8>),
}

/// One `SignerInfo`.
#[derive(Debug, Clone)]
pub struct ParsedSigner {
    /// Which certificate signed.
    pub id: SignerId,
    /// Digest algorithm.
    pub digest: DigestAlgorithm,
    /// The signed attributes as DER `SET OF` (what the signature covers), when present.
    pub signed_attrs: Option<Vec<u8>>,
    /// The signature.
    pub signature: Vec<u8>,
}

/// A parsed SignedData (not yet verified).
#[derive(Debug, Clone)]
pub struct ParsedSignedData {
    /// `eContentType`.
    pub content_type: ObjectIdentifier,
    /// `eContent`, when not detached.
    pub content: Option<Vec<u8>>,
    /// The certificates carried, DER.
    pub certificates: Vec<Vec<u8>>,
    /// The signers.
    pub signers: Vec<ParsedSigner>,
}

/// Parses a `ContentInfo` of the expected type and returns its content element's bytes.
pub(crate) fn parse_content_info<'a>(
    der: &'a [u8],
    expected: ObjectIdentifier,
    what: &'static str,
) -> Result<AnyRef<'a>> {
    if der.len() > MAX_CMS_BYTES {
        return Err(MdmError::TooLarge {
            what,
            limit: MAX_CMS_BYTES,
        });
    }
    let top = der_util::single(der, what)?;
    expect_tag(&top, Tag::Sequence, what)?;
    let parts = elements(top.value(), what, 2)?;
    let [ty, content] = parts.as_slice() else {
        return Err(malformed(what, "ContentInfo is not a type and a content"));
    };
    let ty: ObjectIdentifier = der_util::decode(ty, what)?;
    if ty != expected {
        return Err(MdmError::UnexpectedOid { what });
    }
    expect_tag(content, ctx(0, true), what)?;
    let inner = der_util::single(content.value(), what)?;
    expect_tag(&inner, Tag::Sequence, what)?;
    Ok(inner)
}

/// Parses a `ContentInfo` holding `SignedData`, bounded.
pub fn parse_signed_data(der: &[u8]) -> Result<ParsedSignedData> {
    let what = "SignedData";
    let sd = parse_content_info(der, oid::SIGNED_DATA, what)?;
    let fields = elements(sd.value(), what, 6)?;
    let mut it = fields.iter().peekable();
    let version = it.next().ok_or(malformed(what, "empty"))?;
    expect_tag(version, Tag::Integer, what)?;
    let digests = it.next().ok_or(malformed(what, "no digest algorithms"))?;
    expect_tag(digests, Tag::Set, what)?;
    elements(digests.value(), what, 8)?;
    let encap = it.next().ok_or(malformed(what, "no encapsulated content"))?;
    expect_tag(encap, Tag::Sequence, what)?;
    let encap_parts = elements(encap.value(), what, 2)?;
    let content_type: ObjectIdentifier = der_util::decode(
        encap_parts.first().ok_or(malformed(what, "no content type"))?,
        what,
    )?;
    let content = match encap_parts.get(1) {
        None => None,
        Some(explicit) => {
            expect_tag(explicit, ctx(0, true), what)?;
            let octet = der_util::single(explicit.value(), what)?;
            expect_tag(&octet, Tag::OctetString, what)?;
            Some(octets(&octet, what, MAX_CMS_BYTES)?)
        }
    };
    let mut certificates = Vec::new();
    if let Some(c) = it.next_if(|c| c.tag() == ctx(0, true)) {
        for cert in elements(c.value(), what, MAX_CERTIFICATES)? {
            // Other certificate formats ([3]) and attribute certificates are skipped.
            if cert.tag() == Tag::Sequence {
                certificates.push(der_util::tlv(&cert, what)?);
            }
        }
    }
    let _crls = it.next_if(|c| c.tag() == ctx(1, true));
    let infos = it.next().ok_or(malformed(what, "no signer infos"))?;
    expect_tag(infos, Tag::Set, what)?;
    if it.next().is_some() {
        return Err(malformed(what, "trailing fields"));
    }
    let mut signers = Vec::new();
    for info in elements(infos.value(), what, MAX_SIGNERS)? {
        signers.push(parse_signer(&info)?);
    }
    Ok(ParsedSignedData {
        content_type,
        content,
        certificates,
        signers,
    })
}

fn parse_signer(info: &AnyRef<'_>) -> Result<ParsedSigner> {
    let what = "SignerInfo";
    expect_tag(info, Tag::Sequence, what)?;
    let fields = elements(info.value(), what, 7)?;
    let mut it = fields.iter().peekable();
    let version = it.next().ok_or(malformed(what, "empty"))?;
    expect_tag(version, Tag::Integer, what)?;
    let sid = it.next().ok_or(malformed(what, "no signer identifier"))?;
    let id = if sid.tag() == Tag::Sequence {
        let ias: IssuerAndSerialNumber = der_util::decode(sid, what)?;
        SignerId::IssuerSerial(ias.issuer, ias.serial_number)
    } else if sid.tag() == ctx(0, false) {
        SignerId::KeyId(sid.value().to_vec())
    } else {
        return Err(malformed(what, "unexpected signer identifier"));
    };
    let digest_alg: AlgorithmIdentifierOwned =
        der_util::decode(it.next().ok_or(malformed(what, "no digest algorithm"))?, what)?;
    let digest = DigestAlgorithm::from_oid(&digest_alg.oid)?;
    let signed_attrs = match it.next_if(|a| a.tag() == ctx(0, true)) {
        Some(a) => {
            // Validate the shape (bounded, no repeats) before keeping it.
            der_util::attributes(a.value(), what)?;
            Some(
                AnyRef::new(Tag::Set, a.value())
                    .and_then(|s| s.to_der())
                    .map_err(der_err(what))?,
            )
        }
        None => None,
    };
    let sig_alg: AlgorithmIdentifierOwned =
        der_util::decode(it.next().ok_or(malformed(what, "no signature algorithm"))?, what)?;
    if sig_alg.oid != oid::RSA_ENCRYPTION && DigestAlgorithm::from_rsa_signature_oid(&sig_alg.oid)? != digest
    {
        return Err(MdmError::Unsupported {
            what: "signature algorithm",
        });
    }
    let sig = it.next().ok_or(malformed(what, "no signature"))?;
    expect_tag(sig, Tag::OctetString, what)?;
    let _unsigned = it.next_if(|a| a.tag() == ctx(1, true));
    if it.next().is_some() {
        return Err(malformed(what, "trailing fields"));
    }
    Ok(ParsedSigner {
        id,
        digest,
        signed_attrs,
        signature: sig.value().to_vec(),
    })
}

/// The result of [`ParsedSignedData::verify`].
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    /// The signer's certificate.
    pub signer: ParsedCertificate,
    /// The signer's digest algorithm.
    pub digest: DigestAlgorithm,
    /// The signed attributes, DER `SET OF Attribute` (read them with [`signed_attribute`]).
    pub signed_attrs: Vec<u8>,
}

impl ParsedSignedData {
    /// Verifies the first signer against the certificate it names among those carried:
    /// `messageDigest` over the content (`detached` when the message carries none), the
    /// `contentType` attribute and the signature over the signed attributes. Trust in the
    /// signer certificate is the caller's decision.
    pub fn verify(&self, detached: Option<&[u8]>) -> Result<VerifiedSignature> {
        let what = "SignedData";
        let signer = self.signers.first().ok_or(MdmError::Missing { what: "signer" })?;
        let content = match (&self.content, detached) {
            (Some(c), None) => c.as_slice(),
            (None, Some(d)) => d,
            (Some(c), Some(d)) if c.as_slice() == d => d,
            (Some(_), Some(_)) => return Err(MdmError::DigestMismatch),
            (None, None) => {
                return Err(MdmError::Missing {
                    what: "signed content",
                })
            }
        };
        let cert = self
            .certificates
            .iter()
            .filter_map(|der| ParsedCertificate::from_der(der).ok())
            .find(|c| match &signer.id {
                SignerId::IssuerSerial(issuer, serial) => {
                    &c.cert.tbs_certificate.issuer == issuer
                        && &c.cert.tbs_certificate.serial_number == serial
                }
                SignerId::KeyId(id) => subject_key_id(c).as_deref() == Some(id.as_slice()),
            })
            .ok_or(MdmError::Missing {
                what: "signer certificate",
            })?;
        let public = cert.public_key()?;
        let Some(attrs_der) = &signer.signed_attrs else {
            public.verify(signer.digest, content, &signer.signature)?;
            return Ok(VerifiedSignature {
                signer: cert,
                digest: signer.digest,
                signed_attrs: Vec::new(),
            });
        };
        let set = der_util::single(attrs_der, what)?;
        let attrs = der_util::attributes(set.value(), what)?;
        let md = attribute(&attrs, oid::MESSAGE_DIGEST).ok_or(MdmError::Missing {
            what: "messageDigest",
        })?;
        expect_tag(md, Tag::OctetString, what)?;
        if md.value() != signer.digest.digest(content).as_slice() {
            return Err(MdmError::DigestMismatch);
        }
        let ct = attribute(&attrs, oid::CONTENT_TYPE).ok_or(MdmError::Missing { what: "contentType" })?;
        let ct: ObjectIdentifier = der_util::decode(ct, what)?;
        if ct != self.content_type {
            return Err(MdmError::UnexpectedOid {
                what: "contentType attribute",
            });
        }
        public.verify(signer.digest, attrs_der, &signer.signature)?;
        Ok(VerifiedSignature {
            signer: cert,
            digest: signer.digest,
            signed_attrs: attrs_der.clone(),
        })
    }
}

fn subject_key_id(cert: &ParsedCertificate) -> Option<Vec<u8>> {
    cert.cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == oid::SUBJECT_KEY_IDENTIFIER)
        .and_then(|e| OctetString::from_der(e.extn_value.as_bytes()).ok())
        .map(|o| o.as_bytes().to_vec())
}

/// The single value of signed attribute `oid` in a verified `SET OF Attribute`, as a DER TLV.
pub fn signed_attribute(signed_attrs: &[u8], oid: ObjectIdentifier) -> Result<Option<Vec<u8>>> {
    let what = "signed attributes";
    if signed_attrs.is_empty() {
        return Ok(None);
    }
    let set = der_util::single(signed_attrs, what)?;
    let attrs: Vec<RawAttribute<'_>> = der_util::attributes(set.value(), what)?;
    attribute(&attrs, oid).map(|v| der_util::tlv(v, what)).transpose()
}

/// The certificates of a certs-only SignedData (or of any SignedData), DER, at most
/// [`MAX_CERTIFICATES`].
pub fn parse_certs_only(der: &[u8]) -> Result<Vec<Vec<u8>>> {
    let parsed = parse_signed_data(der)?;
    if parsed.certificates.is_empty() {
        return Err(MdmError::Missing { what: "certificates" });
    }
    Ok(parsed.certificates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{common_name, self_signed, CertificateKind};
    use crate::key::RsaBits;
    use std::time::Duration;

    fn signer() -> (RsaPrivateKey, Vec<u8>) {
        let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        let cert = self_signed(
            &key,
            &common_name("signer").unwrap(),
            CertificateKind::RequestSigner,
            Duration::from_secs(60),
        )
        .unwrap();
        (key, cert)
    }

    #[test]
    fn signed_and_detached_round_trip() {
        let (key, cert) = signer();
        let s = Signer {
            key: &key,
            certificate: &cert,
            digest: DigestAlgorithm::Sha256,
        };
        let msg = build_signed_data(b"body", false, s, &[], &[]).unwrap();
        let parsed = parse_signed_data(&msg).unwrap();
        assert_eq!(parsed.content.as_deref(), Some(&b"body"[..]));
        let v = parsed.verify(None).unwrap();
        assert_eq!(v.signer.der, cert);
        assert!(signed_attribute(&v.signed_attrs, oid::SIGNING_TIME)
            .unwrap()
            .is_some());
        assert!(parsed.verify(Some(b"other")).is_err());

        let detached = build_signed_data(b"body", true, s, &[], &[]).unwrap();
        let parsed = parse_signed_data(&detached).unwrap();
        assert!(parsed.content.is_none());
        parsed.verify(Some(b"body")).unwrap();
        assert_eq!(
            parsed.verify(Some(b"bodY")).map(|_| ()),
            Err(MdmError::DigestMismatch)
        );
        assert!(parsed.verify(None).is_err());

        // Truncations and single-byte corruptions never panic and never verify.
        for n in 0..msg.len() {
            if let Ok(p) = parse_signed_data(&msg[..n]) {
                assert!(p.verify(None).is_err());
            }
        }
        // A flipped bit either breaks the message or lies outside what is signed (the version,
        // the digest algorithm set): what verifies is always the original content.
        for i in 0..msg.len() {
            let mut bad = msg.clone();
            bad[i] ^= 0x80;
            if let Ok(p) = parse_signed_data(&bad) {
                if p.verify(None).is_ok() {
                    assert_eq!(p.content.as_deref(), Some(&b"body"[..]), "byte {i}");
                }
            }
        }
    }

    #[test]
    fn certs_only_and_wrong_types() {
        let (_, a) = signer();
        let (_, b) = signer();
        let deg = build_certs_only(&[&a, &b]).unwrap();
        let certs = parse_certs_only(&deg).unwrap();
        assert_eq!(certs.len(), 2);
        assert!(certs.contains(&a) && certs.contains(&b));
        assert!(parse_signed_data(&deg).unwrap().verify(None).is_err());
        // A certificate is not a ContentInfo; a ContentInfo of another type is refused.
        assert!(parse_certs_only(&a).is_err());
        let other = content_info(oid::DATA, &OctetString::new(vec![1, 2]).unwrap()).unwrap();
        assert_eq!(
            parse_signed_data(&other).map(|_| ()),
            Err(MdmError::UnexpectedOid { what: "SignedData" })
        );
        assert!(matches!(
            parse_signed_data(&vec![0u8; MAX_CMS_BYTES + 1]),
            Err(MdmError::TooLarge { .. })
        ));
    }
}
