//! Enrollment benchmark (not a test): the real agent (enroll-core) against the real reference
//! server over TLS on loopback.
//!
//! Measures, in one run:
//! - the median time of `--runs` (default 100) enrollments, credential → active (a fresh agent
//!   per device: its client, TLS handshake and connection pool are new, as on a phone), with
//!   user tokens, each one for a new user;
//! - the HTTP round trips and TLS connections per enrollment, counted at the server
//!   ([`enroll_server::RunningServer::stats`]);
//! - the median time of one plain HTTPS request (`GET /api/v1/info`) with a fresh TLS
//!   handshake on a new TCP connection to the same server (rustls, client config built once),
//!   interleaved with the enrollments so that both see the same machine load;
//! - the ratio of the two medians.
//!
//! Targets (issue 13): at most 3 round trips after discovery, ratio ≤ 4.
//!
//! Run: `cargo bench -p enroll-e2e --bench enrollment` (add `-- --runs N`). On a shared
//! machine `--profile dev` avoids a release build of the workspace (the crypto crates are
//! optimised in dev builds too, see the workspace `Cargo.toml`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use enroll_cli::admin::AdminClient;
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::fakes::{FakeDevice, FakeInstaller, ManualClock, MemoryStore};
use enroll_core::platform::Platform;
use enroll_core::tls::TrustConfig;
use enroll_core::{Agent, AgentConfig, Credential};
use enroll_proto as protocol;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `/proc/loadavg`'s three averages (the machine may be shared).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One HTTPS request on a new connection: TCP connect, TLS handshake, GET, read to close.
async fn fresh_https(addr: std::net::SocketAddr, connector: &tokio_rustls::TlsConnector) -> usize {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let req = format!(
        "GET {} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n",
        protocol::routes::INFO
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    assert!(out.starts_with(b"HTTP/1.1 200"), "info failed");
    out.len()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    if std::env::var_os("BENCH_TRACE").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_writer(std::io::stderr)
            .init();
    }

    let dir = tempfile::tempdir().unwrap();
    let mut config = enroll_server::ServerConfig::new(dir.path().join("server"));
    config.bind = "127.0.0.1:0".parse().unwrap();
    let server = enroll_server::start(config).await.unwrap();
    let base = server.base_url();
    let trust = TrustConfig::with_ca(server.ca_cert_pem().as_bytes()).unwrap();
    let admin = AdminClient::new(&base, trust.clone(), server.admin_token().clone(), false).unwrap();

    // Credentials, made before timing (the admin's work, not the device's).
    let mut creds = Vec::with_capacity(runs + 5);
    for i in 0..runs + 5 {
        let email = format!("bench{i}@example.com");
        admin
            .create_user(&protocol::CreateUserRequest {
                email: email.clone(),
                display_name: String::new(),
                password: None,
                directory: false,
            })
            .await
            .unwrap();
        let t = admin
            .create_token(&protocol::CreateTokenRequest {
                user: email,
                days: Some(30),
                never_expires: false,
            })
            .await
            .unwrap();
        creds.push(Credential::token(t.token.expose()).unwrap());
    }

    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.app().pki().ca_der().to_vec().into()).unwrap();
    let client_tls =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_tls));

    let server_ref = &server;
    let enroll_one = |i: usize, cred: Credential| {
        let trust = trust.clone();
        let base = base.clone();
        async move {
            let clock = ManualClock::offset_from_now(0);
            let platform = Platform {
                store: MemoryStore::new(),
                installer: FakeInstaller::new(clock.clone()),
                device: FakeDevice::ios(&format!("BENCH-UDID-{i:05}")),
                clock,
            };
            let mut config = AgentConfig::default();
            config.client.trust = trust;
            let started = Instant::now();
            let agent = Agent::new(config, platform).unwrap();
            agent.begin(&base, cred).await.unwrap();
            let mut steps = Vec::new();
            let status = loop {
                let t = Instant::now();
                let status = agent.step().await.unwrap();
                steps.push((status.name(), t.elapsed()));
                if std::env::var_os("BENCH_TRACE").is_some() {
                    eprintln!("{} {:?}", status.name(), server_ref.stats());
                }
                if status.is_settled() {
                    break status;
                }
            };
            let took = started.elapsed();
            assert!(matches!(status, EnrollmentStatus::Active { .. }), "{status:?}");
            (took, steps)
        }
    };

    let load_before = loadavg();
    // Warm-up (not counted): one of each.
    let mut creds = creds.into_iter();
    for w in 0..3 {
        enroll_one(100_000 + w, creds.next().unwrap()).await;
        fresh_https(server.local_addr(), &connector).await;
    }

    let mut enroll_times = Vec::with_capacity(runs);
    let mut fresh_times = Vec::with_capacity(runs);
    let mut round_trips = Vec::with_capacity(runs);
    let mut connections = Vec::with_capacity(runs);
    let mut step_times: Vec<(&'static str, Vec<Duration>)> = Vec::new();
    for i in 0..runs {
        let before = server.stats();
        let (took, steps) = enroll_one(i, creds.next().unwrap()).await;
        enroll_times.push(took);
        for (j, (name, d)) in steps.into_iter().enumerate() {
            if step_times.len() <= j {
                step_times.push((name, Vec::new()));
            }
            step_times[j].1.push(d);
        }
        let after = server.stats();
        round_trips.push(after.requests - before.requests);
        connections.push(after.connections - before.connections);

        let started = Instant::now();
        fresh_https(server.local_addr(), &connector).await;
        fresh_times.push(started.elapsed());
    }

    let enroll_med = median(&mut enroll_times);
    let fresh_med = median(&mut fresh_times);
    let ratio = enroll_med.as_secs_f64() / fresh_med.as_secs_f64();
    round_trips.sort_unstable();
    connections.sort_unstable();
    let rt_max = *round_trips.last().unwrap();
    let rt_med = round_trips[runs / 2];
    let conn_max = *connections.last().unwrap();
    println!(
        "enrollment benchmark: {runs} enrollments (token), loopback TLS, real agent and server, {} build",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "optimised (release/bench)"
        }
    );
    println!("  load average before {load_before}, after {}", loadavg());
    println!(
        "  enrollment credential -> active   median {:>8.2} ms   (p90 {:.2} ms)",
        ms(enroll_med),
        ms(enroll_times[runs * 9 / 10])
    );
    println!(
        "  one HTTPS request, fresh TLS      median {:>8.2} ms   (p90 {:.2} ms)",
        ms(fresh_med),
        ms(fresh_times[runs * 9 / 10])
    );
    println!(
        "  ratio enrollment / fresh request  {ratio:.2}   (target <= 4: {})",
        if ratio <= 4.0 { "met" } else { "NOT met" }
    );
    println!(
        "  HTTP round trips per enrollment   median {rt_med}, max {rt_max}   (no discovery request; target <= 3 after discovery: {})",
        if rt_max <= 3 { "met" } else { "NOT met" }
    );
    println!("  TLS connections per enrollment    max {conn_max}");
    for (name, mut times) in step_times {
        println!("    step to {name:<14} median {:>8.2} ms", ms(median(&mut times)));
    }
    server.shutdown().await;
}
