//! The bindings' public API driven from Rust the way an app drives it from Kotlin or Swift:
//! Rust implementations of the foreign traits, against the reference server over TLS on
//! loopback. Also checks the adapters to the core's traits.

// Test helpers outside #[test] functions fail loudly on purpose.
#![allow(clippy::expect_used)]

use enroll_cli::admin::AdminClient;
use enroll_core::platform::{
    DeviceInfo as _, InstallOutcome as CoreOutcome, ProfileInstaller as _, SecureStore as _,
};
use enroll_core::protocol;
use enroll_core::secret::SecretBytes;
use enroll_core::tls::TrustConfig;
use enroll_ffi::platform::{ForeignDevice, ForeignInstaller, ForeignStore};
use enroll_ffi::{
    ClientConfig, Credential, DeviceAction, DeviceDescriptor, DeviceInfo, DevicePlatform, DeviceState,
    EnrollClient, EnrollError, EnrollmentObserver, EnrollmentState, InstallOutcome, PlatformError,
    PlatformErrorKind, ProfileInstaller, ProfileToInstall, SecureStore, ServerErrorCode,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An in-memory [`SecureStore`], as an app would write it in Kotlin or Swift.
#[derive(Default)]
struct MapStore {
    map: Mutex<HashMap<String, Vec<u8>>>,
    fail: AtomicBool,
    calls: AtomicUsize,
}

impl SecureStore for MapStore {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, PlatformError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(self.map.lock().expect("lock").get(&key).cloned())
    }
    fn set(&self, key: String, value: Vec<u8>) -> Result<(), PlatformError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(PlatformError::Denied {
                detail: "keystore locked".into(),
            });
        }
        self.map.lock().expect("lock").insert(key, value);
        Ok(())
    }
    fn delete(&self, key: String) -> Result<(), PlatformError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.map.lock().expect("lock").remove(&key);
        Ok(())
    }
}

/// Installs by remembering the profile; the outcome can be scripted.
#[derive(Default)]
struct ListInstaller {
    installed: Mutex<Vec<ProfileToInstall>>,
    removed: Mutex<Vec<String>>,
    outcome: Mutex<Option<InstallOutcome>>,
}

impl ProfileInstaller for ListInstaller {
    fn install(&self, profile: ProfileToInstall) -> Result<InstallOutcome, PlatformError> {
        let outcome = self
            .outcome
            .lock()
            .expect("lock")
            .unwrap_or(InstallOutcome::Installed);
        if outcome == InstallOutcome::Installed {
            self.installed.lock().expect("lock").push(profile);
        }
        Ok(outcome)
    }
    fn is_installed(&self, uuid: String) -> Result<bool, PlatformError> {
        Ok(self
            .installed
            .lock()
            .expect("lock")
            .iter()
            .any(|p| p.uuid == uuid))
    }
    fn remove(&self, identifier: String) -> Result<(), PlatformError> {
        self.removed.lock().expect("lock").push(identifier);
        Ok(())
    }
}

/// A fixed Android device.
struct FixedDevice(String);

impl DeviceInfo for FixedDevice {
    fn describe(&self) -> Result<DeviceDescriptor, PlatformError> {
        Ok(DeviceDescriptor {
            platform: DevicePlatform::Android,
            os_version: "14".into(),
            model: "Pixel 8".into(),
            manufacturer: "Google".into(),
            serial: Some(format!("SER-{}", self.0)),
            imeis: vec![],
            hardware_id: Some(self.0.clone()),
            agent_version: "ffi-test".into(),
        })
    }
}

/// Records every state it is told about.
#[derive(Default)]
struct Recorder(Mutex<Vec<EnrollmentState>>);

impl EnrollmentObserver for Recorder {
    fn on_state(&self, state: EnrollmentState) {
        self.0.lock().expect("lock").push(state);
    }
}

struct Server {
    server: enroll_server::RunningServer,
    admin: AdminClient,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = enroll_server::ServerConfig::new(dir.path().join("server"));
    config.bind = "127.0.0.1:0".parse().expect("addr");
    let server = enroll_server::start(config).await.expect("server starts");
    let trust = TrustConfig::with_ca(server.ca_cert_pem().as_bytes()).expect("ca");
    let admin =
        AdminClient::new(&server.base_url(), trust, server.admin_token().clone(), false).expect("admin");
    Server {
        server,
        admin,
        _dir: dir,
    }
}

impl Server {
    async fn user(&self, email: &str) {
        self.admin
            .create_user(&protocol::CreateUserRequest {
                email: email.into(),
                display_name: String::new(),
                password: None,
                directory: false,
            })
            .await
            .expect("user");
    }

    async fn pin(&self, email: &str) -> (String, String) {
        let inv = self
            .admin
            .invite(
                email,
                &protocol::InviteRequest {
                    with_pin: true,
                    pin_ttl_secs: None,
                },
            )
            .await
            .expect("invite");
        (inv.url, inv.pin.expect("pin").expose().to_owned())
    }

    async fn token(&self, email: &str) -> String {
        self.admin
            .create_token(&protocol::CreateTokenRequest {
                user: email.into(),
                days: Some(7),
                never_expires: false,
            })
            .await
            .expect("token")
            .token
            .expose()
            .to_owned()
    }

    fn config(&self) -> ClientConfig {
        ClientConfig {
            ca_certificates: vec![self.server.ca_cert_pem().into_bytes()],
            public_roots: false,
            spki_pins: vec![],
            allow_insecure_loopback_http: false,
            connect_timeout_ms: 5000,
            request_timeout_ms: 10000,
            max_attempts: 2,
            max_profile_fetches: 3,
            state_key: "enroll.state.v1".into(),
        }
    }
}

struct App {
    store: Arc<MapStore>,
    installer: Arc<ListInstaller>,
    client: Arc<EnrollClient>,
}

fn app(config: ClientConfig, device_id: &str) -> App {
    let store = Arc::new(MapStore::default());
    let installer = Arc::new(ListInstaller::default());
    let client = EnrollClient::new(
        config,
        store.clone(),
        installer.clone(),
        Arc::new(FixedDevice(device_id.into())),
        None,
    )
    .expect("client");
    App {
        store,
        installer,
        client,
    }
}

async fn wait_for(recorder: &Recorder, pred: impl Fn(&EnrollmentState) -> bool) {
    for _ in 0..200 {
        if recorder.0.lock().expect("lock").iter().any(&pred) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("state not observed: {:?}", recorder.0.lock().expect("lock"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_enrollment_reaches_active_and_is_observed() {
    let s = server().await;
    s.user("pin.user@example.com").await;
    let (url, pin) = s.pin("pin.user@example.com").await;
    let app = app(s.config(), "ffi-pin-device");

    let recorder = Arc::new(Recorder::default());
    let handle = app.client.observe(recorder.clone()).expect("observe");
    wait_for(&recorder, |st| *st == EnrollmentState::Idle).await;

    let credential = Credential::pin("pin.user@example.com".into(), pin.clone()).expect("pin");
    assert!(!format!("{credential:?}").contains(&pin));
    let state = app.client.enroll(url, credential).await.expect("enroll");
    let EnrollmentState::Active {
        device_id,
        user,
        password_offered,
    } = state.clone()
    else {
        panic!("not active: {state:?}");
    };
    assert_eq!(user.as_deref(), Some("pin.user@example.com"));
    assert!(password_offered, "a PIN user without a password is offered one");
    assert_eq!(app.client.status(), state);
    wait_for(&recorder, |st| matches!(st, EnrollmentState::Active { .. })).await;
    let seen = recorder.0.lock().expect("lock").clone();
    assert_eq!(seen.first(), Some(&EnrollmentState::Idle), "{seen:?}");
    assert!(
        seen.iter()
            .any(|s| matches!(s, EnrollmentState::Discovered { .. })),
        "{seen:?}"
    );
    handle.cancel();

    // The store was written through the foreign trait; the profile went through the installer.
    assert!(app
        .store
        .map
        .lock()
        .expect("lock")
        .contains_key("enroll.state.v1"));
    assert_eq!(app.installer.installed.lock().expect("lock").len(), 1);

    let detail = s.admin.device(&device_id).await.expect("device");
    assert_eq!(detail.device.state, protocol::DeviceState::Active);

    let checkin = app.client.checkin(HashMap::new()).await.expect("checkin");
    assert_eq!(checkin.device_state, DeviceState::Active);
    assert_eq!(checkin.applied, None);

    // The first password (seed 003): a weak one is refused with its code, a good one is set.
    match app.client.set_password("short".into()).await {
        Err(EnrollError::ServerRejected { code, detail }) => {
            assert_eq!(code, ServerErrorCode::WeakPassword);
            assert!(!detail.contains("short"), "{detail}");
        }
        other => panic!("weak password: {other:?}"),
    }
    let after = app
        .client
        .set_password("Ffi-First-Passw0rd".into())
        .await
        .expect("set password");
    assert!(
        matches!(
            after,
            EnrollmentState::Active {
                password_offered: false,
                ..
            }
        ),
        "{after:?}"
    );
    assert!(matches!(
        app.client.set_password("Ffi-Second-Passw0rd".into()).await,
        Err(EnrollError::NotAllowedNow { .. })
    ));
    // An active device's enrollment cannot move to another server.
    assert!(matches!(
        app.client.retarget("https://other.example.com".into()).await,
        Err(EnrollError::NotAllowedNow { .. })
    ));

    // A retire reaches the device at check-in: profile removed, state cleared.
    s.admin
        .action(&device_id, protocol::DeviceAction::Retire)
        .await
        .expect("retire");
    let checkin = app.client.checkin(HashMap::new()).await.expect("checkin");
    assert_eq!(checkin.applied, Some(DeviceAction::Retire));
    assert_eq!(checkin.state, EnrollmentState::Retired);
    assert_eq!(app.installer.removed.lock().expect("lock").len(), 1);

    app.client.forget().await.expect("forget");
    assert_eq!(app.client.status(), EnrollmentState::Idle);
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_enrollment_and_typed_errors() {
    let s = server().await;
    s.user("token.user@example.com").await;
    let token = s.token("token.user@example.com").await;
    let base = s.server.base_url().to_owned();

    // Wrong PIN: typed error with the attempts left.
    let (url, pin) = s.pin("token.user@example.com").await;
    let wrong = if pin == "000000" { "111111" } else { "000000" };
    let app1 = app(s.config(), "ffi-wrong-pin");
    let err = app1
        .client
        .enroll(
            url,
            Credential::pin("token.user@example.com".into(), wrong.into()).expect("pin"),
        )
        .await
        .expect_err("wrong pin");
    match &err {
        EnrollError::WrongCredentials { attempts_left, .. } => assert_eq!(*attempts_left, Some(4)),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.to_string().contains(wrong));
    assert!(matches!(app1.client.status(), EnrollmentState::Failed { .. }));

    // Invalid input never reaches the server.
    assert!(matches!(
        Credential::pin("u@example.com".into(), "12".into()),
        Err(EnrollError::InvalidInput { .. })
    ));
    assert!(matches!(
        app1.client
            .enroll("ftp://x".into(), Credential::token(token.clone()).expect("token"))
            .await,
        Err(EnrollError::InvalidInput { .. })
    ));

    // Token path to active, then an enrollment while active is refused.
    let app2 = app(s.config(), "ffi-token-device");
    let state = app2
        .client
        .enroll(base.clone(), Credential::token(token.clone()).expect("token"))
        .await
        .expect("enroll");
    assert!(matches!(state, EnrollmentState::Active { .. }), "{state:?}");
    assert!(matches!(
        app2.client
            .enroll(base.clone(), Credential::token(token.clone()).expect("token"))
            .await,
        Err(EnrollError::NotAllowedNow { .. })
    ));
    // Re-enroll with the device's own credential keeps it active.
    let again = app2.client.reenroll(None, None).await.expect("reenroll");
    assert!(matches!(again, EnrollmentState::Active { .. }), "{again:?}");

    // A store failure surfaces as a platform error.
    let app3 = app(s.config(), "ffi-locked-store");
    app3.store.fail.store(true, Ordering::SeqCst);
    let err = app3
        .client
        .enroll(base.clone(), Credential::token(token.clone()).expect("token"))
        .await
        .expect_err("store locked");
    assert!(
        matches!(
            err,
            EnrollError::Platform {
                kind: PlatformErrorKind::Denied,
                ..
            }
        ),
        "{err:?}"
    );

    // Untrusted server: no CA configured for a private CA.
    let mut config = s.config();
    config.ca_certificates.clear();
    let app4 = app(config, "ffi-untrusted");
    let err = app4
        .client
        .enroll(base, Credential::token(token).expect("token"))
        .await
        .expect_err("untrusted");
    assert!(matches!(err, EnrollError::UntrustedServer { .. }), "{err:?}");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_interrupts_a_running_enrollment() {
    let s = server().await;
    s.user("cancel.user@example.com").await;
    let token = s.token("cancel.user@example.com").await;
    let app = app(s.config(), "ffi-cancel-device");
    // The system takes the profile but the user never finishes: the agent polls until cancelled.
    *app.installer.outcome.lock().expect("lock") = Some(InstallOutcome::Deferred);
    let recorder = Arc::new(Recorder::default());
    let _handle = app.client.observe(recorder.clone()).expect("observe");

    let client = app.client.clone();
    let base = s.server.base_url().to_owned();
    let running = tokio::spawn(async move {
        client
            .enroll(base, Credential::token(token).expect("token"))
            .await
    });
    wait_for(&recorder, |st| matches!(st, EnrollmentState::Installing { .. })).await;
    let cancelled = app.client.cancel().await.expect("cancel");
    assert_eq!(cancelled, EnrollmentState::Cancelled);
    let result = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("enroll returns")
        .expect("join");
    assert!(
        matches!(
            result,
            Err(EnrollError::Cancelled) | Ok(EnrollmentState::Cancelled)
        ),
        "{result:?}"
    );
    assert!(matches!(
        app.client.cancel().await,
        Ok(EnrollmentState::Cancelled)
    ));
    let devices = s.admin.devices(true).await.expect("devices");
    assert!(devices.iter().any(|d| d.mdm == protocol::MdmStatus::Deactivated));
    s.server.shutdown().await;
}

#[test]
fn task_handle_stops_on_drop() {
    let store = Arc::new(MapStore::default());
    let client = EnrollClient::new(
        ClientConfig {
            ca_certificates: vec![],
            public_roots: true,
            spki_pins: vec![],
            allow_insecure_loopback_http: false,
            connect_timeout_ms: 1000,
            request_timeout_ms: 1000,
            max_attempts: 1,
            max_profile_fetches: 3,
            state_key: "k".into(),
        },
        store,
        Arc::new(ListInstaller::default()),
        Arc::new(FixedDevice("x".into())),
        None,
    )
    .expect("client");
    let recorder = Arc::new(Recorder::default());
    let handle = client.observe(recorder.clone()).expect("observe");
    for _ in 0..200 {
        if !recorder.0.lock().expect("lock").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        recorder.0.lock().expect("lock").as_slice(),
        [EnrollmentState::Idle]
    );
    assert!(!handle.is_finished());
    handle.cancel();
    for _ in 0..200 {
        if handle.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(handle.is_finished());
    drop(handle);
}

#[test]
fn bad_config_and_unreadable_state_are_typed() {
    let mut config = ClientConfig {
        ca_certificates: vec![
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".to_vec(),
        ],
        public_roots: false,
        spki_pins: vec![],
        allow_insecure_loopback_http: false,
        connect_timeout_ms: 1000,
        request_timeout_ms: 1000,
        max_attempts: 1,
        max_profile_fetches: 3,
        state_key: "k".into(),
    };
    let store = Arc::new(MapStore::default());
    let make = |config: ClientConfig, store: Arc<MapStore>| {
        EnrollClient::new(
            config,
            store,
            Arc::new(ListInstaller::default()),
            Arc::new(FixedDevice("x".into())),
            None,
        )
    };
    assert!(matches!(
        make(config.clone(), store.clone()),
        Err(EnrollError::InvalidInput { .. })
    ));
    config.ca_certificates.clear();
    config.public_roots = true;
    store
        .map
        .lock()
        .expect("lock")
        .insert("k".into(), b"{garbage".to_vec());
    assert!(matches!(
        make(config, store),
        Err(EnrollError::Platform {
            kind: PlatformErrorKind::Storage,
            ..
        })
    ));
}

#[test]
fn store_adapter_passes_values_and_errors() {
    let foreign = Arc::new(MapStore::default());
    let store = ForeignStore(foreign.clone());
    assert!(store.get("k").expect("get").is_none());
    store.set("k", b"v1").expect("set");
    assert_eq!(store.get("k").expect("get").expect("some").expose(), b"v1");
    foreign.fail.store(true, Ordering::SeqCst);
    let err = store.set("k", b"v2").expect_err("locked");
    assert_eq!(err.kind, enroll_core::platform::PlatformErrorKind::Denied);
    store.delete("k").expect("delete");
    assert!(foreign.map.lock().expect("lock").is_empty());
}

#[test]
fn installer_adapter_converts_profile_and_outcome() {
    let foreign = Arc::new(ListInstaller::default());
    let installer = ForeignInstaller(foreign.clone());
    let profile = enroll_core::platform::ProfileToInstall {
        identifier: "com.example.mdm".into(),
        uuid: "U-1".into(),
        expires_at: Some(100),
        expires_at_local: Some(99),
        signed_profile: SecretBytes::new(b"CHALLENGE-SECRET".to_vec()),
    };
    assert_eq!(
        installer.install(&profile).expect("install"),
        CoreOutcome::Installed
    );
    assert!(installer.is_installed("U-1").expect("query"));
    let seen = foreign.installed.lock().expect("lock")[0].clone();
    assert_eq!(seen.signed_profile.bytes(), b"CHALLENGE-SECRET");
    assert_eq!(seen.signed_profile.size(), 16);
    assert!(!format!("{seen:?}").contains("CHALLENGE"), "{seen:?}");
    *foreign.outcome.lock().expect("lock") = Some(InstallOutcome::Deferred);
    assert_eq!(
        installer.install(&profile).expect("install"),
        CoreOutcome::Deferred
    );
    installer.remove("com.example.mdm").expect("remove");
    assert_eq!(
        foreign.removed.lock().expect("lock").as_slice(),
        ["com.example.mdm"]
    );
}

#[test]
fn device_adapter_mirrors_the_descriptor() {
    let d = ForeignDevice(Arc::new(FixedDevice("abc".into())))
        .describe()
        .expect("describe");
    assert_eq!(d.platform, protocol::Platform::Android);
    assert_eq!(d.hardware_id.as_deref(), Some("abc"));
    assert_eq!(DevicePlatform::from(d.platform), DevicePlatform::Android);
}

// --- payloads given as text (ML Kit / VisionKit) and Android admin extras bundles ---

use enroll_ffi::{parse_admin_extras, parse_enrollment_payload, EnrollmentPayload, ScannedIntent};

/// `InvalidInput`, whose message quotes none of `secrets`.
fn invalid(result: Result<EnrollmentPayload, EnrollError>, secrets: &[&str]) -> String {
    match result {
        Err(EnrollError::InvalidInput { detail }) => {
            for s in secrets {
                assert!(!detail.contains(s), "{detail}");
            }
            detail
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

fn bundle(entries: &[(&str, &str)]) -> HashMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn text_payloads_parse_into_the_scanner_intents() {
    let p = parse_enrollment_payload(
        "https://mdm.example.com/go?token=SECRETTOKEN1234567890&user=a%40b.c&tenant=t1\n".into(),
        false,
    )
    .expect("invitation");
    assert!(!format!("{p:?}").contains("SECRETTOKEN"), "{p:?}");
    assert_eq!(p.server_url.as_deref(), Some("https://mdm.example.com"));
    assert_eq!(p.credential.expect("token").kind(), "token");
    assert!(
        matches!(p.intent, ScannedIntent::Invitation { ref tenant, .. } if tenant.as_deref() == Some("t1"))
    );

    let android = r#"{
        "android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME": "com.example.dpc/.AdminReceiver",
        "android.app.extra.PROVISIONING_WIFI_SSID": "Corp",
        "android.app.extra.PROVISIONING_WIFI_PASSWORD": "WIFISECRET",
        "android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE": {
            "enroll.SERVER_URL": "https://mdm.example.com", "enroll.PROFILE_ID": "bulk-1"
        }
    }"#;
    let p = parse_enrollment_payload(android.into(), false).expect("android provisioning");
    assert!(!format!("{p:?}").contains("WIFISECRET"), "{p:?}");
    assert_eq!(p.credential.expect("tokenless").kind(), "tokenless");
    assert!(
        matches!(p.intent, ScannedIntent::AndroidProvisioning { ref admin_package, .. } if admin_package == "com.example.dpc")
    );

    let p =
        parse_enrollment_payload("ent_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345".into(), false).expect("bare token");
    assert!(matches!(p.intent, ScannedIntent::Token) && p.server_url.is_none());
    assert_eq!(p.credential.expect("token").kind(), "token");
    // Loopback http only when allowed.
    let local = "http://127.0.0.1:8080/go?token=SECRETTOKEN1234567890";
    invalid(parse_enrollment_payload(local.into(), false), &["SECRETTOKEN"]);
    assert!(parse_enrollment_payload(local.into(), true).is_ok());
}

#[test]
fn hostile_text_payloads_are_invalid_input_without_secrets() {
    let secret = "SECRETTOKEN1234567890";
    let cases = [
        String::new(),
        " \n\t".into(),
        "hello world".into(),
        format!("https://mdm.example.com/go?token={}", "A".repeat(5000)),
        "A".repeat(300),
        format!("http://mdm.example.com/go?token={secret}"),
        format!("https://user:{secret}@mdm.example.com/go"),
        format!("https://mdm.example.com/go?token={secret}\u{7}"),
        format!("{secret}\0"),
        format!(
            r#"{{"enroll.SERVER_URL":"https://mdm.example.com","enroll.ENROLLMENT_TOKEN":"{secret}\u0000"}}"#
        ),
        r#"{"enroll.SERVER_URL": 42}"#.into(),
        r#"{"enroll.SERVER_URL":"https://mdm.example.com","enroll.ENROLLMENT_TOKEN":12345678901234567}"#
            .into(),
        format!(
            r#"{{"enroll.SERVER_URL":"https://mdm.example.com","x.TOKEN":"{secret}","y.ENROLLMENT_TOKEN":"{secret}"}}"#
        ),
        r#"{"android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE":"not a bundle"}"#.into(),
        format!("{}{}", "[".repeat(20), "]".repeat(20)),
        format!(r#"{{"a":{}1{}}}"#, r#"{"a":"#.repeat(12), "}".repeat(12)),
        "[1,2]".into(),
    ];
    for text in cases {
        invalid(parse_enrollment_payload(text, false), &[secret]);
    }
}

#[test]
fn admin_extras_bundles_give_a_credential() {
    let p = parse_admin_extras(
        bundle(&[
            ("enroll.SERVER_URL", "https://mdm.example.com/"),
            ("enroll.ENROLLMENT_TOKEN", "TOKENSECRET123456"),
            ("enroll.attr.site", "Lyon"),
            ("com.vendor.OTHER", "kept"),
        ]),
        false,
    )
    .expect("bundle");
    assert!(!format!("{p:?}").contains("TOKENSECRET"), "{p:?}");
    assert_eq!(p.server_url.as_deref(), Some("https://mdm.example.com"));
    assert_eq!(p.credential.expect("token").kind(), "token");
    let ScannedIntent::KmeExtras { attributes, .. } = p.intent else {
        panic!("expected extras");
    };
    assert_eq!(attributes.get("site").map(String::as_str), Some("Lyon"));

    // No token: a tokenless bulk enrollment with the bundle's profile; other vendors' keys.
    let p = parse_admin_extras(
        bundle(&[
            ("com.example.mdm.SERVER_URL", "https://mdm.example.com"),
            ("enroll.PROFILE_ID", "bulk-1"),
        ]),
        false,
    )
    .expect("tokenless");
    assert_eq!(p.credential.expect("tokenless").kind(), "tokenless");
    assert!(
        matches!(p.intent, ScannedIntent::KmeExtras { ref profile_id, .. } if profile_id.as_deref() == Some("bulk-1"))
    );
    // Loopback http only when allowed.
    let local = bundle(&[
        ("enroll.SERVER_URL", "http://localhost:8080"),
        ("enroll.TOKEN", "TOKENSECRET123456"),
    ]);
    invalid(parse_admin_extras(local.clone(), false), &["TOKENSECRET"]);
    assert!(parse_admin_extras(local, true).is_ok());
}

#[test]
fn hostile_admin_extras_are_invalid_input_without_secrets() {
    let secret = "TOKENSECRET123456";
    let url = ("enroll.SERVER_URL", "https://mdm.example.com");
    let long = "A".repeat(5000);
    let many: HashMap<String, String> = (0..300).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let cases = [
        HashMap::new(),
        many,
        bundle(&[("enroll.attr.site", "Lyon")]),
        bundle(&[
            ("enroll.SERVER_URL", "http://mdm.example.com"),
            ("enroll.TOKEN", secret),
        ]),
        bundle(&[("enroll.SERVER_URL", "https://u:TOKENSECRET123456@mdm.example.com")]),
        bundle(&[("enroll.SERVER_URL", "not a url"), ("enroll.TOKEN", secret)]),
        bundle(&[url, ("enroll.ENROLLMENT_TOKEN", "TOKENSECRET123456\n")]),
        bundle(&[url, ("enroll.ENROLLMENT_TOKEN", "TOKEN SECRET123456")]),
        bundle(&[url, ("enroll.ENROLLMENT_TOKEN", ""), ("enroll.attr.x", "y")]),
        bundle(&[url, ("x.TOKEN", secret), ("y.ENROLLMENT_TOKEN", secret)]),
        bundle(&[url, ("enroll.attr.bad\u{1b}key", "v")]),
        bundle(&[url, ("enroll.attr.site", "Ly\u{0}on")]),
        bundle(&[url, ("enroll.ENROLLMENT_TOKEN", &long)]),
        bundle(&[url, ("android.app.extra.PROVISIONING_WIFI_PASSWORD", secret)]),
        bundle(&[url, ("enroll.PROFILE_ID", "not/a profile")]),
    ];
    for extras in cases {
        invalid(parse_admin_extras(extras, false), &[secret]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpc_enrolls_from_its_admin_extras_bundle() {
    let s = server().await;
    s.user("dpc.user@example.com").await;
    let token = s.token("dpc.user@example.com").await;
    let extras = bundle(&[
        ("enroll.SERVER_URL", s.server.base_url().as_str()),
        ("enroll.ENROLLMENT_TOKEN", &token),
    ]);
    let payload = parse_admin_extras(extras, false).expect("bundle");
    let app = app(s.config(), "ffi-dpc-device");
    let state = app
        .client
        .enroll(
            payload.server_url.expect("server"),
            payload.credential.expect("credential"),
        )
        .await
        .expect("enroll");
    assert!(matches!(state, EnrollmentState::Active { .. }), "{state:?}");
    assert_eq!(app.installer.installed.lock().expect("lock").len(), 1);
}
