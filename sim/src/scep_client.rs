//! The SCEP client of a simulated device, as iOS and macOS run it for a
//! `com.apple.security.scep` payload: `GetCACaps`, `GetCACert`, then `PKIOperation` with a
//! `PKCSReq` (POST when the CA advertises `POSTPKIOperation`, else GET with the message in the
//! query), and the `CertRep` decrypted with the device key.

use crate::error::{wire, Result, SimError, Step};
use crate::http::Transport;
use crate::profile::ScepPayload;
use enroll_core::client::Method;
use enroll_mdm::cert::{
    build_csr, common_name, name_from_rdns, self_signed, CertificateKind, ParsedCertificate,
};
use enroll_mdm::key::{random_bytes, RsaPrivateKey};
use enroll_mdm::scep::{self, CaCaps, CertRepStatus, MessageType, Request};
use enroll_mdm::signed::Signer;
use std::time::Duration;

/// Largest `PKIOperation` reply read.
const MAX_CERTREP_BYTES: usize = 128 * 1024;

fn query(operation: &str, name: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("operation", operation);
    if let Some(name) = name {
        q.append_pair("message", name);
    }
    q.finish()
}

fn ok(step: Step, reply: &enroll_core::client::RawReply) -> Result<()> {
    if reply.is_success() {
        Ok(())
    } else {
        Err(SimError::Status {
            step,
            status: reply.status,
        })
    }
}

/// Enrolls `key` with the SCEP CA of `payload` and returns the issued certificate (DER).
/// `fallback_cn` is the subject's `CN` when the payload has no `Subject`.
pub async fn enroll(
    transport: &Transport,
    payload: &ScepPayload,
    key: &RsaPrivateKey,
    fallback_cn: &str,
) -> Result<Vec<u8>> {
    let name = payload.name.as_deref();
    let reply = transport
        .request(
            Step::CaCaps,
            Method::GET,
            &payload.url,
            Some(&query("GetCACaps", name)),
            &[],
            None,
            scep::MAX_CACAPS_BYTES,
        )
        .await?;
    // A CA without GetCACaps gets the RFC 8894 defaults (no capabilities).
    let caps = if reply.is_success() {
        CaCaps::parse(&reply.body).map_err(wire(Step::CaCaps))?
    } else {
        CaCaps::default()
    };

    let reply = transport
        .request(
            Step::CaCert,
            Method::GET,
            &payload.url,
            Some(&query("GetCACert", name)),
            &[],
            None,
            scep::MAX_CACERT_BYTES,
        )
        .await?;
    ok(Step::CaCert, &reply)?;
    let ca_certs =
        scep::parse_ca_certs(&reply.body, Some(&reply.content_type)).map_err(wire(Step::CaCert))?;
    let recipient = scep::recipient_certificate(&ca_certs).map_err(wire(Step::CaCert))?;

    let step = Step::PkiOperation;
    let subject = if payload.subject.is_empty() {
        common_name(fallback_cn)
    } else {
        name_from_rdns(&payload.subject)
    }
    .map_err(wire(step))?;
    let csr =
        build_csr(key, &subject, payload.challenge.as_deref().map(String::as_str)).map_err(wire(step))?;
    let signer_cert = self_signed(
        key,
        &subject,
        CertificateKind::RequestSigner,
        Duration::from_secs(86_400),
    )
    .map_err(wire(step))?;
    let transaction_id = scep::transaction_id(key.public_key_der());
    let sender_nonce = random_bytes::<16>().map_err(wire(step))?;
    let message = scep::build_request(
        &Request {
            message_type: MessageType::PkcsReq,
            transaction_id: &transaction_id,
            sender_nonce,
            csr: &csr,
        },
        Signer {
            key,
            certificate: &signer_cert,
            digest: caps.digest(),
        },
        recipient,
        caps.cipher(),
    )
    .map_err(wire(step))?;
    let reply = if caps.post() {
        transport
            .request(
                step,
                Method::POST,
                &payload.url,
                Some(&query("PKIOperation", None)),
                &[("content-type", "application/x-pki-message")],
                Some(message),
                MAX_CERTREP_BYTES,
            )
            .await?
    } else {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&message);
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("operation", "PKIOperation")
            .append_pair("message", &b64)
            .finish();
        transport
            .request(
                step,
                Method::GET,
                &payload.url,
                Some(&q),
                &[],
                None,
                MAX_CERTREP_BYTES,
            )
            .await?
    };
    ok(step, &reply)?;
    let rep = scep::parse_pki_message(&reply.body).map_err(wire(step))?;
    // The reply must come from the CA (or an RA it certified).
    let cas: Vec<ParsedCertificate> = ca_certs
        .iter()
        .filter_map(|c| ParsedCertificate::from_der(c).ok())
        .collect();
    let trusted = cas
        .iter()
        .any(|ca| ca.der == rep.signer.der || rep.signer.verify_signed_by(ca).is_ok());
    if !trusted {
        return Err(SimError::ScepUntrusted);
    }
    match rep
        .cert_rep(&transaction_id, &sender_nonce, key, &signer_cert)
        .map_err(wire(step))?
    {
        CertRepStatus::Success(certs) => scep::issued_for(&certs, key.public_key_der()).map_err(wire(step)),
        CertRepStatus::Failure(info) => Err(SimError::ScepFailure(info)),
        CertRepStatus::Pending => Err(SimError::ScepPending),
    }
}
