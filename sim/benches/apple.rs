//! Benchmark (not a test): simulated Apple devices into real NanoMDM + micromdm/scep, and into
//! the reference server of this repository, in the same run.
//!
//! The peers part needs `scripts/peers.sh start` (skipped with a message otherwise); the
//! reference server part starts the server in this process (TLS on loopback, a temporary data
//! directory): `cargo bench -p enroll-sim --bench apple` (settings: `BENCH_DEVICES=100,1000`,
//! `BENCH_CONCURRENCY=64`, `BENCH_IDLE_ROUNDS=5`, `BENCH_TARGETS=peers,reference,reference-device`).
//!
//! Against the reference server each device also enrolls through the agent protocol
//! (`POST /enrollments`, the signed profile download) inside the timed part (step `profile`),
//! and the commands are queued through its admin API; its CPU is counted with the simulator's
//! (one process). A second reference run does the peers' steps only: the profiles are fetched
//! before the clock starts.
//!
//! First it prints the CPU time of each cryptographic operation a simulated device runs, alone
//! on one thread, and their sum over one enrollment.
//!
//! For each fleet size it prints, as mdmb measures: enrollments/s with each device generating
//! its own RSA-2048 key inside the timed part, p50/p99 per step, then idle check-ins/s (every
//! device sends `Idle` repeatedly) and command round trips/s (a `DeviceInformation` queued for
//! every device through NanoMDM's API, then each device's `Idle` → command → `Acknowledged` →
//! empty reply). It also prints the CPU time each process spent per enrollment (simulator,
//! scepserver, nanomdm), from /proc, which does not depend on what else the machine runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: panics are failures

use base64::Engine as _;
use enroll_core::client::Method;
use enroll_mdm::command::CommandRequest;
use enroll_sim::fleet::ProfileFuture;
use enroll_sim::fleet::Progress;
use enroll_sim::{
    build_profile, enroll_fleet, ApplePlatform, DeviceIdentity, FleetConfig, HttpConfig, ProfileSource,
    ProfileSpec, SimulatedDevice, Step, StepStats, Transport,
};
use plist::{Dictionary, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) of a process, from /proc/<pid>/stat.
fn cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
    ticks / 100.0
}

struct Cpu {
    pids: [(String, String); 3],
    start: [f64; 3],
}

impl Cpu {
    fn start(peers: &HashMap<String, String>) -> Self {
        let pids = [
            ("simulator".to_owned(), "self".to_owned()),
            ("scepserver".to_owned(), peers["SCEP_PID"].clone()),
            ("nanomdm".to_owned(), peers["NANOMDM_PID"].clone()),
        ];
        let start = [cpu_secs(&pids[0].1), cpu_secs(&pids[1].1), cpu_secs(&pids[2].1)];
        Self { pids, start }
    }

    fn per(&self, n: usize, what: &str) -> String {
        let parts: Vec<String> = (0..3)
            .map(|i| {
                let used = cpu_secs(&self.pids[i].1) - self.start[i];
                format!("{} {:.1} ms", self.pids[i].0, used * 1000.0 / n.max(1) as f64)
            })
            .collect();
        format!("  CPU per {what}: {}", parts.join(", "))
    }
}

/// A profile per device with its own `CN` (as an MDM server issues them; scepserver's file
/// depot revokes the previous certificate of a repeated subject).
struct PerDevice(ProfileSpec);

impl ProfileSource for PerDevice {
    fn profile<'a>(&'a self, index: usize, _identity: &'a DeviceIdentity) -> ProfileFuture<'a> {
        let mut spec = self.0.clone();
        spec.common_name = format!("enroll-bench-{index}-{}", uuid::Uuid::new_v4());
        Box::pin(async move { Ok(build_profile(&spec)) })
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_steps(steps: &std::collections::BTreeMap<&'static str, StepStats>) {
    println!("  {:<14} {:>9} {:>9} {:>9}", "step (ms)", "p50", "p99", "max");
    for (name, s) in steps {
        println!(
            "  {name:<14} {:>9.1} {:>9.1} {:>9.1}",
            ms(s.p50),
            ms(s.p99),
            ms(s.max)
        );
    }
}

async fn enqueue_all(peers: &HashMap<String, String>, transport: &Transport, devices: &[SimulatedDevice]) {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("nanomdm:{}", peers["NANOMDM_API_KEY"]))
    );
    let mut fields = Dictionary::new();
    fields.insert(
        "Queries".into(),
        Value::Array(
            ["UDID", "SerialNumber", "OSVersion", "Model"]
                .map(|q| Value::String(q.into()))
                .to_vec(),
        ),
    );
    for d in devices {
        let body = CommandRequest::build(
            &uuid::Uuid::new_v4().to_string(),
            "DeviceInformation",
            fields.clone(),
        )
        .unwrap();
        let url = format!("{}/v1/enqueue/{}", peers["NANOMDM_URL"], d.state.identity.udid);
        let reply = transport
            .request(
                Step::Command,
                Method::POST,
                &url,
                Some("nopush=1"),
                &[("authorization", auth.as_str())],
                Some(body),
                64 * 1024,
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
    }
}

/// Runs `f` over all devices with `concurrency` in flight; returns the wall time.
async fn over_devices<F, Fut>(
    devices: Vec<SimulatedDevice>,
    concurrency: usize,
    f: F,
) -> (Duration, Vec<SimulatedDevice>)
where
    F: Fn(SimulatedDevice) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = SimulatedDevice> + Send,
{
    let queue = Arc::new(std::sync::Mutex::new(devices));
    let done = Arc::new(std::sync::Mutex::new(Vec::new()));
    let f = Arc::new(f);
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (queue, done, f) = (queue.clone(), done.clone(), f.clone());
        set.spawn(async move {
            loop {
                let Some(d) = queue.lock().unwrap().pop() else {
                    break;
                };
                let d = f(d).await;
                done.lock().unwrap().push(d);
            }
        });
    }
    while set.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    let devices = std::mem::take(&mut *done.lock().unwrap());
    (elapsed, devices)
}

/// The reference server in this process, with a user and a never-expiring enrollment token.
struct Reference {
    server: enroll_server::RunningServer,
    transport: Arc<Transport>,
    source: Arc<enroll_sim::server::ServerProfiles>,
}

async fn admin_call(
    r: &Reference,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let auth = format!("Bearer {}", r.server.admin_token().expose());
    let reply = r
        .transport
        .request(
            Step::Command,
            method,
            &format!("{}{path}", r.server.base_url()),
            None,
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
            body.map(|b| b.to_string().into_bytes()),
            64 << 20,
        )
        .await
        .unwrap();
    assert!(
        reply.status < 300,
        "{path}: {} {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    serde_json::from_slice(&reply.body).unwrap()
}

impl Reference {
    async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("enroll-bench-{}", uuid::Uuid::new_v4()));
        let mut config = enroll_server::ServerConfig::new(&dir);
        config.bind = "127.0.0.1:0".parse().unwrap();
        let server = enroll_server::start(config).await.unwrap();
        let trust = enroll_core::tls::TrustConfig::with_ca(server.ca_cert_pem().as_bytes()).unwrap();
        let transport = Transport::new(HttpConfig {
            trust: trust.clone(),
            ..HttpConfig::default()
        });
        let client = enroll_core::client::ProtocolClient::new(
            &server.base_url(),
            enroll_core::client::ClientConfig {
                trust,
                ..Default::default()
            },
            Arc::new(enroll_core::platform::SystemClock),
        )
        .unwrap();
        let mut r = Self {
            server,
            transport,
            source: Arc::new(enroll_sim::server::ServerProfiles::new(
                client.clone(),
                enroll_proto::CredentialWire::Token {
                    token: enroll_proto::secret::SecretString::new(""),
                },
                ApplePlatform::Ios,
            )),
        };
        admin_call(
            &r,
            Method::POST,
            "/api/v1/admin/users",
            Some(serde_json::json!({"email": "bench@example.com", "display_name": "Bench"})),
        )
        .await;
        let tok = admin_call(
            &r,
            Method::POST,
            "/api/v1/admin/tokens",
            Some(serde_json::json!({"user": "bench@example.com", "never_expires": true})),
        )
        .await;
        r.source = Arc::new(enroll_sim::server::ServerProfiles::new(
            client,
            enroll_proto::CredentialWire::Token {
                token: enroll_proto::secret::SecretString::new(tok["token"].as_str().unwrap()),
            },
            ApplePlatform::Ios,
        ));
        r
    }

    /// Queues a DeviceInformation for every device through the admin API.
    async fn enqueue_all(&self, devices: &[SimulatedDevice]) {
        let list = admin_call(self, Method::GET, "/api/v1/admin/devices", None).await;
        let by_udid: HashMap<String, String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["device"]["hardware_id"].as_str().unwrap_or("").to_owned(),
                    d["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for d in devices {
            let id = &by_udid[&d.state.identity.udid];
            admin_call(
                self,
                Method::POST,
                &format!("/api/v1/admin/devices/{id}/commands"),
                Some(serde_json::json!({"request_type": "DeviceInformation",
                    "queries": ["UDID", "SerialNumber", "OSVersion", "Model"]})),
            )
            .await;
        }
    }
}

/// Profiles downloaded from the reference server before the timed part, with the identity
/// each was issued for (the fleet then runs the same steps as against the peers).
struct Prefetched(Vec<(DeviceIdentity, Vec<u8>)>);

impl ProfileSource for Prefetched {
    fn identity(&self, index: usize, _platform: ApplePlatform) -> DeviceIdentity {
        self.0[index].0.clone()
    }

    fn profile<'a>(&'a self, index: usize, _identity: &'a DeviceIdentity) -> ProfileFuture<'a> {
        let bytes = self.0[index].1.clone();
        Box::pin(async move { Ok(bytes) })
    }
}

/// The same steps as the peers' run (key, SCEP, Authenticate, TokenUpdate, first poll) against
/// the reference server, its profiles fetched through the agent protocol before the clock starts.
async fn bench_reference_device_part(n: usize, concurrency: usize) {
    let r = Reference::start().await;
    let mut fetched = Vec::with_capacity(n);
    for i in 0..n {
        let identity = DeviceIdentity::simulated(i, ApplePlatform::Ios);
        let bytes = r.source.profile(i, &identity).await.unwrap();
        fetched.push((identity, bytes));
    }
    let config = FleetConfig {
        devices: n,
        concurrency,
        platform: ApplePlatform::Ios,
        trusted_profile_cas: vec![r.server.ca_cert_der()],
    };
    println!(
        "== reference server, N={n}, concurrency {concurrency}, the peers' steps only (profiles \
         fetched before the timed part)"
    );
    let cpu = cpu_secs("self");
    let (report, devices) = enroll_fleet(
        &config,
        r.transport.clone(),
        Arc::new(Prefetched(fetched)),
        Arc::new(|_: Progress| {}),
    )
    .await;
    println!(
        "  enrollments: {} ok, {} failed, {:.2} s, {:.2} enrollments/s",
        devices.len(),
        failed_by_kind(&report.failed),
        report.elapsed_secs,
        report.enrollments_per_sec
    );
    print_steps(&report.steps);
    println!(
        "  CPU per enrollment: simulator + server {:.1} ms",
        (cpu_secs("self") - cpu) * 1000.0 / devices.len().max(1) as f64
    );
    r.server.shutdown().await;
}

/// One fleet against the reference server: enrollments, idle check-ins, command round trips.
async fn bench_reference(n: usize, concurrency: usize, idle_rounds: usize) {
    let r = Reference::start().await;
    let config = FleetConfig {
        devices: n,
        concurrency,
        platform: ApplePlatform::Ios,
        trusted_profile_cas: vec![r.server.ca_cert_der()],
    };
    println!(
        "== reference server, N={n}, concurrency {concurrency} (each device also enrolls through \
         the agent protocol and downloads its signed profile inside the timed part: step `profile`)"
    );
    let cpu = cpu_secs("self");
    let (report, devices) = enroll_fleet(
        &config,
        r.transport.clone(),
        r.source.clone(),
        Arc::new(|_: Progress| {}),
    )
    .await;
    println!(
        "  enrollments: {} ok, {} failed, {:.2} s, {:.2} enrollments/s",
        devices.len(),
        failed_by_kind(&report.failed),
        report.elapsed_secs,
        report.enrollments_per_sec
    );
    print_steps(&report.steps);
    let per = |start: f64, n: usize, what: &str| {
        println!(
            "  CPU per {what}: simulator + server {:.1} ms",
            (cpu_secs("self") - start) * 1000.0 / n.max(1) as f64
        );
    };
    per(cpu, devices.len(), "enrollment");
    let enrolled = devices.len();
    let cpu = cpu_secs("self");
    let (elapsed, devices) = over_devices(devices, concurrency, move |d| async move {
        for _ in 0..idle_rounds {
            assert!(!d.idle_once().await.unwrap());
        }
        d
    })
    .await;
    let idles = enrolled * idle_rounds;
    println!(
        "  idle check-ins: {idles} in {:.2} s, {:.0}/s",
        elapsed.as_secs_f64(),
        idles as f64 / elapsed.as_secs_f64()
    );
    per(cpu, idles, "idle check-in");
    r.enqueue_all(&devices).await;
    let cpu = cpu_secs("self");
    let (elapsed, devices) = over_devices(devices, concurrency, |mut d| async move {
        assert_eq!(d.poll().await.unwrap().commands, 1);
        d
    })
    .await;
    println!(
        "  command round trips (Idle → DeviceInformation → Acknowledged → empty): {} in {:.2} s, {:.0}/s",
        devices.len(),
        elapsed.as_secs_f64(),
        devices.len() as f64 / elapsed.as_secs_f64()
    );
    per(cpu, devices.len(), "command round trip");
    r.server.shutdown().await;
}

async fn bench(peers: &HashMap<String, String>, n: usize, concurrency: usize, idle_rounds: usize) {
    let transport = Transport::new(HttpConfig {
        allow_insecure_loopback_http: true,
        ..HttpConfig::default()
    });
    let spec = ProfileSpec {
        scep_url: peers["SCEP_URL"].clone(),
        challenge: peers["SCEP_CHALLENGE"].clone(),
        server_url: format!("{}/mdm", peers["NANOMDM_URL"]),
        checkin_url: None,
        topic: "com.apple.mgmt.External.bench".into(),
        common_name: "enroll-bench".into(),
        organization: "enroll bench".into(),
    };
    let config = FleetConfig {
        devices: n,
        concurrency,
        platform: ApplePlatform::Ios,
        trusted_profile_cas: Vec::new(),
    };
    println!("== NanoMDM + scepserver, N={n}, concurrency {concurrency}");
    let cpu = Cpu::start(peers);
    let (report, devices) = enroll_fleet(
        &config,
        transport.clone(),
        Arc::new(PerDevice(spec)),
        Arc::new(|_: Progress| {}),
    )
    .await;
    println!(
        "  enrollments: {} ok, {} failed, {:.2} s, {:.2} enrollments/s",
        devices.len(),
        failed_by_kind(&report.failed),
        report.elapsed_secs,
        report.enrollments_per_sec
    );
    print_steps(&report.steps);
    println!("{}", cpu.per(devices.len(), "enrollment"));

    let enrolled = devices.len();
    let cpu = Cpu::start(peers);
    let (elapsed, devices) = over_devices(devices, concurrency, move |d| async move {
        for _ in 0..idle_rounds {
            assert!(!d.idle_once().await.unwrap());
        }
        d
    })
    .await;
    let idles = enrolled * idle_rounds;
    println!(
        "  idle check-ins: {idles} in {:.2} s, {:.0}/s",
        elapsed.as_secs_f64(),
        idles as f64 / elapsed.as_secs_f64()
    );
    println!("{}", cpu.per(idles, "idle check-in"));

    enqueue_all(peers, &transport, &devices).await;
    let cpu = Cpu::start(peers);
    let (elapsed, devices) = over_devices(devices, concurrency, |mut d| async move {
        assert_eq!(d.poll().await.unwrap().commands, 1);
        d
    })
    .await;
    println!(
        "  command round trips (Idle → DeviceInformation → Acknowledged → empty): {} in {:.2} s, {:.0}/s",
        devices.len(),
        elapsed.as_secs_f64(),
        devices.len() as f64 / elapsed.as_secs_f64()
    );
    println!("{}", cpu.per(devices.len(), "command round trip"));
}

/// CPU time of `f` per call, over `n` calls on this thread (`/proc/thread-self`).
fn thread_cpu_per<T>(n: usize, mut f: impl FnMut() -> T) -> Duration {
    let now = || cpu_secs("thread-self");
    let start = now();
    for _ in 0..n {
        std::hint::black_box(f());
    }
    Duration::from_secs_f64((now() - start).max(0.0) / n as f64)
}

/// Where the simulator's CPU goes per enrollment: each cryptographic operation a device runs,
/// timed alone on one thread (CPU time, not wall), and the sum over one enrollment (one
/// key, the CSR, the transient signer, the signed PKCSReq, the envelope to the CA, the CertRep
/// decrypted, one Mdm-Signature per message: Authenticate, TokenUpdate, Idle).
fn crypto_breakdown() {
    use enroll_mdm::cert::{build_csr, common_name, self_signed, CertificateKind};
    use enroll_mdm::key::{DigestAlgorithm, RsaBits, RsaPrivateKey};
    let keygen = thread_cpu_per(16, || RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap());
    let key = RsaPrivateKey::generate(RsaBits::Rsa2048).unwrap();
    let ca = RsaPrivateKey::generate(RsaBits::Rsa4096).unwrap();
    let name = common_name("enroll-bench").unwrap();
    let cert = self_signed(
        &key,
        &name,
        CertificateKind::RequestSigner,
        Duration::from_secs(86_400),
    )
    .unwrap();
    let ca_cert = self_signed(
        &ca,
        &name,
        CertificateKind::RequestSigner,
        Duration::from_secs(86_400),
    )
    .unwrap();
    let sign = thread_cpu_per(200, || key.sign(DigestAlgorithm::Sha256, b"message").unwrap());
    let csr = thread_cpu_per(100, || build_csr(&key, &name, Some("challenge")).unwrap());
    let signer = thread_cpu_per(100, || {
        self_signed(
            &key,
            &name,
            CertificateKind::RequestSigner,
            Duration::from_secs(86_400),
        )
        .unwrap()
    });
    let body = vec![b'x'; 600];
    let mdm_sig = thread_cpu_per(100, || {
        enroll_mdm::mdm_signature::sign(&body, &key, &cert).unwrap()
    });
    let cipher = enroll_mdm::envelope::ContentCipher::Aes128Cbc;
    let to_ca = thread_cpu_per(200, || {
        enroll_mdm::envelope::encrypt_envelope(&body, &ca_cert, cipher).unwrap()
    });
    let env = enroll_mdm::envelope::encrypt_envelope(&body, &cert, cipher).unwrap();
    let decrypt = thread_cpu_per(100, || {
        enroll_mdm::envelope::decrypt_envelope(&env, &key, &cert).unwrap()
    });
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let total = keygen + csr + signer + mdm_sig * 4 + to_ca + decrypt;
    println!(
        "simulator crypto, CPU per operation on one thread: RSA-2048 keygen {:.1} ms, sign {:.2} ms, \
         CSR {:.2} ms, transient signer {:.2} ms, signed message (PKCSReq, Mdm-Signature) {:.2} ms, \
         envelope to a 4096-bit CA {:.2} ms, envelope decrypt {:.2} ms; one enrollment {:.1} ms \
         ({:.0}% keygen)",
        ms(keygen),
        ms(sign),
        ms(csr),
        ms(signer),
        ms(mdm_sig),
        ms(to_ca),
        ms(decrypt),
        ms(total),
        100.0 * keygen.as_secs_f64() / total.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/peers/peers.env");
    let targets =
        std::env::var("BENCH_TARGETS").unwrap_or_else(|_| "peers,reference,reference-device".into());
    let targets: Vec<&str> = targets.split(',').map(str::trim).collect();
    let peers: Option<HashMap<String, String>> = match std::fs::read_to_string(&path) {
        Ok(text) if targets.contains(&"peers") => Some(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ),
        Ok(_) => None,
        Err(_) => {
            eprintln!("the Apple peers are not running (scripts/peers.sh start): NanoMDM + scep skipped");
            None
        }
    };
    let sizes: Vec<usize> = std::env::var("BENCH_DEVICES")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let concurrency = env_or("BENCH_CONCURRENCY", 64usize);
    let idle_rounds = env_or("BENCH_IDLE_ROUNDS", 5usize);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "enroll-sim apple benchmark: {cores} cores, load average {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    crypto_breakdown();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for n in sizes {
        if let Some(peers) = &peers {
            runtime.block_on(bench(peers, n, concurrency, idle_rounds));
        }
        if targets.contains(&"reference") {
            runtime.block_on(bench_reference(n, concurrency, idle_rounds));
        }
        if targets.contains(&"reference-device") {
            runtime.block_on(bench_reference_device_part(n, concurrency));
        }
    }
}

/// Failures by kind, as "0" or "3 (scep: 2, timeout: 1)".
fn failed_by_kind<K: std::fmt::Display>(failed: &std::collections::BTreeMap<K, usize>) -> String {
    let total: usize = failed.values().sum();
    if total == 0 {
        return "0".into();
    }
    let kinds: Vec<String> = failed.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    format!("{total} ({})", kinds.join(", "))
}
