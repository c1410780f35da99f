//! Object identifiers of CMS, PKCS #9, X.509 and SCEP used by this crate.

use der::asn1::ObjectIdentifier as Oid;

/// `id-data` (CMS content type).
pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
/// `id-signedData`.
pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// `id-envelopedData`.
pub const ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");

/// PKCS #9 `contentType` attribute.
pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
/// PKCS #9 `messageDigest` attribute.
pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// PKCS #9 `signingTime` attribute.
pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
/// PKCS #9 `challengePassword` attribute (CSR).
pub const CHALLENGE_PASSWORD: Oid = Oid::new_unwrap("1.2.840.113549.1.9.7");
/// PKCS #9 `extensionRequest` attribute (CSR).
pub const EXTENSION_REQUEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.14");
/// PKCS #9 `emailAddress` name attribute.
pub const EMAIL_ADDRESS: Oid = Oid::new_unwrap("1.2.840.113549.1.9.1");

/// `rsaEncryption`.
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// `sha1WithRSAEncryption`.
pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
/// `sha256WithRSAEncryption`.
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
/// `sha384WithRSAEncryption`.
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
/// `sha512WithRSAEncryption`.
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
/// SHA-1.
pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
/// SHA-256.
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
/// SHA-384.
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
/// SHA-512.
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

/// DES-CBC.
pub const DES_CBC: Oid = Oid::new_unwrap("1.3.14.3.2.7");
/// DES-EDE3-CBC (3DES).
pub const DES_EDE3_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.7");
/// AES-128-CBC.
pub const AES128_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.2");
/// AES-192-CBC.
pub const AES192_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.22");
/// AES-256-CBC.
pub const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");

/// SCEP `messageType` attribute.
pub const SCEP_MESSAGE_TYPE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.2");
/// SCEP `pkiStatus` attribute.
pub const SCEP_PKI_STATUS: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.3");
/// SCEP `failInfo` attribute.
pub const SCEP_FAIL_INFO: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.4");
/// SCEP `senderNonce` attribute.
pub const SCEP_SENDER_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.5");
/// SCEP `recipientNonce` attribute.
pub const SCEP_RECIPIENT_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.6");
/// SCEP `transactionID` attribute.
pub const SCEP_TRANSACTION_ID: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.7");

/// X.500 `commonName`.
pub const CN: Oid = Oid::new_unwrap("2.5.4.3");
/// X.500 `serialNumber`.
pub const SERIAL_NUMBER: Oid = Oid::new_unwrap("2.5.4.5");
/// X.500 `countryName`.
pub const C: Oid = Oid::new_unwrap("2.5.4.6");
/// X.500 `localityName`.
pub const L: Oid = Oid::new_unwrap("2.5.4.7");
/// X.500 `stateOrProvinceName`.
pub const ST: Oid = Oid::new_unwrap("2.5.4.8");
/// X.500 `organizationName`.
pub const O: Oid = Oid::new_unwrap("2.5.4.10");
/// X.500 `organizationalUnitName`.
pub const OU: Oid = Oid::new_unwrap("2.5.4.11");
/// `domainComponent`.
pub const DC: Oid = Oid::new_unwrap("0.9.2342.19200300.100.1.25");
/// `userId`.
pub const UID: Oid = Oid::new_unwrap("0.9.2342.19200300.100.1.1");

/// `basicConstraints` extension.
pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
/// `keyUsage` extension.
pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
/// `extKeyUsage` extension.
pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
/// `subjectKeyIdentifier` extension.
pub const SUBJECT_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.14");
/// `id-kp-clientAuth`.
pub const KP_CLIENT_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.2");
