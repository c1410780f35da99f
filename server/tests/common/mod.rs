//! Test harness: an [`App`] on a temporary data directory with a [`ManualClock`], driven through
//! its router with `tower::ServiceExt::oneshot`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use der::Decode;
use enroll_server::{App, ManualClock, ServerConfig};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower::ServiceExt as _;

pub const T0: i64 = 1_750_000_000;

pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "enroll-server-test-{tag}-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or("").to_string()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct Harness {
    pub app: App,
    pub router: axum::Router,
    pub clock: Arc<ManualClock>,
    pub dir: PathBuf,
    pub admin: String,
    key_counter: AtomicU64,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = temp_dir("api");
        let clock = Arc::new(ManualClock::new(T0));
        let mut config = ServerConfig::new(&dir);
        config.clock = clock.clone();
        config.name = "Acme".into();
        tweak(&mut config);
        let app = App::open(&config, "https://127.0.0.1:8443").unwrap();
        let router = app.router();
        let admin = app.admin_token().expose().to_string();
        Self {
            app,
            router,
            clock,
            dir,
            admin,
            key_counter: AtomicU64::new(0),
        }
    }

    pub fn key(&self) -> String {
        format!(
            "test-key-{:08}-abcdef",
            self.key_counter.fetch_add(1, Ordering::SeqCst)
        )
    }

    pub async fn raw(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        assert_eq!(
            headers.get("enroll-protocol").and_then(|v| v.to_str().ok()),
            Some("1"),
            "every reply carries enroll-protocol: 1"
        );
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(v).unwrap())),
            None => b.body(Body::empty()),
        }
        .unwrap();
        self.raw(req).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let auth = format!("Bearer {}", self.admin);
        self.call(method, path, &[("authorization", &auth)], body).await
    }

    pub async fn create_user(&self, email: &str, password: Option<&str>, directory: bool) -> Reply {
        let mut body = json!({"email": email, "display_name": "Test User", "directory": directory});
        if let Some(p) = password {
            body["password"] = json!(p);
        }
        self.admin(Method::POST, "/api/v1/admin/users", Some(&body)).await
    }

    pub async fn invite_pin(&self, email: &str) -> String {
        let r = self
            .admin(
                Method::POST,
                &format!("/api/v1/admin/users/{}/invitations", urlenc(email)),
                Some(&json!({"with_pin": true})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["pin"].as_str().unwrap().to_string()
    }

    pub async fn token(&self, email: &str, days: Option<u32>, never: bool) -> Reply {
        let mut body = json!({"user": email, "never_expires": never});
        if let Some(d) = days {
            body["days"] = json!(d);
        }
        self.admin(Method::POST, "/api/v1/admin/tokens", Some(&body))
            .await
    }

    pub async fn enroll(&self, key: &str, body: &Value) -> Reply {
        self.call(
            Method::POST,
            "/api/v1/enrollments",
            &[("idempotency-key", key)],
            Some(body),
        )
        .await
    }

    pub async fn profile(&self, eid: &str, secret: &str) -> Reply {
        let auth = format!("Bearer {secret}");
        self.call(
            Method::GET,
            &format!("/api/v1/enrollments/{eid}/profile"),
            &[("authorization", &auth)],
            None,
        )
        .await
    }

    pub async fn confirm(&self, eid: &str, secret: &str, uuid: &str) -> Reply {
        let auth = format!("Bearer {secret}");
        self.call(
            Method::POST,
            &format!("/api/v1/enrollments/{eid}/confirm"),
            &[("authorization", &auth)],
            Some(&json!({"profile_uuid": uuid})),
        )
        .await
    }

    pub async fn cancel(&self, eid: &str, secret: &str) -> Reply {
        let auth = format!("Bearer {secret}");
        self.call(
            Method::POST,
            &format!("/api/v1/enrollments/{eid}/cancel"),
            &[("authorization", &auth)],
            Some(&json!({"reason": "user_cancelled"})),
        )
        .await
    }

    pub async fn checkin(&self, did: &str, secret: &str, device: &Value) -> Reply {
        let auth = format!("Bearer {secret}");
        self.call(
            Method::POST,
            &format!("/api/v1/devices/{did}/checkin"),
            &[("authorization", &auth)],
            Some(&json!({"device": device, "details": {"battery": "80"}})),
        )
        .await
    }

    pub async fn ack(&self, did: &str, secret: &str, action: &str) -> Reply {
        let auth = format!("Bearer {secret}");
        self.call(
            Method::POST,
            &format!("/api/v1/devices/{did}/ack"),
            &[("authorization", &auth)],
            Some(&json!({"action": action})),
        )
        .await
    }

    /// Enroll with `credential`, fetch a profile, confirm. Returns (enroll reply JSON, device secret).
    pub async fn enroll_and_confirm(&self, credential: Value, device: &Value) -> (Value, String) {
        let r = self
            .enroll(&self.key(), &json!({"credential": credential, "device": device}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let e = r.json();
        let (eid, secret) = (
            e["enrollment_id"].as_str().unwrap(),
            e["enrollment_secret"].as_str().unwrap(),
        );
        let p = self.profile(eid, secret).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.text());
        let uuid = profile_uuid(&p.body);
        let c = self.confirm(eid, secret, &uuid).await;
        assert_eq!(c.status, StatusCode::OK, "{}", c.text());
        let c = c.json();
        assert_eq!(c["device_id"], e["device_id"]);
        (e, c["device_secret"].as_str().unwrap().to_string())
    }

    pub async fn devices(&self, include_archived: bool) -> Vec<Value> {
        let path = if include_archived {
            "/api/v1/admin/devices?include_archived=true"
        } else {
            "/api/v1/admin/devices"
        };
        let r = self.admin(Method::GET, path, None).await;
        assert_eq!(r.status, StatusCode::OK);
        r.json().as_array().unwrap().clone()
    }

    pub async fn detail(&self, did: &str) -> Value {
        let r = self
            .admin(Method::GET, &format!("/api/v1/admin/devices/{did}"), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()
    }
}

pub fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn device(platform: &str, os: &str, hw: &str) -> Value {
    json!({
        "platform": platform,
        "os_version": os,
        "model": "Model X",
        "manufacturer": "Acme",
        "hardware_id": hw,
        "agent_version": "0.1.0"
    })
}

pub fn password(user: &str, pw: &str) -> Value {
    json!({"kind": "password", "user": user, "password": pw})
}

pub fn pin(user: &str, pin: &str) -> Value {
    json!({"kind": "pin", "user": user, "pin": pin})
}

pub fn token(t: &str) -> Value {
    json!({"kind": "token", "token": t})
}

/// The plist inside a signed profile.
pub fn profile_plist(der: &[u8]) -> plist::Value {
    let ci = cms::content_info::ContentInfo::from_der(der).unwrap();
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    let content: der::asn1::OctetString = sd.encap_content_info.econtent.unwrap().decode_as().unwrap();
    plist::from_bytes(content.as_bytes()).unwrap()
}

/// The `PayloadUUID` of a signed profile.
pub fn profile_uuid(der: &[u8]) -> String {
    profile_plist(der).as_dictionary().unwrap()["PayloadUUID"]
        .as_string()
        .unwrap()
        .to_string()
}
