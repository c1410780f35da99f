//! The server's local PKI and the CMS signer of enrollment profiles.
//!
//! On first run [`Pki::load_or_create`] makes, in the data directory:
//!
//! | file | content | mode |
//! | --- | --- | --- |
//! | `ca.pem` / `ca.key` | local CA (EC P-256, self-signed, 10 years) | key 0600 |
//! | `server.pem` / `server.key` | TLS server certificate issued by the CA (SANs `localhost`, `127.0.0.1`, `::1` and the configured host names, 825 days) | key 0600 |
//! | `server.sans` | the SAN list the server certificate was issued for | |
//! | `signer.pem` / `signer.key` | profile-signing certificate issued by the CA (5 years) | key 0600 |
//! | `scep-ca.pem` / `scep-ca.key` | SCEP issuing CA, RSA-2048, issued by the CA (5 years; see [`ScepCa`]) | key 0600 |
//!
//! The root allows one level of intermediate CA (`pathLenConstraint` 1) for the SCEP CA; a root
//! created by an older version (path length 0) keeps working for TLS and profiles, but strict
//! verifiers reject the chain root → SCEP CA → device (delete `ca.*` to start over).
//!
//! Later runs reuse them. The server certificate is re-issued by the same CA when the host
//! names change or when it expires within 30 days; the signer likewise when it expires soon.
//!
//! [`ProfileSigner::sign`] wraps bytes in a DER CMS `SignedData` exactly as described in
//! `docs/protocol.md` ("Profile signing"): SHA-256, ECDSA P-256, signed attributes
//! `contentType`, `messageDigest` and `signingTime`, certificates = signer + CA.
//!
//! [`Pki::ephemeral`] builds a complete in-memory PKI; tests use it as a second, untrusted CA to
//! craft hostile profiles.

use crate::crypto;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;

/// `id-data` (RFC 5652).
pub const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// `id-signedData` (RFC 5652).
pub const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// `id-sha256`.
pub const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// `ecdsa-with-SHA256`.
pub const OID_ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `id-contentType` signed attribute.
pub const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// `id-messageDigest` signed attribute.
pub const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// `id-signingTime` signed attribute.
pub const OID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");

mod scep_ca;
pub use scep_ca::{cert_pem, serial_hex, ScepCa};

const CA_DAYS: i64 = 3650;
const SERVER_DAYS: i64 = 825;
const SIGNER_DAYS: i64 = 1825;
const RENEW_BEFORE_DAYS: i64 = 30;

/// Errors of the PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing a PKI file failed.
    #[error("PKI file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(String),
    /// A stored certificate or key could not be parsed.
    #[error("stored PKI material is invalid: {0}")]
    Invalid(String),
    /// Building or signing the CMS structure failed.
    #[error("CMS signing failed: {0}")]
    Sign(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn gen_err(e: rcgen::Error) -> PkiError {
    PkiError::Generate(e.to_string())
}

/// Signs enrollment profiles: a P-256 key and its certificate, issued by the server CA.
pub struct ProfileSigner {
    key: EcdsaKeyPair,
    cert: x509_cert::Certificate,
    cert_der: Vec<u8>,
    ca: x509_cert::Certificate,
    ca_der: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for ProfileSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileSigner")
            .field("cert_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl ProfileSigner {
    /// A signer from a PKCS#8 P-256 key and the DER certificates of the signer and its CA.
    pub fn new(key_pkcs8: &[u8], cert_der: &[u8], ca_der: &[u8]) -> Result<Self, PkiError> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, key_pkcs8, &rng)
            .map_err(|e| PkiError::Invalid(format!("signer key: {e}")))?;
        let cert = x509_cert::Certificate::from_der(cert_der)
            .map_err(|e| PkiError::Invalid(format!("signer certificate: {e}")))?;
        let ca = x509_cert::Certificate::from_der(ca_der)
            .map_err(|e| PkiError::Invalid(format!("CA certificate: {e}")))?;
        Ok(Self {
            key,
            cert,
            cert_der: cert_der.to_vec(),
            ca,
            ca_der: ca_der.to_vec(),
            rng,
        })
    }

    /// DER of the signing certificate.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// DER of the CA certificate that issued the signing certificate.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// Signs `content` (normally an XML plist) into a DER CMS `ContentInfo`/`SignedData`, with
    /// the current time as `signingTime`.
    ///
    /// Tests may sign any bytes at all (a garbage plist, a profile of another server) to check
    /// that the agent rejects them for the right reason.
    pub fn sign(&self, content: &[u8]) -> Result<Vec<u8>, PkiError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.sign_at(content, now.as_secs())
    }

    /// Like [`ProfileSigner::sign`] with an explicit `signingTime` (Unix seconds, 1950–2049).
    pub fn sign_at(&self, content: &[u8], signing_time_unix: u64) -> Result<Vec<u8>, PkiError> {
        let sign_err = |e: der::Error| PkiError::Sign(e.to_string());
        let digest = crypto::sha256(content);

        let attr = |oid: ObjectIdentifier, value: Any| -> Result<Attribute, PkiError> {
            let values = SetOfVec::try_from(vec![value]).map_err(sign_err)?;
            Ok(Attribute { oid, values })
        };
        let signing_time =
            UtcTime::from_unix_duration(Duration::from_secs(signing_time_unix)).map_err(sign_err)?;
        let signed_attrs: SetOfVec<Attribute> = SetOfVec::try_from(vec![
            attr(OID_CONTENT_TYPE, Any::encode_from(&OID_DATA).map_err(sign_err)?)?,
            attr(
                OID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(digest).map_err(sign_err)?).map_err(sign_err)?,
            )?,
            attr(
                OID_SIGNING_TIME,
                Any::encode_from(&signing_time).map_err(sign_err)?,
            )?,
        ])
        .map_err(sign_err)?;

        // The signature covers the DER of the attributes as a SET OF (tag 0x31), not the
        // [0] IMPLICIT form they take inside SignerInfo.
        let to_sign = signed_attrs.to_der().map_err(sign_err)?;
        let signature = self
            .key
            .sign(&self.rng, &to_sign)
            .map_err(|_| PkiError::Sign("ECDSA signature failed".into()))?;

        let sha256 = AlgorithmIdentifierOwned {
            oid: OID_SHA256,
            parameters: None,
        };
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: self.cert.tbs_certificate.issuer.clone(),
                serial_number: self.cert.tbs_certificate.serial_number.clone(),
            }),
            digest_alg: sha256.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: OID_ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: OctetString::new(signature.as_ref()).map_err(sign_err)?,
            unsigned_attrs: None,
        };
        let certificates = CertificateSet(
            SetOfVec::try_from(vec![
                CertificateChoices::Certificate(self.cert.clone()),
                CertificateChoices::Certificate(self.ca.clone()),
            ])
            .map_err(sign_err)?,
        );
        let signed_data = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256]).map_err(sign_err)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: OID_DATA,
                econtent: Some(
                    Any::encode_from(&OctetString::new(content).map_err(sign_err)?).map_err(sign_err)?,
                ),
            },
            certificates: Some(certificates),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(sign_err)?),
        };
        let info = ContentInfo {
            content_type: OID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).map_err(sign_err)?,
        };
        info.to_der().map_err(sign_err)
    }
}

/// The server's CA, TLS identity and profile signer.
pub struct Pki {
    ca_der: Vec<u8>,
    ca_pem: String,
    server_cert_der: Vec<u8>,
    server_key_der: Vec<u8>,
    signer: ProfileSigner,
    scep: ScepCa,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca_fingerprint", &self.ca_fingerprint())
            .finish_non_exhaustive()
    }
}

/// Everything needed to re-issue certificates from the CA.
struct CaMaterial {
    key: KeyPair,
    params: CertificateParams,
    cert_der: Vec<u8>,
    cert_pem: String,
}

fn now_odt() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = crypto::random_bytes(16).map_err(|e| PkiError::Generate(e.to_string()))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

/// CA parameters, derived only from the key so that a stored CA can be used as an issuer again.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let mut params = CertificateParams::default();
    let id = hex::encode(&crypto::sha256(key.public_key_raw())[..4]);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("enroll local CA {id}"));
    dn.push(DnType::OrganizationName, "enroll");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn new_ca() -> Result<CaMaterial, PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
    let mut params = ca_params(&key);
    params.serial_number = Some(random_serial()?);
    params.not_before = now_odt() - time::Duration::days(1);
    params.not_after = now_odt() + time::Duration::days(CA_DAYS);
    let cert = params.self_signed(&key).map_err(gen_err)?;
    Ok(CaMaterial {
        params: ca_params(&key),
        key,
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
    })
}

/// The SAN list of the TLS certificate: loopback names plus the configured host names.
fn server_sans(hostnames: &[String]) -> Vec<String> {
    let mut sans: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for h in hostnames {
        let h = h.trim().to_ascii_lowercase();
        if !h.is_empty() && !sans.contains(&h) {
            sans.push(h);
        }
    }
    sans
}

/// Issues a leaf certificate; returns (cert DER, cert PEM, PKCS#8 key DER, key PEM).
fn issue_leaf(
    ca: &CaMaterial,
    server: bool,
    sans: &[String],
) -> Result<(Vec<u8>, String, Vec<u8>, String), PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
    let mut params = if server {
        CertificateParams::new(sans.to_vec()).map_err(gen_err)?
    } else {
        CertificateParams::default()
    };
    let mut dn = DistinguishedName::new();
    if server {
        dn.push(
            DnType::CommonName,
            sans.get(3).cloned().unwrap_or_else(|| "localhost".into()),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_after = now_odt() + time::Duration::days(SERVER_DAYS);
    } else {
        dn.push(DnType::CommonName, "enroll profile signing");
        params.not_after = now_odt() + time::Duration::days(SIGNER_DAYS);
    }
    dn.push(DnType::OrganizationName, "enroll");
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    params.not_before = now_odt() - time::Duration::days(1);
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert = params.signed_by(&key, &issuer).map_err(gen_err)?;
    Ok((
        cert.der().to_vec(),
        cert.pem(),
        key.serialize_der(),
        key.serialize_pem(),
    ))
}

/// Decodes the first PEM block of `text` labelled `label`.
fn pem_decode(text: &str, label: &str) -> Result<Vec<u8>, PkiError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| PkiError::Invalid(format!("no {label} PEM block")))?
        + begin.len();
    let stop = text[start..]
        .find(&end)
        .ok_or_else(|| PkiError::Invalid(format!("unterminated {label} PEM block")))?;
    let b64: String = text[start..start + stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| PkiError::Invalid(format!("bad base64 in {label} PEM block")))
}

fn pem_encode(der: &[u8], label: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Seconds until the certificate expires (negative when expired).
fn secs_to_expiry(cert_der: &[u8]) -> Result<i64, PkiError> {
    let cert = x509_cert::Certificate::from_der(cert_der).map_err(|e| PkiError::Invalid(e.to_string()))?;
    let not_after = cert
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration()
        .as_secs();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Ok(i64::try_from(not_after).unwrap_or(i64::MAX) - i64::try_from(now).unwrap_or(0))
}

impl Pki {
    /// Loads the PKI from `dir`, creating what is missing (see the module documentation).
    pub fn load_or_create(dir: &Path, hostnames: &[String]) -> Result<Self, PkiError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let ca_cert_path = dir.join("ca.pem");
        let ca_key_path = dir.join("ca.key");
        let ca = if ca_cert_path.exists() && ca_key_path.exists() {
            let key_pem = std::fs::read_to_string(&ca_key_path).map_err(io_err(&ca_key_path))?;
            let key = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::Invalid(format!("ca.key: {e}")))?;
            let cert_pem = std::fs::read_to_string(&ca_cert_path).map_err(io_err(&ca_cert_path))?;
            let cert_der = pem_decode(&cert_pem, "CERTIFICATE")?;
            CaMaterial {
                params: ca_params(&key),
                key,
                cert_der,
                cert_pem,
            }
        } else {
            let ca = new_ca()?;
            crypto::write_private(&ca_key_path, ca.key.serialize_pem().as_bytes())
                .map_err(io_err(&ca_key_path))?;
            crypto::write_public(&ca_cert_path, ca.cert_pem.as_bytes()).map_err(io_err(&ca_cert_path))?;
            // A new CA invalidates every leaf issued by a previous one.
            for f in [
                "server.pem",
                "server.key",
                "server.sans",
                "signer.pem",
                "signer.key",
                "scep-ca.pem",
                "scep-ca.key",
            ] {
                let _ = std::fs::remove_file(dir.join(f));
            }
            ca
        };

        let sans = server_sans(hostnames);
        let sans_text = sans.join("\n");
        let (server_cert_der, server_key_der) =
            Self::load_or_issue(dir, "server", &ca, true, &sans, Some(&sans_text))?;
        let (signer_cert_der, signer_key_der) = Self::load_or_issue(dir, "signer", &ca, false, &[], None)?;
        let signer = ProfileSigner::new(&signer_key_der, &signer_cert_der, &ca.cert_der)?;
        let scep = ScepCa::load_or_create(dir, &ca)?;
        Ok(Self {
            ca_pem: ca.cert_pem.clone(),
            ca_der: ca.cert_der,
            server_cert_der,
            server_key_der,
            signer,
            scep,
        })
    }

    fn load_or_issue(
        dir: &Path,
        stem: &str,
        ca: &CaMaterial,
        server: bool,
        sans: &[String],
        sans_text: Option<&str>,
    ) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
        let cert_path = dir.join(format!("{stem}.pem"));
        let key_path = dir.join(format!("{stem}.key"));
        let sans_path = dir.join(format!("{stem}.sans"));
        if cert_path.exists() && key_path.exists() {
            let cert_der = pem_decode(
                &std::fs::read_to_string(&cert_path).map_err(io_err(&cert_path))?,
                "CERTIFICATE",
            )?;
            let key_der = pem_decode(
                &std::fs::read_to_string(&key_path).map_err(io_err(&key_path))?,
                "PRIVATE KEY",
            )?;
            let sans_ok = match sans_text {
                Some(expected) => std::fs::read_to_string(&sans_path)
                    .map(|s| s == expected)
                    .unwrap_or(false),
                None => true,
            };
            if sans_ok && secs_to_expiry(&cert_der)? > RENEW_BEFORE_DAYS * 86_400 {
                return Ok((cert_der, key_der));
            }
            tracing::info!(
                certificate = stem,
                "re-issuing certificate (host names changed or expiry near)"
            );
        }
        let (cert_der, cert_pem, key_der, key_pem) = issue_leaf(ca, server, sans)?;
        crypto::write_private(&key_path, key_pem.as_bytes()).map_err(io_err(&key_path))?;
        crypto::write_public(&cert_path, cert_pem.as_bytes()).map_err(io_err(&cert_path))?;
        if let Some(text) = sans_text {
            crypto::write_public(&sans_path, text.as_bytes()).map_err(io_err(&sans_path))?;
        }
        Ok((cert_der, key_der))
    }

    /// A complete PKI in memory only (fresh CA, TLS certificate, signer). Nothing is written.
    ///
    /// Tests use it as a second CA that the agent does not trust.
    pub fn ephemeral(hostnames: &[String]) -> Result<Self, PkiError> {
        let ca = new_ca()?;
        let (server_cert_der, _, server_key_der, _) = issue_leaf(&ca, true, &server_sans(hostnames))?;
        let (signer_cert_der, _, signer_key_der, _) = issue_leaf(&ca, false, &[])?;
        let signer = ProfileSigner::new(&signer_key_der, &signer_cert_der, &ca.cert_der)?;
        let scep = ScepCa::ephemeral(&ca)?;
        Ok(Self {
            ca_pem: ca.cert_pem.clone(),
            ca_der: ca.cert_der,
            server_cert_der,
            server_key_der,
            signer,
            scep,
        })
    }

    /// DER of the CA certificate.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// PEM of the CA certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// SHA-256 fingerprint of the CA certificate: upper-case hex pairs joined by `:`.
    pub fn ca_fingerprint(&self) -> String {
        fingerprint(&self.ca_der)
    }

    /// The TLS certificate chain served (the leaf only; clients trust the CA).
    pub fn server_cert_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![CertificateDer::from(self.server_cert_der.clone())]
    }

    /// The TLS private key (PKCS#8).
    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()))
    }

    /// PEM of the TLS leaf certificate.
    pub fn server_cert_pem(&self) -> String {
        pem_encode(&self.server_cert_der, "CERTIFICATE")
    }

    /// The profile signer.
    pub fn signer(&self) -> &ProfileSigner {
        &self.signer
    }

    /// The SCEP issuing CA (RSA).
    pub fn scep_ca(&self) -> &ScepCa {
        &self.scep
    }
}

/// SHA-256 fingerprint of DER bytes: upper-case hex pairs joined by `:`.
pub fn fingerprint(der: &[u8]) -> String {
    crypto::sha256(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("enroll-pki-{tag}-{}", crypto::random_b64(6).unwrap()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn cms_round_trip_verifies_with_ring() {
        let pki = Pki::ephemeral(&[]).unwrap();
        let content = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>";
        let der = pki.signer().sign_at(content, 1_700_000_000).unwrap();

        let ci = ContentInfo::from_der(&der).unwrap();
        assert_eq!(ci.content_type, OID_SIGNED_DATA);
        let sd: SignedData = ci.content.decode_as().unwrap();
        assert_eq!(sd.version, CmsVersion::V1);
        assert_eq!(sd.digest_algorithms.len(), 1);
        assert_eq!(sd.digest_algorithms.get(0).unwrap().oid, OID_SHA256);
        assert_eq!(sd.encap_content_info.econtent_type, OID_DATA);
        let econtent: OctetString = sd
            .encap_content_info
            .econtent
            .as_ref()
            .unwrap()
            .decode_as()
            .unwrap();
        assert_eq!(econtent.as_bytes(), content);

        let certs: Vec<_> = sd.certificates.as_ref().unwrap().0.iter().collect();
        assert_eq!(certs.len(), 2);
        let signer_cert = x509_cert::Certificate::from_der(pki.signer().cert_der()).unwrap();
        assert!(certs
            .iter()
            .any(|c| matches!(c, CertificateChoices::Certificate(c) if *c == signer_cert)));

        assert_eq!(sd.signer_infos.0.len(), 1);
        let si = sd.signer_infos.0.get(0).unwrap();
        assert_eq!(si.version, CmsVersion::V1);
        assert_eq!(si.signature_algorithm.oid, OID_ECDSA_WITH_SHA256);
        assert!(si.signature_algorithm.parameters.is_none());
        match &si.sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => {
                assert_eq!(ias.issuer, signer_cert.tbs_certificate.issuer);
                assert_eq!(ias.serial_number, signer_cert.tbs_certificate.serial_number);
            }
            other => panic!("unexpected sid {other:?}"),
        }
        let attrs = si.signed_attrs.as_ref().unwrap();
        let find = |oid| {
            attrs
                .iter()
                .find(|a| a.oid == oid)
                .unwrap()
                .values
                .get(0)
                .unwrap()
                .clone()
        };
        let ct: ObjectIdentifier = find(OID_CONTENT_TYPE).decode_as().unwrap();
        assert_eq!(ct, OID_DATA);
        let md: OctetString = find(OID_MESSAGE_DIGEST).decode_as().unwrap();
        assert_eq!(md.as_bytes(), crypto::sha256(content).as_slice());
        let st: UtcTime = find(OID_SIGNING_TIME).decode_as().unwrap();
        assert_eq!(st.to_unix_duration().as_secs(), 1_700_000_000);

        // The signature is over the DER SET OF encoding (tag 0x31) of the signed attributes.
        let signed = attrs.to_der().unwrap();
        assert_eq!(signed[0], 0x31);
        let spki = &signer_cert.tbs_certificate.subject_public_key_info;
        let pk = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, spki.subject_public_key.raw_bytes());
        pk.verify(&signed, si.signature.as_bytes()).unwrap();
        // Tampering with the attributes breaks it.
        let mut tampered = signed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(pk.verify(&tampered, si.signature.as_bytes()).is_err());
    }

    #[test]
    fn signer_is_issued_by_ca() {
        let pki = Pki::ephemeral(&["mdm.example.com".into()]).unwrap();
        let ca = x509_cert::Certificate::from_der(pki.ca_der()).unwrap();
        let signer = x509_cert::Certificate::from_der(pki.signer().cert_der()).unwrap();
        assert_eq!(signer.tbs_certificate.issuer, ca.tbs_certificate.subject);
        // Verify the signer certificate's signature with the CA key.
        let tbs = signer.tbs_certificate.to_der().unwrap();
        let ca_pk = UnparsedPublicKey::new(
            &ECDSA_P256_SHA256_ASN1,
            ca.tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes(),
        );
        ca_pk.verify(&tbs, signer.signature.raw_bytes()).unwrap();
        let fp = pki.ca_fingerprint();
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp
            .chars()
            .all(|c| c == ':' || c.is_ascii_digit() || ('A'..='F').contains(&c)));
    }

    #[test]
    fn load_or_create_persists_and_reuses() {
        let dir = temp_dir("persist");
        let a = Pki::load_or_create(&dir, &[]).unwrap();
        let b = Pki::load_or_create(&dir, &[]).unwrap();
        assert_eq!(a.ca_der(), b.ca_der());
        assert_eq!(a.server_cert_chain(), b.server_cert_chain());
        assert_eq!(a.signer().cert_der(), b.signer().cert_der());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for f in ["ca.key", "server.key", "signer.key"] {
                let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{f}");
            }
        }
        // New host name: same CA, new server certificate that still chains to the CA.
        let c = Pki::load_or_create(&dir, &["mdm.example.com".into()]).unwrap();
        assert_eq!(a.ca_der(), c.ca_der());
        assert_ne!(a.server_cert_chain(), c.server_cert_chain());
        let ca = x509_cert::Certificate::from_der(c.ca_der()).unwrap();
        let leaf = x509_cert::Certificate::from_der(&c.server_cert_chain()[0]).unwrap();
        assert_eq!(leaf.tbs_certificate.issuer, ca.tbs_certificate.subject);
        let ca_pk = UnparsedPublicKey::new(
            &ECDSA_P256_SHA256_ASN1,
            ca.tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes(),
        );
        ca_pk
            .verify(
                &leaf.tbs_certificate.to_der().unwrap(),
                leaf.signature.raw_bytes(),
            )
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
