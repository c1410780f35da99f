//! Windows MDM (issue 12, seeds 001 and 002) against the real server over TLS on loopback,
//! with the Windows device mode (`enroll-wsim`) as the device.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod main_helpers;
mod peers;
mod resume;
mod seed002;

use enroll_wmdm::mde2::{self, DiscoverRequest, DiscoverResponse};
use enroll_wmdm::soap::Envelope;
use enroll_wsim::Credential;
use main_helpers::*;
use reqwest::StatusCode;
use serde_json::json;

const BULK: &str = "windows-bulkenroll-user1@abc.com";
const PW: &str = "Bulk-pass-1!";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_answers_get_and_post_at_the_svc_and_at_the_bare_host() {
    let env = start("disco").await;
    let r = env
        .http
        .get(format!("{}/EnrollmentServer/Discovery.svc", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for path in ["/EnrollmentServer/Discovery.svc", "/"] {
        let req = DiscoverRequest {
            email: BULK.into(),
            request_version: "4.0".into(),
            device_type: "CIMClient_Windows".into(),
            application_version: "10.0.22631".into(),
            auth_policies: vec!["OnPremise".into(), "Federated".into()],
        };
        let (s, text) = env.soap(path, req.to_xml("urn:uuid:42", &env.base)).await;
        assert_eq!(s, StatusCode::OK, "{text}");
        let env2 = Envelope::parse(&text).unwrap();
        assert_eq!(env2.action, mde2::ACTION_DISCOVER_RESPONSE);
        let rep = DiscoverResponse::read(&env2).unwrap();
        assert_eq!(rep.auth_policy, mde2::AuthPolicy::OnPremise);
        assert_eq!(
            rep.policy_url,
            format!("{}/EnrollmentServer/Policy.svc", env.base)
        );
        assert_eq!(
            rep.enrollment_url,
            format!("{}/EnrollmentServer/Enrollment.svc", env.base)
        );
        assert!(text.contains("urn:uuid:42"), "RelatesTo echoes the MessageID");
    }
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed001_one_package_enrolls_many_devices_then_assign_to_a_real_user() {
    let env = start("seed001").await;
    env.user(BULK, PW).await;
    env.user("alice@abc.com", "Alice-pass-1").await;
    let package = env.package(BULK, PW).await;
    assert_eq!(package.enrollment.auth_policy, "OnPremise");
    assert_eq!(package.enrollment.discovery_url, env.base);
    let mut devices = Vec::new();
    for _ in 0..3 {
        let mut d = env.device(Credential::Package(package.clone()));
        d.run(&quiet).await.unwrap();
        assert_eq!(d.state().cert_store.as_deref(), Some("User"));
        devices.push(d);
    }
    let list = env.windows_devices().await;
    assert_eq!(list.len(), 3);
    for v in &list {
        assert_eq!(v["platform"], "windows");
        assert_eq!(v["state"], "active", "{v}");
        assert_eq!(v["bulk_enrolled"], true);
        assert_eq!(v["bulk_owner"], BULK);
        assert_eq!(v["user"], BULK);
        assert_eq!(v["manufacturer"], "Contoso Computers");
        assert_eq!(v["model"], "Surface-like 9");
        assert_eq!(
            v["os_version"], "10.0.22631.4460",
            "the Get ./DevDetail/SwV result"
        );
    }
    // Assign the first PC to Alice: owner changes, history says so, same certificate checks in.
    let first = devices[0].info.device_id.clone();
    let rec = list.iter().find(|v| v["hw_dev_id"] == first.as_str()).unwrap();
    let id = rec["id"].as_str().unwrap();
    let serial = rec["certificate_serial"].clone();
    let (s, v) = env
        .post(
            &format!("/api/v1/admin/windows/devices/{id}/assign"),
            json!({ "user": "alice@abc.com" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["password_change_required"], true);
    devices[0].config.sessions = 2;
    devices[0].run(&quiet).await.unwrap();
    let list = env.windows_devices().await;
    let rec = list.iter().find(|v| v["id"] == id).unwrap();
    assert_eq!(rec["user"], "alice@abc.com");
    assert_eq!(rec["bulk_owner"], BULK);
    assert_eq!(rec["certificate_serial"], serial);
    assert!(rec["history"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["event"] == "assigned" && h["detail"].as_str().unwrap().contains("alice@abc.com")));
    // Alice's first sign-in requires a password change, then signs in normally.
    let sign_in = |body: serde_json::Value| env.post("/api/v1/windows/sign-in", body);
    let (s, v) = sign_in(json!({ "user": "alice@abc.com", "password": "Alice-pass-1" })).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("password_change_required"));
    let (s, v) = sign_in(
        json!({ "user": "alice@abc.com", "password": "Alice-pass-1", "new_password": "Alice-new-2" }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = sign_in(json!({ "user": "alice@abc.com", "password": "Alice-new-2" })).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = sign_in(json!({ "user": "alice@abc.com", "password": "Alice-pass-1" })).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed001_package_and_assignment_are_refused_outside_bulk() {
    let env = start("seed001-refusals").await;
    env.user("bob@abc.com", "Bob-pass-1").await;
    env.user(BULK, PW).await;
    let (s, v) = env
        .post(
            "/api/v1/admin/windows/packages",
            json!({ "user": "bob@abc.com", "secret": "Bob-pass-1" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("windows-bulkenroll"),
        "{v}"
    );
    let (s, _) = env
        .post(
            "/api/v1/admin/windows/packages",
            json!({ "user": BULK, "secret": "wrong" }),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Bob enrolls one PC with his own UPN + secret (a user enrollment, not bulk).
    let mut own = env.package(BULK, PW).await;
    own.enrollment.upn = "bob@abc.com".into();
    own.enrollment.secret = "Bob-pass-1".into();
    let mut d = env.device(Credential::Package(own.clone()));
    d.run(&quiet).await.unwrap();
    let list = env.windows_devices().await;
    assert_eq!(list[0]["bulk_enrolled"], false);
    let id = list[0]["id"].as_str().unwrap();
    let (s, v) = env
        .post(
            &format!("/api/v1/admin/windows/devices/{id}/assign"),
            json!({ "user": BULK }),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only available for bulk-enrolled devices"),
        "{v}"
    );
    // A second PC for Bob is refused (DeviceCapReached) and leaves nothing behind.
    let before = env.device_count().await;
    let mut second = env.device(Credential::Package(own));
    let err = second.run(&quiet).await.unwrap_err().to_string();
    assert!(err.contains("DeviceCapReached"), "{err}");
    assert_eq!(env.device_count().await, before);
    // Re-enrolling the same PC is allowed (same record).
    d.reset().unwrap();
    d.run(&quiet).await.unwrap();
    assert_eq!(env.device_count().await, before);
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed001_no_user_command_ever_reaches_a_bulk_device_and_retire_wipe_use_csps() {
    let env = start("seed001-cmds").await;
    env.user(BULK, PW).await;
    env.user("carol@abc.com", "Carol-pass-1").await;
    let package = env.package(BULK, PW).await;
    let mut a = env.device(Credential::Package(package.clone()));
    let mut b = env.device(Credential::Package(package));
    a.run(&quiet).await.unwrap();
    b.run(&quiet).await.unwrap();
    let list = env.windows_devices().await;
    let id_of = |d: &enroll_wsim::WindowsDevice<enroll_wsim::MemoryTree>| {
        list.iter()
            .find(|v| v["hw_dev_id"] == d.info.device_id.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ida, idb) = (id_of(&a), id_of(&b));
    let cmd = |id: String, uri: &'static str| {
        let env = &env;
        async move {
            env.post(
                &format!("/api/v1/admin/windows/devices/{id}/commands"),
                json!({ "verb": "Replace", "uri": uri, "data": "1" }),
            )
            .await
        }
    };
    let (s, v) = cmd(
        ida.clone(),
        "./User/Vendor/MSFT/Policy/Config/Browser/AllowCookies",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("device-level"),
        "{v}"
    );
    let (s, _) = cmd(
        ida.clone(),
        "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera",
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    env.post(
        &format!("/api/v1/admin/windows/devices/{ida}/assign"),
        json!({ "user": "carol@abc.com" }),
    )
    .await;
    let (s, _) = cmd(ida.clone(), "./user/Vendor/MSFT/Policy/Config/X").await;
    assert_eq!(s, StatusCode::CONFLICT, "still refused after assignment");
    a.config.sessions = 2;
    a.run(&quiet).await.unwrap();
    assert!(a
        .tree
        .touched
        .iter()
        .any(|(_, u)| u == "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera"));
    // Retire A and wipe B: delivered as the DMClient and RemoteWipe CSPs at the next session.
    let (s, v) = env
        .post(&format!("/api/v1/admin/devices/{ida}/retire"), json!({}))
        .await;
    assert!(s.is_success(), "{v}");
    let (s, v) = env
        .post(&format!("/api/v1/admin/devices/{idb}/wipe"), json!({}))
        .await;
    assert!(s.is_success(), "{v}");
    a.config.sessions = 3;
    a.run(&quiet).await.unwrap();
    b.config.sessions = 2;
    b.run(&quiet).await.unwrap();
    assert!(a.tree.unenrolled && !a.tree.wiped);
    assert!(b.tree.wiped);
    let list = env.windows_devices().await;
    for (id, action) in [(&ida, "retire"), (&idb, "wipe")] {
        let v = list.iter().find(|v| v["id"] == id.as_str()).unwrap();
        assert_eq!(v["last_action"], action, "{v}");
        assert!(v["pending_action"].is_null());
    }
    // A retired device no longer checks in.
    a.config.sessions = 4;
    let err = a.run(&quiet).await.unwrap_err().to_string();
    assert!(err.contains("403"), "{err}");
    // Every message the server sent, parsed by namespace: no ./User/ URI at all.
    for t in [&a.transcript, &b.transcript] {
        assert!(!t.is_empty());
        for uri in uris_sent(t) {
            assert!(!uri.to_ascii_lowercase().starts_with("./user"), "{uri}");
        }
    }
    assert!(uris_sent(&a.transcript)
        .iter()
        .any(|u| u.ends_with("/DMClient/Provider/enroll/Unenroll")));
    assert!(uris_sent(&b.transcript)
        .iter()
        .any(|u| u == "./Device/Vendor/MSFT/RemoteWipe/doWipe"));
    env.server.shutdown().await;
}
