//! RSA keys and digests, through aws-lc-rs.
//!
//! - [`RsaPrivateKey`]: key generation, PKCS #8 import/export, PKCS #1 v1.5 signatures
//!   (SHA-256/384/512; aws-lc-rs offers no SHA-1 *signing*) and PKCS #1 v1.5 decryption, which
//!   AWS-LC performs in constant time;
//! - [`RsaPublicKey`]: PKCS #1 v1.5 verification (SHA-1 for legacy peers, SHA-256/384/512) and
//!   encryption, from a `SubjectPublicKeyInfo`;
//! - [`DigestAlgorithm`]: the digests of CMS and SCEP.
//!
//! Keys under 2048 bits are refused for signatures and encryption.

use crate::error::{der_err, MdmError, Result};
use crate::oid;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeyPair, KeySize, Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey};
use der::asn1::ObjectIdentifier;
use der::Decode;
use zeroize::Zeroizing;

/// A digest algorithm of CMS signatures and SCEP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// SHA-1 (legacy SCEP peers; verification only).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// Its object identifier (as in `digestAlgorithm`).
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oid::SHA1,
            Self::Sha256 => oid::SHA256,
            Self::Sha384 => oid::SHA384,
            Self::Sha512 => oid::SHA512,
        }
    }

    /// The digest named by `oid`.
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self> {
        Ok(match *oid {
            oid::SHA1 => Self::Sha1,
            oid::SHA256 => Self::Sha256,
            oid::SHA384 => Self::Sha384,
            oid::SHA512 => Self::Sha512,
            _ => {
                return Err(MdmError::Unsupported {
                    what: "digest algorithm",
                })
            }
        })
    }

    /// `sha…WithRSAEncryption` for this digest.
    pub fn rsa_signature_oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oid::SHA1_WITH_RSA,
            Self::Sha256 => oid::SHA256_WITH_RSA,
            Self::Sha384 => oid::SHA384_WITH_RSA,
            Self::Sha512 => oid::SHA512_WITH_RSA,
        }
    }

    /// The digest of a `sha…WithRSAEncryption` signature algorithm.
    pub fn from_rsa_signature_oid(oid: &ObjectIdentifier) -> Result<Self> {
        Ok(match *oid {
            oid::SHA1_WITH_RSA => Self::Sha1,
            oid::SHA256_WITH_RSA => Self::Sha256,
            oid::SHA384_WITH_RSA => Self::Sha384,
            oid::SHA512_WITH_RSA => Self::Sha512,
            _ => {
                return Err(MdmError::Unsupported {
                    what: "signature algorithm",
                })
            }
        })
    }

    fn algorithm(self) -> &'static aws_lc_rs::digest::Algorithm {
        match self {
            Self::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &aws_lc_rs::digest::SHA256,
            Self::Sha384 => &aws_lc_rs::digest::SHA384,
            Self::Sha512 => &aws_lc_rs::digest::SHA512,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        aws_lc_rs::digest::digest(self.algorithm(), data)
            .as_ref()
            .to_vec()
    }
}

/// RSA key sizes for [`RsaPrivateKey::generate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaBits {
    /// 2048 bits (what iOS and macOS generate for SCEP unless told otherwise).
    Rsa2048,
    /// 3072 bits.
    Rsa3072,
    /// 4096 bits.
    Rsa4096,
}

impl RsaBits {
    /// The size for a profile's `Keysize` (1024 and below are refused).
    pub fn from_bits(bits: u64) -> Result<Self> {
        match bits {
            2048 => Ok(Self::Rsa2048),
            3072 => Ok(Self::Rsa3072),
            4096 => Ok(Self::Rsa4096),
            _ => Err(MdmError::Unsupported { what: "RSA key size" }),
        }
    }
}

/// An RSA private key. `Debug` shows the size only; the key material stays inside AWS-LC.
pub struct RsaPrivateKey {
    pair: KeyPair,
    decrypting: Pkcs1PrivateDecryptingKey,
    spki: Vec<u8>,
}

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("bits", &(self.pair.public_modulus_len() * 8))
            .finish_non_exhaustive()
    }
}

impl RsaPrivateKey {
    /// Generates a key (a 2048-bit key takes ~0.1 s on one core, see the crate docs).
    pub fn generate(bits: RsaBits) -> Result<Self> {
        let size = match bits {
            RsaBits::Rsa2048 => KeySize::Rsa2048,
            RsaBits::Rsa3072 => KeySize::Rsa3072,
            RsaBits::Rsa4096 => KeySize::Rsa4096,
        };
        let pair = KeyPair::generate(size).map_err(|_| MdmError::Crypto("RSA key generation"))?;
        Self::from_pair(pair)
    }

    /// Imports a PKCS #8 (`PrivateKeyInfo`) DER key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let pair = KeyPair::from_pkcs8(der).map_err(|_| MdmError::Malformed {
            what: "RSA private key",
            reason: "not a PKCS #8 RSA key",
        })?;
        Self::from_pair(pair)
    }

    fn from_pair(pair: KeyPair) -> Result<Self> {
        if pair.public_modulus_len() < 256 {
            return Err(MdmError::Unsupported { what: "RSA key size" });
        }
        let pkcs8 = pair.as_der().map_err(|_| MdmError::Crypto("RSA key export"))?;
        let decrypting = PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref())
            .ok()
            .and_then(|k| Pkcs1PrivateDecryptingKey::new(k).ok())
            .ok_or(MdmError::Crypto("RSA decryption key"))?;
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| MdmError::Crypto("RSA public key export"))?
            .as_ref()
            .to_vec();
        Ok(Self {
            pair,
            decrypting,
            spki,
        })
    }

    /// The key as PKCS #8 DER (zeroized when dropped).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let der = self
            .pair
            .as_der()
            .map_err(|_| MdmError::Crypto("RSA key export"))?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    /// The public key as a DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// The public half.
    pub fn public_key(&self) -> Result<RsaPublicKey> {
        RsaPublicKey::from_spki_der(&self.spki)
    }

    /// Size of a signature (the modulus), bytes.
    pub fn modulus_len(&self) -> usize {
        self.pair.public_modulus_len()
    }

    /// A PKCS #1 v1.5 signature of `message` with `digest` (SHA-1 is refused: aws-lc-rs does
    /// not sign with it, and RFC 8894 deprecates it).
    pub fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> Result<Vec<u8>> {
        let encoding: &'static dyn signature::RsaEncoding = match digest {
            DigestAlgorithm::Sha1 => {
                return Err(MdmError::Unsupported {
                    what: "SHA-1 signing",
                })
            }
            DigestAlgorithm::Sha256 => &signature::RSA_PKCS1_SHA256,
            DigestAlgorithm::Sha384 => &signature::RSA_PKCS1_SHA384,
            DigestAlgorithm::Sha512 => &signature::RSA_PKCS1_SHA512,
        };
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(encoding, &aws_lc_rs::rand::SystemRandom::new(), message, &mut sig)
            .map_err(|_| MdmError::Crypto("RSA signature"))?;
        Ok(sig)
    }

    /// PKCS #1 v1.5 decryption (constant-time in AWS-LC). Every failure is the same
    /// [`MdmError::Decrypt`].
    pub fn decrypt_pkcs1(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if ciphertext.len() != self.decrypting.key_size_bytes() {
            return Err(MdmError::Decrypt);
        }
        let mut out = Zeroizing::new(vec![0u8; self.decrypting.min_output_size()]);
        let len = self
            .decrypting
            .decrypt(ciphertext, &mut out)
            .map_err(|_| MdmError::Decrypt)?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

/// An RSA public key (from a `SubjectPublicKeyInfo`).
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    spki: Vec<u8>,
    /// The PKCS #1 `RSAPublicKey` inside it.
    pkcs1: Vec<u8>,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaPublicKey")
            .field("spki_len", &self.spki.len())
            .finish()
    }
}

impl RsaPublicKey {
    /// Reads a DER `SubjectPublicKeyInfo` of algorithm `rsaEncryption`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let what = "SubjectPublicKeyInfo";
        let info = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(der_err(what))?;
        if info.algorithm.oid != oid::RSA_ENCRYPTION {
            return Err(MdmError::Unsupported {
                what: "public key algorithm (RSA only)",
            });
        }
        let pkcs1 = info
            .subject_public_key
            .as_bytes()
            .ok_or(MdmError::Malformed {
                what,
                reason: "bit string with unused bits",
            })?
            .to_vec();
        let key = Self {
            spki: der.to_vec(),
            pkcs1,
        };
        // Refuse small keys up front (encryption and verification both need ≥ 2048 bits).
        let enc = key.encrypting()?;
        if enc.key_size_bits() < 2048 {
            return Err(MdmError::Unsupported { what: "RSA key size" });
        }
        Ok(key)
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    fn encrypting(&self) -> Result<Pkcs1PublicEncryptingKey> {
        PublicEncryptingKey::from_der(&self.spki)
            .ok()
            .and_then(|k| Pkcs1PublicEncryptingKey::new(k).ok())
            .ok_or(MdmError::Malformed {
                what: "SubjectPublicKeyInfo",
                reason: "not a usable RSA key",
            })
    }

    /// Verifies a PKCS #1 v1.5 signature.
    pub fn verify(&self, digest: DigestAlgorithm, message: &[u8], signature: &[u8]) -> Result<()> {
        let alg: &'static signature::RsaParameters = match digest {
            DigestAlgorithm::Sha1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            DigestAlgorithm::Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            DigestAlgorithm::Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            DigestAlgorithm::Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        };
        UnparsedPublicKey::new(alg, &self.pkcs1)
            .verify(message, signature)
            .map_err(|_| MdmError::BadSignature)
    }

    /// PKCS #1 v1.5 encryption of a short secret (a content-encryption key).
    pub fn encrypt_pkcs1(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let key = self.encrypting()?;
        let mut out = vec![0u8; key.ciphertext_size()];
        let len = key
            .encrypt(plaintext, &mut out)
            .map_err(|_| MdmError::Crypto("RSA encryption"))?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

/// Fills a buffer with random bytes from the system generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| MdmError::Crypto("random generator"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_encrypt_decrypt_round_trip() {
        let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        let public = key.public_key().unwrap();
        let sig = key.sign(DigestAlgorithm::Sha256, b"hello").unwrap();
        public.verify(DigestAlgorithm::Sha256, b"hello", &sig).unwrap();
        assert_eq!(
            public.verify(DigestAlgorithm::Sha256, b"hellO", &sig),
            Err(MdmError::BadSignature)
        );
        assert_eq!(
            public.verify(DigestAlgorithm::Sha1, b"hello", &sig),
            Err(MdmError::BadSignature)
        );
        assert!(key.sign(DigestAlgorithm::Sha1, b"x").is_err());
        let ct = public.encrypt_pkcs1(&[7u8; 32]).unwrap();
        assert_eq!(key.decrypt_pkcs1(&ct).unwrap().as_slice(), &[7u8; 32]);
        let mut bad = ct.clone();
        bad[10] ^= 1;
        // A corrupted ciphertext fails (or, about once in 2^16, decrypts to other bytes).
        match key.decrypt_pkcs1(&bad) {
            Err(e) => assert_eq!(e, MdmError::Decrypt),
            Ok(other) => assert_ne!(other.as_slice(), &[7u8; 32]),
        }
        assert_eq!(key.decrypt_pkcs1(&ct[1..]).map(|_| ()), Err(MdmError::Decrypt));
        let again = RsaPrivateKey::from_pkcs8_der(&key.to_pkcs8_der().unwrap()).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der());
        assert!(!format!("{key:?}").contains("pkcs"));
    }

    /// `cargo test -p enroll-mdm keygen_time -- --ignored --nocapture`
    #[test]
    #[ignore = "timing, not a test"]
    fn keygen_time() {
        let n = 20;
        let start = std::time::Instant::now();
        for _ in 0..n {
            RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        }
        println!("RSA-2048 keygen: {:?} mean over {n}", start.elapsed() / n);
    }

    #[test]
    fn hostile_keys_are_refused() {
        assert!(RsaPublicKey::from_spki_der(b"").is_err());
        assert!(RsaPublicKey::from_spki_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        assert!(RsaPrivateKey::from_pkcs8_der(&[0x30, 0x00]).is_err());
        assert!(RsaBits::from_bits(1024).is_err());
    }
}
