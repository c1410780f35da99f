//! Bulk enrollment (seed 000) and Samsung KME (seed 004) through the server's HTTP API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::{json, Value};

/// A valid IMEI (15 digits, Luhn) for `n`.
fn imei(n: u64) -> String {
    let body = format!("35{:012}", n);
    let mut sum = 0;
    for (i, c) in body.bytes().rev().enumerate() {
        let mut x = u32::from(c - b'0');
        if i % 2 == 0 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn android(imei: &str, serial: &str, manufacturer: &str) -> Value {
    json!({
        "platform": "android", "os_version": "14", "model": "Galaxy S24",
        "manufacturer": manufacturer, "serial": serial, "imeis": [imei], "agent_version": "0.1.0"
    })
}

fn tokenless(profile: Option<&str>) -> Value {
    match profile {
        Some(p) => json!({"kind": "tokenless", "profile_id": p}),
        None => json!({"kind": "tokenless"}),
    }
}

impl Harness {
    async fn upload(&self, path: &str, csv: &str) -> Reply {
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.admin))
            .header("content-type", "text/csv")
            .body(Body::from(csv.to_owned()))
            .unwrap();
        self.raw(req).await
    }

    async fn get_raw(&self, path: &str) -> Reply {
        self.admin(Method::GET, path, None).await
    }

    async fn new_profile(&self, body: Value) -> Value {
        let r = self
            .admin(Method::POST, "/api/v1/admin/bulk/profiles", Some(&body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()
    }

    async fn detail_of(&self, id: &str) -> Value {
        let r = self.get_raw(&format!("/api/v1/admin/bulk/profiles/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()
    }

    async fn import(&self, id: &str, csv: &str) -> Reply {
        self.upload(&format!("/api/v1/admin/bulk/profiles/{id}/devices/csv"), csv)
            .await
    }
}

fn pid(detail: &Value) -> String {
    detail["profile"]["id"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// profiles, listing, tokens

#[tokio::test]
async fn profiles_have_the_listed_columns_and_can_be_edited_and_deleted() {
    let h = Harness::new();
    h.create_user("alice@example.com", None, false).await;
    h.create_user("bob@example.com", None, false).await;
    let d = h
        .new_profile(
            json!({"name": "Warehouse", "description": "Zebra scanners", "user": "alice@example.com"}),
        )
        .await;
    let id = pid(&d);
    assert_eq!(d["profile"]["kind"], "self_maintained");
    assert_eq!(d["profile"]["device_count"], 0);
    assert_eq!(d["profile"]["user"], "alice@example.com");
    assert_eq!(d["profile"]["modified_at"], T0);
    assert!(d["token"].as_str().unwrap().starts_with("ent_"));
    assert_eq!(d["token_expires_at"], T0 + 7 * 86_400, "default 7 days");
    assert!(d.get("sync_status").is_none());

    let list = h.get_raw("/api/v1/admin/bulk/profiles").await.json();
    let row = &list[0];
    for col in [
        "name",
        "description",
        "kind",
        "modified_at",
        "device_count",
        "user",
    ] {
        assert!(row.get(col).is_some(), "listing column {col}");
    }
    assert!(row.get("token").is_none(), "the listing does not show tokens");

    h.clock.advance(60);
    let r = h
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/bulk/profiles/{id}"),
            Some(&json!({"name": "Warehouse 2", "user": "bob@example.com"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let d2 = r.json();
    assert_eq!(d2["profile"]["name"], "Warehouse 2");
    assert_eq!(d2["profile"]["description"], "Zebra scanners");
    assert_eq!(d2["profile"]["user"], "bob@example.com");
    assert_eq!(d2["profile"]["modified_at"], T0 + 60);
    let r = h
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/bulk/profiles/{id}"),
            Some(&json!({"user": "ghost@example.com"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/bulk/profiles/{id}"),
            Some(&json!({"clear_user": true})),
        )
        .await;
    assert!(r.json()["profile"].get("user").is_none());

    let r = h
        .admin(Method::DELETE, &format!("/api/v1/admin/bulk/profiles/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = h.get_raw(&format!("/api/v1/admin/bulk/profiles/{id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Its token died with it.
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": token(d["token"].as_str().unwrap()), "device": android(&imei(1), "S", "x")}),
        )
        .await;
    assert_eq!(r.code(), "invalid_token");
}

#[tokio::test]
async fn tokens_extend_refresh_never_and_out_of_range() {
    let h = Harness::new();
    let d = h.new_profile(json!({"name": "P", "token_days": 30})).await;
    let id = pid(&d);
    let first = d["token"].as_str().unwrap().to_owned();
    assert_eq!(d["token_expires_at"], T0 + 30 * 86_400);
    let tok = |body: Value| {
        let h = &h;
        let id = id.clone();
        async move {
            h.admin(
                Method::POST,
                &format!("/api/v1/admin/bulk/profiles/{id}/token"),
                Some(&body),
            )
            .await
        }
    };
    for bad in [
        json!({"action": "extend", "days": 6}),
        json!({"action": "extend", "days": 1000}),
        json!({"action": "refresh", "days": 0}),
        json!({"action": "extend"}),
        json!({"action": "rotate"}),
        json!({"action": "extend", "days": -1}),
    ] {
        let r = tok(bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = h
        .admin(
            Method::POST,
            "/api/v1/admin/bulk/profiles",
            Some(&json!({"name": "Q", "token_days": 5})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Extend: same token, new expiry (from now).
    h.clock.advance(86_400);
    let r = tok(json!({"action": "extend", "days": 999})).await.json();
    assert_eq!(r["token"], first.as_str());
    assert_eq!(r["expires_at"], T0 + 86_400 + 999 * 86_400);
    let r = tok(json!({"action": "extend", "never_expires": true}))
        .await
        .json();
    assert_eq!(r["token"], first.as_str());
    assert!(r.get("expires_at").is_none());
    assert!(h.detail_of(&id).await.get("token_expires_at").is_none());

    // Refresh: a new token; the old one is refused at once, with the password fallback.
    let r = tok(json!({"action": "refresh"})).await.json();
    let second = r["token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(r["expires_at"], T0 + 86_400 + 7 * 86_400);
    assert_eq!(h.detail_of(&id).await["token"], second.as_str());
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": token(&first), "device": android(&imei(1), "S1", "Samsung")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "invalid_token");
    assert_eq!(r.json()["error"]["fallback"], "password");
    assert!(!r.text().contains(&first));
}

#[tokio::test]
async fn expired_and_wrong_tokens_have_their_own_errors() {
    let h = Harness::new();
    let d = h.new_profile(json!({"name": "P"})).await;
    let id = pid(&d);
    assert_eq!(
        h.import(&id, &format!("imei\n{}\n", imei(5))).await.status,
        StatusCode::OK
    );
    let dev = android(&imei(5), "S5", "Samsung");
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": token("ent_not-a-real-token-at-all"), "device": dev}),
        )
        .await;
    assert_eq!(r.code(), "invalid_token");
    assert_eq!(r.json()["error"]["fallback"], "password");
    h.clock.advance(7 * 86_400);
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": token(d["token"].as_str().unwrap()), "device": dev}),
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(r.code(), "token_expired");
}

// ---------------------------------------------------------------------------------------------
// CSV

#[tokio::test]
async fn template_upload_and_inventory_download() {
    let h = Harness::new();
    h.create_user("alice@example.com", None, false).await;
    let r = h.get_raw("/api/v1/admin/bulk/template").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(r.text(), "imei,serial_number,manufacturer\r\n");

    let d = h
        .new_profile(json!({"name": "P", "user": "alice@example.com"}))
        .await;
    let id = pid(&d);
    let csv = format!(
        "\u{feff}imei,serial_number,manufacturer,department,note\r\n{},,,Sales,=HYPERLINK(\"x\")\r\n,R58N77,SAMSUNG,Support,\r\n{},R58N78,samsung,,-3\r\n",
        imei(10),
        imei(11)
    );
    let r = h.import(&id, &csv).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let rep = r.json();
    assert_eq!(
        (rep["rows"].as_u64(), rep["imported"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(rep["attribute_columns"], json!(["department", "note"]));
    let d = h.detail_of(&id).await;
    assert_eq!(d["profile"]["device_count"], 3);
    assert_eq!(d["pending_devices"], 3);
    assert_eq!(d["enrolled_devices"], 0);

    let devices = h
        .get_raw(&format!("/api/v1/admin/bulk/profiles/{id}/devices?limit=2"))
        .await
        .json();
    assert_eq!(devices.as_array().unwrap().len(), 2);
    assert_eq!(devices[0]["attributes"]["department"], "Sales");
    let r = h
        .get_raw(&format!("/api/v1/admin/bulk/profiles/{id}/devices?offset=2"))
        .await
        .json();
    assert_eq!(r[0]["serial"], "R58N78");

    let r = h
        .get_raw(&format!("/api/v1/admin/bulk/profiles/{id}/devices/csv"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let text = r.text();
    assert!(text.starts_with("imei,serial_number,manufacturer,department,note\r\n"));
    assert!(text.contains("'=HYPERLINK"), "formula neutralised: {text}");
    assert!(text.contains(",'-3\r\n"), "{text}");
    assert!(!text.contains(",=") && !text.contains(",-3"));

    // Replace mode: the new file is the inventory.
    let r = h
        .upload(
            &format!("/api/v1/admin/bulk/profiles/{id}/devices/csv?mode=replace"),
            &format!("imei\n{}\n", imei(10)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(h.detail_of(&id).await["profile"]["device_count"], 1);
    let r = h
        .upload(
            &format!("/api/v1/admin/bulk/profiles/{id}/devices/csv?mode=merge"),
            "imei\n",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// The `delimiter` query parameter of the upload (issue 14): detected from the header by
/// default, explicit when given, a mismatch explained, a wrong value refused.
#[tokio::test]
async fn the_upload_takes_a_delimiter_or_detects_it() {
    let h = Harness::new();
    let id = pid(&h.new_profile(json!({"name": "Semicolons"})).await);
    let csv = format!("imei;department\r\n{};Sales\r\n", imei(1));
    let path = format!("/api/v1/admin/bulk/profiles/{id}/devices/csv");
    let r = h.upload(&format!("{path}?delimiter=comma"), &csv).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["report"]["errors"][0]["line"], 1);
    let reason = r.json()["report"]["errors"][0]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("semicolon-separated"), "{reason}");
    let r = h.upload(&format!("{path}?delimiter=semicolon"), &csv).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = h.upload(&format!("{path}?mode=replace"), &csv).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(h.detail_of(&id).await["profile"]["device_count"], 1);
    let r = h.upload(&format!("{path}?delimiter=pipe"), &csv).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "bad_request");
}

#[tokio::test]
async fn one_bad_row_rejects_the_whole_file_listing_every_bad_line() {
    let h = Harness::new();
    let id = pid(&h.new_profile(json!({"name": "P"})).await);
    let mut bad_imei = imei(20);
    bad_imei.pop();
    bad_imei.push('0');
    if bad_imei == imei(20) {
        bad_imei.pop();
        bad_imei.push('1');
    }
    let csv = format!(
        "imei,serial_number,manufacturer\n{},,\n{bad_imei},,\n,SER-ONLY,\n,,Samsung\n{},,\n{},,\n",
        imei(21),
        imei(22),
        imei(21)
    );
    let r = h.import(&id, &csv).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nothing was imported"));
    let report = &body["report"];
    assert_eq!(report["imported"], 0);
    assert_eq!(report["error_count"], 4);
    let lines: Vec<u64> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 4, 5, 7]);
    assert!(!r.text().contains(&bad_imei), "reasons never echo values");
    assert_eq!(
        h.detail_of(&id).await["profile"]["device_count"],
        0,
        "all or nothing"
    );
}

#[tokio::test]
async fn duplicates_within_a_file_and_against_other_profiles_are_reported() {
    let h = Harness::new();
    let a = pid(&h.new_profile(json!({"name": "A"})).await);
    let b = pid(&h.new_profile(json!({"name": "B"})).await);
    let r = h.import(&a, "serial_number,manufacturer\nX1,Zebra\n").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = h
        .import(
            &b,
            &format!(
                "imei,serial_number,manufacturer\n{},,\n,x1,ZEBRA\n,X1,zebra\n{},,\n",
                imei(30),
                imei(30)
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let errors = r.json()["report"]["errors"].clone();
    // "x1" is another serial number (serials are exact); the manufacturer ignores case.
    assert_eq!(errors.as_array().unwrap().len(), 2, "{errors}");
    assert_eq!(errors[0]["line"], 4);
    assert!(
        errors[0]["reason"].as_str().unwrap().contains("\"A\""),
        "{errors}"
    );
    assert_eq!(errors[1]["line"], 5);
    assert!(
        errors[1]["reason"].as_str().unwrap().contains("line 2"),
        "{errors}"
    );
}

#[tokio::test]
async fn csv_uploads_are_limited_and_typed() {
    let h = Harness::new();
    let id = pid(&h.new_profile(json!({"name": "P"})).await);
    let path = format!("/api/v1/admin/bulk/profiles/{id}/devices/csv");
    // Wrong content type.
    let r = h
        .admin(Method::POST, &path, Some(&json!({"imei": imei(1)})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Declared too large.
    let req = Request::builder()
        .method(Method::POST)
        .uri(&path)
        .header("authorization", format!("Bearer {}", h.admin))
        .header("content-type", "text/csv")
        .header("content-length", (64u64 * 1024 * 1024 + 1).to_string())
        .body(Body::empty())
        .unwrap();
    let r = h.raw(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload_too_large");
    // Streamed without a length: cut at 64 MiB, nothing imported, nothing left on disk.
    let chunk = bytes_of(1024 * 1024);
    let stream = futures_stream(chunk, 65);
    let req = Request::builder()
        .method(Method::POST)
        .uri(&path)
        .header("authorization", format!("Bearer {}", h.admin))
        .header("content-type", "text/csv")
        .body(Body::from_stream(stream))
        .unwrap();
    let r = h.raw(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let left: Vec<_> = std::fs::read_dir(h.dir.join("uploads")).unwrap().collect();
    assert!(left.is_empty(), "spooled uploads are deleted");
    // A 1 MiB CSV body is fine on this route, while JSON routes keep their 64 KiB limit.
    let mut big = String::from("imei,note\n");
    let mut n = 0;
    while big.len() < 1024 * 1024 {
        big.push_str(&format!("{},{}\n", imei(100_000 + n), "x".repeat(200)));
        n += 1;
    }
    let r = h.import(&id, &big).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["imported"], n);
    // No auth: refused before the body is read.
    let req = Request::builder()
        .method(Method::POST)
        .uri(&path)
        .header("content-type", "text/csv")
        .body(Body::from("imei\n"))
        .unwrap();
    assert_eq!(h.raw(req).await.status, StatusCode::UNAUTHORIZED);
}

fn bytes_of(n: usize) -> Vec<u8> {
    let mut v = b"imei\n".to_vec();
    v.resize(n, b'1');
    v
}

fn futures_stream(
    chunk: Vec<u8>,
    count: usize,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    struct S {
        chunk: Vec<u8>,
        left: usize,
    }
    impl futures_core::Stream for S {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            if self.left == 0 {
                return std::task::Poll::Ready(None);
            }
            self.left -= 1;
            std::task::Poll::Ready(Some(Ok(self.chunk.clone())))
        }
    }
    S { chunk, left: count }
}

#[tokio::test]
async fn devices_are_added_edited_and_deleted_all_or_nothing() {
    let h = Harness::new();
    let id = pid(&h.new_profile(json!({"name": "P"})).await);
    let base = format!("/api/v1/admin/bulk/profiles/{id}/devices");
    let r = h
        .admin(
            Method::POST,
            &base,
            Some(&json!({"devices": [
                {"imei": imei(40), "attributes": {"dept": "A"}},
                {"serial": "S41", "manufacturer": "Zebra"},
            ]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["imported"], 2);
    let r = h
        .admin(
            Method::POST,
            &base,
            Some(&json!({"devices": [{"imei": imei(42)}, {"serial": "S43"}, {"imei": imei(40)}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let lines: Vec<u64> = r.json()["report"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![2, 3]);
    let list = h.get_raw(&base).await.json();
    assert_eq!(list.as_array().unwrap().len(), 2, "nothing added");
    let first = list[0]["id"].as_i64().unwrap();
    let second = list[1]["id"].as_i64().unwrap();

    let r = h
        .admin(
            Method::PATCH,
            &base,
            Some(&json!({"devices": [{"id": first, "imei": imei(44), "attributes": {"dept": "B"}}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()[0]["imei"], imei(44));
    let r = h
        .admin(
            Method::PATCH,
            &base,
            Some(&json!({"devices": [{"id": second, "serial": "S41", "manufacturer": "Zebra", "imei": imei(44)}]})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "IMEI taken by the first device"
    );
    let r = h
        .admin(
            Method::POST,
            &format!("{base}/delete"),
            Some(&json!({"device_ids": [first, 999_999]})),
        )
        .await;
    assert_eq!(r.json()["affected"], 1);
    assert_eq!(h.get_raw(&base).await.json().as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// enrollment

#[tokio::test]
async fn tokenless_enrollment_follows_the_seed_table() {
    let h = Harness::new();
    h.create_user("fleet@example.com", None, false).await;
    let d = h
        .new_profile(
            json!({"name": "Tokenless", "tokenless": true, "user": "fleet@example.com",
                        "config": {"attributes": {"site": "Lyon"}}}),
        )
        .await;
    let id = pid(&d);
    assert!(d.get("token").is_none());
    // Each row: what the CSV says (IMEI, serial, manufacturer) and what the device really has.
    struct Case {
        situation: u32,
        csv: (String, &'static str, &'static str),
        device: (String, &'static str, &'static str),
        enrolled: bool,
    }
    let cases = [
        // 1. IMEI correct, serial wrong, manufacturer wrong → enrolled.
        Case {
            situation: 1,
            csv: (imei(51), "WRONG-1", "WrongCo"),
            device: (imei(51), "S-51", "samsung"),
            enrolled: true,
        },
        // 2. IMEI wrong, serial correct, manufacturer correct (any case) → enrolled.
        Case {
            situation: 2,
            csv: (imei(152), "S-52", "SAMSUNG"),
            device: (imei(52), "S-52", "samsung"),
            enrolled: true,
        },
        // 3. IMEI wrong, serial wrong, manufacturer correct → not enrolled.
        Case {
            situation: 3,
            csv: (imei(153), "WRONG-3", "Samsung"),
            device: (imei(53), "S-53", "samsung"),
            enrolled: false,
        },
        // 4. IMEI wrong, serial correct, manufacturer wrong → not enrolled.
        Case {
            situation: 4,
            csv: (imei(154), "S-54", "WrongCo"),
            device: (imei(54), "S-54", "samsung"),
            enrolled: false,
        },
    ];
    let mut csv = String::from("imei,serial_number,manufacturer,row\n");
    for c in &cases {
        csv.push_str(&format!(
            "{},{},{},situation-{}\n",
            c.csv.0, c.csv.1, c.csv.2, c.situation
        ));
    }
    assert_eq!(h.import(&id, &csv).await.status, StatusCode::OK);
    let mut messages = Vec::new();
    for c in &cases {
        let dev = android(&c.device.0, c.device.1, c.device.2);
        if c.enrolled {
            let (e, _) = h.enroll_and_confirm(tokenless(Some(&id)), &dev).await;
            let detail = h.detail(e["device_id"].as_str().unwrap()).await;
            assert_eq!(detail["device"]["state"], "active", "situation {}", c.situation);
            assert_eq!(detail["device"]["user"], "fleet@example.com");
            assert_eq!(
                detail["device"]["attributes"]["row"],
                format!("situation-{}", c.situation)
            );
            assert_eq!(
                detail["device"]["attributes"]["site"], "Lyon",
                "profile attributes too"
            );
        } else {
            let r = h
                .enroll(
                    &h.key(),
                    &json!({"credential": tokenless(Some(&id)), "device": dev}),
                )
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "situation {}", c.situation);
            assert_eq!(r.code(), "device_not_matched", "situation {}", c.situation);
            messages.push(r.json()["error"]["message"].clone());
            // Without a profile hint: the same answer.
            let r = h
                .enroll(&h.key(), &json!({"credential": tokenless(None), "device": dev}))
                .await;
            assert_eq!(r.code(), "device_not_matched");
        }
    }
    assert_eq!(messages[0], messages[1], "no hint about which identifier matched");
    let d = h.detail_of(&id).await;
    assert_eq!(d["enrolled_devices"], 2);
    assert_eq!(d["pending_devices"], 2);
    // A device of a token profile cannot enroll tokenless, and vice versa.
    let t = h.new_profile(json!({"name": "With token"})).await;
    assert_eq!(
        h.import(&pid(&t), &format!("imei\n{}\n", imei(60))).await.status,
        StatusCode::OK
    );
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": tokenless(None), "device": android(&imei(60), "S", "x")}),
        )
        .await;
    assert_eq!(r.code(), "device_not_matched");
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": token(t["token"].as_str().unwrap()), "device": android(&imei(51), "S-51", "samsung")}),
        )
        .await;
    assert_eq!(
        r.code(),
        "device_not_matched",
        "a token enrolls only its own inventory"
    );
    let (e, _) = h
        .enroll_and_confirm(token(t["token"].as_str().unwrap()), &android(&imei(60), "S", "x"))
        .await;
    let dev = h.detail(e["device_id"].as_str().unwrap()).await;
    assert!(dev["device"].get("user").is_none(), "no associated user");
}

#[tokio::test]
async fn samsung_kme_flow() {
    let h = Harness::new();
    h.create_user("kme@example.com", None, false).await;
    // KME profiles need the integration.
    let r = h
        .admin(
            Method::POST,
            "/api/v1/admin/bulk/profiles",
            Some(&json!({"name": "K", "kind": "samsung_kme"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .upload("/api/v1/admin/kme/uploads/csv", &format!("imei\n{}\n", imei(70)))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.get_raw("/api/v1/admin/kme/integration").await.json()["enabled"],
        false
    );

    h.new_profile(json!({"name": "Self"})).await;
    let r = h
        .admin(
            Method::POST,
            "/api/v1/admin/kme/integration",
            Some(&json!({"name": "Knox", "description": "reseller 42"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let kme = r.json();
    assert_eq!(kme["enabled"], true);
    let default_id = kme["default_profile_id"].as_str().unwrap().to_owned();
    h.clock.advance(10);
    h.new_profile(json!({"name": "Newer self-maintained"})).await;
    let list = h.get_raw("/api/v1/admin/bulk/profiles").await.json();
    assert_eq!(
        list[0]["id"],
        default_id.as_str(),
        "the default KME profile is always first"
    );
    assert_eq!(list[0]["default_kme"], true);
    assert_eq!(list[0]["kind"], "samsung_kme");
    assert_eq!(list[0]["device_count"], 0);

    // Reseller upload (the sync seam): devices wait for approval.
    let csv = format!(
        "imei,serial_number,manufacturer,asset\n{},,,A-70\n{},,,A-71\n,KME-72,Samsung,=A72\n",
        imei(70),
        imei(71)
    );
    let r = h.upload("/api/v1/admin/kme/uploads/csv", &csv).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["imported"], 3);
    let r = h.upload("/api/v1/admin/kme/uploads/csv", &csv).await;
    assert_eq!(
        (r.json()["imported"].as_u64(), r.json()["skipped"].as_u64()),
        (Some(0), Some(3)),
        "a re-sync skips known devices"
    );
    let kme = h.get_raw("/api/v1/admin/kme/integration").await.json();
    assert_eq!(kme["pending_approval"], 3);
    assert_eq!(kme["last_sync_at"], T0 + 10);
    assert_eq!(
        h.detail_of(&default_id).await["profile"]["device_count"],
        0,
        "not approved yet"
    );
    let pending = h.get_raw("/api/v1/admin/kme/uploads").await.json();
    assert_eq!(pending.as_array().unwrap().len(), 3);
    assert_eq!(pending[0]["approved"], false);
    let r = h.get_raw("/api/v1/admin/kme/uploads/csv").await;
    assert!(r.text().contains("'=A72"), "{}", r.text());
    // A device in a self-maintained profile cannot be uploaded for KME, and vice versa.
    let selfp = pid(&h.new_profile(json!({"name": "S"})).await);
    let r = h.import(&selfp, &format!("imei\n{}\n", imei(70))).await;
    assert!(r.json()["report"]["errors"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("Samsung KME"));

    // Not approved: its own error.
    let d70 = android(&imei(70), "S70", "samsung");
    let r = h
        .enroll(&h.key(), &json!({"credential": tokenless(None), "device": d70}))
        .await;
    assert_eq!(r.code(), "device_not_approved");

    // Approve one: it lands in the default profile, which cannot enroll (unassigned).
    let id70 = pending[0]["id"].as_i64().unwrap();
    let r = h
        .admin(
            Method::POST,
            "/api/v1/admin/kme/uploads/approve",
            Some(&json!({"device_ids": [id70]})),
        )
        .await;
    assert_eq!(r.json()["affected"], 1);
    assert_eq!(h.detail_of(&default_id).await["profile"]["device_count"], 1);
    let r = h
        .enroll(&h.key(), &json!({"credential": tokenless(None), "device": d70}))
        .await;
    assert_eq!(r.code(), "device_unassigned");
    let r = h
        .get_raw(&format!("/api/v1/admin/bulk/profiles/{default_id}/provisioning"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Approve all.
    let r = h
        .admin(
            Method::POST,
            "/api/v1/admin/kme/uploads/approve",
            Some(&json!({"all": true})),
        )
        .await;
    assert_eq!(r.json()["affected"], 2);
    assert_eq!(
        h.get_raw("/api/v1/admin/kme/integration").await.json()["pending_approval"],
        0
    );

    // A KME profile with a token and a user; move devices there.
    let k = h
        .new_profile(
            json!({"name": "Field phones", "kind": "samsung_kme", "user": "kme@example.com",
                        "config": {"attributes": {"fleet": "field"}}}),
        )
        .await;
    let kid = pid(&k);
    let detail = h.detail_of(&kid).await;
    assert_eq!(detail["sync_status"], "synced");
    assert_eq!(detail["profile"]["kind"], "samsung_kme");
    let default_devices = h
        .get_raw(&format!("/api/v1/admin/bulk/profiles/{default_id}/devices"))
        .await
        .json();
    let ids: Vec<i64> = default_devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    let r = h
        .admin(
            Method::POST,
            &format!("/api/v1/admin/bulk/profiles/{default_id}/devices/move"),
            Some(&json!({"device_ids": ids, "to_profile": kid})),
        )
        .await;
    assert_eq!(r.json()["affected"], 3);
    let r = h
        .admin(
            Method::POST,
            &format!("/api/v1/admin/bulk/profiles/{kid}/devices/move"),
            Some(&json!({"device_ids": ids, "to_profile": default_id})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "moving to the default profile is unassign"
    );

    // Enroll with the KME profile's token: user and attributes (device's over profile's).
    let (e, _) = h
        .enroll_and_confirm(token(k["token"].as_str().unwrap()), &d70)
        .await;
    let dev = h.detail(e["device_id"].as_str().unwrap()).await;
    assert_eq!(dev["device"]["user"], "kme@example.com");
    assert_eq!(dev["device"]["attributes"]["asset"], "A-70");
    assert_eq!(dev["device"]["attributes"]["fleet"], "field");
    let detail = h.detail_of(&kid).await;
    assert_eq!(
        (
            detail["enrolled_devices"].as_u64(),
            detail["pending_devices"].as_u64()
        ),
        (Some(1), Some(2))
    );
    // Tokenless does not work on a KME profile with a token.
    let d71 = android(&imei(71), "S71", "samsung");
    let r = h
        .enroll(&h.key(), &json!({"credential": tokenless(None), "device": d71}))
        .await;
    assert_eq!(r.code(), "device_not_matched");

    // Unassign: back to the default profile, enrollment refused again.
    let id71 = ids[1];
    let r = h
        .admin(
            Method::POST,
            &format!("/api/v1/admin/bulk/profiles/{kid}/devices/unassign"),
            Some(&json!({"device_ids": [id71]})),
        )
        .await;
    assert_eq!(r.json()["affected"], 1);
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": token(k["token"].as_str().unwrap()), "device": d71}),
        )
        .await;
    assert_eq!(r.code(), "device_unassigned");
    // KME devices keep their identifiers; attributes can change.
    let r = h
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/bulk/profiles/{default_id}/devices"),
            Some(&json!({"devices": [{"id": id71, "imei": imei(99), "attributes": {"asset": "B"}}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()[0]["imei"], imei(71));
    assert_eq!(r.json()[0]["attributes"]["asset"], "B");
    // CSV uploads go through the Knox uploads, not into KME profiles.
    assert_eq!(h.import(&kid, "imei\n").await.status, StatusCode::BAD_REQUEST);
    // The default profile stays.
    let r = h
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/bulk/profiles/{default_id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Deleting a KME profile sends its devices back to the default profile.
    let r = h
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/bulk/profiles/{kid}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(h.detail_of(&default_id).await["profile"]["device_count"], 3);
}

// ---------------------------------------------------------------------------------------------
// configuration and QR codes

fn decode_qr(png: &[u8]) -> String {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .unwrap()
        .to_luma8();
    let (w, hgt) = img.dimensions();
    let frame = enroll_core::qr::LumaFrame::new(img.as_raw(), w, hgt, w).unwrap();
    let found = enroll_core::qr::QrScanner::new().scan(&frame);
    assert_eq!(found.len(), 1, "one QR code in the image");
    found[0].text.clone()
}

#[tokio::test]
async fn qr_codes_round_trip_through_the_agent_parser() {
    use enroll_core::qr::{parse_payload, EnrollmentIntent, PayloadOptions};
    let h = Harness::new();
    h.create_user("alice@example.com", None, false).await;
    let d = h
        .new_profile(json!({"name": "QR", "config": {
            "product_keys": {"enroll.SKIP_SETUP": "true"},
            "system_extras": {"locale": "fr_FR", "time_zone": "Europe/Paris", "skip_encryption": true},
            "custom_system_keys": {"android.app.extra.PROVISIONING_USE_MOBILE_DATA": true},
            "attributes": {"site": "Lyon"}
        }}))
        .await;
    let id = pid(&d);
    let r = h.get_raw(&format!("/api/v1/admin/bulk/profiles/{id}/qr")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["content-type"], "image/png");
    let text = decode_qr(&r.body);
    let intent = parse_payload(&text, &PayloadOptions::default()).unwrap();
    let EnrollmentIntent::AndroidProvisioning(a) = &intent else {
        panic!("not a provisioning payload")
    };
    assert_eq!(intent.server_url().unwrap().as_str(), "https://127.0.0.1:8443/");
    assert_eq!(intent.token().unwrap().expose(), d["token"].as_str().unwrap());
    assert_eq!(a.admin_extras.profile_id.as_deref(), Some(id.as_str()));
    assert_eq!(a.admin_extras.attributes["site"], "Lyon");
    assert!(a.admin_extras.product_keys.contains_key("enroll.SKIP_SETUP"));
    assert_eq!(
        a.admin_component.as_deref(),
        Some("com.enroll.agent/.AdminReceiver")
    );
    assert!(a.signature_checksum.is_some());
    assert_eq!(a.download_location.as_ref().unwrap().scheme(), "https");
    assert_eq!(a.leave_all_system_apps_enabled, Some(true));
    assert_eq!(a.locale.as_deref(), Some("fr_FR"));
    assert_eq!(a.skip_encryption, Some(true));
    assert!(a
        .system_extras
        .contains_key("android.app.extra.PROVISIONING_USE_MOBILE_DATA"));

    // The KME DPC extras parse as KME extras.
    let p = h
        .get_raw(&format!("/api/v1/admin/bulk/profiles/{id}/provisioning"))
        .await
        .json();
    let kme = parse_payload(&p["kme_dpc_extras"].to_string(), &PayloadOptions::default()).unwrap();
    assert!(matches!(kme, EnrollmentIntent::KmeExtras(_)));
    assert_eq!(kme.token().unwrap().expose(), d["token"].as_str().unwrap());

    // Tokenless profile: no token in the code.
    let t = pid(&h.new_profile(json!({"name": "T", "tokenless": true})).await);
    let r = h
        .get_raw(&format!("/api/v1/admin/bulk/profiles/{t}/qr?scale=4"))
        .await;
    let intent = parse_payload(&decode_qr(&r.body), &PayloadOptions::default()).unwrap();
    assert!(intent.token().is_none());

    // SVG.
    let r = h
        .get_raw(&format!("/api/v1/admin/bulk/profiles/{id}/qr?format=svg"))
        .await;
    assert_eq!(r.headers["content-type"], "image/svg+xml");
    assert!(r.text().contains("<svg") && r.text().contains("crispEdges"));

    // Invitation QR code.
    let r = h
        .get_raw(&format!(
            "/api/v1/admin/users/{}/invitation/qr",
            urlenc("alice@example.com")
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let intent = parse_payload(&decode_qr(&r.body), &PayloadOptions::default()).unwrap();
    let EnrollmentIntent::Invitation(inv) = intent else {
        panic!("not an invitation")
    };
    assert_eq!(inv.user_hint.as_deref(), Some("alice@example.com"));
    assert_eq!(inv.server_base.as_str(), "https://127.0.0.1:8443/");
    let r = h
        .get_raw(&format!(
            "/api/v1/admin/users/{}/invitation/qr?format=svg",
            urlenc("ghost@example.com")
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for q in [
        "format=gif",
        "scale=1",
        "scale=33",
        "scale=x",
        "size=3",
        "format=png&format=svg",
    ] {
        let r = h
            .get_raw(&format!("/api/v1/admin/bulk/profiles/{id}/qr?{q}"))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
    }
}

#[tokio::test]
async fn configuration_is_validated_against_the_device_parser() {
    let h = Harness::new();
    let bad = [
        json!({"product_keys": {"enroll.ENROLLMENT_TOKEN": "x"}}),
        json!({"product_keys": {"enroll.SERVER_URL": "https://evil"}}),
        json!({"product_keys": {"other.KEY": "x"}}),
        json!({"product_keys": {"enroll.a.b": "x"}}),
        json!({"product_keys": {"enroll.K": ""}}),
        json!({"product_keys": {"enroll.K": "a\u{0}b"}}),
        json!({"custom_system_keys": {"android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE": "x"}}),
        json!({"custom_system_keys": {"android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME": "a/b"}}),
        json!({"custom_system_keys": {"android.app.extra.PROVISIONING_WIFI_SECURITY_TYPE": "ROT13"}}),
        json!({"custom_system_keys": {"android.app.extra.PROVISIONING_X": null}}),
        json!({"custom_system_keys": {"android.app.extra.PROVISIONING_X": [1]}}),
        json!({"custom_system_keys": {"com.example.X": "1"}}),
        json!({"system_extras": {"locale": "fr FR"}}),
        json!({"system_extras": {"time_zone": "Europe/Paris;rm"}}),
        json!({"attributes": {"bad name": "x"}}),
        json!({"attributes": {"ok": "x".repeat(300)}}),
        json!({"product_keys": (0..33).map(|i| (format!("enroll.K{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
        json!({"attributes": (0..30).map(|i| (format!("a{i}"), json!("v".repeat(200)))).collect::<serde_json::Map<_, _>>()}),
    ];
    for config in bad {
        let r = h
            .admin(
                Method::POST,
                "/api/v1/admin/bulk/profiles",
                Some(&json!({"name": "P", "config": config})),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{config}: {}", r.text());
    }
    let id = pid(&h.new_profile(json!({"name": "P"})).await);
    let r = h
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/bulk/profiles/{id}"),
            Some(&json!({"config": {"custom_system_keys": {"android.app.extra.PROVISIONING_WIFI_SSID": "Corp"}}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let p = h
        .get_raw(&format!("/api/v1/admin/bulk/profiles/{id}/provisioning"))
        .await
        .json();
    assert_eq!(p["android"]["android.app.extra.PROVISIONING_WIFI_SSID"], "Corp");
}

#[tokio::test]
async fn hostile_bulk_requests_are_refused() {
    let h = Harness::new();
    let id = pid(&h.new_profile(json!({"name": "P"})).await);
    let base = format!("/api/v1/admin/bulk/profiles/{id}");
    let many: Vec<Value> = (0..1001).map(|i| json!({"imei": imei(i)})).collect();
    let cases: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/api/v1/admin/bulk/profiles".into(),
            json!({"name": ""}),
        ),
        (
            Method::POST,
            "/api/v1/admin/bulk/profiles".into(),
            json!({"name": "x".repeat(129)}),
        ),
        (
            Method::POST,
            "/api/v1/admin/bulk/profiles".into(),
            json!({"name": "a\u{7}b"}),
        ),
        (
            Method::POST,
            "/api/v1/admin/bulk/profiles".into(),
            json!({"name": "P", "kind": "apple_dep"}),
        ),
        (
            Method::POST,
            "/api/v1/admin/bulk/profiles".into(),
            json!({"name": 5}),
        ),
        (Method::POST, format!("{base}/devices"), json!({"devices": []})),
        (Method::POST, format!("{base}/devices"), json!({"devices": many})),
        (
            Method::POST,
            format!("{base}/devices"),
            json!({"devices": [{"imei": 490154203237518u64}]}),
        ),
        (
            Method::POST,
            format!("{base}/devices/delete"),
            json!({"device_ids": []}),
        ),
        (
            Method::POST,
            format!("{base}/devices/delete"),
            json!({"device_ids": ["1"]}),
        ),
        (
            Method::POST,
            format!("{base}/devices/move"),
            json!({"device_ids": [1], "to_profile": id}),
        ),
        (
            Method::POST,
            "/api/v1/admin/kme/uploads/approve".into(),
            json!({}),
        ),
        (
            Method::POST,
            "/api/v1/admin/kme/integration".into(),
            json!({"name": ""}),
        ),
    ];
    for (m, path, body) in cases {
        let r = h.admin(m.clone(), &path, Some(&body)).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{m} {path} {}: {}",
            body.to_string().chars().take(80).collect::<String>(),
            r.text()
        );
        assert!(!r.text().contains("490154203237518"));
    }
    for q in ["limit=0x10", "offset=-1", "limit=10001", "page=2"] {
        let r = h.get_raw(&format!("{base}/devices?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
    }
    let r = h
        .get_raw(&format!("/api/v1/admin/bulk/profiles/{}", "x".repeat(100)))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Tokenless credential with a hostile profile id.
    let r = h
        .enroll(
            &h.key(),
            &json!({"credential": {"kind": "tokenless", "profile_id": "x".repeat(65)}, "device": android(&imei(1), "S", "x")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bulk_routes_need_the_admin_token() {
    let h = Harness::new();
    for (method, path) in enroll_server::route_table() {
        if !path.contains("/admin/bulk") && !path.contains("/admin/kme") && !path.contains("invitation/qr") {
            continue;
        }
        let concrete = path.replace("{id}", "x").replace("{email}", "a%40b.c");
        let r = h
            .call(
                Method::from_bytes(method.as_bytes()).unwrap(),
                &concrete,
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}
