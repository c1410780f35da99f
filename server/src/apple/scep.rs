//! SCEP (RFC 8894) CA operations: `GetCACaps`, `GetCACert` and `PKIOperation` (`PKCSReq`,
//! `RenewalReq`).
//!
//! A message whose signature does not verify, or that cannot be parsed, gets no `CertRep` (it
//! would be signed for an unauthenticated sender): the route answers 400. Every other refusal
//! is a signed `CertRep` FAILURE with a `failInfo`: `badAlg` for an unknown content cipher,
//! `badMessageCheck` for an envelope we cannot open or a CSR key that is not the signer's,
//! `badRequest` for a wrong, reused or expired challenge or a subject of another device,
//! `badTime` for a renewal signed with an expired certificate. A refusal changes nothing.

use super::{queries, AppleService, CLOSED_STATES};
use crate::crypto;
use crate::error::ApiError;
use enroll_mdm::cert::{parse_csr, ParsedCertificate};
use enroll_mdm::envelope::{parse_envelope, ContentCipher};
use enroll_mdm::key::DigestAlgorithm;
use enroll_mdm::scep::{self, CertRep, CertRepStatus, FailInfo, MessageType, PkiMessage};
use enroll_mdm::signed::Signer;
use enroll_mdm::MdmError;
use rusqlite::TransactionBehavior;
use std::time::{Duration, UNIX_EPOCH};
use x509_cert::name::Name;

/// The `GetCACaps` answer.
pub(super) const CA_CAPS: &str = "POSTPKIOperation\nSHA-256\nSHA-1\nAES\nDES3\nSCEPStandard\nRenewal\n";

/// Validity of an issued device identity, days.
const IDENTITY_DAYS: u64 = 365;

/// The single `CN` of a name made of one RDN with one attribute, else `None`.
fn single_cn(name: &Name) -> Option<String> {
    let rdns = &name.0;
    if rdns.len() != 1 {
        return None;
    }
    let atvs = rdns[0].0.as_slice();
    if atvs.len() != 1 || atvs[0].oid != enroll_mdm::oid::CN {
        return None;
    }
    let v = &atvs[0].value;
    std::str::from_utf8(v.value()).ok().map(str::to_owned)
}

/// Whether the issuance of a challenge still grants a certificate to `cn` at `now`: unused,
/// its enrollment open and unexpired, its device not closed, and `cn` that device.
fn grantable(iss: &queries::Issuance, now: i64, cn: &str) -> bool {
    !(iss.used
        || iss.closed
        || iss.expires_at <= now
        || CLOSED_STATES.contains(&iss.device_state.as_str())
        || !crypto::ct_eq_str(cn, &iss.device_id))
}

fn fail_for(e: &MdmError) -> FailInfo {
    match e {
        MdmError::UnexpectedOid { .. } | MdmError::Unsupported { .. } => FailInfo::BadAlg,
        _ => FailInfo::BadMessageCheck,
    }
}

/// What a request asks for, once decrypted and checked.
enum Grant {
    /// First enrollment with a live challenge.
    First {
        issuance: String,
        enrollment: String,
        device: String,
    },
    /// Renewal signed by the identity `serial` of `device`.
    Renewal { serial: String, device: String },
}

impl AppleService<'_> {
    /// `PKIOperation`: parses and verifies `body`, answers a DER `CertRep`.
    pub(crate) fn pki_operation(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let msg = scep::parse_pki_message(body)
            .map_err(|e| ApiError::bad_request(format!("PKIMessage refused: {e}")))?;
        let cipher = parse_envelope(&msg.content)
            .map(|e| e.cipher)
            .unwrap_or(ContentCipher::Aes128Cbc);
        let status = match self.process(&msg)? {
            Ok(cert) => CertRepStatus::Success(vec![cert]),
            Err(info) => {
                tracing::info!(fail_info = ?info, transaction = %msg.transaction_id, "SCEP request refused");
                CertRepStatus::Failure(info)
            }
        };
        let ca = self.pki.scep_ca();
        let digest = match msg.digest {
            DigestAlgorithm::Sha1 => DigestAlgorithm::Sha256,
            d => d,
        };
        let sender_nonce = enroll_mdm::key::random_bytes::<16>().map_err(|e| ApiError::internal(&e))?;
        let rep = CertRep {
            transaction_id: &msg.transaction_id,
            recipient_nonce: msg.sender_nonce.unwrap_or([0; 16]),
            sender_nonce,
            status: &status,
        };
        let signer = Signer {
            key: ca.key(),
            certificate: ca.cert_der(),
            digest,
        };
        scep::build_cert_rep(&rep, signer, &msg.signer.der, cipher).map_err(|e| ApiError::internal(&e))
    }

    /// Decrypts, checks and (when allowed) issues. `Ok(Err(_))` is a refusal to report.
    fn process(&self, msg: &PkiMessage) -> Result<Result<Vec<u8>, FailInfo>, ApiError> {
        let ca = self.pki.scep_ca();
        if !matches!(msg.message_type, MessageType::PkcsReq | MessageType::RenewalReq) {
            return Ok(Err(FailInfo::BadRequest));
        }
        let csr_der = match msg.decrypt_content(ca.key(), ca.cert_der()) {
            Ok(d) => d,
            Err(e) => return Ok(Err(fail_for(&e))),
        };
        let Ok(csr) = parse_csr(&csr_der) else {
            return Ok(Err(FailInfo::BadRequest));
        };
        let Some(cn) = single_cn(&csr.subject) else {
            return Ok(Err(FailInfo::BadRequest));
        };
        let now = self.now();
        let challenge_hash = if msg.message_type == MessageType::PkcsReq {
            // The transient signer must hold the requested key (proof of possession).
            let signer_key = msg.signer.public_key().map(|k| k.spki_der().to_vec());
            if signer_key.ok().as_deref() != Some(csr.public_key.as_slice()) {
                return Ok(Err(FailInfo::BadMessageCheck));
            }
            let Some(challenge) = csr.challenge.as_ref() else {
                return Ok(Err(FailInfo::BadRequest));
            };
            let hash = crypto::sha256(challenge.as_bytes());
            // A first look outside the store lock, so that a refused challenge costs no
            // signature; the transaction below decides.
            let seen = queries::issuance_by_challenge(&*self.read()?, &hash)?;
            if !seen.is_some_and(|iss| grantable(&iss, now, &cn)) {
                return Ok(Err(FailInfo::BadRequest));
            }
            Some(hash)
        } else {
            None
        };
        // The certificate is signed before the store lock is taken (an RSA signature would
        // hold every other writer back); it is recorded and returned only if the checks in
        // the transaction grant it, and discarded otherwise.
        let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0));
        let cert = ca.issue_identity(&csr.subject, &csr.public_key, at, IDENTITY_DAYS)?;
        let serial = crate::pki::serial_hex(&cert)?;
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let grant = if let Some(hash) = challenge_hash {
            let Some(iss) = queries::issuance_by_challenge(&tx, &hash)? else {
                return Ok(Err(FailInfo::BadRequest));
            };
            if !grantable(&iss, now, &cn) {
                return Ok(Err(FailInfo::BadRequest));
            }
            Grant::First {
                issuance: iss.uuid,
                enrollment: iss.enrollment_id,
                device: iss.device_id,
            }
        } else {
            match self.renewal_grant(&tx, &msg.signer, &cn, now)? {
                Ok(g) => g,
                Err(info) => return Ok(Err(info)),
            }
        };
        let not_after = now.saturating_add(i64::try_from(IDENTITY_DAYS * 86_400).unwrap_or(i64::MAX));
        match &grant {
            Grant::First {
                issuance,
                enrollment,
                device,
            } => {
                if !queries::use_challenge(&tx, issuance, now)? {
                    return Ok(Err(FailInfo::BadRequest));
                }
                queries::insert_identity(&tx, &serial, device, Some(enrollment), &cert, now, not_after)?;
            }
            Grant::Renewal { serial: old, device } => {
                queries::revoke_identity(&tx, old, now)?;
                queries::insert_identity(&tx, &serial, device, None, &cert, now, not_after)?;
            }
        }
        tx.commit()?;
        tracing::info!(serial = %serial, "SCEP identity issued");
        Ok(Ok(cert))
    }

    /// A `RenewalReq` is signed by a current identity of ours, for the same device.
    fn renewal_grant(
        &self,
        conn: &rusqlite::Connection,
        signer: &ParsedCertificate,
        cn: &str,
        now: i64,
    ) -> Result<Result<Grant, FailInfo>, ApiError> {
        let ca = self.pki.scep_ca().parsed()?;
        if signer.verify_signed_by(&ca).is_err() {
            return Ok(Err(FailInfo::BadMessageCheck));
        }
        let serial = crate::pki::serial_hex(&signer.der)?;
        let Some(id) = queries::identity(conn, &serial, &signer.der)? else {
            return Ok(Err(FailInfo::BadMessageCheck));
        };
        if id.not_after <= now {
            return Ok(Err(FailInfo::BadTime));
        }
        let state = queries::device_state(conn, &id.device_id)?;
        if id.revoked || id.device_id != cn || state.is_none_or(|s| CLOSED_STATES.contains(&s.as_str())) {
            return Ok(Err(FailInfo::BadRequest));
        }
        Ok(Ok(Grant::Renewal {
            serial,
            device: id.device_id,
        }))
    }
}
