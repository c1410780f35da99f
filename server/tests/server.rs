//! The route table against `docs/openapi.json`, and the real listener (TLS on loopback).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use enroll_server::{route_table, start, ServerConfig, ServerError};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn openapi_routes() -> BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut out = BTreeSet::new();
    for (p, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch", "head", "options"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), p.clone()));
            }
        }
    }
    out
}

#[test]
fn openapi_lists_exactly_the_route_table() {
    let table: BTreeSet<(String, String)> = route_table()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(table.len(), route_table().len(), "no duplicate routes");
    assert_eq!(openapi_routes(), table);
}

#[tokio::test]
async fn every_route_is_routed() {
    let h = Harness::new();
    for (method, path) in route_table() {
        let concrete = path
            .replace("{id}", "some-id")
            .replace("{email}", "someone%40example.com");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        // No credentials, no body: each route answers with its own error (or page), never a
        // routing 404/405.
        let r = h.call(m, &concrete, &[], None).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if r.status == StatusCode::NOT_FOUND {
            assert_ne!(r.json()["error"]["message"], "no such route", "{method} {path}");
        }
    }
}

fn tls_connector(ca_der: Vec<u8>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls_pki_types::CertificateDer::from(ca_der)).unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// One HTTP/1.1 request over TLS; returns (status, raw response text).
async fn https_get(
    addr: std::net::SocketAddr,
    host: &str,
    ca_der: Vec<u8>,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from(host.to_string()).unwrap();
    let mut tls = tls_connector(ca_der).connect(name, tcp).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    tls.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, text))
}

#[tokio::test]
async fn serves_tls_with_its_ca_and_persists_identity() {
    let dir = temp_dir("tls");
    let mut config = ServerConfig::new(&dir);
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.hostnames = vec!["mdm.example.test".into()];
    let server = start(config.clone()).await.unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(server.base_url(), format!("https://127.0.0.1:{}", addr.port()));
    let fp = server.ca_fingerprint();
    assert_eq!(fp.len(), 95);
    assert!(server.ca_cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let admin = server.admin_token().expose().to_string();

    for host in ["127.0.0.1", "localhost", "mdm.example.test"] {
        let (status, text) = https_get(addr, host, server.ca_cert_der(), "/api/v1/info")
            .await
            .unwrap();
        assert_eq!(status, 200, "{host}: {text}");
        assert!(text.to_ascii_lowercase().contains("enroll-protocol: 1"));
    }
    // Unknown route over the wire: JSON 404.
    let (status, text) = https_get(addr, "127.0.0.1", server.ca_cert_der(), "/nope")
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert!(text.contains("\"not_found\""));
    // Another CA is not trusted.
    let other = enroll_server::pki::Pki::ephemeral(&[]).unwrap();
    assert!(
        https_get(addr, "127.0.0.1", other.ca_der().to_vec(), "/api/v1/info")
            .await
            .is_err()
    );
    // A name outside the SANs is refused.
    assert!(
        https_get(addr, "evil.example", server.ca_cert_der(), "/api/v1/info")
            .await
            .is_err()
    );
    server.shutdown().await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in [
            "admin-token",
            "server-secret",
            "ca.key",
            "server.key",
            "signer.key",
        ] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        assert_eq!(std::fs::read(dir.join("server-secret")).unwrap().len(), 32);
    }

    // Restart on the same data directory: same CA, same admin token.
    let again = start(config).await.unwrap();
    assert_eq!(again.ca_fingerprint(), fp);
    assert_eq!(again.admin_token().expose(), admin);
    again.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn plain_http_only_on_loopback() {
    let dir = temp_dir("http");
    let mut config = ServerConfig::new(&dir);
    config.insecure_http = true;
    config.bind = "0.0.0.0:0".parse().unwrap();
    match start(config.clone()).await {
        Err(ServerError::Config(msg)) => assert!(msg.contains("loopback")),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    config.bind = "127.0.0.1:0".parse().unwrap();
    let server = start(config).await.unwrap();
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(b"GET /api/v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = String::new();
    tcp.read_to_string(&mut buf).await.unwrap();
    assert!(buf.starts_with("HTTP/1.1 200"), "{buf}");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn defaults() {
    let c = ServerConfig::new("/tmp/x");
    assert_eq!(c.bind.to_string(), "127.0.0.1:8443");
    assert_eq!(c.profile_validity.as_secs(), 300);
    assert_eq!(c.pin_max_attempts, 5);
    assert_eq!(c.pin_ttl.as_secs(), 86_400);
    assert!(!c.insecure_http);
}

/// `Debug` of the server's configuration types that hold secrets (issue 13): the APNs key and
/// a device's `PushMagic` never show; the configuration shows no secret of the running server
/// (its admin token lives in the data directory, not in the config).
#[tokio::test]
async fn config_types_redact_their_debug() {
    use enroll_proto::secret::SecretString;
    use enroll_server::push::{ApnsConfig, PushTarget};
    let key = "-----BEGIN PRIVATE KEY-----\nPlantedApnsKeyMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----";
    let apns = ApnsConfig {
        base_url: "https://127.0.0.1:1".into(),
        cert_pem: Vec::new(),
        key_pem: SecretString::new(key),
        extra_roots: Vec::new(),
        timeout: std::time::Duration::from_secs(5),
    };
    let shown = format!("{apns:?}");
    assert!(!shown.contains("PlantedApnsKey"), "{shown}");
    let magic = "Planted-PushMagic-77aa";
    let target = PushTarget {
        token: vec![0x5a; 32],
        push_magic: SecretString::new(magic),
        topic: "com.apple.mgmt.x".into(),
    };
    let shown = format!("{target:?}");
    assert!(!shown.contains(magic) && !shown.contains("90, 90, 90"), "{shown}");

    let dir = temp_dir("debug");
    let mut config = ServerConfig::new(&dir);
    config.bind = "127.0.0.1:0".parse().unwrap();
    let shown = format!("{config:?}");
    let server = start(config).await.unwrap();
    let admin = server.admin_token().expose().to_owned();
    assert!(admin.len() >= 16);
    for shown in [shown, format!("{server:?}")] {
        assert!(!shown.contains(&admin), "{shown}");
    }
    server.shutdown().await;
}

/// A reqwest client trusting only `ca_der`, forced to one HTTP version (ALPN offers only it).
fn client(ca_der: &[u8], http2: bool) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(ca_der.to_vec()))
        .unwrap();
    let mut tls =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    tls.alpn_protocols = vec![if http2 {
        b"h2".to_vec()
    } else {
        b"http/1.1".to_vec()
    }];
    let builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy();
    let builder = if http2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    builder.build().unwrap()
}

/// Every refusal of a request whose body the server does not read reaches the client as its
/// JSON error, over HTTP/1.1 and HTTP/2 (issue 13: HTTP/2 used to reset the stream instead).
#[tokio::test]
async fn refusals_with_unread_bodies_reach_http1_and_http2_clients() {
    let dir = temp_dir("refusals");
    let mut config = ServerConfig::new(&dir);
    config.bind = "127.0.0.1:0".parse().unwrap();
    let server = start(config).await.unwrap();
    let base = server.base_url();
    let big_json = format!("{{\"pad\":\"{}\"}}", "x".repeat(100 * 1024));
    let small_json = "{\"email\":\"someone@example.com\"}".to_string();
    for http2 in [false, true] {
        let c = client(&server.ca_cert_der(), http2);
        let version = if http2 {
            reqwest::Version::HTTP_2
        } else {
            reqwest::Version::HTTP_11
        };
        let cases: [(reqwest::Method, &str, String, u16, &str); 4] = [
            (
                reqwest::Method::POST,
                "/api/v1/enrollments",
                big_json.clone(),
                413,
                "payload_too_large",
            ),
            (
                reqwest::Method::POST,
                "/api/v1/admin/users",
                small_json.clone(),
                401,
                "unauthorized",
            ),
            (
                reqwest::Method::POST,
                "/api/v1/admin/users",
                big_json.clone(),
                401,
                "unauthorized",
            ),
            (
                reqwest::Method::PUT,
                "/api/v1/no-such-route",
                big_json.clone(),
                404,
                "not_found",
            ),
        ];
        for (method, path, body, status, code) in cases {
            // Several rounds on one connection: a reset stream must not poison the next request.
            for round in 0..3 {
                let what = format!(
                    "{method} {path} ({} bytes, {version:?}, round {round})",
                    body.len()
                );
                let resp = c
                    .request(method.clone(), format!("{base}{path}"))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{what}: no reply: {e:?}"));
                assert_eq!(resp.version(), version, "{what}");
                assert_eq!(resp.status().as_u16(), status, "{what}");
                let bytes = resp
                    .bytes()
                    .await
                    .unwrap_or_else(|e| panic!("{what}: no body: {e:?}"));
                let json: serde_json::Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {bytes:?}"));
                assert_eq!(json["error"]["code"], code, "{what}: {json}");
                assert!(
                    json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{what}"
                );
            }
        }
    }
    server.shutdown().await;
}

/// Password (and PIN) guessing is limited per account and per source address (issue 13): a
/// typed `rate_limited` error with `retry_after_secs` and `Retry-After`, lifted by the clock.
#[tokio::test]
async fn credential_guessing_is_rate_limited_per_account_and_source() {
    const PW: &str = "correct horse battery staple";
    let h = Harness::new();
    h.create_user("alice@example.com", Some(PW), false).await;
    h.create_user("carol@example.com", Some(PW), false).await;
    let dev = device("ios", "17.4", "udid-rl");
    let attempt = |user: &str, pw: &str| serde_json::json!({"credential": password(user, pw), "device": dev});
    for _ in 0..10 {
        let r = h.enroll(&h.key(), &attempt("alice@example.com", "wrong")).await;
        assert_eq!(r.code(), "invalid_credentials");
    }
    // The account is locked, even for the right password (a lock must teach nothing).
    let r = h.enroll(&h.key(), &attempt("ALICE@example.com", PW)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.code(), "rate_limited");
    let secs = r.json()["error"]["retry_after_secs"].as_u64().unwrap();
    assert!((1..=900).contains(&secs), "{secs}");
    assert_eq!(r.headers["retry-after"].to_str().unwrap(), secs.to_string());
    // Another account from the same source still signs in.
    let r = h.enroll(&h.key(), &attempt("carol@example.com", PW)).await;
    assert!(r.status.is_success(), "{}", r.text());
    // When the window ends, the right password works again.
    h.clock.advance(secs as i64);
    let r = h.enroll(&h.key(), &attempt("alice@example.com", PW)).await;
    assert!(r.status.is_success(), "{}", r.text());

    // Per source: 30 failures over many accounts, then every account is refused.
    let h = Harness::new();
    h.create_user("dave@example.com", Some(PW), false).await;
    for i in 0..30 {
        let r = h
            .enroll(&h.key(), &attempt(&format!("guess{i}@example.com"), "x"))
            .await;
        assert_eq!(r.code(), "invalid_credentials", "{i}");
    }
    let r = h.enroll(&h.key(), &attempt("dave@example.com", PW)).await;
    assert_eq!(r.code(), "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
}

/// Token guessing (tokens name no account) is limited per source: 30 wrong tokens, then even
/// a valid token from that source is refused until the window ends; a valid token's success
/// does not reset the source's count (else one good token would let guessing go on forever).
#[tokio::test]
async fn token_guessing_is_rate_limited_per_source() {
    let h = Harness::new();
    h.create_user("tok@example.com", None, false).await;
    let good = h.token("tok@example.com", Some(30), false).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let dev = |i: usize| device("ios", "17.4", &format!("udid-tok-{i}"));
    for i in 0..30 {
        if i == 15 {
            let r = h
                .enroll(
                    &h.key(),
                    &serde_json::json!({"credential": token(&good), "device": dev(1000)}),
                )
                .await;
            assert!(r.status.is_success(), "{}", r.text());
        }
        let guess = format!("enr_{:0>40}", i);
        let r = h
            .enroll(
                &h.key(),
                &serde_json::json!({"credential": token(&guess), "device": dev(i)}),
            )
            .await;
        assert_eq!(r.code(), "invalid_token", "{i}: {}", r.text());
    }
    let r = h
        .enroll(
            &h.key(),
            &serde_json::json!({"credential": token(&good), "device": dev(2000)}),
        )
        .await;
    assert_eq!(r.code(), "rate_limited", "{}", r.text());
    let secs = r.json()["error"]["retry_after_secs"].as_u64().unwrap();
    h.clock.advance(secs as i64);
    let r = h
        .enroll(
            &h.key(),
            &serde_json::json!({"credential": token(&good), "device": dev(2000)}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text());
}

/// The HTTP/2 root cause of issue 13, frame by frame: a refused request whose body the server
/// did not read must end without a `RST_STREAM` (curl 7.88 drops the reply when one reaches it
/// during its upload; reqwest tolerates `NO_ERROR`, so the test above alone would not see it).
#[tokio::test]
async fn http2_refusals_end_the_stream_without_a_reset() {
    let dir = temp_dir("h2-reset");
    let mut config = ServerConfig::new(&dir);
    config.bind = "127.0.0.1:0".parse().unwrap();
    let server = start(config).await.unwrap();
    let addr = server.local_addr();
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(100 * 1024));
    for (method, path, status) in [
        ("POST", "/api/v1/enrollments", 413),
        ("POST", "/api/v1/admin/users", 401),
        ("PUT", "/api/v1/no-such-route", 404),
    ] {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls_pki_types::CertificateDer::from(server.ca_cert_der()))
            .unwrap();
        let mut tls =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(name, tcp)
            .await
            .unwrap();
        let (client, conn) = h2::client::handshake(stream).await.unwrap();
        tokio::spawn(conn);
        let mut client = client.ready().await.unwrap();
        let req = axum::http::Request::builder()
            .method(method)
            .uri(format!("https://{addr}{path}"))
            .header("content-type", "application/json")
            .header("content-length", body.len())
            .body(())
            .unwrap();
        let (resp, mut send) = client.send_request(req, false).unwrap();
        send.send_data(axum::body::Bytes::from(body.clone()), true)
            .unwrap();
        let resp = resp.await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        let mut recv = resp.into_body();
        let mut got = Vec::new();
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.unwrap();
            let _ = recv.flow_control().release_capacity(chunk.len());
            got.extend_from_slice(&chunk);
        }
        let json: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert!(json["error"]["code"].is_string(), "{json}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let reset = std::future::poll_fn(|cx| match send.poll_reset(cx) {
            std::task::Poll::Ready(r) => std::task::Poll::Ready(r.ok()),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await;
        assert_eq!(reset, None, "{method} {path}: the stream was reset");
    }
    server.shutdown().await;
}
