//! Hostile and broken servers: every bad reply gives a clear, typed error, and nothing is
//! installed.

use crate::support::*;
use enroll_core::profile::ProfileError;
use enroll_core::tls::{SpkiPin, TrustConfig};
use enroll_core::{Credential, Error};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn enroll_json() -> Canned {
    Canned::json(serde_json::json!({
        "enrollment_id": "e1", "enrollment_secret": "s3cr3t", "device_id": "d1",
        "kind": "new", "profile_validity_secs": 300
    }))
}

fn edit_plist(bytes: &[u8], edit: impl FnOnce(&mut plist::Dictionary)) -> Vec<u8> {
    let mut value = plist::Value::from_reader(std::io::Cursor::new(bytes)).unwrap();
    edit(value.as_dictionary_mut().unwrap());
    let mut out = Vec::new();
    value.to_writer_xml(&mut out).unwrap();
    out
}

fn mdm_payload(d: &mut plist::Dictionary) -> &mut plist::Dictionary {
    d.get_mut("PayloadContent")
        .unwrap()
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .map(|v| v.as_dictionary_mut().unwrap())
        .find(|p| p.get("PayloadType").and_then(|t| t.as_string()) == Some("com.apple.mdm"))
        .unwrap()
}

/// Runs an enrollment against a hostile server whose profile route returns `profile`.
async fn against(
    enroll: Canned,
    profile: impl Fn(&enroll_server::pki::Pki) -> Canned + Send + Sync + 'static,
) -> (Error, Device) {
    let pki_slot: Arc<std::sync::OnceLock<Canned>> = Arc::new(std::sync::OnceLock::new());
    let slot = pki_slot.clone();
    let h = hostile(move |path| {
        if path.ends_with("/profile") {
            slot.get()
                .cloned()
                .unwrap_or_else(|| Canned::raw(500, "text/plain", b"not ready".to_vec()))
        } else {
            enroll.clone()
        }
    })
    .await;
    let _ = pki_slot.set(profile(&h.pki));
    let device = Device::ios("UDID-HOSTILE");
    let agent = device.agent_with(TrustConfig::with_ca(h.ca_pem.as_bytes()).unwrap(), |c| {
        c.client.retry.max_attempts = 2
    });
    let err = agent
        .enroll(&h.url, Credential::token("ent_hostile-test-token").unwrap())
        .await
        .unwrap_err();
    assert!(
        device.installer.records().is_empty(),
        "nothing installed after {err}"
    );
    assert!(
        !err.to_string().contains("s3cr3t") && !err.to_string().contains("one-time"),
        "{err}"
    );
    (err, device)
}

fn signed(pki: &enroll_server::pki::Pki, content: &[u8]) -> Canned {
    Canned::raw(
        200,
        "application/x-apple-aspen-config",
        pki.signer().sign(content).unwrap(),
    )
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024)).into_bytes();
    let (err, _) = against(Canned::raw(200, "application/json", big.clone()), |_| {
        enroll_json()
    })
    .await;
    assert!(matches!(err, Error::ResponseTooLarge { .. }), "{err}");
    // Without Content-Length the limit holds while streaming.
    let chunked = Canned {
        status: 200,
        content_type: "application/json".into(),
        body: big,
        content_length: false,
        headers: Vec::new(),
    };
    let (err, _) = against(chunked, |_| enroll_json()).await;
    assert!(matches!(err, Error::ResponseTooLarge { .. }), "{err}");
    let (err, _) = against(enroll_json(), |_| {
        Canned::raw(200, "application/x-apple-aspen-config", vec![0x30; 300 * 1024])
    })
    .await;
    assert!(matches!(err, Error::ResponseTooLarge { .. }), "{err}");
}

#[tokio::test]
async fn malformed_json_and_wrong_content_types_are_refused() {
    let (err, _) = against(
        Canned::raw(200, "application/json", b"{\"enrollment_id\": ".to_vec()),
        |_| enroll_json(),
    )
    .await;
    assert!(matches!(err, Error::MalformedResponse(_)), "{err}");
    let (err, _) = against(Canned::json(serde_json::json!({"enrollment_id": 5})), |_| {
        enroll_json()
    })
    .await;
    assert!(matches!(err, Error::MalformedResponse(_)), "{err}");
    let (err, _) = against(
        Canned::raw(200, "text/html", b"<html>login</html>".to_vec()),
        |_| enroll_json(),
    )
    .await;
    assert!(matches!(err, Error::ContentType { .. }), "{err}");
    let (err, _) = against(enroll_json(), |pki| {
        let mut c = signed(pki, &enrollment_plist("https://mdm.example.com"));
        c.content_type = "application/octet-stream".into();
        c
    })
    .await;
    assert!(matches!(err, Error::ContentType { .. }), "{err}");
}

#[tokio::test]
async fn bad_profiles_are_refused() {
    let base = "https://mdm.example.com";
    let (err, _) = against(enroll_json(), |pki| signed(pki, b"<plist><dict><key>Payload")).await;
    assert!(
        matches!(err, Error::Profile(ProfileError::MalformedPlist(_))),
        "{err}"
    );

    let (err, _) = against(enroll_json(), |_| {
        Canned::raw(200, "application/x-apple-aspen-config", enrollment_plist(base))
    })
    .await;
    assert!(
        matches!(err, Error::Profile(ProfileError::NotSigned(_))),
        "missing signature: {err}"
    );

    let (err, _) = against(enroll_json(), |pki| {
        let mut c = signed(pki, &enrollment_plist(base));
        let last = c.body.len() - 1;
        c.body[last] ^= 0x01;
        c
    })
    .await;
    assert!(
        matches!(err, Error::Profile(ProfileError::BadSignature)),
        "bad signature: {err}"
    );

    let (err, _) = against(enroll_json(), |pki| {
        let mut c = signed(pki, &enrollment_plist(base));
        let at = c.body.windows(13).position(|w| w == b"Configuration").unwrap();
        c.body[at] = b'K';
        c
    })
    .await;
    assert!(
        matches!(err, Error::Profile(ProfileError::DigestMismatch)),
        "tampered content: {err}"
    );

    let (err, _) = against(enroll_json(), |_| {
        let other = enroll_server::pki::Pki::ephemeral(&["localhost".into()]).unwrap();
        signed(&other, &enrollment_plist(base))
    })
    .await;
    assert!(
        matches!(err, Error::Profile(ProfileError::UntrustedSigner(_))),
        "untrusted signer: {err}"
    );

    let (err, _) = against(enroll_json(), |pki| {
        signed(
            pki,
            &edit_plist(&enrollment_plist(base), |d| {
                mdm_payload(d).remove("Topic");
            }),
        )
    })
    .await;
    assert_eq!(
        err.to_string(),
        Error::Profile(ProfileError::MissingKey("Topic".into())).to_string()
    );

    let (err, _) = against(enroll_json(), |pki| {
        signed(
            pki,
            &edit_plist(&enrollment_plist(base), |d| {
                d.insert("PayloadExpirationDate".into(), "tomorrow".into());
            }),
        )
    })
    .await;
    // Optional (profiles without it install: foreign_profile.rs), but a date when present.
    assert!(
        matches!(err, Error::Profile(ProfileError::InvalidValue { ref key, .. }) if key == "PayloadExpirationDate"),
        "{err}"
    );

    let (err, _) = against(enroll_json(), |pki| {
        signed(pki, &enrollment_plist("http://mdm.example.com"))
    })
    .await;
    assert!(
        matches!(err, Error::Profile(ProfileError::InvalidValue { ref key, .. }) if key == "ServerURL"),
        "http ServerURL: {err}"
    );
}

#[tokio::test]
async fn http_urls_are_refused_unless_loopback_development() {
    let device = Device::ios("UDID-HTTP");
    let agent = device.agent_with(
        TrustConfig {
            public_roots: true,
            ..TrustConfig::default()
        },
        |_| {},
    );
    let cred = || Credential::token("ent_some-token-value").unwrap();
    assert!(matches!(
        agent.enroll("http://mdm.example.com/go", cred()).await,
        Err(Error::InsecureUrl(_))
    ));
    assert!(matches!(
        agent.enroll("http://127.0.0.1:9/go", cred()).await,
        Err(Error::InsecureUrl(_))
    ));
}

#[tokio::test]
async fn untrusted_certificates_and_pin_mismatches_are_refused() {
    let env = env().await;
    user(&env, "t@example.com", Some("pw")).await;
    let cred = || Credential::password("t@example.com", "pw").unwrap();
    let other = enroll_server::pki::Pki::ephemeral(&["localhost".into()]).unwrap();

    let device = Device::ios("UDID-TLS-1");
    let agent = device.agent_with(TrustConfig::with_ca(other.ca_pem().as_bytes()).unwrap(), |_| {});
    let err = agent.enroll(&env.server.base_url(), cred()).await.unwrap_err();
    assert!(matches!(err, Error::CertificateUnknownIssuer), "{err}");

    let mut trust = trust_of(&env.server);
    trust.spki_pins = vec![SpkiPin([9u8; 32])];
    let device = Device::ios("UDID-TLS-2");
    let err = device
        .agent_with(trust.clone(), |_| {})
        .enroll(&env.server.base_url(), cred())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PinMismatch), "{err}");

    // The right pin (of the server's own certificate) works.
    let chain = env.server.app().pki().server_cert_chain();
    trust.spki_pins = vec![
        SpkiPin([9u8; 32]),
        SpkiPin::of_certificate(chain[0].as_ref()).unwrap(),
    ];
    let device = Device::ios("UDID-TLS-3");
    active_id(
        &device
            .agent_with(trust, |_| {})
            .enroll(&env.server.base_url(), cred())
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn retries_are_bounded_and_only_for_transient_failures() {
    for (status, expected_hits) in [(503u16, 3usize), (400, 1), (500, 1)] {
        let hits = Arc::new(AtomicUsize::new(0));
        let h2 = hits.clone();
        let body = if status == 500 {
            br#"{"error":{"code":"internal","message":"boom"}}"#.to_vec()
        } else {
            b"{}".to_vec()
        };
        let h = hostile(move |_| {
            h2.fetch_add(1, Ordering::SeqCst);
            Canned::raw(status, "application/json", body.clone())
        })
        .await;
        let device = Device::ios("UDID-RETRY");
        let agent = device.agent_with(TrustConfig::with_ca(h.ca_pem.as_bytes()).unwrap(), |c| {
            c.client.retry.max_attempts = 3
        });
        let err = agent
            .enroll(&h.url, Credential::token("ent_retry-test-token").unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Server { status: s, .. } if s == status),
            "{err}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), expected_hits, "HTTP {status}");
    }
}
