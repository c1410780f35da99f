//! SCEP (RFC 8894) messages: `GetCACaps`, `GetCACert` and the `PKIOperation` PKIMessage
//! (SignedData over EnvelopedData) for `PKCSReq`, `RenewalReq` and `CertRep`.
//!
//! Both sides are here: a client builds a request ([`build_request`]) and reads the reply
//! ([`parse_pki_message`], [`PkiMessage::cert_rep`]); a CA reads the request
//! ([`parse_pki_message`], [`PkiMessage::decrypt_content`]) and answers ([`build_cert_rep`]).

use crate::cert::ParsedCertificate;
use crate::envelope::{decrypt_envelope, encrypt_envelope, ContentCipher};
use crate::error::{der_err, malformed, MdmError, Result};
use crate::key::{DigestAlgorithm, RsaPrivateKey};
use crate::oid;
use crate::signed::{self, build_certs_only, build_signed_data, parse_signed_data, SignedAttribute, Signer};
use der::asn1::{Any, AnyRef, OctetStringRef, PrintableStringRef};
use der::Tagged as _;
use der::{Decode, Tag};
use zeroize::Zeroizing;

/// Largest `GetCACaps` reply read.
pub const MAX_CACAPS_BYTES: usize = 4096;
/// Most capability lines read.
pub const MAX_CACAPS_LINES: usize = 64;
/// Largest `GetCACert` reply read.
pub const MAX_CACERT_BYTES: usize = 64 * 1024;
/// Longest transaction ID accepted.
pub const MAX_TRANSACTION_ID: usize = 128;

/// SCEP `messageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `CertRep` (3).
    CertRep,
    /// `RenewalReq` (17).
    RenewalReq,
    /// `PKCSReq` (19).
    PkcsReq,
    /// `CertPoll` (20).
    CertPoll,
    /// `GetCert` (21).
    GetCert,
    /// `GetCRL` (22).
    GetCrl,
}

impl MessageType {
    /// The decimal string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CertRep => "3",
            Self::RenewalReq => "17",
            Self::PkcsReq => "19",
            Self::CertPoll => "20",
            Self::GetCert => "21",
            Self::GetCrl => "22",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "3" => Self::CertRep,
            "17" => Self::RenewalReq,
            "19" => Self::PkcsReq,
            "20" => Self::CertPoll,
            "21" => Self::GetCert,
            "22" => Self::GetCrl,
            _ => {
                return Err(MdmError::Unsupported {
                    what: "SCEP messageType",
                })
            }
        })
    }
}

/// SCEP `pkiStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PkiStatus {
    /// 0.
    Success,
    /// 2.
    Failure,
    /// 3.
    Pending,
}

impl PkiStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "0",
            Self::Failure => "2",
            Self::Pending => "3",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "0" => Self::Success,
            "2" => Self::Failure,
            "3" => Self::Pending,
            _ => {
                return Err(MdmError::Unsupported {
                    what: "SCEP pkiStatus",
                })
            }
        })
    }
}

/// SCEP `failInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailInfo {
    /// 0: unrecognized or unsupported algorithm.
    BadAlg,
    /// 1: integrity check (signature) failed.
    BadMessageCheck,
    /// 2: transaction not permitted or supported (e.g. a wrong challenge).
    BadRequest,
    /// 3: the message time was not close enough to the system time.
    BadTime,
    /// 4: no certificate could be identified.
    BadCertId,
}

impl FailInfo {
    fn as_str(self) -> &'static str {
        match self {
            Self::BadAlg => "0",
            Self::BadMessageCheck => "1",
            Self::BadRequest => "2",
            Self::BadTime => "3",
            Self::BadCertId => "4",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "0" => Self::BadAlg,
            "1" => Self::BadMessageCheck,
            "2" => Self::BadRequest,
            "3" => Self::BadTime,
            "4" => Self::BadCertId,
            _ => {
                return Err(MdmError::Unsupported {
                    what: "SCEP failInfo",
                })
            }
        })
    }
}

/// A CA's `GetCACaps` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaCaps {
    /// `AES` (AES-128-CBC).
    pub aes: bool,
    /// `DES3`.
    pub des3: bool,
    /// `POSTPKIOperation`.
    pub post_pki_operation: bool,
    /// `Renewal`.
    pub renewal: bool,
    /// `SHA-1`.
    pub sha1: bool,
    /// `SHA-256`.
    pub sha256: bool,
    /// `SHA-512`.
    pub sha512: bool,
    /// `SCEPStandard` (implies AES, POSTPKIOperation and SHA-256).
    pub scep_standard: bool,
    /// `GetNextCACert`.
    pub get_next_ca_cert: bool,
    /// Lines this crate does not know, counted.
    pub unknown: usize,
}

impl CaCaps {
    /// Parses a `GetCACaps` body: one keyword a line, case-insensitive (RFC 8894 §3.5.2).
    pub fn parse(body: &[u8]) -> Result<Self> {
        let what = "GetCACaps reply";
        if body.len() > MAX_CACAPS_BYTES {
            return Err(MdmError::TooLarge {
                what,
                limit: MAX_CACAPS_BYTES,
            });
        }
        let text = std::str::from_utf8(body).map_err(|_| malformed(what, "not UTF-8"))?;
        let mut caps = CaCaps::default();
        for (i, line) in text.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
            if i == MAX_CACAPS_LINES {
                return Err(MdmError::TooMany {
                    what,
                    limit: MAX_CACAPS_LINES,
                });
            }
            match line.to_ascii_lowercase().as_str() {
                "aes" => caps.aes = true,
                "des3" => caps.des3 = true,
                "postpkioperation" => caps.post_pki_operation = true,
                "renewal" => caps.renewal = true,
                "sha-1" => caps.sha1 = true,
                "sha-256" => caps.sha256 = true,
                "sha-512" => caps.sha512 = true,
                "scepstandard" => caps.scep_standard = true,
                "getnextcacert" => caps.get_next_ca_cert = true,
                _ => caps.unknown += 1,
            }
        }
        Ok(caps)
    }

    /// Whether `PKIOperation` may be sent by POST.
    pub fn post(&self) -> bool {
        self.post_pki_operation || self.scep_standard
    }

    /// The cipher to encrypt requests with (the strongest advertised).
    pub fn cipher(&self) -> ContentCipher {
        ContentCipher::strongest(self.aes || self.scep_standard, self.des3)
    }

    /// The digest to sign requests with: SHA-512 or SHA-256 when advertised, else SHA-256
    /// anyway (SHA-1 signing is not offered; RFC 8894 deprecates it).
    pub fn digest(&self) -> DigestAlgorithm {
        if self.sha512 {
            DigestAlgorithm::Sha512
        } else {
            DigestAlgorithm::Sha256
        }
    }
}

/// Reads a `GetCACert` reply: one DER certificate (`application/x-x509-ca-cert`) or a
/// certs-only SignedData with the CA and RA certificates (`application/x-x509-ca-ra-cert`).
/// The content type decides when given; otherwise the shape does.
pub fn parse_ca_certs(body: &[u8], content_type: Option<&str>) -> Result<Vec<Vec<u8>>> {
    if body.len() > MAX_CACERT_BYTES {
        return Err(MdmError::TooLarge {
            what: "GetCACert reply",
            limit: MAX_CACERT_BYTES,
        });
    }
    let mime = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let single = match mime.as_str() {
        "application/x-x509-ca-cert" => true,
        "application/x-x509-ca-ra-cert" => false,
        _ => ParsedCertificate::from_der(body).is_ok(),
    };
    let certs = if single {
        vec![body.to_vec()]
    } else {
        signed::parse_certs_only(body)?
    };
    for c in &certs {
        ParsedCertificate::from_der(c)?;
    }
    Ok(certs)
}

/// From a CA's certificates, the one to encrypt requests to: an RA (non-CA) certificate when
/// there is one, else the CA itself (RFC 8894 §3.5.1).
pub fn recipient_certificate(certs: &[Vec<u8>]) -> Result<&[u8]> {
    let parsed: Vec<ParsedCertificate> = certs
        .iter()
        .map(|c| ParsedCertificate::from_der(c))
        .collect::<Result<_>>()?;
    parsed
        .iter()
        .position(|c| !c.is_ca())
        .or(if parsed.is_empty() { None } else { Some(0) })
        .map(|i| certs[i].as_slice())
        .ok_or(MdmError::Missing {
            what: "CA certificate",
        })
}

/// A request to send: `PKCSReq` (first enrollment) or `RenewalReq`.
pub struct Request<'a> {
    /// `PkcsReq` or `RenewalReq`.
    pub message_type: MessageType,
    /// `transactionID` (see [`transaction_id`]).
    pub transaction_id: &'a str,
    /// `senderNonce`.
    pub sender_nonce: [u8; 16],
    /// The PKCS #10 request, DER (holds the challenge).
    pub csr: &'a [u8],
}

/// A transaction ID for a key: the hex SHA-256 of its `SubjectPublicKeyInfo`.
pub fn transaction_id(spki_der: &[u8]) -> String {
    hex::encode_upper(DigestAlgorithm::Sha256.digest(spki_der))
}

fn printable(s: &str) -> Result<Any> {
    Any::encode_from(&PrintableStringRef::new(s).map_err(der_err("SCEP attribute"))?)
        .map_err(der_err("SCEP attribute"))
}

fn octet_attr(b: &[u8]) -> Result<Any> {
    Any::encode_from(&OctetStringRef::new(b).map_err(der_err("SCEP attribute"))?)
        .map_err(der_err("SCEP attribute"))
}

/// Builds a PKIMessage request: the CSR enveloped to `recipient` (from
/// [`recipient_certificate`]) with `cipher`, signed by `signer` (the requester's key with a
/// self-signed certificate, or its current certificate for a renewal).
pub fn build_request(
    req: &Request<'_>,
    signer: Signer<'_>,
    recipient: &[u8],
    cipher: ContentCipher,
) -> Result<Vec<u8>> {
    if req.transaction_id.is_empty() || req.transaction_id.len() > MAX_TRANSACTION_ID {
        return Err(malformed("transactionID", "empty or too long"));
    }
    let envelope = encrypt_envelope(req.csr, recipient, cipher)?;
    let attrs = [
        SignedAttribute {
            oid: oid::SCEP_MESSAGE_TYPE,
            value: printable(req.message_type.as_str())?,
        },
        SignedAttribute {
            oid: oid::SCEP_TRANSACTION_ID,
            value: printable(req.transaction_id)?,
        },
        SignedAttribute {
            oid: oid::SCEP_SENDER_NONCE,
            value: octet_attr(&req.sender_nonce)?,
        },
    ];
    build_signed_data(&envelope, false, signer, &[], &attrs)
}

/// The outcome a CA reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertRepStatus {
    /// Issued: the certificates (DER; the issued one first is not guaranteed).
    Success(Vec<Vec<u8>>),
    /// Refused.
    Failure(FailInfo),
    /// Waiting for manual approval (poll with `CertPoll`).
    Pending,
}

/// A CA's answer to build.
pub struct CertRep<'a> {
    /// The request's `transactionID`.
    pub transaction_id: &'a str,
    /// The request's `senderNonce` (becomes `recipientNonce`).
    pub recipient_nonce: [u8; 16],
    /// A fresh `senderNonce`.
    pub sender_nonce: [u8; 16],
    /// What happened; on success the certificates to return.
    pub status: &'a CertRepStatus,
}

/// Builds a `CertRep` signed by the CA (`signer`); on success the certificates travel in a
/// certs-only SignedData enveloped to `recipient` (the request's signer certificate).
pub fn build_cert_rep(
    rep: &CertRep<'_>,
    signer: Signer<'_>,
    recipient: &[u8],
    cipher: ContentCipher,
) -> Result<Vec<u8>> {
    let mut attrs = vec![
        SignedAttribute {
            oid: oid::SCEP_MESSAGE_TYPE,
            value: printable(MessageType::CertRep.as_str())?,
        },
        SignedAttribute {
            oid: oid::SCEP_TRANSACTION_ID,
            value: printable(rep.transaction_id)?,
        },
        SignedAttribute {
            oid: oid::SCEP_SENDER_NONCE,
            value: octet_attr(&rep.sender_nonce)?,
        },
        SignedAttribute {
            oid: oid::SCEP_RECIPIENT_NONCE,
            value: octet_attr(&rep.recipient_nonce)?,
        },
    ];
    let (status, content) = match rep.status {
        CertRepStatus::Success(certs) => {
            let refs: Vec<&[u8]> = certs.iter().map(Vec::as_slice).collect();
            let inner = build_certs_only(&refs)?;
            (PkiStatus::Success, encrypt_envelope(&inner, recipient, cipher)?)
        }
        CertRepStatus::Failure(info) => {
            attrs.push(SignedAttribute {
                oid: oid::SCEP_FAIL_INFO,
                value: printable(info.as_str())?,
            });
            (PkiStatus::Failure, Vec::new())
        }
        CertRepStatus::Pending => (PkiStatus::Pending, Vec::new()),
    };
    attrs.push(SignedAttribute {
        oid: oid::SCEP_PKI_STATUS,
        value: printable(status.as_str())?,
    });
    build_signed_data(&content, false, signer, &[], &attrs)
}

/// A PKIMessage whose signature verified (against the certificate it carries).
#[derive(Debug, Clone)]
pub struct PkiMessage {
    /// `messageType`.
    pub message_type: MessageType,
    /// `transactionID`.
    pub transaction_id: String,
    /// `senderNonce`.
    pub sender_nonce: Option<[u8; 16]>,
    /// `recipientNonce` (replies).
    pub recipient_nonce: Option<[u8; 16]>,
    /// `pkiStatus` (replies).
    pub pki_status: Option<PkiStatus>,
    /// `failInfo` (failed replies).
    pub fail_info: Option<FailInfo>,
    /// The signer's certificate: for a request the requester's, for a reply the CA's (the
    /// caller checks it against the CA certificates it trusts).
    pub signer: ParsedCertificate,
    /// The signer's digest (answer with the same).
    pub digest: DigestAlgorithm,
    /// The signed content: an EnvelopedData, or empty.
    pub content: Vec<u8>,
}

fn string_attr(attrs: &[u8], oid: der::asn1::ObjectIdentifier, what: &'static str) -> Result<Option<String>> {
    let Some(tlv) = signed::signed_attribute(attrs, oid)? else {
        return Ok(None);
    };
    let any = AnyRef::from_der(&tlv).map_err(der_err(what))?;
    if !matches!(any.tag(), Tag::PrintableString | Tag::Utf8String | Tag::Ia5String) {
        return Err(malformed(what, "not a string"));
    }
    if any.value().len() > MAX_TRANSACTION_ID {
        return Err(MdmError::TooLarge {
            what,
            limit: MAX_TRANSACTION_ID,
        });
    }
    let s = std::str::from_utf8(any.value()).map_err(|_| malformed(what, "not UTF-8"))?;
    Ok(Some(s.to_owned()))
}

fn nonce_attr(
    attrs: &[u8],
    oid: der::asn1::ObjectIdentifier,
    what: &'static str,
) -> Result<Option<[u8; 16]>> {
    let Some(tlv) = signed::signed_attribute(attrs, oid)? else {
        return Ok(None);
    };
    let any = AnyRef::from_der(&tlv).map_err(der_err(what))?;
    if any.tag() != Tag::OctetString {
        return Err(malformed(what, "not an OCTET STRING"));
    }
    let nonce: [u8; 16] = any
        .value()
        .try_into()
        .map_err(|_| malformed(what, "not 16 bytes"))?;
    Ok(Some(nonce))
}

/// Parses and verifies a PKIMessage and reads its SCEP attributes.
pub fn parse_pki_message(der: &[u8]) -> Result<PkiMessage> {
    let parsed = parse_signed_data(der)?;
    if parsed.content_type != oid::DATA {
        return Err(MdmError::UnexpectedOid {
            what: "PKIMessage content type",
        });
    }
    let verified = parsed.verify(None)?;
    let attrs = &verified.signed_attrs;
    let message_type = string_attr(attrs, oid::SCEP_MESSAGE_TYPE, "messageType")?
        .ok_or(MdmError::Missing { what: "messageType" })?;
    let message_type = MessageType::parse(&message_type)?;
    let transaction_id =
        string_attr(attrs, oid::SCEP_TRANSACTION_ID, "transactionID")?.ok_or(MdmError::Missing {
            what: "transactionID",
        })?;
    let pki_status = string_attr(attrs, oid::SCEP_PKI_STATUS, "pkiStatus")?
        .map(|s| PkiStatus::parse(&s))
        .transpose()?;
    let fail_info = string_attr(attrs, oid::SCEP_FAIL_INFO, "failInfo")?
        .map(|s| FailInfo::parse(&s))
        .transpose()?;
    if message_type == MessageType::CertRep && pki_status.is_none() {
        return Err(MdmError::Missing { what: "pkiStatus" });
    }
    Ok(PkiMessage {
        message_type,
        transaction_id,
        sender_nonce: nonce_attr(attrs, oid::SCEP_SENDER_NONCE, "senderNonce")?,
        recipient_nonce: nonce_attr(attrs, oid::SCEP_RECIPIENT_NONCE, "recipientNonce")?,
        pki_status,
        fail_info,
        signer: verified.signer,
        digest: verified.digest,
        content: parsed.content.unwrap_or_default(),
    })
}

impl PkiMessage {
    /// Decrypts the enveloped content (a CA reading a request's CSR, or a client reading a
    /// `CertRep`) with the recipient's key and certificate.
    pub fn decrypt_content(&self, key: &RsaPrivateKey, certificate: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if self.content.is_empty() {
            return Err(MdmError::Missing {
                what: "enveloped content",
            });
        }
        decrypt_envelope(&self.content, key, certificate)
    }

    /// Reads a `CertRep` as the requester: checks the transaction and the nonce against the
    /// request, and on success decrypts the issued certificates.
    pub fn cert_rep(
        &self,
        transaction_id: &str,
        sender_nonce: &[u8; 16],
        key: &RsaPrivateKey,
        certificate: &[u8],
    ) -> Result<CertRepStatus> {
        if self.message_type != MessageType::CertRep {
            return Err(MdmError::Unsupported {
                what: "reply messageType (not CertRep)",
            });
        }
        if self.transaction_id != transaction_id {
            return Err(malformed("CertRep", "transactionID of another transaction"));
        }
        if self.recipient_nonce.as_ref() != Some(sender_nonce) {
            return Err(malformed(
                "CertRep",
                "recipientNonce does not echo the request's senderNonce",
            ));
        }
        match self.pki_status {
            Some(PkiStatus::Success) => {
                let inner = self.decrypt_content(key, certificate)?;
                Ok(CertRepStatus::Success(signed::parse_certs_only(&inner)?))
            }
            Some(PkiStatus::Failure) => Ok(CertRepStatus::Failure(
                self.fail_info.ok_or(MdmError::Missing { what: "failInfo" })?,
            )),
            Some(PkiStatus::Pending) => Ok(CertRepStatus::Pending),
            None => Err(MdmError::Missing { what: "pkiStatus" }),
        }
    }
}

/// Among issued certificates, the one for `spki_der` (the requester's key).
pub fn issued_for(certs: &[Vec<u8>], spki_der: &[u8]) -> Result<Vec<u8>> {
    for c in certs {
        let parsed = ParsedCertificate::from_der(c)?;
        if parsed
            .public_key()
            .map(|k| k.spki_der() == spki_der)
            .unwrap_or(false)
        {
            return Ok(c.clone());
        }
    }
    Err(MdmError::Missing {
        what: "certificate for the requested key",
    })
}

#[cfg(test)]
mod tests;
