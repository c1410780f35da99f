//! Shared harness: a running reference server with admin client, agents with fake platforms,
//! a hand-written hostile TLS server and a TCP proxy that loses replies.

use enroll_cli::admin::AdminClient;
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::fakes::{FakeDevice, FakeInstaller, ManualClock, MemoryStore};
use enroll_core::platform::Platform;
use enroll_core::tls::TrustConfig;
use enroll_core::{Agent, AgentConfig, Credential};
use enroll_proto::secret::SecretString;
use enroll_proto::{self as protocol, DeviceView};
use enroll_server::{RunningServer, ServerConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Env {
    pub server: RunningServer,
    pub admin: AdminClient,
    pub server_clock: Arc<enroll_server::ManualClock>,
    _dir: tempfile::TempDir,
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

pub async fn env_with(tweak: impl FnOnce(&mut ServerConfig)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(enroll_server::ManualClock::starting_now());
    let mut config = ServerConfig::new(dir.path().join("server"));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.clock = clock.clone();
    tweak(&mut config);
    let server = enroll_server::start(config).await.unwrap();
    let http = server.base_url().starts_with("http://");
    let admin = AdminClient::new(
        &server.base_url(),
        trust_of(&server),
        server.admin_token().clone(),
        http,
    )
    .unwrap();
    Env {
        server,
        admin,
        server_clock: clock,
        _dir: dir,
    }
}

pub fn trust_of(server: &RunningServer) -> TrustConfig {
    TrustConfig::with_ca(server.ca_cert_pem().as_bytes()).unwrap()
}

/// One simulated device: its platform pieces survive agent restarts.
#[derive(Clone)]
pub struct Device {
    pub store: Arc<MemoryStore>,
    pub installer: Arc<FakeInstaller>,
    pub info: Arc<FakeDevice>,
    pub clock: Arc<ManualClock>,
}

impl Device {
    pub fn new(info: Arc<FakeDevice>) -> Self {
        let clock = ManualClock::offset_from_now(0);
        Self {
            store: MemoryStore::new(),
            installer: FakeInstaller::new(clock.clone()),
            info,
            clock,
        }
    }

    pub fn android(os: &str, serial: &str) -> Self {
        Self::new(FakeDevice::android(os, serial, &imei_for(serial)))
    }

    pub fn ios(udid: &str) -> Self {
        Self::new(FakeDevice::ios(udid))
    }

    pub fn platform(&self) -> Platform {
        Platform {
            store: self.store.clone(),
            installer: self.installer.clone(),
            device: self.info.clone(),
            clock: self.clock.clone(),
        }
    }

    /// A fresh agent process for this device (as after a restart).
    pub fn agent(&self, env: &Env) -> Agent {
        self.agent_with(trust_of(&env.server), |_| {})
    }

    pub fn agent_with(&self, trust: TrustConfig, tweak: impl FnOnce(&mut AgentConfig)) -> Agent {
        let mut config = AgentConfig::default();
        config.client.trust = trust;
        config.client.retry.base_delay = Duration::from_millis(20);
        config.deferred_poll_interval = Duration::from_millis(50);
        tweak(&mut config);
        Agent::new(config, self.platform()).unwrap()
    }

    /// The persisted state as JSON (what a crash leaves behind).
    pub fn persisted(&self) -> serde_json::Value {
        match self.store.raw(enroll_core::agent::DEFAULT_STATE_KEY) {
            Some(b) => serde_json::from_slice(&b).unwrap(),
            None => serde_json::Value::Null,
        }
    }
}

/// A valid IMEI (15 digits, Luhn) derived from a serial.
pub fn imei_for(serial: &str) -> String {
    let mut digits: Vec<u32> = serial.bytes().map(|b| u32::from(b) % 10).collect();
    digits.resize(14, 3);
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                *d
            }
        })
        .sum();
    digits.push((10 - sum % 10) % 10);
    digits.iter().map(|d| char::from_digit(*d, 10).unwrap()).collect()
}

pub async fn user(env: &Env, email: &str, password: Option<&str>) {
    user_with(env, email, password, false).await;
}

pub async fn user_with(env: &Env, email: &str, password: Option<&str>, directory: bool) {
    env.admin
        .create_user(&protocol::CreateUserRequest {
            email: email.into(),
            display_name: String::new(),
            password: password.map(SecretString::new),
            directory,
        })
        .await
        .unwrap();
}

pub async fn token(env: &Env, email: &str) -> Credential {
    let t = env
        .admin
        .create_token(&protocol::CreateTokenRequest {
            user: email.into(),
            days: Some(30),
            never_expires: false,
        })
        .await
        .unwrap();
    Credential::token(t.token.expose()).unwrap()
}

pub async fn pin(env: &Env, email: &str) -> (String, Credential) {
    let inv = env
        .admin
        .invite(
            email,
            &protocol::InviteRequest {
                with_pin: true,
                pin_ttl_secs: None,
            },
        )
        .await
        .unwrap();
    let pin = inv.pin.unwrap();
    (inv.url, Credential::pin(email, pin.expose()).unwrap())
}

pub fn active_id(status: &EnrollmentStatus) -> String {
    match status {
        EnrollmentStatus::Active { device_id, .. } => device_id.clone(),
        other => panic!("expected active, got {other:?}"),
    }
}

/// Every record (archived included) of the physical device with this hardware key.
pub async fn records_of(env: &Env, matches: impl Fn(&DeviceView) -> bool) -> Vec<DeviceView> {
    env.admin
        .devices(true)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| matches(d))
        .collect()
}

pub fn same_serial(serial: &'static str) -> impl Fn(&DeviceView) -> bool {
    move |d| d.device.serial.as_deref() == Some(serial)
}

pub fn same_hwid(id: &'static str) -> impl Fn(&DeviceView) -> bool {
    move |d| d.device.hardware_id.as_deref() == Some(id)
}

// ---------------------------------------------------------------------------------------------
// Hostile server: a hand-written HTTP/1.1 server over TLS whose replies the test scripts.

/// A canned reply.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Send `Content-Length` (false: close-delimited body).
    pub content_length: bool,
    /// Extra headers (name, value).
    pub headers: Vec<(String, String)>,
}

impl Canned {
    pub fn json(body: serde_json::Value) -> Self {
        Self {
            status: 200,
            content_type: "application/json".into(),
            body: body.to_string().into_bytes(),
            content_length: true,
            headers: Vec::new(),
        }
    }

    pub fn raw(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type: content_type.into(),
            body,
            content_length: true,
            headers: Vec::new(),
        }
    }
}

pub struct Hostile {
    pub url: String,
    pub ca_pem: String,
    pub pki: Arc<enroll_server::pki::Pki>,
}

/// Serves `route(path) -> Canned` over TLS with a fresh PKI.
pub async fn hostile(route: impl Fn(&str) -> Canned + Send + Sync + 'static) -> Hostile {
    let pki =
        Arc::new(enroll_server::pki::Pki::ephemeral(&["localhost".into(), "127.0.0.1".into()]).unwrap());
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(pki.server_cert_chain(), pki.server_key())
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let route = Arc::new(route);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let route = route.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let Ok(n) = tls.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break pos + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let Ok(n) = tls.read(&mut chunk).await else { return };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let reply = route(&path);
                let mut out = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: {}\r\nenroll-protocol: 1\r\nconnection: close\r\n",
                    reply.status, reply.content_type
                );
                for (name, value) in &reply.headers {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                if reply.content_length {
                    out.push_str(&format!("content-length: {}\r\n", reply.body.len()));
                }
                out.push_str("\r\n");
                let _ = tls.write_all(out.as_bytes()).await;
                let _ = tls.write_all(&reply.body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Hostile {
        url: format!("https://127.0.0.1:{}", addr.port()),
        ca_pem: pki.ca_pem().to_owned(),
        pki,
    }
}

// ---------------------------------------------------------------------------------------------
// Lossy proxy, over plain HTTP (the server's loopback development mode): while `lose_replies`
// is on, a request is forwarded and fully processed by the server, then the connection is
// dropped before the reply reaches the agent (a crash or network loss after sending). Plain HTTP
// makes "the server has answered" observable; TLS is covered by every other test.

pub struct Proxy {
    pub url: String,
    pub lose_replies: Arc<AtomicBool>,
    pub lost: Arc<std::sync::atomic::AtomicUsize>,
}

pub async fn proxy(target: std::net::SocketAddr) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lose = Arc::new(AtomicBool::new(false));
    let lost = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (lose2, lost2) = (lose.clone(), lost.clone());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (lose, lost) = (lose2.clone(), lost2.clone());
            tokio::spawn(async move {
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut ur, mut uw) = upstream.split();
                let up = async {
                    let _ = tokio::io::copy(&mut cr, &mut uw).await;
                };
                let down = async {
                    let mut chunk = [0u8; 8192];
                    while let Ok(n) = ur.read(&mut chunk).await {
                        if n == 0 {
                            break;
                        }
                        // The server has answered: in lose mode the answer never arrives.
                        if lose.load(Ordering::SeqCst) {
                            lost.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        if cw.write_all(&chunk[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::select! { _ = up => {}, _ = down => {} }
            });
        }
    });
    Proxy {
        url: format!("http://127.0.0.1:{}", addr.port()),
        lose_replies: lose,
        lost,
    }
}

/// The wall clock, Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An enrollment profile (plist) as the reference server builds it, for server `base`, valid
/// for five minutes from now.
pub fn enrollment_plist(base: &str) -> Vec<u8> {
    use enroll_server::enrollment::profile::{build_enrollment_profile, new_uuid, ProfileParams};
    build_enrollment_profile(&ProfileParams {
        device_id: "d1".into(),
        payload_uuid: new_uuid(),
        identity_uuid: new_uuid(),
        mdm_uuid: new_uuid(),
        base_url: base.into(),
        challenge: "one-time".into(),
        topic: "com.apple.mgmt.External.test".into(),
        organization: "Test".into(),
        issued_at: unix_now(),
        expires_at: unix_now() + 300,
    })
}
