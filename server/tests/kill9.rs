//! `kill -9` of a real `enroll-server` process while devices enroll (issue 13): afterwards the
//! database passes `PRAGMA integrity_check` and `foreign_key_check`, holds no half-made record
//! (an active device without its confirmed enrollment, a confirmed enrollment on a device that
//! is not active, an idempotency key or a profile issuance without its enrollment), and a
//! restarted server lets every device resume to one active record.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::fakes::{FakeDevice, FakeInstaller, ManualClock, MemoryStore};
use enroll_core::platform::Platform;
use enroll_core::tls::TrustConfig;
use enroll_core::{Agent, AgentConfig, Credential};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_enroll-server");

fn start(dir: &Path, port: u16) -> Child {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    // Keep reading: the server prints more lines, and a closed pipe would make it fail.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    child
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn admin_client(ca_pem: &str) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .unwrap()
}

fn agent(
    device: &(
        Arc<MemoryStore>,
        Arc<FakeInstaller>,
        Arc<FakeDevice>,
        Arc<ManualClock>,
    ),
    trust: &TrustConfig,
) -> Agent {
    let mut config = AgentConfig::default();
    config.client.trust = trust.clone();
    config.client.retry.max_attempts = 1;
    config.client.connect_timeout = Duration::from_secs(2);
    config.client.request_timeout = Duration::from_secs(5);
    Agent::new(
        config,
        Platform {
            store: device.0.clone(),
            installer: device.1.clone(),
            device: device.2.clone(),
            clock: device.3.clone(),
        },
    )
    .unwrap()
}

/// Every consistency rule a half-made write would break.
fn check_db(path: &Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let fk: i64 = c
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 0, "dangling references");
    let rules = [
        (
            "active device without its confirmed enrollment",
            "SELECT count(*) FROM devices d WHERE d.state = 'active' AND NOT EXISTS \
             (SELECT 1 FROM enrollments e WHERE e.id = d.activated_by AND e.confirmed_at IS NOT NULL \
              AND e.device_id = d.id)",
        ),
        (
            "confirmed enrollment on a device never enrolled",
            "SELECT count(*) FROM enrollments e JOIN devices d ON d.id = e.device_id \
             WHERE e.confirmed_at IS NOT NULL AND d.enrolled_at IS NULL",
        ),
        (
            "enrollment without its idempotency key",
            "SELECT count(*) FROM enrollments e WHERE NOT EXISTS \
             (SELECT 1 FROM idempotency i WHERE i.enrollment_id = e.id)",
        ),
        (
            "device with no enrollment",
            "SELECT count(*) FROM devices d WHERE NOT EXISTS \
             (SELECT 1 FROM enrollments e WHERE e.device_id = d.id)",
        ),
        (
            "two records for one device",
            "SELECT count(*) FROM (SELECT hardware_id FROM devices WHERE hardware_id IS NOT NULL \
             GROUP BY platform, hardware_id HAVING count(*) > 1)",
        ),
    ];
    for (what, sql) in rules {
        let n: i64 = c.query_row(sql, [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_leaves_a_consistent_database_and_devices_resume() {
    let dir: PathBuf = std::env::temp_dir().join(format!("enroll-kill9-{}", uuid::Uuid::new_v4()));
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let mut child = start(&dir, port);
    let ca_pem = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let admin_token = std::fs::read_to_string(dir.join("admin-token")).unwrap();
    let admin = admin_client(&ca_pem);
    let trust = TrustConfig::with_ca(ca_pem.as_bytes()).unwrap();
    admin
        .post(format!("{base}{}", enroll_proto::routes::ADMIN_USERS))
        .bearer_auth(admin_token.trim())
        .header("content-type", "application/json")
        .body(serde_json::json!({"email": "k@example.com", "display_name": ""}).to_string())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let token = admin
        .post(format!("{base}{}", enroll_proto::routes::ADMIN_TOKENS))
        .bearer_auth(admin_token.trim())
        .header("content-type", "application/json")
        .body(serde_json::json!({"user": "k@example.com", "days": 30}).to_string())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let token: serde_json::Value = serde_json::from_slice(&token).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();

    let devices: Vec<_> = (0..60)
        .map(|i| {
            let clock = ManualClock::offset_from_now(0);
            (
                MemoryStore::new(),
                FakeInstaller::new(clock.clone()),
                FakeDevice::ios(&format!("KILL9-{i:03}")),
                clock,
            )
        })
        .collect();
    // Three kills, each while devices are in the middle of enrolling.
    let (mut finished, mut interrupted) = (0, 0);
    for (round, kill_after_ms) in [(0usize, 0u64), (1, 30), (2, 120)] {
        let mut set = tokio::task::JoinSet::new();
        for d in &devices[round * 20..round * 20 + 20] {
            let d = d.clone();
            let (trust, base, token) = (trust.clone(), base.clone(), token.clone());
            set.spawn(async move {
                let a = agent(&d, &trust);
                a.enroll(&base, Credential::token(&token).unwrap()).await.is_ok()
            });
        }
        // Kill once this round's writes are under way: a few enrollments recorded (read on a
        // connection of our own, WAL lets it read while the server writes), plus a short delay.
        let db = rusqlite::Connection::open(dir.join("enroll.db")).unwrap();
        let count = |db: &rusqlite::Connection| -> i64 {
            db.query_row("SELECT count(*) FROM enrollments", [], |r| r.get(0))
                .unwrap_or(0)
        };
        let start_count = count(&db);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while count(&db) < start_count + 3 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(db);
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        while let Some(done) = set.join_next().await {
            if done.unwrap() {
                finished += 1;
            } else {
                interrupted += 1;
            }
        }
        check_db(&dir.join("enroll.db"));
        child = start(&dir, port);
    }
    eprintln!("kill -9: {finished} enrollments had finished, {interrupted} were cut by the kill");
    assert!(interrupted > 0, "no kill landed during an enrollment");
    // The restarted server: every device resumes to active, one record each.
    for d in &devices {
        let a = agent(d, &trust);
        let status = if a.status().name() == "idle" {
            a.enroll(&base, Credential::token(&token).unwrap()).await
        } else {
            a.run().await
        };
        assert!(
            matches!(status, Ok(EnrollmentStatus::Active { .. })),
            "{status:?}"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    check_db(&dir.join("enroll.db"));
    let c = rusqlite::Connection::open(dir.join("enroll.db")).unwrap();
    let active: i64 = c
        .query_row("SELECT count(*) FROM devices WHERE state = 'active'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let all: i64 = c
        .query_row("SELECT count(*) FROM devices", [], |r| r.get(0))
        .unwrap();
    assert_eq!((active, all), (60, 60));
    let _ = std::fs::remove_dir_all(&dir);
}
