use super::*;
use crate::cert::{build_csr, common_name, parse_csr, self_signed, CertificateKind, CertificateSpec};
use crate::key::RsaBits;
use std::time::{Duration, SystemTime};

struct Ca {
    key: RsaPrivateKey,
    cert: Vec<u8>,
}

fn ca() -> Ca {
    let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
    let cert = self_signed(
        &key,
        &common_name("SCEP CA").unwrap(),
        CertificateKind::Ca,
        Duration::from_secs(3600),
    )
    .unwrap();
    Ca { key, cert }
}

fn request(ca: &Ca, cipher: ContentCipher) -> (RsaPrivateKey, Vec<u8>, String, [u8; 16], Vec<u8>) {
    let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
    let subject = common_name("device").unwrap();
    let signer_cert = self_signed(
        &key,
        &subject,
        CertificateKind::RequestSigner,
        Duration::from_secs(600),
    )
    .unwrap();
    let csr = build_csr(&key, &subject, Some("challenge-1")).unwrap();
    let tid = transaction_id(key.public_key_der());
    let nonce = [9u8; 16];
    let msg = build_request(
        &Request {
            message_type: MessageType::PkcsReq,
            transaction_id: &tid,
            sender_nonce: nonce,
            csr: &csr,
        },
        Signer {
            key: &key,
            certificate: &signer_cert,
            digest: DigestAlgorithm::Sha256,
        },
        &ca.cert,
        cipher,
    )
    .unwrap();
    (key, signer_cert, tid, nonce, msg)
}

/// What a CA does with a request, for the tests.
fn answer(ca: &Ca, msg: &[u8], status: Option<CertRepStatus>) -> Vec<u8> {
    let req = parse_pki_message(msg).unwrap();
    assert_eq!(req.message_type, MessageType::PkcsReq);
    let csr = parse_csr(&req.decrypt_content(&ca.key, &ca.cert).unwrap()).unwrap();
    assert_eq!(csr.challenge.as_deref().map(String::as_str), Some("challenge-1"));
    let status = status.unwrap_or_else(|| {
        let now = SystemTime::now();
        let spec = CertificateSpec {
            subject: csr.subject.clone(),
            subject_public_key: csr.public_key.clone(),
            not_before: now,
            not_after: now + Duration::from_secs(3600),
            kind: CertificateKind::ClientIdentity,
        };
        let issued =
            crate::cert::build_certificate(&spec, &common_name("SCEP CA").unwrap(), &ca.key).unwrap();
        CertRepStatus::Success(vec![issued])
    });
    build_cert_rep(
        &CertRep {
            transaction_id: &req.transaction_id,
            recipient_nonce: req.sender_nonce.unwrap(),
            sender_nonce: [1u8; 16],
            status: &status,
        },
        Signer {
            key: &ca.key,
            certificate: &ca.cert,
            digest: req.digest,
        },
        &req.signer.der,
        ContentCipher::Aes256Cbc,
    )
    .unwrap()
}

#[test]
fn pkcs_req_to_cert_rep_round_trip_with_every_cipher() {
    let ca = ca();
    for cipher in [
        ContentCipher::Aes128Cbc,
        ContentCipher::Des3Cbc,
        ContentCipher::DesCbc,
    ] {
        let (key, signer_cert, tid, nonce, msg) = request(&ca, cipher);
        let rep = parse_pki_message(&answer(&ca, &msg, None)).unwrap();
        assert_eq!(rep.signer.der, ca.cert);
        assert_eq!(rep.pki_status, Some(PkiStatus::Success));
        let CertRepStatus::Success(certs) = rep.cert_rep(&tid, &nonce, &key, &signer_cert).unwrap() else {
            panic!("not a success");
        };
        let issued = issued_for(&certs, key.public_key_der()).unwrap();
        ParsedCertificate::from_der(&issued)
            .unwrap()
            .verify_signed_by(&ParsedCertificate::from_der(&ca.cert).unwrap())
            .unwrap();
        // A reply to another transaction or nonce is refused.
        assert!(rep.cert_rep("other", &nonce, &key, &signer_cert).is_err());
        assert!(rep.cert_rep(&tid, &[0u8; 16], &key, &signer_cert).is_err());
    }
}

#[test]
fn failure_and_pending() {
    let ca = ca();
    let (key, signer_cert, tid, nonce, msg) = request(&ca, ContentCipher::Aes128Cbc);
    let rep = parse_pki_message(&answer(
        &ca,
        &msg,
        Some(CertRepStatus::Failure(FailInfo::BadRequest)),
    ))
    .unwrap();
    assert_eq!(
        rep.cert_rep(&tid, &nonce, &key, &signer_cert).unwrap(),
        CertRepStatus::Failure(FailInfo::BadRequest)
    );
    let rep = parse_pki_message(&answer(&ca, &msg, Some(CertRepStatus::Pending))).unwrap();
    assert_eq!(
        rep.cert_rep(&tid, &nonce, &key, &signer_cert).unwrap(),
        CertRepStatus::Pending
    );
}

#[test]
fn hostile_pki_messages() {
    let ca = ca();
    let (_, _, _, _, msg) = request(&ca, ContentCipher::Aes128Cbc);
    for n in 0..msg.len() {
        assert!(parse_pki_message(&msg[..n]).is_err(), "truncated at {n}");
    }
    let original = parse_pki_message(&msg).unwrap().content;
    for i in (0..msg.len()).step_by(3) {
        let mut bad = msg.clone();
        bad[i] = bad[i].wrapping_add(1);
        if let Ok(m) = parse_pki_message(&bad) {
            // Only unsigned fields (version, digest set) can change and still verify.
            assert_eq!(m.content, original, "byte {i}");
        }
    }
    // A certificate, a degenerate SignedData and garbage are not PKIMessages.
    assert!(parse_pki_message(&ca.cert).is_err());
    assert!(matches!(
        parse_pki_message(&signed::build_certs_only(&[&ca.cert]).unwrap()),
        Err(MdmError::Missing { what: "signer" })
    ));
    assert!(parse_pki_message(b"\x30\x80\x00\x00").is_err());
}

#[test]
fn ca_caps_and_ca_certs() {
    let caps =
        CaCaps::parse(b"Renewal\nSHA-1\nSHA-256\nAES\nDES3\nSCEPStandard\nPOSTPKIOperation\nFoo\n").unwrap();
    assert!(caps.post() && caps.renewal && caps.sha256 && caps.aes && caps.des3);
    assert_eq!(caps.unknown, 1);
    assert_eq!(caps.cipher(), ContentCipher::Aes128Cbc);
    assert_eq!(
        CaCaps::parse(b"DES3\r\n").unwrap().cipher(),
        ContentCipher::Des3Cbc
    );
    assert_eq!(CaCaps::parse(b"").unwrap().cipher(), ContentCipher::DesCbc);
    assert!(!CaCaps::parse(b"").unwrap().post());
    assert!(CaCaps::parse(&[b'a'; MAX_CACAPS_BYTES + 1]).is_err());
    assert!(CaCaps::parse(&b"x\n".repeat(MAX_CACAPS_LINES + 1)).is_err());
    assert!(CaCaps::parse(&[0xff, 0xfe]).is_err());

    let ca = ca();
    assert_eq!(
        parse_ca_certs(&ca.cert, Some("application/x-x509-ca-cert")).unwrap(),
        vec![ca.cert.clone()]
    );
    assert_eq!(parse_ca_certs(&ca.cert, None).unwrap(), vec![ca.cert.clone()]);
    let ra_key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
    let ra = self_signed(
        &ra_key,
        &common_name("RA").unwrap(),
        CertificateKind::RequestSigner,
        Duration::from_secs(60),
    )
    .unwrap();
    let both = signed::build_certs_only(&[&ca.cert, &ra]).unwrap();
    let certs = parse_ca_certs(&both, Some("application/x-x509-ca-ra-cert")).unwrap();
    assert_eq!(certs.len(), 2);
    assert_eq!(recipient_certificate(&certs).unwrap(), ra.as_slice());
    assert_eq!(
        recipient_certificate(std::slice::from_ref(&ca.cert)).unwrap(),
        ca.cert.as_slice()
    );
    assert!(parse_ca_certs(&ca.cert[..100], Some("application/x-x509-ca-cert")).is_err());
    assert!(parse_ca_certs(&both, Some("application/x-x509-ca-cert")).is_err());
    assert!(parse_ca_certs(b"nonsense", None).is_err());
    assert!(recipient_certificate(&[]).is_err());
}
