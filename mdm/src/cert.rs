//! X.509 pieces of SCEP: distinguished names from a profile's `Subject`, certificates
//! (self-signed request signers, CAs, issued identities) and PKCS #10 requests with a
//! `challengePassword`.

use crate::der_util::{self, attribute, ctx, elements, expect_tag};
use crate::error::{der_err, malformed, MdmError, Result};
use crate::key::{DigestAlgorithm, RsaPrivateKey, RsaPublicKey};
use crate::oid;
use der::asn1::{
    Any, BitString, Ia5StringRef, Null, ObjectIdentifier, OctetString, PrintableStringRef, SetOfVec,
};
use der::Tagged as _;
use der::{Decode, Encode, Tag};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::time::{Duration, SystemTime};
use x509_cert::attr::{Attribute, AttributeTypeAndValue};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};
use zeroize::Zeroizing;

/// Largest certificate accepted.
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;
/// Largest certificate request accepted.
pub const MAX_CSR_BYTES: usize = 16 * 1024;
/// Most relative distinguished names in a subject.
pub const MAX_NAME_PARTS: usize = 16;
/// Longest `challengePassword` accepted.
pub const MAX_CHALLENGE_BYTES: usize = 255;

/// The OID of a subject attribute name as profiles write it (`CN`, `O`, …, or dotted).
fn name_oid(name: &str) -> Result<ObjectIdentifier> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "CN" => oid::CN,
        "C" => oid::C,
        "L" => oid::L,
        "ST" => oid::ST,
        "O" => oid::O,
        "OU" => oid::OU,
        "DC" => oid::DC,
        "UID" => oid::UID,
        "SERIALNUMBER" => oid::SERIAL_NUMBER,
        "E" | "EMAIL" | "EMAILADDRESS" => oid::EMAIL_ADDRESS,
        _ => ObjectIdentifier::new(name).map_err(|_| MdmError::Unsupported {
            what: "subject attribute name",
        })?,
    })
}

fn string_value(oid: ObjectIdentifier, value: &str) -> Result<Any> {
    let what = "subject attribute value";
    if value.is_empty() || value.len() > 256 {
        return Err(malformed(what, "empty or longer than 256 bytes"));
    }
    let any = if oid == oid::C || oid == oid::SERIAL_NUMBER {
        Any::encode_from(&PrintableStringRef::new(value).map_err(der_err(what))?)
    } else if oid == oid::EMAIL_ADDRESS || oid == oid::DC {
        Any::encode_from(&Ia5StringRef::new(value).map_err(der_err(what))?)
    } else if let Ok(p) = PrintableStringRef::new(value) {
        Any::encode_from(&p)
    } else {
        Any::new(Tag::Utf8String, value.as_bytes())
    };
    any.map_err(der_err(what))
}

/// Builds a name from RDNs of `(type, value)` pairs, the shape of the SCEP payload's `Subject`
/// (`[[["O", "Example"]], [["CN", "device"]]]`).
pub fn name_from_rdns(rdns: &[Vec<(String, String)>]) -> Result<Name> {
    if rdns.len() > MAX_NAME_PARTS {
        return Err(MdmError::TooMany {
            what: "subject",
            limit: MAX_NAME_PARTS,
        });
    }
    let mut out = Vec::new();
    for rdn in rdns {
        let mut set = Vec::new();
        for (kind, value) in rdn {
            let oid = name_oid(kind)?;
            set.push(AttributeTypeAndValue {
                oid,
                value: string_value(oid, value)?,
            });
        }
        if set.is_empty() {
            continue;
        }
        out.push(RelativeDistinguishedName(
            SetOfVec::try_from(set).map_err(der_err("subject"))?,
        ));
    }
    Ok(RdnSequence(out))
}

/// A name of one `CN`.
pub fn common_name(cn: &str) -> Result<Name> {
    name_from_rdns(&[vec![("CN".to_owned(), cn.to_owned())]])
}

/// What a certificate is for (sets its extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateKind {
    /// A CA: `basicConstraints cA`, `keyCertSign`, `cRLSign`, `digitalSignature`.
    Ca,
    /// A device identity: `digitalSignature`, `keyEncipherment`, `clientAuth`.
    ClientIdentity,
    /// The self-signed certificate that signs a SCEP request (RFC 8894 §2.3): `digitalSignature`,
    /// `keyEncipherment`.
    RequestSigner,
}

/// What goes into a new certificate.
#[derive(Debug, Clone)]
pub struct CertificateSpec {
    /// Subject.
    pub subject: Name,
    /// The subject's public key, a DER `SubjectPublicKeyInfo`.
    pub subject_public_key: Vec<u8>,
    /// Validity start.
    pub not_before: SystemTime,
    /// Validity end.
    pub not_after: SystemTime,
    /// Extensions profile.
    pub kind: CertificateKind,
}

fn rsa_sig_alg(digest: DigestAlgorithm) -> Result<AlgorithmIdentifierOwned> {
    Ok(AlgorithmIdentifierOwned {
        oid: digest.rsa_signature_oid(),
        parameters: Some(Any::encode_from(&Null).map_err(der_err("algorithm"))?),
    })
}

fn extension(oid: ObjectIdentifier, critical: bool, value: &impl Encode) -> Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(der_err("extension"))?)
            .map_err(der_err("extension"))?,
    })
}

/// Builds and signs a certificate (SHA-256 with RSA). `issuer` is the issuer's name and key;
/// for a self-signed certificate pass the subject and the subject's own key.
pub fn build_certificate(
    spec: &CertificateSpec,
    issuer: &Name,
    issuer_key: &RsaPrivateKey,
) -> Result<Vec<u8>> {
    let what = "certificate";
    let mut serial = crate::key::random_bytes::<16>()?;
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let spki = SubjectPublicKeyInfoOwned::from_der(&spec.subject_public_key).map_err(der_err(what))?;
    let usages = match spec.kind {
        CertificateKind::Ca => KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature,
        CertificateKind::ClientIdentity | CertificateKind::RequestSigner => {
            KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
        }
    };
    let mut extensions = vec![extension(oid::KEY_USAGE, true, &KeyUsage(usages))?];
    match spec.kind {
        CertificateKind::Ca => extensions.push(extension(
            oid::BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: true,
                path_len_constraint: Some(0),
            },
        )?),
        CertificateKind::ClientIdentity => extensions.push(extension(
            oid::EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(vec![oid::KP_CLIENT_AUTH]),
        )?),
        CertificateKind::RequestSigner => {}
    }
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial).map_err(der_err(what))?,
        signature: rsa_sig_alg(DigestAlgorithm::Sha256)?,
        issuer: issuer.clone(),
        validity: Validity {
            not_before: Time::try_from(spec.not_before).map_err(der_err(what))?,
            not_after: Time::try_from(spec.not_after).map_err(der_err(what))?,
        },
        subject: spec.subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().map_err(der_err(what))?;
    let signature = issuer_key.sign(DigestAlgorithm::Sha256, &tbs_der)?;
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: rsa_sig_alg(DigestAlgorithm::Sha256)?,
        signature: BitString::from_bytes(&signature).map_err(der_err(what))?,
    }
    .to_der()
    .map_err(der_err(what))
}

/// A self-signed certificate for `key`, valid from an hour ago for `valid_for`.
pub fn self_signed(
    key: &RsaPrivateKey,
    subject: &Name,
    kind: CertificateKind,
    valid_for: Duration,
) -> Result<Vec<u8>> {
    let now = SystemTime::now();
    let spec = CertificateSpec {
        subject: subject.clone(),
        subject_public_key: key.public_key_der().to_vec(),
        not_before: now - Duration::from_secs(3600),
        not_after: now + valid_for,
        kind,
    };
    build_certificate(&spec, subject, key)
}

/// A parsed certificate with the pieces SCEP and CMS need.
#[derive(Clone)]
pub struct ParsedCertificate {
    /// The DER certificate.
    pub der: Vec<u8>,
    /// The decoded certificate.
    pub cert: Certificate,
}

impl std::fmt::Debug for ParsedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedCertificate")
            .field("subject", &self.cert.tbs_certificate.subject.to_string())
            .finish_non_exhaustive()
    }
}

impl ParsedCertificate {
    /// Decodes a DER certificate (at most [`MAX_CERTIFICATE_BYTES`]).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        if der.len() > MAX_CERTIFICATE_BYTES {
            return Err(MdmError::TooLarge {
                what: "certificate",
                limit: MAX_CERTIFICATE_BYTES,
            });
        }
        let cert = Certificate::from_der(der).map_err(der_err("certificate"))?;
        Ok(Self {
            der: der.to_vec(),
            cert,
        })
    }

    /// The subject's public key.
    pub fn public_key(&self) -> Result<RsaPublicKey> {
        let spki = self
            .cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(der_err("certificate"))?;
        RsaPublicKey::from_spki_der(&spki)
    }

    /// The subject as an RFC 4514 string.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// Whether `basicConstraints` marks it as a CA.
    pub fn is_ca(&self) -> bool {
        self.cert
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == oid::BASIC_CONSTRAINTS)
            .any(|e| {
                BasicConstraints::from_der(e.extn_value.as_bytes())
                    .map(|b| b.ca)
                    .unwrap_or(false)
            })
    }

    /// Whether the validity period contains `at`.
    pub fn valid_at(&self, at: SystemTime) -> bool {
        let v = &self.cert.tbs_certificate.validity;
        v.not_before.to_system_time() <= at && at <= v.not_after.to_system_time()
    }

    /// Verifies that `issuer` signed this certificate.
    pub fn verify_signed_by(&self, issuer: &ParsedCertificate) -> Result<()> {
        if self.cert.tbs_certificate.issuer != issuer.cert.tbs_certificate.subject {
            return Err(MdmError::BadSignature);
        }
        let digest = DigestAlgorithm::from_rsa_signature_oid(&self.cert.signature_algorithm.oid)?;
        let tbs = self
            .cert
            .tbs_certificate
            .to_der()
            .map_err(der_err("certificate"))?;
        let sig = self.cert.signature.as_bytes().ok_or(MdmError::BadSignature)?;
        issuer.public_key()?.verify(digest, &tbs, sig)
    }
}

/// Builds a PKCS #10 request for `key` with `subject` and, when given, a `challengePassword`
/// (SHA-256 with RSA).
pub fn build_csr(key: &RsaPrivateKey, subject: &Name, challenge: Option<&str>) -> Result<Vec<u8>> {
    let what = "certificate request";
    let mut attrs = Vec::new();
    if let Some(challenge) = challenge {
        if challenge.len() > MAX_CHALLENGE_BYTES {
            return Err(MdmError::TooLarge {
                what: "challengePassword",
                limit: MAX_CHALLENGE_BYTES,
            });
        }
        let value = match PrintableStringRef::new(challenge) {
            Ok(p) => Any::encode_from(&p),
            Err(_) => Any::new(Tag::Utf8String, challenge.as_bytes()),
        }
        .map_err(der_err(what))?;
        attrs.push(Attribute {
            oid: oid::CHALLENGE_PASSWORD,
            values: SetOfVec::try_from(vec![value]).map_err(der_err(what))?,
        });
    }
    let info = x509_cert::request::CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: subject.clone(),
        public_key: SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).map_err(der_err(what))?,
        attributes: SetOfVec::try_from(attrs).map_err(der_err(what))?,
    };
    let info_der = Zeroizing::new(info.to_der().map_err(der_err(what))?);
    let signature = key.sign(DigestAlgorithm::Sha256, &info_der)?;
    x509_cert::request::CertReq {
        info,
        algorithm: rsa_sig_alg(DigestAlgorithm::Sha256)?,
        signature: BitString::from_bytes(&signature).map_err(der_err(what))?,
    }
    .to_der()
    .map_err(der_err(what))
}

/// A PKCS #10 request whose self-signature verified. `Debug` hides the challenge.
#[derive(Clone)]
pub struct ParsedCsr {
    /// Subject.
    pub subject: Name,
    /// The requester's public key, a DER `SubjectPublicKeyInfo`.
    pub public_key: Vec<u8>,
    /// The `challengePassword`, when present (a one-time secret: do not log).
    pub challenge: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for ParsedCsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedCsr")
            .field("subject", &self.subject.to_string())
            .field("challenge", &self.challenge.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Parses a PKCS #10 request (attributes in any order), verifies its self-signature and reads
/// its `challengePassword`.
pub fn parse_csr(der: &[u8]) -> Result<ParsedCsr> {
    let what = "certificate request";
    if der.len() > MAX_CSR_BYTES {
        return Err(MdmError::TooLarge {
            what,
            limit: MAX_CSR_BYTES,
        });
    }
    let top = der_util::single(der, what)?;
    expect_tag(&top, Tag::Sequence, what)?;
    let parts = elements(top.value(), what, 3)?;
    let [info, alg, sig] = parts.as_slice() else {
        return Err(malformed(what, "not info, algorithm and signature"));
    };
    expect_tag(info, Tag::Sequence, what)?;
    let alg: AlgorithmIdentifierOwned = der_util::decode(alg, what)?;
    let sig: BitString = der_util::decode(sig, what)?;
    let fields = elements(info.value(), what, 4)?;
    let [version, subject, spki, attrs] = fields.as_slice() else {
        return Err(malformed(
            what,
            "info is not version, subject, key and attributes",
        ));
    };
    if version.tag() != Tag::Integer || version.value() != [0] {
        return Err(MdmError::Unsupported {
            what: "certificate request version",
        });
    }
    let subject: Name = der_util::decode(subject, what)?;
    let spki_der = der_util::tlv(spki, what)?;
    let public = RsaPublicKey::from_spki_der(&spki_der)?;
    let digest = DigestAlgorithm::from_rsa_signature_oid(&alg.oid)?;
    let info_der = der_util::tlv(info, what)?;
    public.verify(digest, &info_der, sig.as_bytes().ok_or(MdmError::BadSignature)?)?;
    expect_tag(attrs, ctx(0, true), what)?;
    let attrs = der_util::attributes(attrs.value(), what)?;
    let challenge = match attribute(&attrs, oid::CHALLENGE_PASSWORD) {
        None => None,
        Some(v) => {
            if !matches!(
                v.tag(),
                Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::TeletexString
            ) {
                return Err(malformed("challengePassword", "not a string"));
            }
            if v.value().len() > MAX_CHALLENGE_BYTES {
                return Err(MdmError::TooLarge {
                    what: "challengePassword",
                    limit: MAX_CHALLENGE_BYTES,
                });
            }
            let s =
                std::str::from_utf8(v.value()).map_err(|_| malformed("challengePassword", "not UTF-8"))?;
            Some(Zeroizing::new(s.to_owned()))
        }
    };
    Ok(ParsedCsr {
        subject,
        public_key: spki_der,
        challenge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::RsaBits;

    #[test]
    fn csr_round_trip_and_names() {
        let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        let name = name_from_rdns(&[
            vec![("O".into(), "Example Ünï".into())],
            vec![("CN".into(), "device-1".into())],
            vec![("2.5.4.11".into(), "ou".into())],
        ])
        .unwrap();
        assert_eq!(name.to_string(), "OU=ou,CN=device-1,O=Example Ünï");
        let csr = build_csr(&key, &name, Some("s3cret")).unwrap();
        let parsed = parse_csr(&csr).unwrap();
        assert_eq!(parsed.subject, name);
        assert_eq!(parsed.challenge.as_deref().map(String::as_str), Some("s3cret"));
        assert!(!format!("{parsed:?}").contains("s3cret"));
        assert_eq!(parsed.public_key, key.public_key_der());
        // Any flipped byte in the signed part breaks the signature or the structure.
        for i in [20, csr.len() / 2, csr.len() - 300] {
            let mut bad = csr.clone();
            bad[i] ^= 0x01;
            assert!(parse_csr(&bad).is_err(), "byte {i}");
        }
        for n in [0, 1, 10, csr.len() - 1] {
            assert!(parse_csr(&csr[..n]).is_err());
        }
        assert!(name_from_rdns(&[vec![("XX".into(), "v".into())]]).is_err());
        assert!(name_from_rdns(&[vec![("CN".into(), String::new())]]).is_err());
        assert!(name_from_rdns(&[vec![("C".into(), "Ü".into())]]).is_err());
    }

    #[test]
    fn certificates_chain() {
        let ca_key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        let ca_name = common_name("Test CA").unwrap();
        let ca = ParsedCertificate::from_der(
            &self_signed(&ca_key, &ca_name, CertificateKind::Ca, Duration::from_secs(3600)).unwrap(),
        )
        .unwrap();
        assert!(ca.is_ca());
        ca.verify_signed_by(&ca).unwrap();
        let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        let now = SystemTime::now();
        let spec = CertificateSpec {
            subject: common_name("dev").unwrap(),
            subject_public_key: key.public_key_der().to_vec(),
            not_before: now,
            not_after: now + Duration::from_secs(60),
            kind: CertificateKind::ClientIdentity,
        };
        let leaf =
            ParsedCertificate::from_der(&build_certificate(&spec, &ca_name, &ca_key).unwrap()).unwrap();
        assert!(!leaf.is_ca());
        leaf.verify_signed_by(&ca).unwrap();
        assert!(ca.verify_signed_by(&leaf).is_err());
        assert!(leaf.valid_at(now + Duration::from_secs(1)));
        assert!(!leaf.valid_at(now + Duration::from_secs(120)));
        assert_eq!(leaf.public_key().unwrap().spki_der(), key.public_key_der());
        assert!(ParsedCertificate::from_der(&leaf.der[..leaf.der.len() - 1]).is_err());
        assert!(ParsedCertificate::from_der(&vec![0x30; MAX_CERTIFICATE_BYTES + 1]).is_err());
    }
}
