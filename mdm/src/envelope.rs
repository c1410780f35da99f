//! CMS `EnvelopedData` (RFC 5652 §6) with RSA key transport (PKCS #1 v1.5), as SCEP uses it:
//! the CSR travels encrypted to the CA, the issued certificate back to the requester.
//!
//! Content encryption: AES-128/192/256-CBC (aws-lc-rs), 3DES-CBC and DES-CBC (RustCrypto `des`
//! and `cbc`), all decrypted; [`ContentCipher::strongest`] picks what to encrypt with from a
//! CA's capabilities.
//!
//! Decryption is no padding oracle: when the RSA step fails (AWS-LC checks the PKCS #1 padding in
//! constant time) a random key of the right length takes the place of the content-encryption
//! key, so a bad key and a bad ciphertext both end in the one [`MdmError::Decrypt`]
//! (RFC 3218 §2.3.2).

use crate::cert::ParsedCertificate;
use crate::der_util::{self, ctx, elements, expect_tag, octets};
use crate::error::{der_err, malformed, MdmError, Result};
use crate::key::{random_bytes, RsaPrivateKey};
use crate::oid;
use crate::signed::{parse_content_info, MAX_CMS_BYTES};
use aws_lc_rs::cipher::{
    DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey,
    UnboundCipherKey, AES_128, AES_192, AES_256,
};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use der::asn1::{Any, Null, ObjectIdentifier, OctetString, SetOfVec};
use der::Tagged as _;
use der::{Decode, Encode, Tag};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

/// Most recipients read from one envelope.
pub const MAX_RECIPIENTS: usize = 8;

/// A content-encryption algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentCipher {
    /// AES-256-CBC.
    Aes256Cbc,
    /// AES-192-CBC.
    Aes192Cbc,
    /// AES-128-CBC (SCEP's `AES` capability, RFC 8894 §3.5.2).
    Aes128Cbc,
    /// DES-EDE3-CBC (SCEP's `DES3` capability).
    Des3Cbc,
    /// DES-CBC (what a CA advertising neither `AES` nor `DES3` supports).
    DesCbc,
}

impl ContentCipher {
    /// Its object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Aes256Cbc => oid::AES256_CBC,
            Self::Aes192Cbc => oid::AES192_CBC,
            Self::Aes128Cbc => oid::AES128_CBC,
            Self::Des3Cbc => oid::DES_EDE3_CBC,
            Self::DesCbc => oid::DES_CBC,
        }
    }

    /// The cipher named by `oid`.
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self> {
        Ok(match *oid {
            oid::AES256_CBC => Self::Aes256Cbc,
            oid::AES192_CBC => Self::Aes192Cbc,
            oid::AES128_CBC => Self::Aes128Cbc,
            oid::DES_EDE3_CBC => Self::Des3Cbc,
            oid::DES_CBC => Self::DesCbc,
            _ => {
                return Err(MdmError::Unsupported {
                    what: "content encryption algorithm",
                })
            }
        })
    }

    /// Key length, bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes256Cbc => 32,
            Self::Aes192Cbc | Self::Des3Cbc => 24,
            Self::Aes128Cbc => 16,
            Self::DesCbc => 8,
        }
    }

    /// IV (block) length, bytes.
    pub fn iv_len(self) -> usize {
        match self {
            Self::Aes256Cbc | Self::Aes192Cbc | Self::Aes128Cbc => 16,
            Self::Des3Cbc | Self::DesCbc => 8,
        }
    }

    /// The strongest cipher a CA supports: `aes` (the `AES` or `SCEPStandard` capability) gives
    /// AES-128-CBC, `des3` 3DES, neither DES (RFC 8894 §3.5.2).
    pub fn strongest(aes: bool, des3: bool) -> Self {
        if aes {
            Self::Aes128Cbc
        } else if des3 {
            Self::Des3Cbc
        } else {
            Self::DesCbc
        }
    }

    fn aes(self) -> Option<&'static aws_lc_rs::cipher::Algorithm> {
        match self {
            Self::Aes256Cbc => Some(&AES_256),
            Self::Aes192Cbc => Some(&AES_192),
            Self::Aes128Cbc => Some(&AES_128),
            Self::Des3Cbc | Self::DesCbc => None,
        }
    }

    fn encrypt(self, key: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let fail = |_| MdmError::Crypto("content encryption");
        if let Some(alg) = self.aes() {
            let iv: [u8; 16] = iv
                .try_into()
                .map_err(|_| MdmError::Crypto("content encryption"))?;
            let key = PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(alg, key).map_err(fail)?)
                .map_err(fail)?;
            let mut out = plaintext.to_vec();
            key.less_safe_encrypt(&mut out, EncryptionContext::Iv128(iv.into()))
                .map_err(fail)?;
            return Ok(out);
        }
        let fail = |_| MdmError::Crypto("content encryption");
        Ok(match self {
            Self::Des3Cbc => cbc::Encryptor::<des::TdesEde3>::new_from_slices(key, iv)
                .map_err(fail)?
                .encrypt_padded_vec_mut::<Pkcs7>(plaintext),
            _ => cbc::Encryptor::<des::Des>::new_from_slices(key, iv)
                .map_err(fail)?
                .encrypt_padded_vec_mut::<Pkcs7>(plaintext),
        })
    }

    fn decrypt(self, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if iv.len() != self.iv_len() || key.len() != self.key_len() || ciphertext.is_empty() {
            return Err(MdmError::Decrypt);
        }
        if ciphertext.len() % self.iv_len() != 0 {
            return Err(MdmError::Decrypt);
        }
        if let Some(alg) = self.aes() {
            let iv: [u8; 16] = iv.try_into().map_err(|_| MdmError::Decrypt)?;
            let key = UnboundCipherKey::new(alg, key)
                .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
                .map_err(|_| MdmError::Decrypt)?;
            let mut buf = Zeroizing::new(ciphertext.to_vec());
            let len = key
                .decrypt(&mut buf, DecryptionContext::Iv128(iv.into()))
                .map_err(|_| MdmError::Decrypt)?
                .len();
            buf.truncate(len);
            return Ok(buf);
        }
        let out = match self {
            Self::Des3Cbc => cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv)
                .map_err(|_| MdmError::Decrypt)?
                .decrypt_padded_vec_mut::<Pkcs7>(ciphertext),
            _ => cbc::Decryptor::<des::Des>::new_from_slices(key, iv)
                .map_err(|_| MdmError::Decrypt)?
                .decrypt_padded_vec_mut::<Pkcs7>(ciphertext),
        };
        out.map(Zeroizing::new).map_err(|_| MdmError::Decrypt)
    }
}

fn random_vec(len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let block = random_bytes::<32>()?;
    Ok(Zeroizing::new(block[..len.min(32)].to_vec()))
}

/// Encrypts `plaintext` to the holder of `recipient` (a DER certificate with an RSA key).
pub fn encrypt_envelope(plaintext: &[u8], recipient: &[u8], cipher: ContentCipher) -> Result<Vec<u8>> {
    let what = "EnvelopedData";
    let cert = ParsedCertificate::from_der(recipient)?;
    let key = random_vec(cipher.key_len())?;
    let iv = random_vec(cipher.iv_len())?;
    let ciphertext = cipher.encrypt(&key, &iv, plaintext)?;
    let enc_key = cert.public_key()?.encrypt_pkcs1(&key)?;
    let ktri = KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.cert.tbs_certificate.issuer.clone(),
            serial_number: cert.cert.tbs_certificate.serial_number.clone(),
        }),
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: oid::RSA_ENCRYPTION,
            parameters: Some(Any::encode_from(&Null).map_err(der_err(what))?),
        },
        enc_key: OctetString::new(enc_key).map_err(der_err(what))?,
    };
    let enveloped = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos(
            SetOfVec::try_from(vec![RecipientInfo::Ktri(ktri)]).map_err(der_err(what))?,
        ),
        encrypted_content: EncryptedContentInfo {
            content_type: oid::DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: cipher.oid(),
                parameters: Some(
                    Any::encode_from(&OctetString::new(iv.to_vec()).map_err(der_err(what))?)
                        .map_err(der_err(what))?,
                ),
            },
            encrypted_content: Some(OctetString::new(ciphertext).map_err(der_err(what))?),
        },
        unprotected_attrs: None,
    };
    ContentInfo {
        content_type: oid::ENVELOPED_DATA,
        content: Any::encode_from(&enveloped).map_err(der_err(what))?,
    }
    .to_der()
    .map_err(der_err(what))
}

/// What an envelope holds, before decryption.
#[derive(Debug, Clone)]
pub struct ParsedEnvelope {
    /// Key-transport recipients: who, and the encrypted key.
    pub recipients: Vec<(RecipientIdentifier, Vec<u8>)>,
    /// Content-encryption algorithm.
    pub cipher: ContentCipher,
    /// Its IV.
    pub iv: Vec<u8>,
    /// The encrypted content.
    pub ciphertext: Vec<u8>,
}

/// Parses a `ContentInfo` holding `EnvelopedData`, bounded (recipients in any order; other
/// recipient kinds than key transport are skipped).
pub fn parse_envelope(der: &[u8]) -> Result<ParsedEnvelope> {
    let what = "EnvelopedData";
    let env = parse_content_info(der, oid::ENVELOPED_DATA, what)?;
    let fields = elements(env.value(), what, 5)?;
    let mut it = fields.iter().peekable();
    let version = it.next().ok_or(malformed(what, "empty"))?;
    expect_tag(version, Tag::Integer, what)?;
    let _originator = it.next_if(|f| f.tag() == ctx(0, true));
    let infos = it.next().ok_or(malformed(what, "no recipient infos"))?;
    expect_tag(infos, Tag::Set, what)?;
    let mut recipients = Vec::new();
    for info in elements(infos.value(), what, MAX_RECIPIENTS)? {
        if info.tag() == Tag::Sequence {
            let ktri: KeyTransRecipientInfo = der_util::decode(&info, what)?;
            if ktri.key_enc_alg.oid != oid::RSA_ENCRYPTION {
                continue;
            }
            recipients.push((ktri.rid, ktri.enc_key.as_bytes().to_vec()));
        }
    }
    if recipients.is_empty() {
        return Err(MdmError::Missing {
            what: "key transport recipient",
        });
    }
    let eci = it.next().ok_or(malformed(what, "no encrypted content info"))?;
    expect_tag(eci, Tag::Sequence, what)?;
    let _unprotected = it.next_if(|f| f.tag() == ctx(1, true));
    if it.next().is_some() {
        return Err(malformed(what, "trailing fields"));
    }
    let parts = elements(eci.value(), what, 3)?;
    let [_content_type, alg, content] = parts.as_slice() else {
        return Err(malformed(what, "encrypted content info without content"));
    };
    let alg: AlgorithmIdentifierOwned = der_util::decode(alg, what)?;
    let cipher = ContentCipher::from_oid(&alg.oid)?;
    let iv = alg
        .parameters
        .as_ref()
        .ok_or(MdmError::Missing { what: "IV" })?
        .decode_as::<OctetString>()
        .map_err(der_err(what))?
        .as_bytes()
        .to_vec();
    if iv.len() != cipher.iv_len() {
        return Err(malformed(what, "IV of the wrong length"));
    }
    if content.tag() != ctx(0, false) && content.tag() != ctx(0, true) {
        return Err(malformed(what, "unexpected encrypted content tag"));
    }
    let ciphertext = octets(content, what, MAX_CMS_BYTES)?;
    Ok(ParsedEnvelope {
        recipients,
        cipher,
        iv,
        ciphertext,
    })
}

/// Decrypts an envelope addressed to `certificate` (DER) with its `key`.
pub fn decrypt_envelope(der: &[u8], key: &RsaPrivateKey, certificate: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let env = parse_envelope(der)?;
    let cert = x509_cert::Certificate::from_der(certificate).map_err(der_err("certificate"))?;
    let ours = IssuerAndSerialNumber {
        issuer: cert.tbs_certificate.issuer.clone(),
        serial_number: cert.tbs_certificate.serial_number.clone(),
    };
    let (_, enc_key) = env
        .recipients
        .iter()
        .find(|(rid, _)| matches!(rid, RecipientIdentifier::IssuerAndSerialNumber(ias) if *ias == ours))
        .ok_or(MdmError::NotForUs)?;
    env.decrypt_with(key, enc_key)
}

impl ParsedEnvelope {
    /// Decrypts with `key`, `enc_key` being one recipient's encrypted key.
    pub fn decrypt_with(&self, key: &RsaPrivateKey, enc_key: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let substitute = random_vec(self.cipher.key_len())?;
        let cek = match key.decrypt_pkcs1(enc_key) {
            Ok(k) if k.len() == self.cipher.key_len() => k,
            _ => substitute,
        };
        self.cipher.decrypt(&cek, &self.iv, &self.ciphertext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{common_name, self_signed, CertificateKind};
    use crate::key::RsaBits;
    use std::time::Duration;

    #[test]
    fn every_cipher_round_trips_and_tampering_fails_alike() {
        let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        let cert = self_signed(
            &key,
            &common_name("r").unwrap(),
            CertificateKind::RequestSigner,
            Duration::from_secs(60),
        )
        .unwrap();
        let other = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        let other_cert = self_signed(
            &other,
            &common_name("o").unwrap(),
            CertificateKind::RequestSigner,
            Duration::from_secs(60),
        )
        .unwrap();
        for cipher in [
            ContentCipher::Aes256Cbc,
            ContentCipher::Aes192Cbc,
            ContentCipher::Aes128Cbc,
            ContentCipher::Des3Cbc,
            ContentCipher::DesCbc,
        ] {
            for len in [0usize, 1, 15, 16, 17, 1000] {
                let pt = vec![0x5a; len];
                let env = encrypt_envelope(&pt, &cert, cipher).unwrap();
                assert_eq!(parse_envelope(&env).unwrap().cipher, cipher);
                assert_eq!(
                    decrypt_envelope(&env, &key, &cert).unwrap().as_slice(),
                    pt.as_slice()
                );
                assert_eq!(
                    decrypt_envelope(&env, &other, &other_cert).map(|_| ()),
                    Err(MdmError::NotForUs)
                );
                // The right recipient name but the wrong key, or a corrupted key: a random
                // content key stands in, so the result is the one generic error or (when the
                // random key's padding happens to check, ~1 in 256) garbage — never the content
                // and never a distinct error.
                let parsed = parse_envelope(&env).unwrap();
                let mut tampered = parsed.clone();
                tampered.recipients[0].1[5] ^= 1;
                for (env, key) in [(&parsed, &other), (&tampered, &key)] {
                    match env.decrypt_with(key, &env.recipients[0].1) {
                        Err(e) => assert_eq!(e, MdmError::Decrypt),
                        Ok(garbage) => assert_ne!(garbage.as_slice(), pt.as_slice()),
                    }
                }
            }
        }
        let env = encrypt_envelope(b"hello", &cert, ContentCipher::Aes128Cbc).unwrap();
        // The AES-128-CBC OID swapped for SHA-256's (same length): a wrong OID, refused by type.
        let aes = oid::AES128_CBC.to_der().unwrap();
        let sha = oid::SHA256.to_der().unwrap();
        let at = env.windows(aes.len()).position(|w| w == aes.as_slice()).unwrap();
        let mut wrong = env.clone();
        wrong[at..at + aes.len()].copy_from_slice(&sha);
        assert_eq!(
            parse_envelope(&wrong).map(|_| ()),
            Err(MdmError::Unsupported {
                what: "content encryption algorithm"
            })
        );
        // The envelope's content type swapped for SignedData's: not an envelope.
        let ty = oid::ENVELOPED_DATA.to_der().unwrap();
        let mut wrong = env.clone();
        wrong[4..4 + ty.len()].copy_from_slice(&oid::SIGNED_DATA.to_der().unwrap());
        assert!(matches!(
            parse_envelope(&wrong),
            Err(MdmError::UnexpectedOid { .. })
        ));
        for n in 0..env.len() {
            assert!(decrypt_envelope(&env[..n], &key, &cert).is_err());
        }
        assert!(matches!(
            ContentCipher::from_oid(&oid::SHA256),
            Err(MdmError::Unsupported { .. })
        ));
        assert_eq!(ContentCipher::strongest(true, true), ContentCipher::Aes128Cbc);
        assert_eq!(ContentCipher::strongest(false, true), ContentCipher::Des3Cbc);
        assert_eq!(ContentCipher::strongest(false, false), ContentCipher::DesCbc);
    }
}
