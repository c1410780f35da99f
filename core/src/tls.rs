//! TLS trust for the protocol client: custom CA roots, optional public roots, SPKI pinning.
//!
//! rustls with the `ring` provider, no OpenSSL. Pins are SHA-256 hashes of the server
//! certificate's SubjectPublicKeyInfo, written `sha256/<base64>` as in HPKP; a pin is checked
//! after the normal chain and hostname verification, never instead of it.

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;

/// A SHA-256 pin of a server's SubjectPublicKeyInfo.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SpkiPin(pub [u8; 32]);

impl std::fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sha256/{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }
}

impl SpkiPin {
    /// Parses `sha256/<base64>` (standard or URL-safe alphabet, padding optional).
    pub fn parse(text: &str) -> Result<Self, TlsError> {
        let b64 = text.trim().strip_prefix("sha256/").ok_or(TlsError::BadPin)?;
        let b64 = b64.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64))
            .map_err(|_| TlsError::BadPin)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| TlsError::BadPin)?;
        Ok(SpkiPin(arr))
    }

    /// The pin of a DER certificate's public key.
    pub fn of_certificate(cert_der: &[u8]) -> Result<Self, TlsError> {
        let cert = crate::asn1::Certificate::parse(cert_der).map_err(|_| TlsError::BadCertificate)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, cert.spki);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Ok(SpkiPin(out))
    }

    /// The `sha256/<base64>` text form.
    pub fn to_text(&self) -> String {
        format!("{self:?}")
    }
}

/// Errors in the TLS configuration itself (not in a handshake).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// A CA certificate could not be parsed or added.
    #[error("a trusted CA certificate is not valid DER/PEM X.509")]
    BadCertificate,
    /// A pin is not `sha256/<base64 of 32 bytes>`.
    #[error("an SPKI pin must be sha256/<base64 of 32 bytes>")]
    BadPin,
    /// No trust anchor at all.
    #[error("no trusted CA: give a CA certificate or enable public roots")]
    NoRoots,
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Config(String),
}

/// Marker error put inside rustls' `CertificateError::Other` when a pin does not match, so the
/// client can report a precise [`crate::Error::PinMismatch`].
#[derive(Debug)]
pub struct PinMismatchError;

impl std::fmt::Display for PinMismatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("server public key does not match the pinned SPKI hash")
    }
}

impl std::error::Error for PinMismatchError {}

/// Marker error put inside rustls' `CertificateError::Other` when an untrusted server
/// certificate is self-signed (its issuer is its subject), so the client can report a precise
/// [`crate::Error::CertificateSelfSigned`] instead of an unknown issuer.
#[derive(Debug)]
pub struct SelfSignedError;

impl std::fmt::Display for SelfSignedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("server certificate is self-signed")
    }
}

impl std::error::Error for SelfSignedError {}

/// Whether a DER certificate names itself as its issuer.
fn is_self_signed(der: &[u8]) -> bool {
    crate::asn1::Certificate::parse(der).is_ok_and(|c| c.issuer == c.subject)
}

/// Which servers the client trusts.
#[derive(Debug, Clone, Default)]
pub struct TrustConfig {
    /// Extra CA certificates (DER). The reference server prints its CA fingerprint and serves
    /// the certificate at `/ca.pem`.
    pub ca_certificates: Vec<Vec<u8>>,
    /// Also trust the public Web PKI roots (webpki-roots).
    pub public_roots: bool,
    /// SPKI pins; when non-empty the server's key must match one of them.
    pub spki_pins: Vec<SpkiPin>,
}

impl TrustConfig {
    /// Trust exactly one CA, given as PEM or DER.
    pub fn with_ca(ca: &[u8]) -> Result<Self, TlsError> {
        Ok(Self {
            ca_certificates: parse_certificates(ca)?,
            public_roots: false,
            spki_pins: Vec::new(),
        })
    }
}

/// Parses one or more certificates from PEM (or a single DER certificate).
pub fn parse_certificates(data: &[u8]) -> Result<Vec<Vec<u8>>, TlsError> {
    if data.starts_with(b"-----BEGIN") || data.iter().take(64).any(|b| *b == b'-') {
        let text = std::str::from_utf8(data).map_err(|_| TlsError::BadCertificate)?;
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
            let after = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
            let end = after
                .find("-----END CERTIFICATE-----")
                .ok_or(TlsError::BadCertificate)?;
            let b64: String = after[..end].chars().filter(|c| !c.is_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| TlsError::BadCertificate)?;
            crate::asn1::Certificate::parse(&der).map_err(|_| TlsError::BadCertificate)?;
            out.push(der);
            rest = &after[end..];
        }
        if out.is_empty() {
            return Err(TlsError::BadCertificate);
        }
        Ok(out)
    } else {
        crate::asn1::Certificate::parse(data).map_err(|_| TlsError::BadCertificate)?;
        Ok(vec![data.to_vec()])
    }
}

#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<SpkiPin>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| match e {
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
                    if is_self_signed(end_entity.as_ref()) =>
                {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                        Arc::new(SelfSignedError),
                    )))
                }
                other => other,
            })?;
        if self.pins.is_empty() {
            return Ok(verified);
        }
        let pin = SpkiPin::of_certificate(end_entity.as_ref())
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        if self.pins.iter().any(|p| crate::secret::ct_eq(&p.0, &pin.0)) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatchError))),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A key provider for a client that never authenticates with a key of its own: it loads none.
/// (ring's default one links RSA, ECDSA and Ed25519 signing, which the agent never uses.)
#[derive(Debug)]
struct NoClientKeys;

impl rustls::crypto::KeyProvider for NoClientKeys {
    fn load_private_key(
        &self,
        _key: rustls_pki_types::PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "TLS client keys are not used by the agent".into(),
        ))
    }
}

/// The agent's TLS primitives: ring; AES-GCM suites only (TLS 1.3 `TLS_AES_128_GCM_SHA256`,
/// which every TLS 1.3 server must support, and `TLS_AES_256_GCM_SHA384`; ECDHE with AES-GCM for
/// TLS 1.2); X25519, P-256 and P-384 key exchange; ring's verification algorithms; no private
/// keys. Leaving out ChaCha20-Poly1305 and the signing code keeps ~100 KB out of the mobile
/// library; phones and Macs have AES instructions.
///
/// Built from parts rather than from `rustls::crypto::ring::default_provider()`, whose cipher
/// suite list would keep every suite's code in the library.
pub fn crypto_provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::{cipher_suite as cs, kx_group};
    rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        key_provider: &NoClientKeys,
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &SystemRandom,
    }
}

/// The operating system's random generator, through ring.
#[derive(Debug)]
struct SystemRandom;

impl rustls::crypto::SecureRandom for SystemRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new()
            .fill(buf)
            .map_err(|_| rustls::crypto::GetRandomFailed)
    }
}

/// Server signatures the agent verifies (certificates and handshakes): ECDSA P-256/P-384,
/// Ed25519, RSA PSS and PKCS#1 v1.5 with SHA-2 (2048 to 8192-bit keys), as webpki does with ring.
static SIGNATURE_ALGORITHMS: rustls::crypto::WebPkiSupportedAlgorithms = {
    use rustls::SignatureScheme as S;
    use webpki::ring as alg;
    rustls::crypto::WebPkiSupportedAlgorithms {
        all: &[
            alg::ECDSA_P256_SHA256,
            alg::ECDSA_P256_SHA384,
            alg::ECDSA_P384_SHA256,
            alg::ECDSA_P384_SHA384,
            alg::ED25519,
            alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
            alg::RSA_PKCS1_2048_8192_SHA256,
            alg::RSA_PKCS1_2048_8192_SHA384,
            alg::RSA_PKCS1_2048_8192_SHA512,
            alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
        ],
        // TLS 1.2 does not tie the curve to the scheme; TLS 1.3 does.
        mapping: &[
            (
                S::ECDSA_NISTP384_SHA384,
                &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
            ),
            (
                S::ECDSA_NISTP256_SHA256,
                &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
            ),
            (S::ED25519, &[alg::ED25519]),
            (S::RSA_PSS_SHA512, &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY]),
            (S::RSA_PSS_SHA384, &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY]),
            (S::RSA_PSS_SHA256, &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY]),
            (S::RSA_PKCS1_SHA512, &[alg::RSA_PKCS1_2048_8192_SHA512]),
            (S::RSA_PKCS1_SHA384, &[alg::RSA_PKCS1_2048_8192_SHA384]),
            (S::RSA_PKCS1_SHA256, &[alg::RSA_PKCS1_2048_8192_SHA256]),
        ],
    }
};

/// Builds the rustls client configuration ([`crypto_provider`], TLS 1.2+).
pub fn client_config(trust: &TrustConfig) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(crypto_provider());
    let mut roots = RootCertStore::empty();
    for der in &trust.ca_certificates {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|_| TlsError::BadCertificate)?;
    }
    if trust.public_roots {
        #[cfg(feature = "public-roots")]
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        #[cfg(not(feature = "public-roots"))]
        return Err(TlsError::Config(
            "public roots are not compiled in (feature public-roots)".into(),
        ));
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    // The web PKI verifier, wrapped to name a self-signed certificate and to check the pins
    // (when there are any) after it.
    #[cfg_attr(not(feature = "http2"), allow(unused_mut))]
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinningVerifier {
            inner,
            pins: trust.spki_pins.clone(),
        }))
        .with_no_client_auth();
    // reqwest leaves a preconfigured rustls config's ALPN alone: without this the agent would
    // speak HTTP/1.1 only, and a request sent the moment the previous reply was read can find
    // the pooled connection not yet back and open a second TLS connection. With HTTP/2 every
    // request of an enrollment shares the first connection (a server without h2 still gets
    // HTTP/1.1).
    #[cfg(feature = "http2")]
    {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_offers_http2_then_http1_when_built_with_http2() {
        let der = rcgen::generate_simple_self_signed(vec!["localhost".into()])
            .unwrap()
            .cert
            .der()
            .to_vec();
        let trust = TrustConfig {
            ca_certificates: vec![der],
            ..TrustConfig::default()
        };
        let config = client_config(&trust).unwrap();
        let want: Vec<Vec<u8>> = if cfg!(feature = "http2") {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            Vec::new()
        };
        assert_eq!(config.alpn_protocols, want);
    }

    #[test]
    fn the_provider_offers_aes_gcm_only_and_loads_no_keys() {
        let p = crypto_provider();
        // The same verification algorithms as ring's default provider.
        let ring_default = rustls::crypto::ring::default_provider();
        assert_eq!(
            p.signature_verification_algorithms.supported_schemes(),
            ring_default.signature_verification_algorithms.supported_schemes()
        );
        let mut bytes = [0u8; 32];
        p.secure_random.fill(&mut bytes).unwrap();
        assert_ne!(bytes, [0u8; 32]);
        assert!(!p.cipher_suites.is_empty());
        for suite in &p.cipher_suites {
            let name = format!("{:?}", suite.suite());
            assert!(
                name.contains("AES_128_GCM") || name.contains("AES_256_GCM"),
                "{name}"
            );
        }
        assert!(p
            .cipher_suites
            .iter()
            .any(|s| s.suite() == rustls::CipherSuite::TLS13_AES_128_GCM_SHA256));
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(vec![0x30, 0x00].into());
        assert!(p.key_provider.load_private_key(key).is_err());
        assert!(p.kx_groups.iter().any(|g| g.name() == rustls::NamedGroup::X25519));
    }

    #[test]
    fn pin_parsing() {
        let pin = SpkiPin([7u8; 32]);
        assert_eq!(SpkiPin::parse(&pin.to_text()).unwrap(), pin);
        assert_eq!(SpkiPin::parse("sha1/AAAA"), Err(TlsError::BadPin));
        assert_eq!(SpkiPin::parse("sha256/AAAA"), Err(TlsError::BadPin));
        assert_eq!(SpkiPin::parse("sha256/!!!"), Err(TlsError::BadPin));
    }

    #[test]
    fn hostile_certificates_are_rejected() {
        assert_eq!(parse_certificates(b"garbage"), Err(TlsError::BadCertificate));
        assert_eq!(
            parse_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(TlsError::BadCertificate)
        );
        assert_eq!(
            parse_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA"),
            Err(TlsError::BadCertificate)
        );
        assert!(matches!(
            client_config(&TrustConfig::default()),
            Err(TlsError::NoRoots)
        ));
    }
}
