//! Apple SCEP at `/scep`: the device identity a `.mobileconfig` asks for, with the profile's
//! one-time challenge. The PKIMessages are built with `enroll-mdm` (the crate the device
//! simulator uses); `openssl verify` checks the chain root → SCEP CA → device when installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use common::{device, password, profile_plist, Harness, T0};
use der::asn1::{OctetStringRef, PrintableStringRef};
use der::Any;
use enroll_mdm::cert::{self, CertificateKind, ParsedCertificate};
use enroll_mdm::envelope::{encrypt_envelope, ContentCipher};
use enroll_mdm::key::{DigestAlgorithm, RsaBits, RsaPrivateKey};
use enroll_mdm::scep::{self, CertRepStatus, FailInfo, MessageType, Request as ScepRequest};
use enroll_mdm::signed::{build_signed_data, SignedAttribute, Signer};
use serde_json::json;
use std::sync::OnceLock;
use std::time::Duration;

/// One RSA key for every test request (key generation is the slow part).
fn key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap())
}

/// An Apple enrollment with a downloaded profile: (device id, challenge).
async fn apple_enrollment(h: &Harness, email: &str) -> (String, String) {
    let r = h.create_user(email, Some("correct horse battery"), false).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let dev = device("ios", "17.4", &format!("udid-{email}"));
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": password(email, "correct horse battery"), "device": dev}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let e = r.json();
    let p = h
        .profile(
            e["enrollment_id"].as_str().unwrap(),
            e["enrollment_secret"].as_str().unwrap(),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text());
    let plist = profile_plist(&p.body);
    let scep = plist.as_dictionary().unwrap()["PayloadContent"]
        .as_array()
        .unwrap()[0]
        .as_dictionary()
        .unwrap()["PayloadContent"]
        .as_dictionary()
        .unwrap()
        .clone();
    let challenge = scep["Challenge"].as_string().unwrap().to_string();
    (e["device_id"].as_str().unwrap().to_string(), challenge)
}

async fn get(h: &Harness, query: &str) -> common::Reply {
    h.call(Method::GET, &format!("/scep?{query}"), &[], None).await
}

async fn post(h: &Harness, body: Vec<u8>) -> common::Reply {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/scep?operation=PKIOperation")
        .header("content-type", "application/x-pki-message")
        .body(Body::from(body))
        .unwrap();
    h.raw(req).await
}

/// The CA certificate to encrypt to, from `GetCACert`.
async fn ca_cert(h: &Harness) -> Vec<u8> {
    let r = get(h, "operation=GetCACert").await;
    assert_eq!(r.status, StatusCode::OK);
    let ct = r.headers["content-type"].to_str().unwrap().to_string();
    let certs = scep::parse_ca_certs(&r.body, Some(&ct)).unwrap();
    scep::recipient_certificate(&certs).unwrap().to_vec()
}

/// A request and what the client keeps to read the reply.
struct Built {
    message: Vec<u8>,
    transaction: String,
    nonce: [u8; 16],
    signer_cert: Vec<u8>,
}

fn csr(cn: &str, challenge: Option<&str>) -> Vec<u8> {
    cert::build_csr(key(), &cert::common_name(cn).unwrap(), challenge).unwrap()
}

fn signer_cert(cn: &str) -> Vec<u8> {
    cert::self_signed(
        key(),
        &cert::common_name(cn).unwrap(),
        CertificateKind::RequestSigner,
        Duration::from_secs(86_400),
    )
    .unwrap()
}

fn build(recipient: &[u8], csr: &[u8], cipher: ContentCipher) -> Built {
    let signer_cert = signer_cert("transient");
    let transaction = scep::transaction_id(key().public_key_der());
    let nonce = [7u8; 16];
    let req = ScepRequest {
        message_type: MessageType::PkcsReq,
        transaction_id: &transaction,
        sender_nonce: nonce,
        csr,
    };
    let signer = Signer {
        key: key(),
        certificate: &signer_cert,
        digest: DigestAlgorithm::Sha256,
    };
    let message = scep::build_request(&req, signer, recipient, cipher).unwrap();
    Built {
        message,
        transaction,
        nonce,
        signer_cert,
    }
}

/// Reads a CertRep: checks it is signed by the SCEP CA and echoes the request.
fn read(h: &Harness, b: &Built, reply: &common::Reply) -> CertRepStatus {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.headers["content-type"].to_str().unwrap(),
        "application/x-pki-message"
    );
    let msg = scep::parse_pki_message(&reply.body).unwrap();
    assert_eq!(msg.signer.der, h.app.pki().scep_ca().cert_der());
    msg.cert_rep(&b.transaction, &b.nonce, key(), &b.signer_cert)
        .unwrap()
}

async fn identity_count(h: &Harness) -> i64 {
    let conn = rusqlite::Connection::open(h.dir.join("enroll.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM apple_certificates", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn caps_and_ca_certificate() {
    let h = Harness::new();
    let r = get(&h, "operation=GetCACaps").await;
    assert_eq!(r.status, StatusCode::OK);
    let caps = scep::CaCaps::parse(&r.body).unwrap();
    assert!(caps.post());
    let text = r.text();
    for cap in [
        "POSTPKIOperation",
        "SHA-256",
        "SHA-1",
        "AES",
        "DES3",
        "SCEPStandard",
        "Renewal",
    ] {
        assert!(text.lines().any(|l| l == cap), "{cap}");
    }
    let r = get(&h, "operation=GetCACert").await;
    assert_eq!(r.headers["content-type"], "application/x-x509-ca-cert");
    let ca = ParsedCertificate::from_der(&r.body).unwrap();
    assert!(ca.is_ca());
    assert!(ca.public_key().unwrap().spki_der().len() > 256, "RSA-2048");
    // Issued by the root, which devices already trust.
    let root = ParsedCertificate::from_der(h.app.pki().ca_der()).unwrap();
    assert_eq!(ca.cert.tbs_certificate.issuer, root.cert.tbs_certificate.subject);
    assert!(get(&h, "operation=Nope").await.status == StatusCode::BAD_REQUEST);
    assert!(get(&h, "").await.status == StatusCode::BAD_REQUEST);
    // The key file is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(h.dir.join("scep-ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn enrollment_with_the_profile_challenge_then_reuse_fails() {
    let h = Harness::new();
    let (device_id, challenge) = apple_enrollment(&h, "a@example.com").await;
    let recipient = ca_cert(&h).await;
    let b = build(
        &recipient,
        &csr(&device_id, Some(&challenge)),
        ContentCipher::Aes128Cbc,
    );
    let r = post(&h, b.message.clone()).await;
    let CertRepStatus::Success(certs) = read(&h, &b, &r) else {
        panic!("not issued");
    };
    let issued = scep::issued_for(&certs, key().public_key_der()).unwrap();
    let parsed = ParsedCertificate::from_der(&issued).unwrap();
    parsed
        .verify_signed_by(&ParsedCertificate::from_der(&recipient).unwrap())
        .unwrap();
    assert_eq!(parsed.subject(), format!("CN={device_id}"));
    // Dated by the server's clock.
    assert!(parsed.valid_at(std::time::UNIX_EPOCH + Duration::from_secs(T0 as u64)));
    assert_eq!(identity_count(&h).await, 1);
    openssl_verify(&h, &issued);
    let history = h.detail(&device_id).await;
    assert!(history.to_string().contains("identity_issued"), "{history}");

    // The challenge is single use.
    let b2 = build(
        &recipient,
        &csr(&device_id, Some(&challenge)),
        ContentCipher::Aes256Cbc,
    );
    let r = post(&h, b2.message.clone()).await;
    assert_eq!(read(&h, &b2, &r), CertRepStatus::Failure(FailInfo::BadRequest));
    assert_eq!(identity_count(&h).await, 1);
}

#[tokio::test]
async fn get_with_base64_message_and_legacy_ciphers() {
    let h = Harness::new();
    let recipient = ca_cert(&h).await;
    for (i, cipher) in [ContentCipher::Des3Cbc, ContentCipher::DesCbc]
        .into_iter()
        .enumerate()
    {
        let (device_id, challenge) = apple_enrollment(&h, &format!("g{i}@example.com")).await;
        let b = build(&recipient, &csr(&device_id, Some(&challenge)), cipher);
        let text = base64::engine::general_purpose::STANDARD.encode(&b.message);
        let r = get(
            &h,
            &format!("operation=PKIOperation&message={}", common::urlenc(&text)),
        )
        .await;
        assert!(
            matches!(read(&h, &b, &r), CertRepStatus::Success(_)),
            "{cipher:?}"
        );
    }
    assert_eq!(identity_count(&h).await, 2);
}

#[tokio::test]
async fn wrong_expired_and_foreign_requests_fail_and_change_nothing() {
    let h = Harness::new();
    let (device_id, challenge) = apple_enrollment(&h, "w@example.com").await;
    let (other_id, _) = apple_enrollment(&h, "o@example.com").await;
    let recipient = ca_cert(&h).await;
    let refused = |csr: Vec<u8>| build(&recipient, &csr, ContentCipher::Aes128Cbc);

    // A wrong challenge, no challenge, a CSR for another device.
    for b in [
        refused(csr(&device_id, Some("not-the-challenge"))),
        refused(csr(&device_id, None)),
        refused(csr(&other_id, Some(&challenge))),
    ] {
        let r = post(&h, b.message.clone()).await;
        assert_eq!(read(&h, &b, &r), CertRepStatus::Failure(FailInfo::BadRequest));
    }
    assert_eq!(identity_count(&h).await, 0);

    // Truncated, garbage and empty messages: 400, no CertRep.
    let good = refused(csr(&device_id, Some(&challenge)));
    for body in [
        good.message[..good.message.len() / 2].to_vec(),
        b"hello".to_vec(),
        Vec::new(),
    ] {
        assert_eq!(post(&h, body).await.status, StatusCode::BAD_REQUEST);
    }
    // A tampered message no longer verifies: 400.
    let mut tampered = good.message.clone();
    let n = tampered.len();
    tampered[n - 40] ^= 0x55;
    assert_eq!(post(&h, tampered).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(identity_count(&h).await, 0);

    // An unknown content cipher: badAlg.
    let b = unknown_cipher(&recipient, &csr(&device_id, Some(&challenge)));
    let r = post(&h, b.message.clone()).await;
    assert_eq!(read(&h, &b, &r), CertRepStatus::Failure(FailInfo::BadAlg));

    // None of this used the challenge: it still works, until the profile expires.
    let r = post(&h, good.message.clone()).await;
    assert!(matches!(read(&h, &good, &r), CertRepStatus::Success(_)));

    let (late_id, late_challenge) = apple_enrollment(&h, "l@example.com").await;
    h.clock.advance(301);
    let b = refused(csr(&late_id, Some(&late_challenge)));
    let r = post(&h, b.message.clone()).await;
    assert_eq!(read(&h, &b, &r), CertRepStatus::Failure(FailInfo::BadRequest));
    assert_eq!(identity_count(&h).await, 1);
}

#[tokio::test]
async fn renewal_is_signed_by_the_current_identity() {
    let h = Harness::new();
    let (device_id, challenge) = apple_enrollment(&h, "r@example.com").await;
    let recipient = ca_cert(&h).await;
    let b = build(
        &recipient,
        &csr(&device_id, Some(&challenge)),
        ContentCipher::Aes128Cbc,
    );
    let CertRepStatus::Success(certs) = read(&h, &b, &post(&h, b.message.clone()).await) else {
        panic!("not issued");
    };
    let issued = scep::issued_for(&certs, key().public_key_der()).unwrap();
    let renew = |signer_cert: &[u8]| {
        let csr = csr(&device_id, None);
        let transaction = scep::transaction_id(key().public_key_der());
        let req = ScepRequest {
            message_type: MessageType::RenewalReq,
            transaction_id: &transaction,
            sender_nonce: [9; 16],
            csr: &csr,
        };
        let signer = Signer {
            key: key(),
            certificate: signer_cert,
            digest: DigestAlgorithm::Sha256,
        };
        Built {
            message: scep::build_request(&req, signer, &recipient, ContentCipher::Aes128Cbc).unwrap(),
            transaction: transaction.clone(),
            nonce: [9; 16],
            signer_cert: signer_cert.to_vec(),
        }
    };
    // Signed by a self-signed certificate: not one of ours.
    let b = renew(&signer_cert(&device_id));
    assert_eq!(
        read(&h, &b, &post(&h, b.message.clone()).await),
        CertRepStatus::Failure(FailInfo::BadMessageCheck)
    );
    let b = renew(&issued);
    assert!(matches!(
        read(&h, &b, &post(&h, b.message.clone()).await),
        CertRepStatus::Success(_)
    ));
    // The renewed certificate was revoked: it cannot renew again.
    let b = renew(&issued);
    assert_eq!(
        read(&h, &b, &post(&h, b.message.clone()).await),
        CertRepStatus::Failure(FailInfo::BadRequest)
    );
    assert_eq!(identity_count(&h).await, 2);
}

/// A well-signed PKCSReq whose envelope names an unknown cipher (AES-128-OFB).
fn unknown_cipher(recipient: &[u8], csr: &[u8]) -> Built {
    let mut envelope = encrypt_envelope(csr, recipient, ContentCipher::Aes128Cbc).unwrap();
    let aes128_cbc = [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
    let at = envelope
        .windows(aes128_cbc.len())
        .position(|w| w == aes128_cbc)
        .unwrap();
    envelope[at + aes128_cbc.len() - 1] = 0x03;
    let signer_cert = signer_cert("transient");
    let transaction = scep::transaction_id(key().public_key_der());
    let nonce = [5u8; 16];
    let printable = |s: &str| Any::encode_from(&PrintableStringRef::new(s).unwrap()).unwrap();
    let attrs = [
        SignedAttribute {
            oid: enroll_mdm::oid::SCEP_MESSAGE_TYPE,
            value: printable(MessageType::PkcsReq.as_str()),
        },
        SignedAttribute {
            oid: enroll_mdm::oid::SCEP_TRANSACTION_ID,
            value: printable(&transaction),
        },
        SignedAttribute {
            oid: enroll_mdm::oid::SCEP_SENDER_NONCE,
            value: Any::encode_from(&OctetStringRef::new(&nonce).unwrap()).unwrap(),
        },
    ];
    let signer = Signer {
        key: key(),
        certificate: &signer_cert,
        digest: DigestAlgorithm::Sha256,
    };
    Built {
        message: build_signed_data(&envelope, false, signer, &[], &attrs).unwrap(),
        transaction,
        nonce,
        signer_cert,
    }
}

/// `openssl verify` of an issued identity against the root (with the SCEP CA as intermediate),
/// for client authentication. Skipped without `openssl`.
fn openssl_verify(h: &Harness, issued: &[u8]) {
    let leaf = h.dir.join("leaf.pem");
    std::fs::write(&leaf, enroll_server::pki::cert_pem(issued)).unwrap();
    let out = std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(h.dir.join("ca.pem"))
        .arg("-untrusted")
        .arg(h.dir.join("scep-ca.pem"))
        // The root and the SCEP CA are dated by the real clock, identities by the server's
        // (manual, in the past) clock: time is not what this checks.
        .args(["-purpose", "sslclient", "-no_check_time"])
        .arg(&leaf)
        .output();
    let Ok(out) = out else {
        eprintln!("openssl not installed: chain not checked by openssl");
        return;
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The micromdm `scepclient` (installed with the peers by `scripts/peers.sh start` into
/// `.tools/go/bin`), if present; its absence fails when `ENROLL_PEERS_REQUIRED` is set (as
/// `scripts/test.sh` does), like the other peer tests.
fn scepclient() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("SCEPCLIENT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/go/bin/scepclient")
        });
    assert!(
        path.exists() || std::env::var_os("ENROLL_PEERS_REQUIRED").is_none(),
        "ENROLL_PEERS_REQUIRED is set but {} is missing (scripts/peers.sh start installs it)",
        path.display()
    );
    path.exists().then_some(path)
}

/// Runs `scepclient` against `url` with `challenge` for `cn`; (success, certificate PEM path).
/// Each run gets a directory of its own: scepclient keeps its CSR (`csr.pem`, with the
/// challenge) and transient signer (`self.pem`) next to the key and reuses them when present,
/// so a second run in the same directory would sign with a new key for the old key's
/// certificate (a signature that verifies nowhere).
async fn run_scepclient(
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    url: String,
    cn: String,
    challenge: String,
    tag: &str,
) -> (bool, std::path::PathBuf, String) {
    let dir = dir.join(format!("scepclient-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join(format!("{tag}.pem"));
    let key = dir.join(format!("{tag}.key"));
    let cert2 = cert.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args(["-server-url", &url, "-challenge", &challenge, "-cn", &cn])
            .args(["-country", "", "-organization", "", "-ou", ""])
            .arg("-private-key")
            .arg(&key)
            .arg("-certificate")
            .arg(&cert2)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && cert.exists(), cert, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn micromdm_scepclient_enrolls_with_a_live_challenge_only() {
    let Some(bin) = scepclient() else {
        eprintln!("scepclient not installed (scripts/test.sh installs it): skipped");
        return;
    };
    // The API is driven through the router; the same data directory is served over plain HTTP
    // on loopback (SCEP's own transport) for the Go client. Both use the real clock.
    let h = Harness::with(|c| c.clock = std::sync::Arc::new(enroll_server::SystemClock));
    let (device_id, challenge) = apple_enrollment(&h, "go@example.com").await;
    let mut config = enroll_server::ServerConfig::new(&h.dir);
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.insecure_http = true;
    let server = enroll_server::start(config).await.unwrap();
    let url = format!("{}/scep", server.base_url());

    let (ok, _, log) = run_scepclient(
        bin.clone(),
        h.dir.clone(),
        url.clone(),
        device_id.clone(),
        "wrong-challenge".into(),
        "wrong",
    )
    .await;
    assert!(!ok, "a wrong challenge must fail: {log}");
    // Refused by a CertRep FAILURE that scepclient verified and read (not by a transport or
    // signature error).
    assert!(log.contains("failInfo: badRequest"), "{log}");
    assert_eq!(identity_count(&h).await, 0);

    let (ok, cert, log) = run_scepclient(bin, h.dir.clone(), url, device_id.clone(), challenge, "good").await;
    assert!(ok, "scepclient failed: {log}");
    assert_eq!(identity_count(&h).await, 1);
    let pem = std::fs::read_to_string(&cert).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    assert_eq!(
        ParsedCertificate::from_der(&der).unwrap().subject(),
        format!("CN={device_id}")
    );
    openssl_verify(&h, &der);
    server.shutdown().await;
}
