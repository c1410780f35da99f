//! The simulator against real peers nobody here wrote: NanoMDM v0.9.0 and micromdm/scep's
//! scepserver v2.3.0, started by `scripts/peers.sh start` (which `scripts/test.sh` runs).
//!
//! Skipped, with a message, only when the peers are not running.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are failures

use base64::Engine as _;
use enroll_core::client::Method;
use enroll_mdm::command::{CommandRequest, Report, Status};
use enroll_sim::fleet::Progress;
use enroll_sim::{
    build_profile, enroll_fleet, ApplePlatform, FixedProfile, FleetConfig, HttpConfig, PollEnd, ProfileSpec,
    SimulatedDevice, Step, Transport,
};
use plist::{Dictionary, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

struct Peers {
    env: HashMap<String, String>,
}

impl Peers {
    fn get(&self, key: &str) -> &str {
        self.env.get(key).map(String::as_str).unwrap_or_default()
    }
}

/// Skips (returns `None`) when the peers are not running, unless `ENROLL_PEERS_REQUIRED` is set
/// (`scripts/test.sh` sets it after starting them): then their absence is a failure.
fn peers() -> Option<Peers> {
    let found = find_peers();
    assert!(
        found.is_some() || std::env::var_os("ENROLL_PEERS_REQUIRED").is_none(),
        "ENROLL_PEERS_REQUIRED is set but the Apple peers are not running"
    );
    found
}

fn find_peers() -> Option<Peers> {
    let path = std::env::var_os("ENROLL_PEERS_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/peers/peers.env"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "SKIPPED: the Apple peers are not running (no {}); start them with scripts/peers.sh start",
            path.display()
        );
        return None;
    };
    let env: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let url = url::Url::parse(env.get("NANOMDM_URL")?).ok()?;
    let addr = (url.host_str()?.to_owned(), url.port()?);
    if std::net::TcpStream::connect(addr).is_err() {
        eprintln!(
            "SKIPPED: the Apple peers are not running (nanomdm does not answer); scripts/peers.sh start"
        );
        return None;
    }
    Some(Peers { env })
}

fn transport() -> Arc<Transport> {
    Transport::new(HttpConfig {
        allow_insecure_loopback_http: true,
        ..HttpConfig::default()
    })
}

fn profile(peers: &Peers) -> Vec<u8> {
    build_profile(&ProfileSpec {
        scep_url: peers.get("SCEP_URL").to_owned(),
        challenge: peers.get("SCEP_CHALLENGE").to_owned(),
        server_url: format!("{}/mdm", peers.get("NANOMDM_URL")),
        checkin_url: None,
        topic: format!("com.apple.mgmt.External.{}", uuid::Uuid::new_v4()),
        common_name: "enroll-sim".into(),
        organization: "enroll tests".into(),
    })
}

async fn enroll(peers: &Peers, devices: usize) -> Vec<SimulatedDevice> {
    let config = FleetConfig {
        devices,
        concurrency: devices.min(4),
        platform: ApplePlatform::Ios,
        trusted_profile_cas: Vec::new(),
    };
    let (report, devices) = enroll_fleet(
        &config,
        transport(),
        Arc::new(FixedProfile(profile(peers))),
        Arc::new(|_: Progress| {}),
    )
    .await;
    assert!(report.failed.is_empty(), "failures: {:?}", report.failed);
    assert_eq!(report.active, config.devices);
    assert_eq!(report.steps["keygen"].count, config.devices);
    devices
}

/// Queues a command through NanoMDM's API (`/v1/enqueue/{id}?nopush=1`, basic auth).
async fn enqueue(peers: &Peers, udid: &str, request_type: &str, fields: Dictionary) -> String {
    let uuid = uuid::Uuid::new_v4().to_string().to_uppercase();
    let body = CommandRequest::build(&uuid, request_type, fields).unwrap();
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("nanomdm:{}", peers.get("NANOMDM_API_KEY")));
    let auth = format!("Basic {auth}");
    let reply = transport()
        .request(
            Step::Command,
            Method::POST,
            &format!("{}/v1/enqueue/{udid}", peers.get("NANOMDM_URL")),
            Some("nopush=1"),
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/xml"),
            ],
            Some(body),
            64 * 1024,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    uuid
}

/// The result NanoMDM stored for a command (file storage: `<udid>/QueueDone/<uuid>.result.plist`).
fn stored_result(peers: &Peers, udid: &str, uuid: &str) -> Report {
    let path = Path::new(peers.get("NANOMDM_STORAGE"))
        .join(udid)
        .join("QueueDone")
        .join(format!("{uuid}.result.plist"));
    Report::parse(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_enroll_into_nanomdm_through_scepserver_and_answer_device_information() {
    let Some(peers) = peers() else { return };
    let mut devices = enroll(&peers, 3).await;

    // NanoMDM's storage shows each enrollment, with the certificate scepserver issued.
    let storage = Path::new(peers.get("NANOMDM_STORAGE"));
    for d in &devices {
        let dir = storage.join(&d.state.identity.udid);
        for file in [
            "Authenticate.plist",
            "TokenUpdate.plist",
            "Identity.pem",
            "SerialNumber.txt",
        ] {
            assert!(dir.join(file).exists(), "{file} of {}", d.state.identity.udid);
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("SerialNumber.txt")).unwrap(),
            d.state.identity.serial_number
        );
        let pem = std::fs::read_to_string(dir.join("Identity.pem")).unwrap();
        let der = enroll_core::tls::parse_certificates(pem.as_bytes()).unwrap();
        assert_eq!(der[0], d.certificate());
        assert!(d.timings.first_command.is_some());
    }

    // A DeviceInformation command queued through NanoMDM's API is answered.
    let device = &mut devices[0];
    let udid = device.state.identity.udid.clone();
    let mut fields = Dictionary::new();
    fields.insert(
        "Queries".into(),
        Value::Array(
            ["UDID", "SerialNumber", "IMEI", "Model", "OSVersion"]
                .map(|q| Value::String(q.into()))
                .to_vec(),
        ),
    );
    let uuid = enqueue(&peers, &udid, "DeviceInformation", fields).await;
    let outcome = device.poll().await.unwrap();
    assert_eq!((outcome.commands, outcome.end), (1, PollEnd::Idle));
    let result = stored_result(&peers, &udid, &uuid);
    assert_eq!(result.status, Status::Acknowledged);
    let answers = result.fields["QueryResponses"].as_dictionary().unwrap();
    assert_eq!(
        answers["SerialNumber"].as_string(),
        Some(device.state.identity.serial_number.as_str())
    );
    assert_eq!(answers["UDID"].as_string(), Some(udid.as_str()));
    assert_eq!(answers["IMEI"].as_string(), device.state.identity.imei.as_deref());

    // Nothing queued: an Idle gets the empty 200.
    assert!(!device.idle_once().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_now_unknown_commands_and_removing_the_mdm_profile() {
    let Some(peers) = peers() else { return };
    let mut devices = enroll(&peers, 1).await;
    let device = &mut devices[0];
    let udid = device.state.identity.udid.clone();

    // NotNow: NanoMDM keeps the command and sends it again at the next check-in.
    device.state.not_now = 1;
    let info = enqueue(&peers, &udid, "SecurityInfo", Dictionary::new()).await;
    assert_eq!(device.poll().await.unwrap().commands, 1);
    let not_now = Path::new(peers.get("NANOMDM_STORAGE"))
        .join(&udid)
        .join("QueueNotNow");
    assert!(not_now.join(format!("{info}.plist")).exists());
    let outcome = device.poll().await.unwrap();
    assert_eq!(outcome.commands, 1);
    assert_eq!(stored_result(&peers, &udid, &info).status, Status::Acknowledged);

    // An unknown command is answered with Error and an ErrorChain.
    let unknown = enqueue(&peers, &udid, "NoSuchCommand", Dictionary::new()).await;
    device.poll().await.unwrap();
    let result = stored_result(&peers, &udid, &unknown);
    assert_eq!(result.status, Status::Error);
    assert_eq!(result.error_chain[0].code, 12021);

    // Removing the MDM profile: Acknowledged, CheckOut, and NanoMDM disables the enrollment.
    let mut fields = Dictionary::new();
    fields.insert(
        "Identifier".into(),
        Value::String(device.state.mdm_profile.clone()),
    );
    let remove = enqueue(&peers, &udid, "RemoveProfile", fields).await;
    let outcome = device.poll().await.unwrap();
    assert_eq!(outcome.end, PollEnd::Unenrolled);
    assert_eq!(stored_result(&peers, &udid, &remove).status, Status::Acknowledged);
    assert!(Path::new(peers.get("NANOMDM_STORAGE"))
        .join(&udid)
        .join("Disabled")
        .exists());
    assert!(!device.enrolled);
}
