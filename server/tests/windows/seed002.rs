//! Seed 002: Windows bulk enrollment with an Entra bulk token, against the simulated tenant.

use super::main_helpers::*;
use enroll_wmdm::mde2::{DiscoverRequest, DiscoverResponse, EnrollRequest};
use enroll_wmdm::soap::{self, Envelope};
use enroll_wsim::Credential;
use reqwest::StatusCode;
use serde_json::json;

const DOMAIN: &str = "miwinqe.onmicrosoft.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed002_bulk_token_package_user_mfa_sync_and_device_enrollment() {
    let env = start("seed002").await;
    // Off until connected: the domain is OnPremise.
    let disco = |upn: String| {
        let env = &env;
        async move {
            let req = DiscoverRequest {
                email: upn,
                request_version: "4.0".into(),
                device_type: "CIMClient_Windows".into(),
                application_version: "10.0".into(),
                auth_policies: vec![],
            };
            let (_, t) = env
                .soap("/EnrollmentServer/Discovery.svc", req.to_xml("m", "x"))
                .await;
            DiscoverResponse::read(&Envelope::parse(&t).unwrap())
                .unwrap()
                .auth_policy
                .as_str()
                .to_owned()
        }
    };
    assert_eq!(disco(format!("x@{DOMAIN}")).await, "OnPremise");
    let (s, v) = env
        .post("/api/v1/admin/windows/entra/tenant", json!({ "domain": DOMAIN }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    env.post(
        "/api/v1/admin/windows/entra/users",
        json!({ "upn": format!("admin-mfa@{DOMAIN}"), "mfa": true }),
    )
    .await;
    env.post(
        "/api/v1/admin/windows/entra/users",
        json!({ "upn": format!("admin@{DOMAIN}"), "mfa": false }),
    )
    .await;
    // The requesting admin has MFA: refused. Lifetime above 180 days: refused.
    let (s, v) = env
        .post(
            "/api/v1/admin/windows/entra/bulk-token",
            json!({ "admin_upn": format!("admin-mfa@{DOMAIN}"), "expires_in_days": 30 }),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("multi-factor"),
        "{v}"
    );
    let (s, _) = env
        .post(
            "/api/v1/admin/windows/entra/bulk-token",
            json!({ "admin_upn": format!("admin@{DOMAIN}"), "expires_in_days": 181 }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = env
        .post(
            "/api/v1/admin/windows/entra/bulk-token",
            json!({ "admin_upn": format!("admin@{DOMAIN}"), "expires_in_days": 180 }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    let package_upn = v["package_upn"].as_str().unwrap().to_owned();
    let local = package_upn.strip_suffix(&format!("@{DOMAIN}")).unwrap();
    assert!(
        uuid::Uuid::parse_str(local.strip_prefix("package_").unwrap()).is_ok(),
        "{package_upn}"
    );
    assert_eq!(disco(package_upn.clone()).await, "Federated");
    let cred = Credential::EntraBulkToken {
        token: token.clone(),
        package_upn: package_upn.clone(),
        discovery_url: env.base.clone(),
    };
    // Not synced yet: the install fails, twice the same way, and leaves no device behind.
    let mut pc = env.device(cred.clone());
    let first = pc.run(&quiet).await.unwrap_err().to_string();
    assert!(
        first.contains("Authorization") && first.contains("sync"),
        "{first}"
    );
    pc.reset().unwrap();
    let second = pc.run(&quiet).await.unwrap_err().to_string();
    assert_eq!(first, second);
    assert_eq!(env.device_count().await, 0);
    assert_eq!(
        env.get("/api/v1/admin/windows/entra/devices")
            .await
            .as_array()
            .unwrap()
            .len(),
        1,
        "one device object, not two"
    );
    // Synced: the same PC enrolls as a device enrollment (My/System, device id as subject).
    let (s, v) = env.post("/api/v1/admin/windows/entra/sync", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["created"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u == package_upn.as_str()));
    pc.reset().unwrap();
    pc.run(&quiet).await.unwrap();
    assert_eq!(pc.state().cert_store.as_deref(), Some("System"));
    let entra_id = pc.state().entra_device_id.clone().unwrap();
    let cert = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(pc.state().cert_der.as_deref().unwrap())
            .unwrap()
    };
    let subject = enroll_mdm::cert::ParsedCertificate::from_der(&cert)
        .unwrap()
        .subject();
    assert_eq!(subject, format!("CN={entra_id}"));
    let list = env.windows_devices().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["enrollment"], "device");
    assert_eq!(list[0]["state"], "active");
    assert_eq!(list[0]["entra_device_id"], entra_id.as_str());
    assert_eq!(list[0]["bulk_owner"], package_upn.as_str());
    let objects = env.get("/api/v1/admin/windows/entra/devices").await;
    let obj = objects
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == entra_id.as_str())
        .unwrap();
    assert_eq!(obj["owner"], package_upn.as_str());
    // The package user gets MFA: redemption fails for the next PC.
    env.post(
        "/api/v1/admin/windows/entra/users",
        json!({ "upn": package_upn, "mfa": true }),
    )
    .await;
    let mut next = env.device(cred);
    let err = next.run(&quiet).await.unwrap_err().to_string();
    assert!(err.contains("AADSTS50076"), "{err}");
    assert_eq!(env.windows_devices().await.len(), 1);
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_or_wrongly_signed_entra_tokens_are_refused() {
    let env = start("seed002-tokens").await;
    env.post("/api/v1/admin/windows/entra/tenant", json!({ "domain": DOMAIN }))
        .await;
    env.post(
        "/api/v1/admin/windows/entra/users",
        json!({ "upn": format!("admin@{DOMAIN}") }),
    )
    .await;
    let (_, v) = env
        .post(
            "/api/v1/admin/windows/entra/bulk-token",
            json!({ "admin_upn": format!("admin@{DOMAIN}"), "expires_in_days": 1 }),
        )
        .await;
    env.post("/api/v1/admin/windows/entra/sync", json!({})).await;
    let r = env
        .http
        .post(format!("{}/api/v1/windows/entra/token", env.base))
        .json(&json!({ "bulk_token": v["token"], "device_key": "PC-T" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let access = r.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = enroll_mdm::key::RsaPrivateKey::generate(enroll_mdm::key::RsaBits::Rsa2048).unwrap();
    let csr =
        enroll_mdm::cert::build_csr(&key, &enroll_mdm::cert::common_name("PC-T").unwrap(), None).unwrap();
    let send = |jwt: String| {
        let env = &env;
        let csr = csr.clone();
        async move {
            let body = EnrollRequest {
                csr_der: csr,
                context: vec![("DeviceID".into(), "PC-T".into())],
            }
            .to_xml(
                "m",
                "x",
                &soap::binary_security("urn:ietf:params:oauth:token-type:jwt", &jwt),
            );
            let (_, t) = env.soap("/EnrollmentServer/Enrollment.svc", body).await;
            let e = Envelope::parse(&t).unwrap();
            soap::read_fault(e.body().unwrap()).map(|f| f.reason)
        }
    };
    // One signature character changed well inside the signature (not its padding bits).
    let mut chars: Vec<char> = access.chars().collect();
    let at = chars.len() - 10;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    let forged: String = chars.into_iter().collect();
    let reason = send(forged).await.unwrap();
    assert!(reason.contains("wrong signature"), "{reason}");
    env.clock.advance(2 * 3600);
    assert!(send(access).await.unwrap().contains("expired"));
    assert_eq!(env.device_count().await, 0);
    // An expired bulk token cannot be redeemed either.
    env.clock.advance(2 * 86_400);
    let r = env
        .http
        .post(format!("{}/api/v1/windows/entra/token", env.base))
        .json(&json!({ "bulk_token": v["token"], "device_key": "PC-U" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    env.server.shutdown().await;
}
