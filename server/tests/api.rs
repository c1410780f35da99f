//! End-to-end tests of the server API through its router.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::{json, Value};

const PW: &str = "correct horse battery staple";

// ---------------------------------------------------------------------------------------------
// admin auth, users, invitations, tokens

#[tokio::test]
async fn admin_routes_require_the_admin_token() {
    let h = Harness::new();
    let r = h.call(Method::GET, "/api/v1/admin/users", &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "unauthorized");
    let r = h
        .call(
            Method::GET,
            "/api/v1/admin/users",
            &[("authorization", "Bearer adm_wrong")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let wrong_scheme = format!("Basic {}", h.admin);
    let r = h
        .call(
            Method::GET,
            "/api/v1/admin/users",
            &[("authorization", &wrong_scheme)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Admin auth is checked before the body is parsed.
    let r = h
        .call(
            Method::POST,
            "/api/v1/admin/users",
            &[],
            Some(&json!({"nope": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h.admin(Method::GET, "/api/v1/admin/users", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!([]));
}

#[tokio::test]
async fn users_are_unique_case_insensitively() {
    let h = Harness::new();
    let r = h.create_user("Alice@Example.com", Some(PW), false).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let u = r.json();
    assert_eq!(u["email"], "Alice@Example.com");
    assert_eq!(u["has_password"], true);
    assert_eq!(u["directory"], false);
    assert!(!r.text().contains(PW));
    let r = h.create_user("alice@example.COM", None, false).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "bad_request");
    let r = h.create_user("not-an-email", None, false).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    h.create_user("bob@example.com", Some("ldap-secret"), true).await;
    let list = h.admin(Method::GET, "/api/v1/admin/users", None).await.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let bob = list
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "bob@example.com")
        .unwrap()
        .clone();
    assert_eq!(bob["directory"], true);
    assert_eq!(
        bob["has_password"], false,
        "directory passwords are not local passwords"
    );
}

#[tokio::test]
async fn password_and_directory_credentials() {
    let h = Harness::new();
    h.create_user("alice@example.com", Some(PW), false).await;
    h.create_user("bob@example.com", Some("network-pass"), true).await;
    h.create_user("nopass@example.com", None, false).await;
    let dev = device("ios", "17.4", "udid-pw");

    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": password("alice@example.com", "wrong"), "device": dev}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "invalid_credentials");
    assert!(!r.text().contains("wrong"));
    let unknown = h
        .enroll(
            &h.key(),
            &json!({"credential": password("ghost@example.com", PW), "device": dev}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.code(), "invalid_credentials");
    assert_eq!(
        unknown.json()["error"]["message"],
        r.json()["error"]["message"],
        "no user enumeration"
    );
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": password("nopass@example.com", PW), "device": dev}),
        )
        .await;
    assert_eq!(r.code(), "invalid_credentials");

    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": password("ALICE@example.com", PW), "device": dev}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let e = r.json();
    assert_eq!(e["kind"], "new");
    assert_eq!(e["user"], "alice@example.com");
    assert_eq!(e["profile_validity_secs"], 300);
    assert!(e["enrollment_secret"].as_str().unwrap().len() >= 40);

    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": password("bob@example.com", "nope"), "device": dev}),
        )
        .await;
    assert_eq!(r.code(), "invalid_credentials");
    let r = h
        .enroll(&h.key(), &json!({"credential": password("bob@example.com", "network-pass"), "device": device("android", "14", "bob-phone")}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

#[tokio::test]
async fn invitation_url_and_public_pages() {
    let h = Harness::new();
    h.create_user("a.b+c@example.com", None, false).await;
    let r = h
        .admin(
            Method::POST,
            &format!("/api/v1/admin/users/{}/invitations", urlenc("a.b+c@example.com")),
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let inv = r.json();
    assert_eq!(inv["url"], "https://127.0.0.1:8443/go?user=a.b%2Bc%40example.com");
    assert!(inv.get("pin").is_none());
    let url = url::Url::parse(inv["url"].as_str().unwrap()).unwrap();
    assert_eq!(url.path(), "/go");
    assert_eq!(url.query_pairs().next().unwrap().1, "a.b+c@example.com");

    let r = h
        .admin(
            Method::POST,
            "/api/v1/admin/users/ghost%40example.com/invitations",
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h
        .admin(
            Method::POST,
            "/api/v1/admin/users/a.b%2Bc%40example.com/invitations",
            Some(&json!({"with_pin": true, "pin_ttl_secs": 5})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let go = h
        .call(
            Method::GET,
            "/go?user=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            &[],
            None,
        )
        .await;
    assert_eq!(go.status, StatusCode::OK);
    assert!(go.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(go
        .text()
        .contains("This invitation is for <strong>&lt;script&gt;"));
    assert!(
        !go.text().contains("<script>"),
        "the page echoes its query as text only"
    );
    let ca = h.call(Method::GET, "/ca.pem", &[], None).await;
    assert_eq!(ca.status, StatusCode::OK);
    assert_eq!(ca.text(), h.app.pki().ca_pem());
    let info = h.call(Method::GET, "/api/v1/info", &[], None).await.json();
    assert_eq!(info["protocol"], 1);
    assert_eq!(info["name"], "Acme");
    assert_eq!(info["server_time_ms"], T0 * 1000);
    assert_eq!(info["profile_validity_secs"], 300);
}

#[tokio::test]
async fn pin_locks_after_max_attempts() {
    let h = Harness::with(|c| c.pin_max_attempts = 3);
    h.create_user("p@example.com", None, false).await;
    let good = h.invite_pin("p@example.com").await;
    assert_eq!(good.len(), 6);
    assert!(good.bytes().all(|b| b.is_ascii_digit()));
    let bad = if good == "000000" { "111111" } else { "000000" };
    let dev = device("android", "14", "pin-dev");
    for left in [2u32, 1, 0] {
        let r = h
            .enroll(
                &h.key(),
                &json!({"credential": pin("p@example.com", bad), "device": dev}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.code(), "invalid_pin");
        assert_eq!(r.json()["error"]["attempts_left"], left);
        assert!(!r.text().contains(bad));
    }
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": pin("p@example.com", &good), "device": dev}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "pin_locked");
    assert!(!r.text().contains(&good));
    // A new invitation replaces the locked PIN.
    let fresh = h.invite_pin("p@example.com").await;
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": pin("p@example.com", &fresh), "device": dev}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

#[tokio::test]
async fn pin_is_single_use_replayable_and_revoked_by_a_new_one() {
    let h = Harness::new();
    h.create_user("p@example.com", None, false).await;
    let first = h.invite_pin("p@example.com").await;
    let second = h.invite_pin("p@example.com").await;
    let dev = device("android", "14", "pin-dev-2");
    if first != second {
        let r = h
            .enroll(
                &h.key(),
                &json!({"credential": pin("p@example.com", &first), "device": dev}),
            )
            .await;
        assert_eq!(r.code(), "invalid_pin", "the previous PIN is revoked");
    }
    let key = h.key();
    let body = json!({"credential": pin("p@example.com", &second), "device": dev});
    let r1 = h.enroll(&key, &body).await;
    assert_eq!(r1.status, StatusCode::CREATED, "{}", r1.text());
    // Same key, same request: replayed, although the PIN is consumed.
    let r2 = h.enroll(&key, &body).await;
    assert_eq!(r2.status, StatusCode::OK);
    assert_eq!(r1.json(), r2.json());
    // Another key: the PIN is used.
    let r3 = h.enroll(&h.key(), &body).await;
    assert_eq!(r3.status, StatusCode::CONFLICT);
    assert_eq!(r3.code(), "pin_used");
    assert_eq!(h.devices(true).await.len(), 1, "no second record");
    // Unknown user with a PIN.
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": pin("ghost@example.com", "123456"), "device": dev}),
        )
        .await;
    assert_eq!(r.code(), "invalid_credentials");
}

#[tokio::test]
async fn pin_expires() {
    let h = Harness::new();
    h.create_user("p@example.com", None, false).await;
    let r = h
        .admin(
            Method::POST,
            "/api/v1/admin/users/p%40example.com/invitations",
            Some(&json!({"with_pin": true, "pin_ttl_secs": 600})),
        )
        .await;
    let inv = r.json();
    assert_eq!(inv["pin_expires_at"], T0 + 600);
    let p = inv["pin"].as_str().unwrap().to_string();
    h.clock.advance(600);
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": pin("p@example.com", &p), "device": device("ios", "17", "x")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(r.code(), "pin_expired");
    // Default TTL is 24 h.
    let p = h.invite_pin("p@example.com").await;
    h.clock.advance(24 * 3600 - 1);
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": pin("p@example.com", &p), "device": device("ios", "17", "x")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

#[tokio::test]
async fn token_validity_range_reuse_and_expiry() {
    let h = Harness::new();
    h.create_user("t@example.com", None, false).await;
    for bad in [0u32, 6, 1000, 5000] {
        let r = h.token("t@example.com", Some(bad), false).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "days={bad}");
        assert_eq!(r.code(), "bad_request");
    }
    let r = h.token("t@example.com", Some(7), false).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["expires_at"], T0 + 7 * 86_400);
    let r = h.token("t@example.com", Some(999), false).await;
    assert_eq!(r.json()["expires_at"], T0 + 999 * 86_400);
    let never = h.token("t@example.com", None, true).await.json();
    assert!(never.get("expires_at").is_none());
    let never = never["token"].as_str().unwrap().to_string();
    let r = h.token("ghost@example.com", None, false).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let seven = h.token("t@example.com", None, false).await.json();
    assert_eq!(seven["expires_at"], T0 + 7 * 86_400, "default is 7 days");
    let seven = seven["token"].as_str().unwrap().to_string();
    assert!(seven.starts_with("ent_"));
    assert_eq!(seven.len(), 4 + 43);

    // Reusable: two devices with the same token.
    for hw in ["tok-a", "tok-b"] {
        let r = h
            .enroll(
                &h.key(),
                &json!({"credential": token(&seven), "device": device("android", "13", hw)}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.json()["user"], "t@example.com");
    }
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": token("ent_nope"), "device": device("android", "13", "z")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "invalid_token");

    h.clock.advance(7 * 86_400);
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": token(&seven), "device": device("android", "13", "tok-c")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(r.code(), "token_expired");
    h.clock.advance(10_000 * 86_400);
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": token(&never), "device": device("android", "13", "tok-d")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

// ---------------------------------------------------------------------------------------------
// idempotency

#[tokio::test]
async fn idempotent_replay_and_conflict() {
    let h = Harness::new();
    h.create_user("i@example.com", Some(PW), false).await;
    let body = json!({"credential": password("i@example.com", PW), "device": device("ios", "17", "idem")});
    let key = h.key();
    let r1 = h.enroll(&key, &body).await;
    assert_eq!(r1.status, StatusCode::CREATED);
    let r2 = h.enroll(&key, &body).await;
    assert_eq!(r2.status, StatusCode::OK);
    assert_eq!(r1.json(), r2.json());
    // Key order in the JSON does not matter (canonical form).
    let reordered: Value = serde_json::from_str(&format!(
        r#"{{"device": {}, "credential": {{"password": "{PW}", "user": "i@example.com", "kind": "password"}}}}"#,
        serde_json::to_string(&device("ios", "17", "idem")).unwrap()
    ))
    .unwrap();
    let r3 = h.enroll(&key, &reordered).await;
    assert_eq!(r3.status, StatusCode::OK);
    assert_eq!(r3.json(), r1.json());

    let other = json!({"credential": password("i@example.com", PW), "device": device("ios", "17.1", "idem")});
    let r = h.enroll(&key, &other).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "idempotency_conflict");
    // A different key with a wrong password is not a replay.
    let r = h
        .enroll(
            &key,
            &json!({"credential": password("i@example.com", "bad"), "device": device("ios", "17", "idem")}),
        )
        .await;
    assert_eq!(r.code(), "idempotency_conflict");

    assert_eq!(h.devices(true).await.len(), 1);
    let pending = h
        .admin(Method::GET, "/api/v1/admin/enrollments/pending", None)
        .await
        .json();
    assert_eq!(pending.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn idempotency_key_is_required_and_checked() {
    let h = Harness::new();
    h.create_user("i@example.com", Some(PW), false).await;
    let body = json!({"credential": password("i@example.com", PW), "device": device("ios", "17", "k")});
    let r = h
        .call(Method::POST, "/api/v1/enrollments", &[], Some(&body))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "bad_request");
    let long = "k".repeat(65);
    for bad in [
        "short",
        "fifteen-chars-x",
        long.as_str(),
        "has space in it 123",
        "semicolon;is-bad-here",
        "ünïcödé-keys-are-bad",
    ] {
        let r = h.enroll(bad, &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "key {bad:?}");
    }
    assert_eq!(h.enroll(&"k".repeat(64), &body).await.status, StatusCode::CREATED);
    assert_eq!(
        h.enroll("sixteen-chars-ok", &body).await.status,
        StatusCode::CREATED
    );
}

// ---------------------------------------------------------------------------------------------
// profile, confirm, cancel

#[tokio::test]
async fn profile_issuance_and_limits() {
    let h = Harness::new();
    h.create_user("p@example.com", Some(PW), false).await;
    let e = h
        .enroll(
            &h.key(),
            &json!({"credential": password("p@example.com", PW), "device": device("ios", "17", "prof")}),
        )
        .await
        .json();
    let (eid, secret, did) = (
        e["enrollment_id"].as_str().unwrap(),
        e["enrollment_secret"].as_str().unwrap(),
        e["device_id"].as_str().unwrap(),
    );
    let r = h.profile(eid, "wrong-secret").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h
        .call(
            Method::GET,
            &format!("/api/v1/enrollments/{eid}/profile"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h.profile("00000000-0000-0000-0000-000000000000", secret).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "enrollment_not_found");

    let r = h.profile(eid, secret).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/x-apple-aspen-config");
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=\"enroll.mobileconfig\""
    );
    assert_eq!(
        r.headers["enroll-profile-expires"].to_str().unwrap(),
        (T0 + 300).to_string()
    );
    let plist = profile_plist(&r.body);
    let top = plist.as_dictionary().unwrap();
    assert_eq!(
        top["PayloadIdentifier"].as_string().unwrap(),
        format!("com.enroll.mdm.{did}")
    );
    let exp: std::time::SystemTime = top["PayloadExpirationDate"].as_date().unwrap().into();
    assert_eq!(
        exp.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64,
        T0 + 300
    );
    let content = top["PayloadContent"].as_array().unwrap();
    let scep = content[0].as_dictionary().unwrap()["PayloadContent"]
        .as_dictionary()
        .unwrap();
    let challenge1 = scep["Challenge"].as_string().unwrap().to_string();
    let mdm = content[1].as_dictionary().unwrap();
    assert_eq!(mdm["Topic"].as_string().unwrap(), h.app.topic());
    assert!(h.app.topic().starts_with("com.apple.mgmt.External."));
    let uuid1 = profile_uuid(&r.body);
    assert_eq!(uuid1, uuid1.to_uppercase());

    h.clock.advance(10);
    let r2 = h.profile(eid, secret).await;
    assert_eq!(
        r2.headers["enroll-profile-expires"].to_str().unwrap(),
        (T0 + 310).to_string()
    );
    let top2 = profile_plist(&r2.body);
    let top2 = top2.as_dictionary().unwrap();
    assert_ne!(profile_uuid(&r2.body), uuid1, "fresh PayloadUUID per issuance");
    assert_eq!(
        top2["PayloadIdentifier"], top["PayloadIdentifier"],
        "stable identifier"
    );
    let scep2 = top2["PayloadContent"].as_array().unwrap()[0]
        .as_dictionary()
        .unwrap()["PayloadContent"]
        .as_dictionary()
        .unwrap()
        .clone();
    assert_ne!(
        scep2["Challenge"].as_string().unwrap(),
        challenge1,
        "fresh challenge"
    );

    for _ in 2..10 {
        assert_eq!(h.profile(eid, secret).await.status, StatusCode::OK);
    }
    // Final for this enrollment: not `rate_limited`, which agents retry (they looped on it).
    let r = h.profile(eid, secret).await;
    assert_eq!(r.code(), "enrollment_closed", "{}", r.text());
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("start a new enrollment"));

    let pending = h
        .admin(Method::GET, "/api/v1/admin/enrollments/pending", None)
        .await
        .json();
    assert_eq!(pending[0]["enrollment_id"], eid);
    assert_eq!(pending[0]["user"], "p@example.com");
    assert_eq!(pending[0]["last_profile_at"], T0 + 10);

    // Confirm needs a profile issued for this enrollment.
    let r = h
        .confirm(eid, secret, "11111111-1111-1111-1111-111111111111")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let c1 = h.confirm(eid, secret, &uuid1).await;
    assert_eq!(c1.status, StatusCode::OK, "{}", c1.text());
    let c2 = h.confirm(eid, secret, &uuid1).await;
    assert_eq!(c2.status, StatusCode::OK);
    assert_eq!(c1.json(), c2.json(), "confirm is idempotent");
    assert_eq!(c1.json()["device_state"], "active");
    // Done: no more profiles, no cancel.
    assert_eq!(h.profile(eid, secret).await.code(), "enrollment_closed");
    assert_eq!(h.cancel(eid, secret).await.code(), "enrollment_closed");
    let pending = h
        .admin(Method::GET, "/api/v1/admin/enrollments/pending", None)
        .await
        .json();
    assert_eq!(pending, json!([]));

    let d = h.detail(did).await;
    assert_eq!(d["device"]["state"], "active");
    assert_eq!(d["device"]["mdm"], "enabled");
    assert_eq!(d["device"]["enrolled_at"], T0 + 10);
    assert_eq!(d["history"][0]["event"], "enrolled");
}

#[tokio::test]
async fn cancel_deactivates_and_is_idempotent() {
    let h = Harness::new();
    h.create_user("c@example.com", Some(PW), false).await;
    let e = h
        .enroll(
            &h.key(),
            &json!({"credential": password("c@example.com", PW), "device": device("ios", "17", "canc")}),
        )
        .await
        .json();
    let (eid, secret, did) = (
        e["enrollment_id"].as_str().unwrap(),
        e["enrollment_secret"].as_str().unwrap(),
        e["device_id"].as_str().unwrap(),
    );
    let uuid = profile_uuid(&h.profile(eid, secret).await.body);
    let r1 = h.cancel(eid, secret).await;
    assert_eq!(r1.status, StatusCode::OK, "{}", r1.text());
    assert_eq!(
        r1.json(),
        json!({"device_state": "cancelled", "mdm": "deactivated"})
    );
    let r2 = h.cancel(eid, secret).await;
    assert_eq!(r2.status, StatusCode::OK);
    assert_eq!(r1.json(), r2.json());
    let r = h.confirm(eid, secret, &uuid).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "enrollment_closed");
    assert_eq!(h.profile(eid, secret).await.code(), "enrollment_closed");
    let d = h.detail(did).await;
    assert_eq!(d["device"]["state"], "cancelled");
    assert_eq!(d["history"][0]["event"], "cancelled");
    assert_eq!(d["history"][0]["detail"], "user_cancelled");
    let r = h.cancel(eid, "bad").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn open_enrollment_is_superseded_and_its_record_reused() {
    let h = Harness::new();
    h.create_user("s@example.com", Some(PW), false).await;
    let dev = device("android", "14", "super");
    let body = json!({"credential": password("s@example.com", PW), "device": dev});
    let e1 = h.enroll(&h.key(), &body).await.json();
    let e2 = h.enroll(&h.key(), &body).await.json();
    assert_ne!(e1["enrollment_id"], e2["enrollment_id"]);
    assert_eq!(e1["device_id"], e2["device_id"], "one pending record per device");
    assert_eq!(e2["kind"], "new");
    let r = h
        .profile(
            e1["enrollment_id"].as_str().unwrap(),
            e1["enrollment_secret"].as_str().unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "enrollment_closed");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("superseded"));
    let r = h
        .profile(
            e2["enrollment_id"].as_str().unwrap(),
            e2["enrollment_secret"].as_str().unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let devices = h.devices(true).await;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["state"], "pending");
    assert_eq!(devices[0]["mdm"], "pending");
    let pending = h
        .admin(Method::GET, "/api/v1/admin/enrollments/pending", None)
        .await
        .json();
    assert_eq!(pending.as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// device matching

#[tokio::test]
async fn android_10_plus_reenroll_archives_the_old_entry() {
    let h = Harness::new();
    h.create_user("a@example.com", Some(PW), false).await;
    let mut dev = device("android", "14", "android-id-1");
    dev["serial"] = json!("SER123");
    dev["imeis"] = json!(["490154203237518"]);
    let (e1, s1) = h.enroll_and_confirm(password("a@example.com", PW), &dev).await;
    assert_eq!(e1["kind"], "new");
    let d1 = e1["device_id"].as_str().unwrap().to_string();

    // Factory reset: new Android ID, same IMEI.
    let mut dev2 = dev.clone();
    dev2["hardware_id"] = json!("android-id-2");
    dev2.as_object_mut().unwrap().remove("serial");
    h.clock.advance(100);
    let (e2, _s2) = h.enroll_and_confirm(password("a@example.com", PW), &dev2).await;
    assert_eq!(e2["kind"], "reenroll");
    let d2 = e2["device_id"].as_str().unwrap().to_string();
    assert_ne!(d1, d2, "Android 10+: a new entry");

    let active = h.devices(false).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["id"], d2);
    let all = h.devices(true).await;
    assert_eq!(all.len(), 2);
    let old = all.iter().find(|d| d["id"] == d1).unwrap();
    assert_eq!(old["state"], "archived");
    assert_eq!(old["mdm"], "deactivated");

    let detail = h.detail(&d2).await;
    assert_eq!(detail["device"]["state"], "active");
    assert_eq!(detail["history"][0]["event"], "reenrolled");
    assert_eq!(detail["archived"].as_array().unwrap().len(), 1);
    assert_eq!(detail["archived"][0]["id"], d1);
    let old_detail = h.detail(&d1).await;
    let events: Vec<&str> = old_detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["enrolled", "archived"]);

    // The old entry's device secret no longer works.
    let r = h.checkin(&d1, &s1, &dev).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "device_inactive");
}

#[tokio::test]
async fn android_9_ios_and_macos_reenroll_reuse_the_entry() {
    let h = Harness::new();
    h.create_user("a@example.com", Some(PW), false).await;
    for (platform, os, hw) in [
        ("android", "9", "a9"),
        ("ios", "17.4.1", "udid-1"),
        ("macos", "14.4", "mac-1"),
        ("linux", "6.8", "lin"),
    ] {
        let mut dev = device(platform, os, hw);
        dev["serial"] = json!(format!("SN-{hw}"));
        let (e1, s1) = h.enroll_and_confirm(password("a@example.com", PW), &dev).await;
        // Same serial + manufacturer in another case, new hardware id.
        let mut dev2 = dev.clone();
        dev2["hardware_id"] = json!(format!("{hw}-new"));
        dev2["manufacturer"] = json!("ACME");
        let (e2, s2) = h.enroll_and_confirm(password("a@example.com", PW), &dev2).await;
        assert_eq!(e2["kind"], "reenroll", "{platform}");
        assert_eq!(e1["device_id"], e2["device_id"], "{platform}: single entry");
        let did = e1["device_id"].as_str().unwrap();
        let detail = h.detail(did).await;
        let events: Vec<&str> = detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(events, ["enrolled", "reenrolled"], "{platform}");
        assert_eq!(detail["device"]["device"]["hardware_id"], format!("{hw}-new"));
        assert_ne!(s1, s2, "a new device secret per activation");
        assert_eq!(h.checkin(did, &s1, &dev2).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(h.checkin(did, &s2, &dev2).await.status, StatusCode::OK);
    }
    assert_eq!(h.devices(true).await.len(), 4);
}

#[tokio::test]
async fn platforms_and_manufacturers_do_not_cross_match() {
    let h = Harness::new();
    h.create_user("a@example.com", Some(PW), false).await;
    let mut a = device("android", "14", "same-id");
    a["serial"] = json!("S1");
    h.enroll_and_confirm(password("a@example.com", PW), &a).await;
    let mut i = device("ios", "17", "same-id");
    i["serial"] = json!("S1");
    let (e, _) = h.enroll_and_confirm(password("a@example.com", PW), &i).await;
    assert_eq!(e["kind"], "new");
    let mut other = device("android", "14", "other-id");
    other["serial"] = json!("S1");
    other["manufacturer"] = json!("Samsung");
    let (e, _) = h.enroll_and_confirm(password("a@example.com", PW), &other).await;
    assert_eq!(e["kind"], "new");
    assert_eq!(h.devices(false).await.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// check-in, actions

#[tokio::test]
async fn retire_and_wipe_are_delivered_then_device_is_inactive() {
    let h = Harness::new();
    h.create_user("r@example.com", Some(PW), false).await;
    for (action, state) in [("retire", "retired"), ("wipe", "wiped")] {
        let dev = device("android", "14", &format!("act-{action}"));
        let (e, secret) = h.enroll_and_confirm(password("r@example.com", PW), &dev).await;
        let did = e["device_id"].as_str().unwrap();
        let r = h.checkin(did, &secret, &dev).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json(), json!({"device_state": "active"}));

        let r = h
            .admin(
                Method::POST,
                &format!("/api/v1/admin/devices/{did}/{action}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        assert_eq!(v["state"], state, "applied on the server at once");
        assert_eq!(v["mdm"], "deactivated");
        assert_eq!(v["pending_action"], action);
        let r = h
            .admin(
                Method::POST,
                &format!("/api/v1/admin/devices/{did}/{action}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);

        let r = h.checkin(did, &secret, &dev).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json(), json!({"device_state": state, "action": action}));
        let r = h
            .ack(did, &secret, if action == "retire" { "wipe" } else { "retire" })
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = h.ack(did, &secret, action).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json(), json!({"device_state": state}));
        let r = h.checkin(did, &secret, &dev).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.code(), "device_inactive");
        assert_eq!(h.ack(did, &secret, action).await.code(), "device_inactive");

        let d = h.detail(did).await;
        assert_eq!(d["device"]["last_action"], action);
        assert!(d["device"].get("pending_action").is_none());
        let events: Vec<&str> = d["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(events, ["enrolled", state, "action_applied"]);
    }
}

#[tokio::test]
async fn reset_keeps_the_device_active() {
    let h = Harness::new();
    h.create_user("r@example.com", Some(PW), false).await;
    let dev = device("android", "12", "reset-me");
    let (e, secret) = h.enroll_and_confirm(password("r@example.com", PW), &dev).await;
    let did = e["device_id"].as_str().unwrap();
    let v = h
        .admin(Method::POST, &format!("/api/v1/admin/devices/{did}/reset"), None)
        .await
        .json();
    assert_eq!(v["state"], "active");
    assert_eq!(v["pending_action"], "reset");
    let r = h.checkin(did, &secret, &dev).await.json();
    assert_eq!(r, json!({"device_state": "active", "action": "reset"}));
    assert_eq!(
        h.ack(did, &secret, "reset").await.json(),
        json!({"device_state": "active"})
    );
    assert_eq!(
        h.ack(did, &secret, "reset").await.status,
        StatusCode::OK,
        "ack is idempotent"
    );
    let d = h.detail(did).await;
    assert_eq!(d["device"]["state"], "active");
    assert_eq!(d["device"]["last_action"], "reset");
    assert_eq!(
        h.checkin(did, &secret, &dev).await.json(),
        json!({"device_state": "active"})
    );
    // Next enrollment re-activates the same entry (Android 12 → new entry, old archived).
    let (e2, _) = h.enroll_and_confirm(password("r@example.com", PW), &dev).await;
    assert_eq!(e2["kind"], "reenroll");
    let d2 = h.detail(e2["device_id"].as_str().unwrap()).await;
    assert!(d2["device"].get("last_action").is_none());
}

#[tokio::test]
async fn checkin_validates_and_records_details() {
    let h = Harness::new();
    h.create_user("c@example.com", Some(PW), false).await;
    let dev = device("ios", "17", "chk");
    let (e, secret) = h.enroll_and_confirm(password("c@example.com", PW), &dev).await;
    let did = e["device_id"].as_str().unwrap();
    let auth = format!("Bearer {secret}");
    let path = format!("/api/v1/devices/{did}/checkin");
    let too_many: serde_json::Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let r = h
        .call(
            Method::POST,
            &path,
            &[("authorization", &auth)],
            Some(&json!({"device": dev, "details": too_many})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .call(
            Method::POST,
            &path,
            &[("authorization", &auth)],
            Some(&json!({"device": dev, "details": {"k": "v".repeat(257)}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let sixty_four: serde_json::Map<String, Value> = (0..64)
        .map(|i| (format!("k{i}"), json!("v".repeat(256))))
        .collect();
    let mut dev2 = dev.clone();
    dev2["os_version"] = json!("17.5");
    let r = h
        .call(
            Method::POST,
            &path,
            &[("authorization", &auth)],
            Some(&json!({"device": dev2, "details": sixty_four})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    h.clock.advance(5);
    let r = h.checkin(did, &secret, &dev2).await;
    assert_eq!(r.status, StatusCode::OK);
    let d = h.detail(did).await;
    assert_eq!(d["device"]["last_checkin_at"], T0 + 5);
    assert_eq!(d["device"]["device"]["os_version"], "17.5");
    let mut android = dev.clone();
    android["platform"] = json!("android");
    assert_eq!(
        h.checkin(did, &secret, &android).await.status,
        StatusCode::BAD_REQUEST
    );
    let r = h.checkin("no-such-device", &secret, &dev).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "device_not_found");
    let r = h
        .call(Method::POST, &path, &[], Some(&json!({"device": dev})))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn device_initiated_reenroll() {
    let h = Harness::new();
    h.create_user("d@example.com", Some(PW), false).await;
    let dev = device("ios", "17", "ios-re");
    let (e, secret) = h.enroll_and_confirm(password("d@example.com", PW), &dev).await;
    let did = e["device_id"].as_str().unwrap();
    let path = format!("/api/v1/devices/{did}/reenroll");
    let auth = format!("Bearer {secret}");
    let key = h.key();
    let body = json!({"device": dev});
    let r = h
        .call(Method::POST, &path, &[("authorization", &auth)], Some(&body))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "idempotency key required");
    let r = h
        .call(Method::POST, &path, &[("idempotency-key", &key)], Some(&body))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r1 = h
        .call(
            Method::POST,
            &path,
            &[("authorization", &auth), ("idempotency-key", &key)],
            Some(&body),
        )
        .await;
    assert_eq!(r1.status, StatusCode::CREATED, "{}", r1.text());
    let re = r1.json();
    assert_eq!(re["kind"], "reenroll");
    assert_eq!(re["device_id"], did);
    assert_eq!(re["user"], "d@example.com");
    let r2 = h
        .call(
            Method::POST,
            &path,
            &[("authorization", &auth), ("idempotency-key", &key)],
            Some(&body),
        )
        .await;
    assert_eq!(r2.status, StatusCode::OK);
    assert_eq!(r2.json(), re);
    // Still active with the old secret until the new profile is confirmed.
    assert_eq!(h.checkin(did, &secret, &dev).await.status, StatusCode::OK);
    let (eid, esecret) = (
        re["enrollment_id"].as_str().unwrap(),
        re["enrollment_secret"].as_str().unwrap(),
    );
    let uuid = profile_uuid(&h.profile(eid, esecret).await.body);
    let c = h.confirm(eid, esecret, &uuid).await.json();
    let new_secret = c["device_secret"].as_str().unwrap();
    assert_eq!(
        h.checkin(did, &secret, &dev).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(h.checkin(did, new_secret, &dev).await.status, StatusCode::OK);
    assert_eq!(h.devices(true).await.len(), 1);

    // A retired device cannot re-enroll itself out of the retirement.
    h.admin(Method::POST, &format!("/api/v1/admin/devices/{did}/retire"), None)
        .await;
    let auth = format!("Bearer {new_secret}");
    let r = h
        .call(
            Method::POST,
            &path,
            &[("authorization", &auth), ("idempotency-key", &h.key())],
            Some(&body),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "device_inactive");
}

#[tokio::test]
async fn android_device_reenroll_archives_the_source_entry() {
    let h = Harness::new();
    h.create_user("d@example.com", Some(PW), false).await;
    let dev = device("android", "13", "and-re");
    let (e, secret) = h.enroll_and_confirm(password("d@example.com", PW), &dev).await;
    let did = e["device_id"].as_str().unwrap();
    // The device reports a changed Android ID: the source entry is archived all the same.
    let changed = device("android", "13", "and-re-changed");
    let auth = format!("Bearer {secret}");
    let r = h
        .call(
            Method::POST,
            &format!("/api/v1/devices/{did}/reenroll"),
            &[("authorization", &auth), ("idempotency-key", &h.key())],
            Some(&json!({"device": changed})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let re = r.json();
    assert_ne!(re["device_id"], did);
    let (eid, esecret) = (
        re["enrollment_id"].as_str().unwrap(),
        re["enrollment_secret"].as_str().unwrap(),
    );
    let uuid = profile_uuid(&h.profile(eid, esecret).await.body);
    assert_eq!(h.confirm(eid, esecret, &uuid).await.status, StatusCode::OK);
    let all = h.devices(true).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().find(|d| d["id"] == did).unwrap()["state"], "archived");
}

// ---------------------------------------------------------------------------------------------
// hostile input

#[tokio::test]
async fn hostile_inputs_get_json_errors() {
    let h = Harness::new();
    h.create_user("h@example.com", Some(PW), false).await;
    let post_raw = |body: Vec<u8>, ctype: &'static str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/enrollments")
            .header("idempotency-key", "hostile-key-0123456")
            .header("content-type", ctype)
            .body(Body::from(body))
            .unwrap()
    };
    for bad in [
        &b"{"[..],
        b"not json",
        b"",
        b"[]",
        b"null",
        b"{\"credential\": 5}",
    ] {
        let r = h.raw(post_raw(bad.to_vec(), "application/json")).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(r.code(), "bad_request");
        assert_eq!(r.headers["content-type"], "application/json");
    }
    // Wrong types, and the error does not echo values.
    let r = h
        .enroll(&h.key(), &json!({"credential": {"kind": "password", "user": "h@example.com", "password": 12345678}, "device": device("ios", "1", "x")}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.text().contains("12345678"));
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": {"kind": "magic", "spell": "hunter2"}, "device": device("ios", "1", "x")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.text().contains("hunter2"));
    let r = h
        .enroll(&h.key(), &json!({"credential": password("h@example.com", PW)}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("missing field"), "{}", r.text());
    let mut wrong_platform = device("ios", "17", "x");
    wrong_platform["platform"] = json!("windows");
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": password("h@example.com", PW), "device": wrong_platform}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Oversized body.
    let big = json!({"credential": password("h@example.com", PW), "device": device("ios", "17", &"x".repeat(70_000))});
    let r = h
        .raw(post_raw(serde_json::to_vec(&big).unwrap(), "application/json"))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload_too_large");
    // Oversized without content-length (streamed body).
    let stream = futures_stream(vec![vec![b' '; 40_000], vec![b' '; 40_000]]);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/enrollments")
        .header("idempotency-key", "hostile-key-0123456")
        .body(stream)
        .unwrap();
    let r = h.raw(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Huge strings within the body limit.
    let mut long_model = device("ios", "17", "x");
    long_model["model"] = json!("m".repeat(300));
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": password("h@example.com", PW), "device": long_model}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": password(&"u".repeat(5000), PW), "device": device("ios", "1", "x")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h.enroll(&h.key(), &json!({"credential": password("h@example.com", &"p".repeat(2000)), "device": device("ios", "1", "x")})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let mut bad_imei = device("android", "14", "x");
    bad_imei["imeis"] = json!(["12345", "490154203237518"]);
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": password("h@example.com", PW), "device": bad_imei}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let mut control = device("ios", "17", "x");
    control["model"] = json!("evil\u{0000}model");
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": password("h@example.com", PW), "device": control}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Unknown route and method.
    let r = h.call(Method::GET, "/api/v1/nope", &[], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
    let r = h.call(Method::DELETE, "/api/v1/enrollments", &[], None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["content-type"], "application/json");
    let r = h
        .admin(Method::GET, "/api/v1/admin/devices?include_archived=maybe", None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .admin(
            Method::GET,
            &format!("/api/v1/admin/devices/{}", "x".repeat(500)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.devices(true).await.len(),
        0,
        "nothing was created by hostile requests"
    );
}

fn futures_stream(chunks: Vec<Vec<u8>>) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        for c in chunks {
            if tx.send(Ok(axum::body::Bytes::from(c))).await.is_err() {
                break;
            }
        }
    });
    Body::from_stream(ReceiverStream(rx))
}

struct ReceiverStream(tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, std::io::Error>>);

impl futures_core::Stream for ReceiverStream {
    type Item = Result<axum::body::Bytes, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
