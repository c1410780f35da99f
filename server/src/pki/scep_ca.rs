//! The SCEP issuing CA: an RSA-2048 CA certificate issued by the (EC P-256) root, so that
//! whoever trusts the root trusts the device identities it issues. SCEP clients encrypt their
//! requests to it (RSA key transport), which an EC root cannot receive.
//!
//! Files in the data directory: `scep-ca.pem` (certificate) and `scep-ca.key` (PKCS #8 PEM,
//! mode 0600). A new root removes them (see [`super::Pki::load_or_create`]); they are re-issued
//! when the certificate expires within 30 days.
//!
//! RSA is done by AWS-LC through `enroll_mdm::key` (key generation, signatures and the
//! constant-time PKCS #1 v1.5 decryption of request envelopes); the root signs the SCEP CA
//! certificate with `rcgen`.

use super::{gen_err, io_err, now_odt, pem_decode, pem_encode, random_serial, secs_to_expiry};
use super::{CaMaterial, PkiError, RENEW_BEFORE_DAYS};
use crate::crypto;
use der::Decode;
use enroll_mdm::cert::{build_certificate, CertificateKind, CertificateSpec, ParsedCertificate};
use enroll_mdm::key::{RsaBits, RsaPrivateKey};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyUsagePurpose,
    PublicKeyData, SignatureAlgorithm, PKCS_RSA_SHA256,
};
use std::path::Path;
use std::time::{Duration, SystemTime};
use x509_cert::name::Name;

/// Validity of the SCEP CA certificate, days.
const SCEP_CA_DAYS: i64 = 1825;

/// The RSA issuing CA of device identities (SCEP).
pub struct ScepCa {
    key: RsaPrivateKey,
    cert_der: Vec<u8>,
    name: Name,
}

impl std::fmt::Debug for ScepCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScepCa")
            .field("subject", &self.name.to_string())
            .finish_non_exhaustive()
    }
}

/// An RSA public key as `rcgen` wants it (the root signs it).
struct RsaSpki {
    raw: Vec<u8>,
}

impl PublicKeyData for RsaSpki {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_RSA_SHA256
    }
}

fn invalid(what: &str) -> impl FnOnce(enroll_mdm::MdmError) -> PkiError + '_ {
    move |e| PkiError::Invalid(format!("{what}: {e}"))
}

fn issue(root: &CaMaterial) -> Result<(RsaPrivateKey, Vec<u8>), PkiError> {
    let key = RsaPrivateKey::generate(RsaBits::Rsa2048).map_err(|e| PkiError::Generate(e.to_string()))?;
    let spki = spki::SubjectPublicKeyInfoRef::from_der(key.public_key_der())
        .map_err(|e| PkiError::Generate(e.to_string()))?;
    let raw = spki.subject_public_key.raw_bytes().to_vec();
    let mut params = CertificateParams::default();
    let id = hex::encode(&crypto::sha256(key.public_key_der())[..4]);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("enroll SCEP CA {id}"));
    dn.push(DnType::OrganizationName, "enroll");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    params.not_before = now_odt() - time::Duration::days(1);
    params.not_after = now_odt() + time::Duration::days(SCEP_CA_DAYS);
    let issuer = Issuer::from_params(&root.params, &root.key);
    let cert = params.signed_by(&RsaSpki { raw }, &issuer).map_err(gen_err)?;
    Ok((key, cert.der().to_vec()))
}

impl ScepCa {
    /// Loads `scep-ca.pem` / `scep-ca.key` from `dir`, or issues a new SCEP CA from `root`.
    pub(super) fn load_or_create(dir: &Path, root: &CaMaterial) -> Result<Self, PkiError> {
        let cert_path = dir.join("scep-ca.pem");
        let key_path = dir.join("scep-ca.key");
        if cert_path.exists() && key_path.exists() {
            let cert_der = pem_decode(
                &std::fs::read_to_string(&cert_path).map_err(io_err(&cert_path))?,
                "CERTIFICATE",
            )?;
            let key_der = zeroize::Zeroizing::new(pem_decode(
                &std::fs::read_to_string(&key_path).map_err(io_err(&key_path))?,
                "PRIVATE KEY",
            )?);
            if secs_to_expiry(&cert_der)? > RENEW_BEFORE_DAYS * 86_400 {
                let key = RsaPrivateKey::from_pkcs8_der(&key_der).map_err(invalid("scep-ca.key"))?;
                return Self::new(key, cert_der);
            }
            tracing::info!("re-issuing the SCEP CA certificate (expiry near)");
        }
        let (key, cert_der) = issue(root)?;
        let pkcs8 = key.to_pkcs8_der().map_err(invalid("SCEP CA key"))?;
        let key_pem = zeroize::Zeroizing::new(pem_encode(&pkcs8, "PRIVATE KEY"));
        crypto::write_private(&key_path, key_pem.as_bytes()).map_err(io_err(&key_path))?;
        crypto::write_public(&cert_path, pem_encode(&cert_der, "CERTIFICATE").as_bytes())
            .map_err(io_err(&cert_path))?;
        Self::new(key, cert_der)
    }

    /// A SCEP CA in memory only.
    pub(super) fn ephemeral(root: &CaMaterial) -> Result<Self, PkiError> {
        let (key, cert_der) = issue(root)?;
        Self::new(key, cert_der)
    }

    fn new(key: RsaPrivateKey, cert_der: Vec<u8>) -> Result<Self, PkiError> {
        let parsed = ParsedCertificate::from_der(&cert_der).map_err(invalid("scep-ca.pem"))?;
        let public = parsed.public_key().map_err(invalid("scep-ca.pem"))?;
        if public.spki_der() != key.public_key_der() {
            return Err(PkiError::Invalid("scep-ca.key does not match scep-ca.pem".into()));
        }
        let name = parsed.cert.tbs_certificate.subject.clone();
        Ok(Self { key, cert_der, name })
    }

    /// DER of the SCEP CA certificate.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The SCEP CA's RSA key (decrypts request envelopes, signs replies and certificates).
    pub fn key(&self) -> &RsaPrivateKey {
        &self.key
    }

    /// The certificate, parsed.
    pub fn parsed(&self) -> Result<ParsedCertificate, PkiError> {
        ParsedCertificate::from_der(&self.cert_der).map_err(invalid("scep-ca.pem"))
    }

    /// Issues a device identity (`clientAuth`) for `subject` and `public_key` (a DER
    /// `SubjectPublicKeyInfo`), valid from an hour before `now` for `days`.
    pub fn issue_identity(
        &self,
        subject: &Name,
        public_key: &[u8],
        now: SystemTime,
        days: u64,
    ) -> Result<Vec<u8>, PkiError> {
        let spec = CertificateSpec {
            subject: subject.clone(),
            subject_public_key: public_key.to_vec(),
            not_before: now - Duration::from_secs(3600),
            not_after: now + Duration::from_secs(days * 86_400),
            kind: CertificateKind::ClientIdentity,
        };
        build_certificate(&spec, &self.name, &self.key).map_err(|e| PkiError::Sign(e.to_string()))
    }
}

/// The serial number of a DER certificate, lower-case hex.
pub fn serial_hex(cert_der: &[u8]) -> Result<String, PkiError> {
    let cert = x509_cert::Certificate::from_der(cert_der).map_err(|e| PkiError::Invalid(e.to_string()))?;
    Ok(hex::encode(cert.tbs_certificate.serial_number.as_bytes()))
}

/// PEM of a DER certificate.
pub fn cert_pem(der: &[u8]) -> String {
    pem_encode(der, "CERTIFICATE")
}
