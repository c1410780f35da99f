//! Bad input: a clear fault and no state change.

use super::main_helpers::*;
use super::{BULK, PW};
use enroll_mdm::cert::{build_csr, common_name};
use enroll_mdm::key::{RsaBits, RsaPrivateKey};
use enroll_wmdm::mde2::EnrollRequest;
use enroll_wmdm::soap::{self, Envelope, FaultKind};
use enroll_wsim::Credential;
use reqwest::StatusCode;

const ENROLL: &str = "/EnrollmentServer/Enrollment.svc";

fn rst(csr: Vec<u8>, security: &str) -> String {
    EnrollRequest {
        csr_der: csr,
        context: vec![
            ("DeviceID".into(), "BADPC1".into()),
            ("EnrollmentType".into(), "Full".into()),
        ],
    }
    .to_xml("urn:uuid:7", "https://x/", security)
}

fn fault_of(text: &str) -> soap::Fault {
    let env = Envelope::parse(text).unwrap();
    soap::read_fault(env.body().unwrap()).unwrap_or_else(|| panic!("not a fault: {text}"))
}

fn csr() -> Vec<u8> {
    let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
    build_csr(&key, &common_name("BADPC1").unwrap(), None).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_enrollments_answer_mde2_faults_and_change_nothing() {
    let env = start("bad").await;
    env.user(BULK, PW).await;
    let good_csr = csr();
    let cases: Vec<(&str, String, FaultKind)> = vec![
        (
            "wrong secret",
            rst(good_csr.clone(), &soap::username_security(BULK, "nope")),
            FaultKind::Authentication,
        ),
        (
            "unknown UPN",
            rst(good_csr.clone(), &soap::username_security("ghost@abc.com", PW)),
            FaultKind::Authentication,
        ),
        (
            "no credential",
            rst(good_csr.clone(), ""),
            FaultKind::InvalidSecurity,
        ),
        (
            "malformed SOAP",
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header>".into(),
            FaultKind::MessageFormat,
        ),
        (
            "DTD",
            format!(
                "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]>{}",
                rst(good_csr.clone(), "")
            ),
            FaultKind::MessageFormat,
        ),
        (
            "CSR not DER",
            rst(vec![0x30, 0x01, 0x00], &soap::username_security(BULK, PW)),
            FaultKind::CertificateRequest,
        ),
        (
            "CSR signature does not match its key",
            {
                let mut c = good_csr.clone();
                let n = c.len();
                c[n - 1] ^= 0x55;
                rst(c, &soap::username_security(BULK, PW))
            },
            FaultKind::CertificateRequest,
        ),
        (
            "an Entra token that is not one",
            rst(
                good_csr.clone(),
                &soap::binary_security("urn:ietf:params:oauth:token-type:jwt", "eyJhbGciOiJub25lIn0.e30."),
            ),
            FaultKind::Authentication,
        ),
    ];
    for (what, body, kind) in cases {
        let (s, text) = env.soap(ENROLL, body).await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::INTERNAL_SERVER_ERROR,
            "{what}: {s}"
        );
        let f = fault_of(&text);
        assert_eq!(f.kind, Some(kind), "{what}: {text}");
        assert!(!f.reason.contains(PW), "{what}: the secret leaks");
        if what == "DTD" {
            assert!(f.reason.contains("DTD"), "{what}: {}", f.reason);
        }
    }
    // An oversized body is refused before parsing.
    let (s, _) = env.soap(ENROLL, "x".repeat(200_000)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        env.device_count().await,
        0,
        "no device record from any refused request"
    );
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_keys_and_sha1_csrs_are_refused() {
    let env = start("weak").await;
    env.user(BULK, PW).await;
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("openssl missing: skipped");
        return;
    }
    let dir = env.dir.join("weak");
    std::fs::create_dir_all(&dir).unwrap();
    for (what, args) in [
        ("1024-bit key", vec!["-newkey", "rsa:1024", "-sha256"]),
        ("SHA-1 signature", vec!["-newkey", "rsa:2048", "-sha1"]),
    ] {
        let out = dir.join("csr.der");
        let st = std::process::Command::new("openssl")
            .args([
                "req", "-new", "-nodes", "-subj", "/CN=weak", "-outform", "DER", "-keyout",
            ])
            .arg(dir.join("k.pem"))
            .arg("-out")
            .arg(&out)
            .args(args)
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        let (_, text) = env
            .soap(
                ENROLL,
                rst(std::fs::read(&out).unwrap(), &soap::username_security(BULK, PW)),
            )
            .await;
        assert_eq!(
            fault_of(&text).kind,
            Some(FaultKind::CertificateRequest),
            "{what}: {text}"
        );
    }
    assert_eq!(env.device_count().await, 0);
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oma_dm_needs_our_certificate_and_sessions_are_bounded() {
    let env = start("omadm").await;
    env.user(BULK, PW).await;
    let package = env.package(BULK, PW).await;
    let mut d = env.device(Credential::Package(package));
    d.run(&quiet).await.unwrap();
    let url = format!("{}/ManagementServer/MDM.svc", env.base);
    let msg = |session: &str, n: u32| {
        enroll_wmdm::syncml::Message {
            hdr: enroll_wmdm::syncml::SyncHdr {
                session_id: session.into(),
                msg_id: n,
                target: url.clone(),
                source: d.info.device_id.clone(),
            },
            commands: vec![enroll_wmdm::syncml::Command::alert(1, "1201")],
            is_final: true,
        }
        .to_xml()
    };
    // No client certificate.
    let r = env.http.post(&url).body(msg("9", 1)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A certificate we did not issue: the TLS handshake fails.
    let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
    let foreign = enroll_mdm::cert::self_signed(
        &key,
        &common_name("intruder").unwrap(),
        enroll_mdm::cert::CertificateKind::ClientIdentity,
        std::time::Duration::from_secs(3600),
    )
    .unwrap();
    let intruder = tls_client(
        &[env.server.ca_cert_der()],
        Some((foreign, key.to_pkcs8_der().unwrap().to_vec())),
    );
    assert!(intruder.post(&url).body(msg("9", 1)).send().await.is_err());
    // Our certificate, a session that never ends: cut after the limit.
    let cert = base64_decode(d.state().cert_der.as_deref().unwrap());
    let k = base64_decode(d.state().key_pkcs8.as_deref().unwrap());
    let dev = tls_client(&[env.server.ca_cert_der()], Some((cert, k)));
    let mut last = StatusCode::OK;
    let mut n = 1;
    while n <= 40 {
        let r = dev.post(&url).body(msg("77", n)).send().await.unwrap();
        last = r.status();
        if !last.is_success() {
            break;
        }
        n += 1;
    }
    assert_eq!(last, StatusCode::CONFLICT, "the session was cut");
    assert!(n <= 17, "cut after {n} messages");
    // Garbage SyncML is refused clearly.
    let r = dev.post(&url).body("<SyncML><x/></SyncML>").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    env.server.shutdown().await;
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
