//! Shared setup of the Windows tests: a real TLS server on loopback (real SQLite file), an
//! admin HTTPS client, and Windows device-mode devices.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use enroll_server::{ManualClock, RunningServer, ServerConfig};
use enroll_wmdm::customizations::Customizations;
use enroll_wsim::{Config, Credential, DeviceInfo, MemoryTree, WindowsDevice};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

pub struct Env {
    pub server: RunningServer,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    pub base: String,
    pub admin: String,
    pub dir: PathBuf,
}

pub fn tls_client(roots: &[Vec<u8>], identity: Option<(Vec<u8>, Vec<u8>)>) -> reqwest::Client {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store
            .add(rustls_pki_types::CertificateDer::from(r.clone()))
            .unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store);
    let tls = match identity {
        None => b.with_no_client_auth(),
        Some((c, k)) => b
            .with_client_auth_cert(
                vec![rustls_pki_types::CertificateDer::from(c)],
                rustls_pki_types::PrivateKeyDer::Pkcs8(k.into()),
            )
            .unwrap(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap()
}

pub async fn start(tag: &str) -> Env {
    let dir = std::env::temp_dir().join(format!(
        "enroll-windows-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let clock = Arc::new(ManualClock::starting_now());
    let mut config = ServerConfig::new(&dir);
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.clock = clock.clone();
    let server = enroll_server::start(config).await.unwrap();
    let http = tls_client(&[server.ca_cert_der()], None);
    Env {
        base: server.base_url(),
        admin: server.admin_token().expose().to_owned(),
        http,
        server,
        clock,
        dir,
    }
}

impl Env {
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn soap(&self, path: &str, body: String) -> (StatusCode, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/soap+xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub async fn user(&self, email: &str, password: &str) {
        let (s, v) = self
            .post(
                "/api/v1/admin/users",
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }

    pub async fn package(&self, user: &str, secret: &str) -> Customizations {
        let (s, v) = self
            .post(
                "/api/v1/admin/windows/packages",
                json!({ "user": user, "secret": secret }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        Customizations::parse(v["customizations_xml"].as_str().unwrap()).unwrap()
    }

    pub fn device(&self, credential: Credential) -> WindowsDevice<MemoryTree> {
        let info = DeviceInfo::random();
        let tree = MemoryTree::for_device(&info);
        WindowsDevice::new(
            info,
            credential,
            Config {
                trust: vec![self.server.ca_cert_der()],
                state_file: None,
                sessions: 1,
            },
            tree,
        )
        .unwrap()
    }

    pub async fn windows_devices(&self) -> Vec<Value> {
        self.get("/api/v1/admin/windows/devices")
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn device_count(&self) -> usize {
        self.get("/api/v1/admin/devices").await.as_array().unwrap().len()
    }
}

pub fn quiet(_: &str) {}

/// Every LocURI of every message the server sent, parsed by namespace.
pub fn uris_sent(transcript: &[String]) -> Vec<String> {
    transcript
        .iter()
        .flat_map(|t| {
            let m = enroll_wmdm::syncml::Message::parse(t).unwrap();
            m.commands
                .iter()
                .flat_map(|c| c.uris().map(str::to_owned).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        })
        .collect()
}
