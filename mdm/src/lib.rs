//! # enroll-mdm
//!
//! Apple MDM wire formats, shared by the device simulator (`enroll-sim`) and the reference
//! server, so that SCEP and CMS are written once:
//!
//! - [`scep`]: SCEP (RFC 8894) — `GetCACaps` ([`scep::CaCaps`]), `GetCACert`
//!   ([`scep::parse_ca_certs`]: one DER certificate or a certs-only SignedData), and the
//!   PKIMessage of `PKIOperation` (SignedData over EnvelopedData) for `PKCSReq`/`RenewalReq`
//!   and `CertRep` SUCCESS/FAILURE/PENDING with `failInfo`, `transactionID`,
//!   `senderNonce`/`recipientNonce`, `messageType` and `pkiStatus`; both the client and the CA
//!   side;
//! - [`signed`] and [`envelope`]: the CMS SignedData and EnvelopedData underneath;
//! - [`cert`]: names from a profile's SCEP `Subject`, certificates (request signers, CAs,
//!   issued identities) and PKCS #10 requests with a `challengePassword`;
//! - [`checkin`]: `Authenticate`, `TokenUpdate`, `CheckOut` as serde types;
//! - [`command`]: the command envelope `{CommandUUID, Command{RequestType, …}}` and the
//!   device's report `{UDID, Status, CommandUUID, ErrorChain, …}`;
//! - [`mdm_signature`]: the `Mdm-Signature` header (base64 detached CMS over the body), build
//!   and verify;
//! - [`key`]: RSA keys and digests.
//!
//! Every parser is bounded (input size, element counts, plist nesting) and fails with a typed
//! [`MdmError`] that names the structure and the fault, never the input bytes. The outer CMS
//! and CSR layers are walked in any `SET OF` order (Go peers do not sort their sets).
//!
//! ## Cryptography: what and why
//!
//! - **ASN.1**: RustCrypto `der`, `x509-cert`, `cms`, `spki` (already in the workspace).
//! - **RSA: aws-lc-rs** — key generation, PKCS #1 v1.5 signatures and verification, PKCS #1
//!   v1.5 encryption, and PKCS #1 v1.5 **decryption** (`rsa::Pkcs1PrivateDecryptingKey`), which
//!   AWS-LC performs in constant time. The pure-Rust `rsa` crate is not used: it carries
//!   RUSTSEC-2023-0071 (Marvin timing side channel on the private-key operation) with no
//!   fixed release, and a SCEP CA decrypts attacker-supplied envelopes. `ring` (used elsewhere
//!   in the workspace) cannot generate RSA keys nor decrypt. On top of AWS-LC's constant-time
//!   padding check, a failed key unwrap continues with a random key (RFC 3218 §2.3.2), so a
//!   bad key and a bad ciphertext end in the same [`MdmError::Decrypt`].
//! - **Signatures**: SHA-256 (SHA-384/512) with RSA are made and verified; SHA-1 with RSA is
//!   *verified* only (legacy peers), because aws-lc-rs offers no SHA-1 signing and RFC 8894
//!   deprecates it; requests are signed with SHA-256 (SHA-512 when advertised).
//! - **Content encryption**: AES-128/192/256-CBC through aws-lc-rs; DES-CBC and 3DES-CBC
//!   through RustCrypto `des` + `cbc` (legacy CAs). All are decrypted; requests are encrypted
//!   with the strongest the CA advertises (`AES`/`SCEPStandard` → AES-128-CBC as RFC 8894
//!   defines the capability, else `DES3` → 3DES, else DES).
//! - **Key generation time** (RSA-2048, [`key::RsaPrivateKey::generate`], measured on the
//!   2-core development VM while other builds ran at load average 5–13): about 85 ms of CPU per
//!   key (user time over 20 keys), 130–210 ms wall. Each simulated device generates its own
//!   key, so keygen is most of the simulator's ~110 ms of CPU per enrollment.

pub mod cert;
pub mod checkin;
pub mod command;
mod der_util;
pub mod envelope;
pub mod error;
pub mod key;
pub mod mdm_signature;
pub mod oid;
mod plist_util;
pub mod scep;
pub mod signed;

pub use error::{MdmError, Result};
