//! The seed corpora of the fuzz targets `scep_message` and `apple_mdm` (`fuzz/corpus/`), and
//! the SCEP CA fixture (`fuzz/fixtures/scep-ca.{key,der}`, a throwaway test key).
//!
//! The seeds are real messages, written by this crate's own writers exactly as the device
//! simulator (`enroll-sim`) writes them: a PKCSReq the way `sim/src/scep_client.rs` builds it
//! (RSA-2048 key, self-signed request signer, CSR with a challenge, enveloped to the CA with
//! each content cipher), a RenewalReq signed by an issued identity, the EnvelopedData and CSRs
//! alone; check-ins (`Authenticate`, `TokenUpdate`, `CheckOut`, XML and binary), command
//! reports, and an `Mdm-Signature` header over a body.
//!
//! - `ENROLL_WRITE_FUZZ_SEEDS=1 cargo test -p enroll-mdm --test fuzz_seeds` regenerates them
//!   (fresh keys each time; commit the result);
//! - plain `cargo test -p enroll-mdm --test fuzz_seeds` checks that the committed seeds still
//!   parse and verify (so the fuzzer starts from messages that reach the deep code).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enroll_mdm::cert::{
    build_certificate, build_csr, common_name, parse_csr, self_signed, CertificateKind, CertificateSpec,
    ParsedCertificate,
};
use enroll_mdm::checkin::{Authenticate, CheckOut, CheckinMessage, TokenUpdate};
use enroll_mdm::command::{ErrorChainItem, Report, Status};
use enroll_mdm::envelope::{parse_envelope, ContentCipher};
use enroll_mdm::key::{DigestAlgorithm, RsaBits, RsaPrivateKey};
use enroll_mdm::mdm_signature;
use enroll_mdm::scep::{self, MessageType, Request};
use enroll_mdm::signed::Signer;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn write(target: &str, name: &str, selector: u8, bytes: &[u8]) {
    let dir = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let mut data = vec![selector];
    data.extend_from_slice(bytes);
    std::fs::write(dir.join(name), data).unwrap();
}

fn key() -> RsaPrivateKey {
    RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap()
}

/// A PKCSReq as `enroll-sim` builds it.
fn pkcs_req(
    ca_cert: &[u8],
    cipher: ContentCipher,
    digest: DigestAlgorithm,
    challenge: Option<&str>,
) -> Vec<u8> {
    let key = key();
    let subject = common_name("fuzz-device-0001").unwrap();
    let csr = build_csr(&key, &subject, challenge).unwrap();
    let signer_cert = self_signed(
        &key,
        &subject,
        CertificateKind::RequestSigner,
        Duration::from_secs(86_400),
    )
    .unwrap();
    let tid = scep::transaction_id(key.public_key_der());
    scep::build_request(
        &Request {
            message_type: MessageType::PkcsReq,
            transaction_id: &tid,
            sender_nonce: [7; 16],
            csr: &csr,
        },
        Signer {
            key: &key,
            certificate: &signer_cert,
            digest,
        },
        ca_cert,
        cipher,
    )
    .unwrap()
}

fn regenerate() {
    let fixtures = fuzz_dir().join("fixtures");
    let ca_name = common_name("enroll fuzz SCEP CA").unwrap();
    let ca_key = key();
    let ca_cert = self_signed(&ca_key, &ca_name, CertificateKind::Ca, CENTURY).unwrap();
    std::fs::write(fixtures.join("scep-ca.key"), &*ca_key.to_pkcs8_der().unwrap()).unwrap();
    std::fs::write(fixtures.join("scep-ca.der"), &ca_cert).unwrap();

    // scep_message: selector 0 PKIMessage, 1 EnvelopedData, 2 CSR.
    let t = "scep_message";
    let challenge = Some("fuzz-challenge-0123456789");
    for (name, cipher, digest) in [
        (
            "pkcsreq-aes128-sha256.der",
            ContentCipher::Aes128Cbc,
            DigestAlgorithm::Sha256,
        ),
        (
            "pkcsreq-des3-sha512.der",
            ContentCipher::Des3Cbc,
            DigestAlgorithm::Sha512,
        ),
        (
            "pkcsreq-des-sha256.der",
            ContentCipher::DesCbc,
            DigestAlgorithm::Sha256,
        ),
    ] {
        let msg = pkcs_req(&ca_cert, cipher, digest, challenge);
        write(t, name, 0, &msg);
        if cipher == ContentCipher::Aes128Cbc {
            let parsed = scep::parse_pki_message(&msg).unwrap();
            write(t, "envelope-aes128.der", 1, &parsed.content);
        }
    }
    let plain = pkcs_req(&ca_cert, ContentCipher::Aes128Cbc, DigestAlgorithm::Sha256, None);
    write(t, "pkcsreq-no-challenge.der", 0, &plain);
    // RenewalReq: signed by an identity the CA issued.
    let dev = key();
    let subject = common_name("fuzz-device-0002").unwrap();
    let identity = build_certificate(
        &CertificateSpec {
            subject: subject.clone(),
            subject_public_key: dev.public_key_der().to_vec(),
            not_before: SystemTime::now(),
            not_after: SystemTime::now() + CENTURY,
            kind: CertificateKind::ClientIdentity,
        },
        &ca_name,
        &ca_key,
    )
    .unwrap();
    let new_key = key();
    let csr = build_csr(&new_key, &subject, None).unwrap();
    let tid = scep::transaction_id(new_key.public_key_der());
    let renewal = scep::build_request(
        &Request {
            message_type: MessageType::RenewalReq,
            transaction_id: &tid,
            sender_nonce: [8; 16],
            csr: &csr,
        },
        Signer {
            key: &dev,
            certificate: &identity,
            digest: DigestAlgorithm::Sha256,
        },
        &ca_cert,
        ContentCipher::Aes128Cbc,
    )
    .unwrap();
    write(t, "renewalreq-aes128.der", 0, &renewal);
    let k = key();
    let cn = common_name("fuzz-device-0003").unwrap();
    write(t, "csr-challenge.der", 2, &build_csr(&k, &cn, challenge).unwrap());
    write(t, "csr-plain.der", 2, &build_csr(&k, &cn, None).unwrap());

    // apple_mdm: selector 0 check-in, 1 report, 2 `Mdm-Signature` header, `\n`, body.
    let t = "apple_mdm";
    let topic = "com.apple.mgmt.External.fuzz";
    let udid = "0000FUZZ-0000-4000-8000-000000000001";
    let auth = CheckinMessage::Authenticate(Authenticate {
        topic: topic.into(),
        udid: udid.into(),
        device_name: Some("Fuzz iPhone".into()),
        model: Some("iPhone15,2".into()),
        model_name: Some("iPhone".into()),
        os_version: Some("17.4".into()),
        build_version: Some("21E219".into()),
        product_name: Some("iPhone15,2".into()),
        serial_number: Some("FUZZSERIAL01".into()),
        imei: Some("35 123456 789012 3".into()),
        meid: None,
    });
    let token = CheckinMessage::TokenUpdate(TokenUpdate {
        topic: topic.into(),
        udid: udid.into(),
        token: plist::Data::new(vec![0xab; 32]),
        push_magic: "FUZZ-PUSH-MAGIC-0000".into(),
        unlock_token: Some(plist::Data::new(vec![0xcd; 48])),
        awaiting_configuration: Some(false),
    });
    let out = CheckinMessage::CheckOut(CheckOut {
        topic: topic.into(),
        udid: udid.into(),
    });
    for (name, msg) in [
        ("authenticate", &auth),
        ("tokenupdate", &token),
        ("checkout", &out),
    ] {
        let xml = msg.to_xml().unwrap();
        write(t, &format!("checkin-{name}.plist"), 0, &xml);
        if name == "tokenupdate" {
            let mut bin = Vec::new();
            plist::Value::from_reader(std::io::Cursor::new(&xml))
                .unwrap()
                .to_writer_binary(&mut bin)
                .unwrap();
            write(t, "checkin-tokenupdate.bplist", 0, &bin);
        }
    }
    let mut info = plist::Dictionary::new();
    info.insert("OSVersion".into(), plist::Value::String("17.4".into()));
    info.insert("BatteryLevel".into(), plist::Value::Real(0.5));
    info.insert("IsSupervised".into(), plist::Value::Boolean(true));
    info.insert(
        "AvailableDeviceCapacity".into(),
        plist::Value::Integer(1234.into()),
    );
    let mut fields = plist::Dictionary::new();
    fields.insert("QueryResponses".into(), plist::Value::Dictionary(info));
    let ack = Report::for_command(
        udid,
        "11111111-2222-4333-8444-555555555555",
        Status::Acknowledged,
        fields,
    );
    let mut err = Report::for_command(
        udid,
        "66666666-2222-4333-8444-555555555555",
        Status::Error,
        plist::Dictionary::new(),
    );
    err.error_chain.push(ErrorChainItem {
        code: 12_024,
        domain: "MCMDMErrorDomain".into(),
        description: "The profile could not be installed.".into(),
    });
    for (name, r) in [
        ("idle", Report::idle(udid)),
        ("acknowledged", ack),
        ("error", err),
    ] {
        write(t, &format!("report-{name}.plist"), 1, &r.to_xml().unwrap());
    }
    let body = auth.to_xml().unwrap();
    let mut signed = mdm_signature::sign(&body, &dev, &identity).unwrap().into_bytes();
    signed.push(b'\n');
    signed.extend_from_slice(&body);
    write(t, "signature-detached.txt", 2, &signed);
}

fn read(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(fuzz_dir().join("corpus").join(target))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn committed_seeds_parse_and_verify() {
    if std::env::var_os("ENROLL_WRITE_FUZZ_SEEDS").is_some() {
        regenerate();
    }
    let fixtures = fuzz_dir().join("fixtures");
    let ca_key =
        RsaPrivateKey::from_pkcs8_der(&std::fs::read(fixtures.join("scep-ca.key")).unwrap()).unwrap();
    let ca_cert = std::fs::read(fixtures.join("scep-ca.der")).unwrap();
    let ca = ParsedCertificate::from_der(&ca_cert).unwrap();
    let mut counts = [0usize; 3];
    for (name, data) in read("scep_message") {
        let (sel, body) = data.split_first().unwrap();
        match sel {
            0 if name.starts_with("pkcsreq") || name.starts_with("renewalreq") => {
                let msg = scep::parse_pki_message(body).unwrap_or_else(|e| panic!("{name}: {e}"));
                let csr = parse_csr(&msg.decrypt_content(&ca_key, &ca_cert).unwrap()).unwrap();
                let with_challenge = name.starts_with("pkcsreq") && !name.contains("no-challenge");
                assert_eq!(csr.challenge.is_some(), with_challenge, "{name}");
                if name.starts_with("renewalreq") {
                    msg.signer.verify_signed_by(&ca).unwrap();
                }
                counts[0] += 1;
            }
            1 if name.starts_with("envelope") => {
                parse_envelope(body).unwrap_or_else(|e| panic!("{name}: {e}"));
                counts[1] += 1;
            }
            2 if name.starts_with("csr") => {
                parse_csr(body).unwrap_or_else(|e| panic!("{name}: {e}"));
                counts[2] += 1;
            }
            _ => {} // an input the fuzzer found: its check is a unit test
        }
    }
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    let mut counts = [0usize; 3];
    for (name, data) in read("apple_mdm") {
        let (sel, body) = data.split_first().unwrap();
        match sel {
            0 if name.starts_with("checkin") => {
                let msg = CheckinMessage::parse(body).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(CheckinMessage::parse(&msg.to_xml().unwrap()).unwrap(), msg);
                counts[0] += 1;
            }
            1 if name.starts_with("report") => {
                Report::parse(body).unwrap_or_else(|e| panic!("{name}: {e}"));
                counts[1] += 1;
            }
            2 if name.starts_with("signature") => {
                let at = body.iter().position(|&b| b == b'\n').unwrap();
                let header = std::str::from_utf8(&body[..at]).unwrap();
                let signer = mdm_signature::verify_detached_or_attached(header, &body[at + 1..]).unwrap();
                signer.verify_signed_by(&ca).unwrap();
                counts[2] += 1;
            }
            _ => {}
        }
    }
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
}
