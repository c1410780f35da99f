//! Load benchmark (not a test): N devices enrolling at once, then checking in at once, against
//! the reference server running in a child process (so that its peak memory is its own).
//!
//! For each store mode and each N (default 100, 1,000 and 10,000), a fresh server (a fresh data
//! directory) is started as a child process of this binary (`--serve`), then N agents
//! (enroll-core, each with its own client and TLS connection, all on one user token) are
//! started together; each enrolls to active, then all check in together. Printed per run:
//! wall time and throughput of each phase, p50/p99 per route (client-side, per call of the
//! agent: `POST /enrollments`, `GET …/profile` with the agent's profile verification, `POST
//! …/confirm`, `POST …/checkin`), the errors (calls that failed after the agent's own retries;
//! a device whose enrollment failed is resumed once and counted again if it still fails), and
//! the server's peak memory (VmHWM of the child, from `/proc`).
//!
//! Server modes (`--modes`, default `single,pool`): `single` is the server before issue 13 (one
//! SQLite connection behind one mutex for reads and writes, and no bound on blocking work: each
//! request takes a blocking-pool thread, up to tokio's 512); `pool` is the default (one writer
//! connection, reads on a pool of reader connections, WAL, and at most
//! [`enroll_server::DEFAULT_BLOCKING_LIMIT`] requests' blocking work at once). Both in one run
//! give before/after.
//!
//! The fleet: all N agents are started at once, and at most `--concurrency` (default 1,000) of
//! them have a request in flight (a semaphore in the simulator; a device waiting for its turn
//! has not started its timers). The latencies are per agent call, from when it got its turn.
//! `--concurrency 0` lets all N go at once.
//!
//! Each run prints the load average (`/proc/loadavg`) before and after it: the machine may be
//! shared.
//!
//! Run: `cargo bench -p enroll-e2e --bench load` (add `-- --sizes 100,1000 --modes pool
//! --concurrency 500`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use enroll_cli::admin::AdminClient;
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::fakes::{FakeDevice, FakeInstaller, ManualClock, MemoryStore};
use enroll_core::platform::Platform;
use enroll_core::tls::TrustConfig;
use enroll_core::{Agent, AgentConfig, Credential};
use enroll_proto as protocol;
use enroll_proto::secret::SecretString;
use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Child mode: serve until stdin closes (the parent is gone or done).
async fn serve(dir: &Path, mode: &str) {
    let mut config = enroll_server::ServerConfig::new(dir);
    config.bind = "127.0.0.1:0".parse().unwrap();
    if mode == "single" {
        config.store_readers = 0;
        config.blocking_limit = 0;
    }
    let server = enroll_server::start(config).await.unwrap();
    println!("{}", server.base_url());
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {}
    })
    .await
    .unwrap();
    server.shutdown().await;
}

/// User + system CPU time of a process, seconds (`/proc/PID/stat`, clock ticks of 1/100 s).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Child_ {
    child: Child,
    url: String,
}

impl Drop for Child_ {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn spawn_server(dir: &Path, mode: &str) -> Child_ {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--serve")
        .arg(dir)
        .args(["--mode", mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Child_ {
        child,
        url: line.trim().to_owned(),
    }
}

#[derive(Default)]
struct Samples {
    by_route: BTreeMap<&'static str, Vec<Duration>>,
    errors: BTreeMap<String, usize>,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        for (k, mut v) in other.by_route {
            self.by_route.entry(k).or_default().append(&mut v);
        }
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
    }
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

fn route_of(state: &str) -> &'static str {
    match state {
        "authenticated" => "POST /enrollments",
        "profile_ready" => "GET  /enrollments/{id}/profile (+verify)",
        "installing" => "(install, local)",
        "active" => "POST /enrollments/{id}/confirm",
        _ => "(other)",
    }
}

fn error_name(e: &enroll_core::Error) -> String {
    match e.server_code() {
        Some(code) => format!("server {code:?}"),
        None => {
            let s = format!("{e:?}");
            s.split(['(', ' ', '{']).next().unwrap_or("?").to_owned()
        }
    }
}

async fn enroll_device(agent: &Agent, base: &str, cred: Credential) -> Samples {
    let mut s = Samples::default();
    agent.begin(base, cred).await.unwrap();
    let mut resumed = false;
    loop {
        let t = Instant::now();
        match agent.step().await {
            Ok(status) => {
                s.by_route
                    .entry(route_of(status.name()))
                    .or_default()
                    .push(t.elapsed());
                if status.is_settled() {
                    if !matches!(status, EnrollmentStatus::Active { .. }) {
                        *s.errors.entry(format!("settled {}", status.name())).or_default() += 1;
                    }
                    return s;
                }
            }
            Err(e) => {
                *s.errors.entry(format!("enroll: {}", error_name(&e))).or_default() += 1;
                if resumed {
                    return s;
                }
                resumed = true; // one resume, as the app would on its next start
            }
        }
    }
}

struct RunFigures {
    enroll_wall: Duration,
    checkin_wall: Duration,
    samples: Samples,
    active: usize,
    peak_kib: u64,
    db_devices: usize,
    server_cpu_enroll: f64,
    server_cpu_checkin: f64,
}

/// `/proc/loadavg`'s three averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A turn to have a request in flight (`None`: no bound).
async fn turn(gate: &Option<Arc<tokio::sync::Semaphore>>) -> Option<tokio::sync::OwnedSemaphorePermit> {
    match gate {
        Some(g) => Some(g.clone().acquire_owned().await.unwrap()),
        None => None,
    }
}

async fn run(mode: &str, n: usize, concurrency: usize) -> RunFigures {
    let gate = (concurrency > 0).then(|| Arc::new(tokio::sync::Semaphore::new(concurrency)));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let child = spawn_server(&data, mode);
    let ca = std::fs::read_to_string(data.join("ca.pem")).unwrap();
    let admin_token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let trust = TrustConfig::with_ca(ca.as_bytes()).unwrap();
    let admin = AdminClient::new(
        &child.url,
        trust.clone(),
        SecretString::new(admin_token.trim().to_owned()),
        false,
    )
    .unwrap();
    admin
        .create_user(&protocol::CreateUserRequest {
            email: "load@example.com".into(),
            display_name: String::new(),
            password: None,
            directory: false,
        })
        .await
        .unwrap();
    let token = admin
        .create_token(&protocol::CreateTokenRequest {
            user: "load@example.com".into(),
            days: Some(30),
            never_expires: false,
        })
        .await
        .unwrap();

    let agents: Vec<Arc<Agent>> = (0..n)
        .map(|i| {
            let clock = ManualClock::offset_from_now(0);
            let platform = Platform {
                store: MemoryStore::new(),
                installer: FakeInstaller::new(clock.clone()),
                device: FakeDevice::ios(&format!("LOAD-{mode}-{i:06}")),
                clock,
            };
            let mut config = AgentConfig::default();
            config.client.trust = trust.clone();
            Arc::new(Agent::new(config, platform).unwrap())
        })
        .collect();

    let cpu0 = cpu_secs(child.child.id());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for agent in &agents {
        let agent = agent.clone();
        let base = child.url.clone();
        let cred = Credential::token(token.token.expose()).unwrap();
        let gate = gate.clone();
        tasks.spawn(async move {
            let _turn = turn(&gate).await;
            enroll_device(&agent, &base, cred).await
        });
    }
    let mut samples = Samples::default();
    while let Some(s) = tasks.join_next().await {
        samples.merge(s.unwrap());
    }
    let enroll_wall = started.elapsed();
    let cpu1 = cpu_secs(child.child.id());
    let active: Vec<Arc<Agent>> = agents
        .iter()
        .filter(|a| matches!(a.status(), EnrollmentStatus::Active { .. }))
        .cloned()
        .collect();

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for agent in &active {
        let agent = agent.clone();
        let gate = gate.clone();
        tasks.spawn(async move {
            let _turn = turn(&gate).await;
            let mut s = Samples::default();
            let t = Instant::now();
            match agent.checkin(BTreeMap::new()).await {
                Ok(_) => s
                    .by_route
                    .entry("POST /devices/{id}/checkin")
                    .or_default()
                    .push(t.elapsed()),
                Err(e) => {
                    *s.errors
                        .entry(format!("checkin: {}", error_name(&e)))
                        .or_default() += 1
                }
            }
            s
        });
    }
    while let Some(s) = tasks.join_next().await {
        samples.merge(s.unwrap());
    }
    let checkin_wall = started.elapsed();
    let cpu2 = cpu_secs(child.child.id());
    let peak_kib = peak_rss_kib(child.child.id());
    let db_devices = admin.devices(true).await.map(|d| d.len()).unwrap_or(0);
    drop(agents);
    drop(child);
    RunFigures {
        enroll_wall,
        checkin_wall,
        samples,
        active: active.len(),
        peak_kib,
        db_devices,
        server_cpu_enroll: cpu1 - cpu0,
        server_cpu_checkin: cpu2 - cpu1,
    }
}

fn print(mode: &str, n: usize, f: &mut RunFigures) {
    println!(
        "[{mode:<6}] N = {n:>6}: enroll wall {:>8.2} s ({:>7.1} enrollments/s), check-in wall {:>7.2} s ({:>7.1}/s), active {}/{n}, device records {}, server peak RSS {:.1} MiB",
        f.enroll_wall.as_secs_f64(),
        n as f64 / f.enroll_wall.as_secs_f64(),
        f.checkin_wall.as_secs_f64(),
        f.active as f64 / f.checkin_wall.as_secs_f64().max(1e-9),
        f.active,
        f.db_devices,
        f.peak_kib as f64 / 1024.0
    );
    println!(
        "           server CPU: {:.2} ms per enrollment, {:.2} ms per check-in",
        f.server_cpu_enroll * 1000.0 / n as f64,
        f.server_cpu_checkin * 1000.0 / f.active.max(1) as f64
    );
    for (route, v) in f.samples.by_route.iter_mut() {
        let count = v.len();
        println!(
            "           {route:<42} n {count:>6}  p50 {:>9.2} ms  p99 {:>9.2} ms",
            pct(v, 0.50),
            pct(v, 0.99)
        );
    }
    if f.samples.errors.is_empty() {
        println!("           errors: none");
    }
    for (e, count) in &f.samples.errors {
        println!("           error {e}: {count}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(dir) = arg(&args, "--serve") {
        let mode = arg(&args, "--mode").unwrap_or_else(|| "pool".into());
        rt.block_on(serve(Path::new(&dir), &mode));
        return;
    }
    let sizes: Vec<usize> = arg(&args, "--sizes")
        .unwrap_or_else(|| "100,1000,10000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let concurrency: usize = arg(&args, "--concurrency")
        .map(|v| v.parse().unwrap())
        .unwrap_or(1000);
    let modes: Vec<String> = arg(&args, "--modes")
        .unwrap_or_else(|| "single,pool".into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    println!(
        "load benchmark: N agents enroll at once (one token), then check in at once, at most {} in flight; server in a child process; {} build",
        if concurrency == 0 { "all".to_owned() } else { concurrency.to_string() },
        if cfg!(debug_assertions) { "debug" } else { "optimised (release/bench)" }
    );
    for &n in &sizes {
        for mode in &modes {
            let before = loadavg();
            let mut f = rt.block_on(run(mode, n, concurrency));
            print(mode, n, &mut f);
            println!("           load average before {before}, after {}", loadavg());
        }
    }
}
