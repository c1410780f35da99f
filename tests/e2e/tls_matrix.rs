//! The agent's TLS refusals (issue 13), each with its own typed error: expired, not yet
//! valid, wrong host, self-signed, untrusted CA, pin mismatch, and a server speaking TLS below
//! 1.2. The certificates are made with rcgen and served by rustls on loopback; the trusted CA
//! is the test's own.

use crate::support::*;
use enroll_core::tls::{SpkiPin, TrustConfig};
use enroll_core::{Credential, Error};
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d
}

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = dn(name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// A leaf for `hosts`, valid from `from` to `to` (years), signed by `ca` (self-signed if None).
fn leaf(hosts: &[&str], from: i32, to: i32, ca: Option<&Ca>) -> (Vec<u8>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name = dn("enroll test server");
    p.not_before = rcgen::date_time_ymd(from, 1, 1);
    p.not_after = rcgen::date_time_ymd(to, 1, 1);
    let cert = match ca {
        Some(ca) => p.signed_by(&key, &ca.issuer).unwrap(),
        None => p.self_signed(&key).unwrap(),
    };
    (cert.der().to_vec(), key.serialize_der())
}

/// Serves TLS with this certificate; every handshake is answered, nothing else.
async fn tls_server(cert: Vec<u8>, key: Vec<u8>) -> String {
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
            )
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

/// A server that answers every ClientHello with a TLS 1.1 ServerHello (as a server configured
/// for TLS 1.0/1.1 only does).
async fn tls11_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                // ServerHello: version 3.2, 32-byte random, empty session id,
                // TLS_RSA_WITH_AES_128_CBC_SHA, no compression.
                let mut body = vec![0x03, 0x02];
                body.extend_from_slice(&[7u8; 32]);
                body.extend_from_slice(&[0x00, 0x00, 0x2f, 0x00]);
                let mut hs = vec![0x02, 0x00, 0x00, body.len() as u8];
                hs.extend_from_slice(&body);
                let mut record = vec![0x16, 0x03, 0x02, 0x00, hs.len() as u8];
                record.extend_from_slice(&hs);
                let _ = tcp.write_all(&record).await;
                let _ = tcp.read(&mut buf).await;
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

async fn refusal(url: &str, trust: TrustConfig) -> Error {
    let device = Device::ios("UDID-TLS-MATRIX");
    let agent = device.agent_with(trust, |c| c.client.retry.max_attempts = 1);
    agent
        .enroll(url, Credential::token("enr_0123456789abcdef0123").unwrap())
        .await
        .unwrap_err()
}

/// A case: its name, the server URL, the agent's trust, the expected error.
type Case = (&'static str, String, TrustConfig, fn(&Error) -> bool);

#[tokio::test]
async fn each_certificate_defect_and_old_tls_has_its_own_typed_error() {
    let trusted = ca("Trusted test CA");
    let other = ca("Another CA");
    let trust = || TrustConfig::with_ca(trusted.pem.as_bytes()).unwrap();
    let hosts = ["127.0.0.1", "localhost"];

    // A good certificate works (the harness is sound): the handshake passes and the request
    // reaches the (handshake-only) server, which closes: a network error, not a TLS one.
    let (c, k) = leaf(&hosts, 2020, 2090, Some(&trusted));
    let good = tls_server(c.clone(), k).await;
    let err = refusal(&good, trust()).await;
    assert!(matches!(err, Error::Network(_)), "{err:?}");

    let cases: Vec<Case> = vec![
        (
            "expired",
            {
                let (c, k) = leaf(&hosts, 2010, 2012, Some(&trusted));
                tls_server(c, k).await
            },
            trust(),
            |e| matches!(e, Error::CertificateExpired),
        ),
        (
            "not yet valid",
            {
                let (c, k) = leaf(&hosts, 2080, 2090, Some(&trusted));
                tls_server(c, k).await
            },
            trust(),
            |e| matches!(e, Error::CertificateNotYetValid),
        ),
        (
            "wrong host",
            {
                let (c, k) = leaf(&["other.example.com"], 2020, 2090, Some(&trusted));
                tls_server(c, k).await
            },
            trust(),
            |e| matches!(e, Error::CertificateWrongHost),
        ),
        (
            "self-signed",
            {
                let (c, k) = leaf(&hosts, 2020, 2090, None);
                tls_server(c, k).await
            },
            trust(),
            |e| matches!(e, Error::CertificateSelfSigned),
        ),
        (
            "untrusted CA",
            {
                let (c, k) = leaf(&hosts, 2020, 2090, Some(&other));
                tls_server(c, k).await
            },
            trust(),
            |e| matches!(e, Error::CertificateUnknownIssuer),
        ),
        (
            "pin mismatch",
            good.clone(),
            {
                let mut t = trust();
                t.spki_pins = vec![SpkiPin([1u8; 32])];
                t
            },
            |e| matches!(e, Error::PinMismatch),
        ),
        ("TLS 1.1", tls11_server().await, trust(), |e| {
            matches!(e, Error::TlsVersionRefused)
        }),
    ];
    for (name, url, trust, ok) in cases {
        let err = refusal(&url, trust).await;
        assert!(ok(&err), "{name}: got {err:?}");
        assert!(!err.is_transient(), "{name}: a TLS refusal is never retried");
        // The user-facing text is specific and names no secret.
        assert!(!err.to_string().is_empty());
    }
    // The right pin still passes the TLS layer.
    let mut t = trust();
    t.spki_pins = vec![SpkiPin::of_certificate(&c).unwrap()];
    assert!(matches!(refusal(&good, t).await, Error::Network(_)));
}
