//! Apple MDM on the reference server, end to end over TLS: the device simulator (`enroll-sim`)
//! enrolls through the agent's protocol, SCEP, `Authenticate` and `TokenUpdate`, answers the
//! commands an administrator queues, and leaves through retire (RemoveProfile) or wipe
//! (EraseDevice). Hostile check-ins and reports are refused with a typed error and change
//! nothing. The APNs provider is checked against a local HTTP/2 TLS server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are failures

mod common;

use base64::Engine as _;
use common::temp_dir;
use enroll_core::client::{ClientConfig, Method, ProtocolClient};
use enroll_core::platform::SystemClock;
use enroll_core::tls::TrustConfig;
use enroll_mdm::checkin::{Authenticate, CheckinMessage, TokenUpdate, CHECKIN_CONTENT_TYPE};
use enroll_mdm::command::{Report, Status, COMMAND_CONTENT_TYPE};
use enroll_mdm::key::{RsaBits, RsaPrivateKey};
use enroll_mdm::mdm_signature;
use enroll_proto::secret::SecretString;
use enroll_proto::CredentialWire;
use enroll_server::{RunningServer, ServerConfig};
use enroll_sim::fleet::{ProfileSource, Progress};
use enroll_sim::server::ServerProfiles;
use enroll_sim::{
    enroll_fleet, ApplePlatform, DeviceIdentity, EnrollmentProfile, FleetConfig, HttpConfig, PollEnd,
    SimError, SimulatedDevice, Step, Transport,
};
use serde_json::{json, Value};
use std::sync::Arc;

struct Env {
    server: RunningServer,
    transport: Arc<Transport>,
    source: Arc<ServerProfiles>,
    ca: Vec<u8>,
    next: std::sync::atomic::AtomicUsize,
}

struct Raw {
    status: u16,
    body: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    fn message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap_or("").to_owned()
    }
}

impl Env {
    async fn start(tag: &str) -> Self {
        let mut config = ServerConfig::new(temp_dir(tag));
        config.bind = "127.0.0.1:0".parse().unwrap();
        let server = enroll_server::start(config).await.unwrap();
        let ca = server.ca_cert_der();
        let trust = TrustConfig::with_ca(server.ca_cert_pem().as_bytes()).unwrap();
        let transport = Transport::new(HttpConfig {
            trust: trust.clone(),
            ..HttpConfig::default()
        });
        let auth = format!("Bearer {}", server.admin_token().expose());
        let admin = |path: &'static str, body: Value| {
            let transport = transport.clone();
            let url = format!("{}{path}", server.base_url());
            let auth = auth.clone();
            async move {
                let headers = [
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ];
                let r = transport
                    .request(
                        Step::Command,
                        Method::POST,
                        &url,
                        None,
                        &headers,
                        Some(body.to_string().into_bytes()),
                        1 << 16,
                    )
                    .await
                    .unwrap();
                assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
                serde_json::from_slice::<Value>(&r.body).unwrap()
            }
        };
        admin(
            "/api/v1/admin/users",
            json!({"email": "mac@example.com", "display_name": "Mac User"}),
        )
        .await;
        let token = admin(
            "/api/v1/admin/tokens",
            json!({"user": "mac@example.com", "never_expires": true}),
        )
        .await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let client = ProtocolClient::new(
            &server.base_url(),
            ClientConfig {
                trust,
                ..ClientConfig::default()
            },
            Arc::new(SystemClock),
        )
        .unwrap();
        let source = Arc::new(ServerProfiles::new(
            client,
            CredentialWire::Token {
                token: SecretString::new(token),
            },
            ApplePlatform::Ios,
        ));
        Self {
            server,
            transport,
            source,
            ca,
            next: 0.into(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Raw {
        let auth = format!("Bearer {}", self.server.admin_token().expose());
        let mut headers = vec![("authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let r = self
            .transport
            .request(
                Step::Command,
                method,
                &self.url(path),
                None,
                &headers,
                body.map(|b| b.to_string().into_bytes()),
                8 << 20,
            )
            .await
            .unwrap();
        Raw {
            status: r.status,
            body: r.body,
        }
    }

    /// A profile downloaded through the agent's protocol for `identity` (a pending install).
    async fn profile(&self, identity: &DeviceIdentity) -> EnrollmentProfile {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let bytes = self.source.profile(i, identity).await.unwrap();
        EnrollmentProfile::parse(&bytes, std::slice::from_ref(&self.ca)).unwrap()
    }

    async fn enroll(&self) -> SimulatedDevice {
        let identity = DeviceIdentity::simulated(0, ApplePlatform::Ios);
        let profile = self.profile(&identity).await;
        SimulatedDevice::enroll(self.transport.clone(), Arc::new(profile), identity)
            .await
            .unwrap()
    }

    /// The device record whose hardware id is `udid` (not archived).
    async fn device_of(&self, udid: &str) -> Value {
        let list = self
            .admin(Method::GET, "/api/v1/admin/devices", None)
            .await
            .json();
        let found: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["device"]["hardware_id"] == udid)
            .collect();
        assert_eq!(found.len(), 1, "one record for {udid}: {list}");
        found[0].clone()
    }

    async fn commands(&self, id: &str) -> Vec<Value> {
        let r = self
            .admin(Method::GET, &format!("/api/v1/admin/devices/{id}/commands"), None)
            .await;
        assert_eq!(r.status, 200);
        r.json().as_array().unwrap().clone()
    }

    async fn queue(&self, id: &str, body: Value) -> Value {
        let r = self
            .admin(
                Method::POST,
                &format!("/api/v1/admin/devices/{id}/commands"),
                Some(body),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    async fn pending(&self) -> Vec<Value> {
        self.admin(Method::GET, "/api/v1/admin/enrollments/pending", None)
            .await
            .json()
            .as_array()
            .unwrap()
            .clone()
    }
}

async fn history_len(env: &Env, id: &str) -> usize {
    env.admin(Method::GET, &format!("/api/v1/admin/devices/{id}"), None)
        .await
        .json()["history"]
        .as_array()
        .unwrap()
        .len()
}

fn status_of(cmds: &[Value], uuid: &str) -> String {
    cmds.iter()
        .find(|c| c["command_uuid"] == uuid)
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn refused_with(e: SimError, status: u16) {
    match e {
        SimError::Status { status: s, .. } => assert_eq!(s, status),
        other => panic!("expected HTTP {status}, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_device_enrolls_over_tls_and_answers_the_administrators_commands() {
    let env = Env::start("mdm-flow").await;
    let mut device = env.enroll().await;
    let udid = device.state.identity.udid.clone();

    // Active because of its TokenUpdate (nothing confirmed over JSON), MDM enabled.
    let record = env.device_of(&udid).await;
    let id = record["id"].as_str().unwrap().to_owned();
    assert_eq!(record["state"], "active");
    assert_eq!(record["mdm"], "enabled");
    let detail = env
        .admin(Method::GET, &format!("/api/v1/admin/devices/{id}"), None)
        .await
        .json();
    let events: Vec<String> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{} {}",
                h["event"].as_str().unwrap(),
                h["detail"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("enrolled") && e.ends_with("by MDM TokenUpdate")),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e.starts_with("mdm_authenticated")));
    assert!(env.pending().await.is_empty());

    // DeviceInformation was queued at TokenUpdate, answered at the first poll, and is on the
    // record.
    let cmds = env.commands(&id).await;
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["request_type"], "DeviceInformation");
    assert_eq!(cmds[0]["origin"], "enrollment");
    assert_eq!(cmds[0]["status"], "acknowledged");
    let mdm = env
        .admin(Method::GET, &format!("/api/v1/admin/devices/{id}/mdm"), None)
        .await
        .json();
    assert_eq!(mdm["udid"], udid.as_str());
    assert_eq!(
        mdm["device_information"]["SerialNumber"],
        device.state.identity.serial_number.as_str()
    );
    assert_eq!(mdm["push_registered"], true);
    let record = env.device_of(&udid).await;
    assert_eq!(
        record["device"]["serial"],
        device.state.identity.serial_number.as_str()
    );
    assert_eq!(
        record["device"]["os_version"],
        device.state.identity.os_version.as_str()
    );
    assert_eq!(
        record["device"]["model"],
        device.state.identity.product_name.as_str()
    );

    // Commands queued by the administrator are answered at the next poll, results stored.
    let tiny = br#"<?xml version="1.0"?><plist version="1.0"><dict><key>PayloadIdentifier</key><string>com.example.wifi</string><key>PayloadUUID</key><string>6A0C2B7E-0000-4000-8000-000000000001</string><key>PayloadType</key><string>Configuration</string><key>PayloadVersion</key><integer>1</integer><key>PayloadContent</key><array/></dict></plist>"#;
    let install = env
        .queue(
            &id,
            json!({"request_type": "InstallProfile",
                   "payload": base64::engine::general_purpose::STANDARD.encode(tiny)}),
        )
        .await;
    let list = env.queue(&id, json!({"request_type": "ProfileList"})).await;
    let security = env.queue(&id, json!({"request_type": "SecurityInfo"})).await;
    let remove = env
        .queue(
            &id,
            json!({"request_type": "RemoveProfile", "identifier": "com.example.wifi"}),
        )
        .await;
    let missing = env
        .queue(
            &id,
            json!({"request_type": "RemoveProfile", "identifier": "com.example.none"}),
        )
        .await;
    let lock = env
        .queue(&id, json!({"request_type": "DeviceLock", "message": "Lost"}))
        .await;
    assert_eq!(install["status"], "queued");
    let outcome = device.poll().await.unwrap();
    assert_eq!((outcome.commands, outcome.end), (6, PollEnd::Idle));
    let cmds = env.commands(&id).await;
    for c in [&install, &list, &security, &remove, &lock] {
        let uuid = c["command_uuid"].as_str().unwrap();
        assert_eq!(status_of(&cmds, uuid), "acknowledged", "{cmds:?}");
    }
    let failed = cmds
        .iter()
        .find(|c| c["command_uuid"] == missing["command_uuid"])
        .unwrap();
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["error_chain"][0]["code"], 1003);
    let profiles = cmds
        .iter()
        .find(|c| c["command_uuid"] == list["command_uuid"])
        .unwrap();
    let ids: Vec<&str> = profiles["response"]["ProfileList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["PayloadIdentifier"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"com.example.wifi"), "{ids:?}");
    assert!(device.state.locked);

    // NotNow: kept, not sent again in the same session, sent in the next one.
    device.state.not_now = 1;
    let info = env.queue(&id, json!({"request_type": "SecurityInfo"})).await;
    let uuid = info["command_uuid"].as_str().unwrap();
    assert_eq!(device.poll().await.unwrap().commands, 1);
    assert_eq!(status_of(&env.commands(&id).await, uuid), "not_now");
    assert_eq!(device.poll().await.unwrap().commands, 1);
    assert_eq!(status_of(&env.commands(&id).await, uuid), "acknowledged");
    assert!(!device.idle_once().await.unwrap());

    // Retire: RemoveProfile of the MDM profile at the next contact; acknowledged, CheckOut
    // taken, then the device is refused with 403.
    let r = env
        .admin(Method::POST, &format!("/api/v1/admin/devices/{id}/retire"), None)
        .await;
    assert_eq!(r.status, 200);
    let outcome = device.poll().await.unwrap();
    assert_eq!(outcome.end, PollEnd::Unenrolled);
    let cmds = env.commands(&id).await;
    let last = cmds.last().unwrap();
    assert_eq!(
        (last["request_type"].as_str(), last["origin"].as_str()),
        (Some("RemoveProfile"), Some("retire"))
    );
    assert_eq!(last["status"], "acknowledged");
    device.enrolled = true;
    refused_with(device.idle_once().await.unwrap_err(), 403);
    let detail = env
        .admin(Method::GET, &format!("/api/v1/admin/devices/{id}"), None)
        .await
        .json();
    let events: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"action_applied") && events.contains(&"mdm_checked_out"),
        "{events:?}"
    );
    assert_eq!(detail["device"]["state"], "retired");
    assert_eq!(detail["device"]["mdm"], "deactivated");
    assert_eq!(detail["device"]["last_action"], "retire");

    // Wipe: EraseDevice, then 403.
    let mut other = env.enroll().await;
    let oid = env.device_of(&other.state.identity.udid).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = env
        .admin(Method::POST, &format!("/api/v1/admin/devices/{oid}/wipe"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(other.poll().await.unwrap().end, PollEnd::Erased);
    let cmds = env.commands(&oid).await;
    assert_eq!(cmds.last().unwrap()["request_type"], "EraseDevice");
    other.enrolled = true;
    refused_with(other.idle_once().await.unwrap_err(), 403);

    // Commands for a device that left are refused; unknown devices are 404.
    let r = env
        .admin(
            Method::POST,
            &format!("/api/v1/admin/devices/{oid}/commands"),
            Some(json!({"request_type": "SecurityInfo"})),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = env
        .admin(Method::GET, "/api/v1/admin/devices/nope/commands", None)
        .await;
    assert_eq!(r.status, 404);
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_a_small_fleet_against_the_reference_server() {
    let env = Env::start("mdm-fleet").await;
    let config = FleetConfig {
        devices: 6,
        concurrency: 3,
        platform: ApplePlatform::Macos,
        trusted_profile_cas: vec![env.ca.clone()],
    };
    let (report, devices) = enroll_fleet(
        &config,
        env.transport.clone(),
        env.source.clone(),
        Arc::new(|_: Progress| {}),
    )
    .await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.active, 6);
    for d in &devices {
        assert_eq!(env.device_of(&d.state.identity.udid).await["state"], "active");
    }
    env.server.shutdown().await;
}

/// A device driven by hand, to send what a real one never would.
struct Manual {
    key: RsaPrivateKey,
    cert: Vec<u8>,
    profile: EnrollmentProfile,
    udid: String,
}

impl Manual {
    async fn new(env: &Env, identity: &DeviceIdentity) -> Self {
        let profile = env.profile(identity).await;
        let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
        let cert = enroll_sim::scep_client::enroll(&env.transport, &profile.scep, &key, &identity.udid)
            .await
            .unwrap();
        Self {
            key,
            cert,
            profile,
            udid: identity.udid.clone(),
        }
    }

    fn authenticate(&self, topic: &str) -> Vec<u8> {
        CheckinMessage::Authenticate(Authenticate {
            topic: topic.into(),
            udid: self.udid.clone(),
            ..Default::default()
        })
        .to_xml()
        .unwrap()
    }

    fn token_update(&self, udid: &str) -> Vec<u8> {
        CheckinMessage::TokenUpdate(TokenUpdate {
            topic: self.profile.mdm.topic.clone(),
            udid: udid.into(),
            token: plist::Data::new(vec![7; 32]),
            push_magic: "magic".into(),
            unlock_token: None,
            awaiting_configuration: None,
        })
        .to_xml()
        .unwrap()
    }

    fn sign(&self, body: &[u8]) -> String {
        mdm_signature::sign(body, &self.key, &self.cert).unwrap()
    }

    async fn send(&self, env: &Env, server: bool, body: Vec<u8>, sig: Option<String>) -> Raw {
        let (url, ct) = if server {
            (&self.profile.mdm.server_url, COMMAND_CONTENT_TYPE)
        } else {
            (&self.profile.mdm.checkin_url, CHECKIN_CONTENT_TYPE)
        };
        let mut headers = vec![("content-type", ct)];
        if let Some(s) = &sig {
            headers.push(("mdm-signature", s.as_str()));
        }
        let r = env
            .transport
            .request(
                Step::Command,
                Method::PUT,
                url,
                None,
                &headers,
                Some(body),
                1 << 20,
            )
            .await
            .unwrap();
        Raw {
            status: r.status,
            body: r.body,
        }
    }

    async fn signed(&self, env: &Env, server: bool, body: Vec<u8>) -> Raw {
        let sig = self.sign(&body);
        self.send(env, server, body, Some(sig)).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_check_ins_and_reports_are_refused_and_change_nothing() {
    let env = Env::start("mdm-hostile").await;
    let identity = DeviceIdentity::simulated(1, ApplePlatform::Macos);
    let dev = Manual::new(&env, &identity).await;
    let topic = dev.profile.mdm.topic.clone();
    // Downloaded, SCEP done, no check-in: a pending install.
    assert_eq!(env.pending().await.len(), 1);
    let id = env.device_of(&dev.udid).await["id"].as_str().unwrap().to_owned();
    let before = history_len(&env, &id).await;

    // Unsigned, wrongly signed (another body), signed by a certificate our CA did not issue.
    let auth = dev.authenticate(&topic);
    let r = dev.send(&env, false, auth.clone(), None).await;
    assert_eq!(r.status, 400);
    assert!(
        r.message().contains("Mdm-Signature header is required"),
        "{}",
        r.message()
    );
    let r = dev
        .send(&env, false, auth.clone(), Some(dev.sign(b"<plist/>")))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("does not verify"), "{}", r.message());
    let foreign = enroll_mdm::cert::self_signed(
        &dev.key,
        &enroll_mdm::cert::common_name(&id).unwrap(),
        enroll_mdm::cert::CertificateKind::ClientIdentity,
        std::time::Duration::from_secs(3600),
    )
    .unwrap();
    let sig = mdm_signature::sign(&auth, &dev.key, &foreign).unwrap();
    let r = dev.send(&env, false, auth.clone(), Some(sig)).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("did not issue"), "{}", r.message());
    // Wrong topic; malformed and oversized plists.
    let r = dev
        .signed(&env, false, dev.authenticate("com.apple.mgmt.External.other"))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("Topic"), "{}", r.message());
    let r = dev.signed(&env, false, b"<plist><dict><key>x".to_vec()).await;
    assert_eq!(r.status, 400);
    let r = dev.signed(&env, false, vec![b' '; 64 * 1024 + 1]).await;
    assert_eq!(r.status, 413);
    // TokenUpdate before Authenticate: unknown UDID.
    let r = dev.signed(&env, false, dev.token_update(&dev.udid)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.message(), "com.apple.unrecognized.device");
    assert_eq!(history_len(&env, &id).await, before);
    assert_eq!(env.device_of(&dev.udid).await["state"], "pending");

    // Authenticate: bound, still a pending install.
    let r = dev.signed(&env, false, auth.clone()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(env.pending().await.len(), 1);
    assert_eq!(env.device_of(&dev.udid).await["state"], "pending");

    // Replay: another device's identity sending a TokenUpdate for this UDID.
    let intruder = Manual::new(&env, &DeviceIdentity::simulated(2, ApplePlatform::Macos)).await;
    let r = intruder
        .signed(&env, false, intruder.token_update(&dev.udid))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("replayed"), "{}", r.message());
    // The command channel before TokenUpdate.
    let idle = Report::idle(&dev.udid).to_xml().unwrap();
    let r = dev.signed(&env, true, idle.clone()).await;
    assert_eq!(r.status, 400);
    assert_eq!(env.device_of(&dev.udid).await["state"], "pending");

    // TokenUpdate: active, DeviceInformation queued and sent on Idle.
    let r = dev.signed(&env, false, dev.token_update(&dev.udid)).await;
    assert_eq!(r.status, 200);
    assert_eq!(env.device_of(&dev.udid).await["state"], "active");
    assert!(env.pending().await.iter().all(|p| p["device_id"] != id.as_str()));

    // A result for an unknown CommandUUID changes nothing.
    let cmds = env.commands(&id).await;
    let bogus = Report::for_command(
        &dev.udid,
        "NO-SUCH-UUID",
        Status::Acknowledged,
        Default::default(),
    );
    let r = dev.signed(&env, true, bogus.to_xml().unwrap()).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("CommandUUID"), "{}", r.message());
    assert_eq!(env.commands(&id).await, cmds);
    // Unknown UDID on the command channel.
    let r = dev
        .signed(&env, true, Report::idle("UNKNOWN-UDID").to_xml().unwrap())
        .await;
    assert_eq!(r.status, 403);

    // Per-route limits: a 2 MiB report is taken on /mdm/server (ProfileList answers are
    // large), more than 4 MiB is not.
    let r = dev.signed(&env, true, idle.clone()).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("DeviceInformation"));
    let mut big = Report::idle(&dev.udid);
    big.fields
        .insert("Padding".into(), plist::Value::String("x".repeat(2 << 20)));
    let r = dev.signed(&env, true, big.to_xml().unwrap()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    big.fields
        .insert("Padding".into(), plist::Value::String("x".repeat(4 << 20)));
    let r = dev.signed(&env, true, big.to_xml().unwrap()).await;
    assert_eq!(r.status, 413);

    // Re-enroll (Troubleshooting): a new profile and identity, Authenticate from the same
    // UDID: one active record, the old identity no longer accepted.
    let again = Manual::new(&env, &identity).await;
    assert_eq!(
        again.signed(&env, false, again.authenticate(&topic)).await.status,
        200
    );
    assert_eq!(
        again
            .signed(&env, false, again.token_update(&again.udid))
            .await
            .status,
        200
    );
    let record = env.device_of(&dev.udid).await;
    assert_eq!(
        (record["id"].as_str(), record["state"].as_str()),
        (Some(id.as_str()), Some("active"))
    );
    let r = dev.signed(&env, true, idle).await;
    assert_eq!(r.status, 403, "the replaced identity is revoked");
    env.server.shutdown().await;
}

/// A local APNs stand-in: HTTP/2 only, TLS requiring a client certificate from `client_ca`.
/// Answers by token: `aa…` 200, `bb…` 400 BadDeviceToken, `cc…` 410 Unregistered.
async fn fake_apns(
    server_cert: Vec<u8>,
    server_key: Vec<u8>,
    client_ca: Vec<u8>,
) -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<(String, Vec<(String, String)>, String, bool)>,
) {
    use http_body_util::BodyExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(client_ca))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![rustls_pki_types::CertificateDer::from(server_cert)],
            rustls_pki_types::PrivateKeyDer::try_from(server_key).unwrap(),
        )
        .unwrap();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let http2 = req.version() == hyper::Version::HTTP_2;
                            let path = req.uri().path().to_owned();
                            let headers = req
                                .headers()
                                .iter()
                                .filter(|(k, _)| k.as_str().starts_with("apns-"))
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                                .collect();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let body = String::from_utf8(body.to_vec()).unwrap();
                            tx.send((path.clone(), headers, body, http2)).unwrap();
                            let (status, reply) = if path.starts_with("/3/device/aa") {
                                (200, String::new())
                            } else if path.starts_with("/3/device/bb") {
                                (400, r#"{"reason":"BadDeviceToken"}"#.to_owned())
                            } else {
                                (
                                    410,
                                    r#"{"reason":"Unregistered","timestamp":1700000000000}"#.to_owned(),
                                )
                            };
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .body(http_body_util::Full::new(axum::body::Bytes::from(reply)))
                                    .unwrap(),
                            )
                        }
                    });
                let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apns_provider_speaks_http2_with_a_client_certificate_and_parses_reasons() {
    use enroll_server::push::{ApnsConfig, ApnsPusher, ApnsReason, PushError, PushTarget, Pusher};
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client_cert = CertificateParams::new(vec!["com.apple.mgmt.External.test".to_owned()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    let (port, mut seen) = fake_apns(
        server_cert.der().to_vec(),
        server_key.serialize_der(),
        ca.der().to_vec(),
    )
    .await;
    let config = ApnsConfig {
        base_url: format!("https://localhost:{port}"),
        cert_pem: client_cert.pem().into_bytes(),
        key_pem: SecretString::new(client_key.serialize_pem()),
        extra_roots: vec![ca.der().to_vec()],
        timeout: std::time::Duration::from_secs(10),
    };
    let pusher = ApnsPusher::new(&config).unwrap();
    assert_eq!(pusher.name(), "apns");
    let target = |token: u8| PushTarget {
        token: vec![token; 32],
        push_magic: SecretString::new("MAGIC-1"),
        topic: "com.apple.mgmt.External.test".into(),
    };
    pusher.push(&target(0xaa)).await.unwrap();
    let (path, headers, body, http2) = seen.recv().await.unwrap();
    assert!(http2);
    assert_eq!(path, format!("/3/device/{}", "aa".repeat(32)));
    let h = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(h("apns-topic"), Some("com.apple.mgmt.External.test"));
    assert_eq!(h("apns-push-type"), Some("mdm"));
    assert_eq!(h("apns-priority"), Some("10"));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"mdm": "MAGIC-1"})
    );
    assert_eq!(
        pusher.push(&target(0xbb)).await,
        Err(PushError::Rejected {
            status: 400,
            reason: ApnsReason::BadDeviceToken
        })
    );
    assert_eq!(
        pusher.push(&target(0xcc)).await,
        Err(PushError::Rejected {
            status: 410,
            reason: ApnsReason::Unregistered {
                timestamp: Some(1_700_000_000_000)
            }
        })
    );
    // Without the client certificate the TLS handshake fails: a transport error, never a push.
    let other_key = KeyPair::generate().unwrap();
    let self_signed = CertificateParams::new(vec!["x".to_owned()])
        .unwrap()
        .self_signed(&other_key)
        .unwrap();
    let stranger = ApnsPusher::new(&ApnsConfig {
        cert_pem: self_signed.pem().into_bytes(),
        key_pem: SecretString::new(other_key.serialize_pem()),
        ..config.clone()
    })
    .unwrap();
    assert!(matches!(
        stranger.push(&target(0xaa)).await,
        Err(PushError::Transport(_))
    ));
    // Configuration refusals.
    assert!(ApnsPusher::new(&ApnsConfig {
        base_url: "http://localhost".into(),
        ..config.clone()
    })
    .is_err());
    assert!(ApnsPusher::new(&ApnsConfig {
        key_pem: SecretString::new("not a key"),
        ..config
    })
    .is_err());
}
