//! The `enroll` binary at a newcomer's edges (issue 14): first mistakes never trap the agent
//! (a typo in the URL, the wrong `--ca`, a stopped server, then the fixed retry reaches active),
//! every stuck state says the way on, the state and the server's files are private, and the
//! provisioning commands warn about codes no phone can use.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_enroll");

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(data: &Path, bind: &str, extra: &[&str]) -> Server {
    start_server_logging(data, bind, extra, Stdio::null())
}

fn start_server_logging(data: &Path, bind: &str, extra: &[&str], log: impl Into<Stdio>) -> Server {
    let mut child = Command::new(BIN)
        .args(["--json", "server", "run", "--bind", bind, "--data-dir"])
        .arg(data)
        .args(extra)
        .env("ENROLL_LOG", "enroll_server=info")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}"));
    Server {
        child,
        url: v["url"].as_str().unwrap().to_owned(),
    }
}

/// Runs the binary with `--json`; returns (exit code, the one stdout document, stderr).
fn run(args: &[&str], state: &Path) -> (Option<i32>, serde_json::Value, String) {
    let out = Command::new(BIN)
        .args(["--json", "--store", "file", "--state-dir"])
        .arg(state)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() <= 1, "one JSON document at most: {stdout}");
    let json = lines
        .first()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn admin(server: &Server, data: &Path, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["server"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--server", &server.url, "--data-dir", data.to_str().unwrap()]);
    let (code, json, err) = run(&full, &data.with_extension("admin-state"));
    assert_eq!(code, Some(0), "{args:?}: {err}");
    json
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_url_typo_a_wrong_ca_and_a_stopped_server_never_trap_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let other = dir.path().join("other");
    let state = dir.path().join("agent");
    let server = start_server(&data, "127.0.0.1:0", &[]);
    drop(start_server(&other, "127.0.0.1:0", &[]));
    admin(&server, &data, &["user-add", "new@example.com"]);
    let invite = admin(&server, &data, &["invite", "new@example.com", "--pin"]);
    let url = invite["url"].as_str().unwrap().to_owned();
    let pin = invite["pin"].as_str().unwrap().to_owned();
    let port: u16 = server.url.rsplit(':').next().unwrap().parse().unwrap();
    let ca = data.join("ca.pem");
    let wrong_ca = other.join("ca.pem");

    // 1. A typo in the port: nothing answers there.
    let typo = url.replace(&format!(":{port}/"), ":1/");
    let (code, json, err) = run(
        &[
            "enroll",
            "--server",
            &typo,
            "--ca",
            ca.to_str().unwrap(),
            "--pin",
            &pin,
        ],
        &state,
    );
    assert_eq!(
        (code, json["error"]["code"].as_str()),
        (Some(3), Some("connection_refused")),
        "{err}"
    );
    assert!(err.contains("enroll resume --server"), "{err}");
    let (_, status, _) = run(&["status"], &state);
    assert_eq!(status["state"], "discovered");
    assert!(
        status["next_step"].as_str().unwrap().contains("replaces it"),
        "{status}"
    );

    // 2. Fixed address, wrong CA: the new values replace the attempt the server never saw.
    let (code, json, err) = run(
        &[
            "enroll",
            "--server",
            &url,
            "--ca",
            wrong_ca.to_str().unwrap(),
            "--pin",
            &pin,
        ],
        &state,
    );
    assert_eq!(
        (code, json["error"]["code"].as_str()),
        (Some(3), Some("untrusted_certificate")),
        "{err}"
    );
    assert!(err.contains("Replacing the attempt"), "{err}");
    assert!(err.contains("enroll resume --ca"), "{err}");
    assert!(!err.contains("already in progress"), "{err}");

    // 3. The right CA given to `resume`, but the server has stopped meanwhile.
    drop(server);
    let (code, json, err) = run(&["resume", "--ca", ca.to_str().unwrap()], &state);
    assert_eq!(
        (code, json["error"]["code"].as_str()),
        (Some(3), Some("connection_refused")),
        "{err}"
    );

    // 4. The server is back on its port: `resume` reaches active with the kept values.
    let server = start_server(&data, &format!("127.0.0.1:{port}"), &[]);
    let (code, json, err) = run(&["resume"], &state);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(json["state"], "active", "{json}");
    let devices = admin(&server, &data, &["devices"]);
    assert_eq!(
        devices.as_array().unwrap().len(),
        1,
        "one device record: {devices}"
    );

    // Once the server accepted an enrollment it is not replaced silently: an active device
    // says to re-enroll, and `resume --server` cannot move it elsewhere.
    let (code, _, err) = run(
        &[
            "enroll",
            "--server",
            &url,
            "--ca",
            ca.to_str().unwrap(),
            "--pin",
            &pin,
        ],
        &state,
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("re-enroll"), "{err}");

    // A retire says how to enroll again, in `checkin` and in `status`.
    let id = json["device_id"].as_str().unwrap().to_owned();
    admin(&server, &data, &["retire", &id]);
    let out = Command::new(BIN)
        .args(["--store", "file", "--state-dir"])
        .arg(&state)
        .arg("checkin")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("retire") && text.contains("enroll reenroll"),
        "{text}"
    );
    let (_, status, _) = run(&["status"], &state);
    assert!(
        status["next_step"].as_str().unwrap().contains("enroll reenroll"),
        "{status}"
    );

    // Private files: the state directory 0700, secrets and settings 0600; the server's data
    // directory 0700, its database (and WAL) and keys 0600.
    #[cfg(unix)]
    {
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join("secrets.insecure-file-store.json")), 0o600);
        assert_eq!(mode(&state.join("agent.json")), 0o600);
        assert_eq!(mode(&state.join("profiles")), 0o700);
        assert_eq!(mode(&data), 0o700);
        for name in [
            "enroll.db",
            "enroll.db-wal",
            "ca.key",
            "admin-token",
            "server-secret",
        ] {
            let path = data.join(name);
            if path.exists() || name != "enroll.db-wal" {
                assert_eq!(mode(&path), 0o600, "{name}");
            }
        }
    }
}

#[test]
fn provisioning_codes_warn_until_the_public_url_and_dpc_are_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = start_server(&data, "127.0.0.1:0", &[]);
    admin(&server, &data, &["user-add", "fleet@example.com"]);
    admin(
        &server,
        &data,
        &["bulk", "create", "Depot", "--user", "fleet@example.com"],
    );

    // Text mode shows times as dates, JSON as Unix seconds.
    let text = Command::new(BIN)
        .args([
            "server",
            "bulk",
            "show",
            "Depot",
            "--server",
            &server.url,
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    let modified = text.lines().find(|l| l.contains("modified:")).unwrap().to_owned();
    let date = modified.split_whitespace().last().unwrap();
    assert!(
        date.len() == 20 && date.starts_with("20") && date.ends_with('Z') && &date[10..11] == "T",
        "{text}"
    );
    let shown = admin(&server, &data, &["bulk", "show", "Depot"]);
    assert!(shown.to_string().contains("\"modified_at\":1"), "{shown}");

    let doc = admin(&server, &data, &["bulk", "provisioning", "Depot"]);
    let warnings = doc["warnings"].as_array().unwrap();
    assert_eq!(
        warnings.len(),
        3,
        "loopback server URL and download location, placeholder: {doc}"
    );

    let config = dir.path().join("server.json");
    std::fs::write(
        &config,
        r#"{"public_url": "https://192.0.2.10:8443", "dpc": {"component": "com.example.dpc/.Admin"}}"#,
    )
    .unwrap();
    let doc = admin(
        &server,
        &data,
        &[
            "bulk",
            "provisioning",
            "Depot",
            "--server-config",
            config.to_str().unwrap(),
            "--dpc-checksum",
            "gJD2YwtOiWJHkSMkkIfLRlj-quNqG1fb6v100QmzM9w",
        ],
    );
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 0, "{doc}");
    let a = &doc["android"];
    assert_eq!(
        a["android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE"]["enroll.SERVER_URL"],
        "https://192.0.2.10:8443"
    );
    assert_eq!(
        a["android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME"],
        "com.example.dpc/.Admin"
    );
    assert_eq!(
        doc["kme_dpc_extras"]["enroll.SERVER_URL"],
        "https://192.0.2.10:8443"
    );

    // The QR code carries the same rewritten payload (decoded by the agent's own scanner).
    let png = dir.path().join("depot.png");
    let qr = admin(
        &server,
        &data,
        &[
            "bulk",
            "qr",
            "Depot",
            "--out",
            png.to_str().unwrap(),
            "--public-url",
            "https://192.0.2.10:8443",
        ],
    );
    assert_eq!(
        qr["warnings"].as_array().unwrap().len(),
        1,
        "only the placeholder is left: {qr}"
    );
    let (code, scanned, err) = run(&["scan", png.to_str().unwrap()], dir.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(
        scanned.to_string().contains("https://192.0.2.10:8443"),
        "{scanned}"
    );

    // A server given the DPC package serves it, and the code carries its checksum instead of
    // the placeholder.
    drop(server);
    let apk = dir.path().join("agent.apk");
    std::fs::write(&apk, b"PK\x03\x04 not really an APK").unwrap();
    let server = start_server(&data, "127.0.0.1:0", &["--dpc-apk", apk.to_str().unwrap()]);
    let doc = admin(&server, &data, &["bulk", "provisioning", "Depot"]);
    let a = &doc["android"];
    assert!(
        a.get("android.app.extra.PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM")
            .is_none(),
        "{doc}"
    );
    let sum = a["android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_CHECKSUM"]
        .as_str()
        .unwrap();
    assert_eq!(sum.len(), 43);
    assert_eq!(
        doc["warnings"].as_array().unwrap().len(),
        2,
        "loopback only: {doc}"
    );
    let download = a["android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION"]
        .as_str()
        .unwrap();
    let fetched = Command::new("curl")
        .args(["-fsS", "--cacert"])
        .arg(data.join("ca.pem"))
        .arg(download)
        .output();
    if let Ok(fetched) = fetched {
        assert!(
            fetched.status.success(),
            "{}",
            String::from_utf8_lossy(&fetched.stderr)
        );
        assert_eq!(fetched.stdout, std::fs::read(&apk).unwrap());
    }
}

/// A valid IMEI (Luhn check digit) from a 14-digit body.
fn imei(body: u64) -> String {
    let digits: Vec<u32> = format!("{body:014}")
        .chars()
        .map(|c| c.to_digit(10).unwrap())
        .collect();
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    format!("{body:014}{}", (10 - sum % 10) % 10)
}

/// Ctrl-C once the whole file is handed to the network, before the answer: the command exits 130
/// with one JSON document saying what the server does and how to check; the server's log says
/// which happened, and the profile holds all of the file or none of it, as the log says.
#[cfg(unix)]
#[test]
fn ctrl_c_after_the_upload_says_what_the_server_does_and_its_log_agrees() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let log_path = dir.path().join("server.log");
    let server = start_server_logging(
        &data,
        "127.0.0.1:0",
        &[],
        std::fs::File::create(&log_path).unwrap(),
    );
    admin(&server, &data, &["user-add", "fleet@example.com"]);
    let created = admin(
        &server,
        &data,
        &["bulk", "create", "Big", "--user", "fleet@example.com"],
    );
    let id = created["profile"]["id"].as_str().unwrap().to_owned();
    let rows = 150_000u64;
    let mut csv = String::from("imei,department\n");
    for i in 0..rows {
        csv.push_str(&imei(35_000_000_000_000 + i));
        csv.push_str(",Logistics\n");
    }
    let file = dir.path().join("big.csv");
    std::fs::write(&file, csv).unwrap();

    let mut child = Command::new(BIN)
        .args(["--json", "server", "bulk", "upload", "Big"])
        .arg(&file)
        .args(["--server", &server.url, "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "upload ended early: {seen}"
        );
        seen.push_str(&line);
        let sent_all = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| {
                let p = &v["progress"];
                Some(p["bytes_sent"].as_u64()? == p["bytes_total"].as_u64()?)
            })
            .unwrap_or(false);
        if sent_all {
            break;
        }
    }
    let interrupt = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(130), "{stdout} {rest}");
    let doc: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(doc["error"]["code"], "interrupted", "{doc}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("finishes the import") && message.contains(&format!("enroll server bulk show {id}")),
        "{message}"
    );

    // The server says which happened, and the profile agrees: the whole file or nothing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let imported = loop {
        let log = std::fs::read_to_string(&log_path).unwrap();
        if log.contains("CSV imported") {
            break true;
        }
        if log.contains("CSV upload interrupted") {
            break false;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server said nothing: {}",
            log.lines()
                .filter(|l| !l.contains("/api/v1/admin/users"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let shown = admin(&server, &data, &["bulk", "show", &id]);
    let expected = if imported { rows } else { 0 };
    assert_eq!(
        shown["profile"]["device_count"].as_u64(),
        Some(expected),
        "{shown}"
    );
    if !imported {
        let log = std::fs::read_to_string(&log_path).unwrap();
        assert!(!log.contains("CSV imported"), "{log}");
    }
    eprintln!(
        "interrupted upload: the server {}",
        if imported {
            "imported the file"
        } else {
            "discarded the file"
        }
    );
}

/// Seed 003 in the CLI: after a PIN enrollment of a user without a password the server offers
/// to set one; `--new-password-file` sets it (a weak one is refused, typed, and `resume` tries
/// again), `--no-new-password` declines, and `--json` says whether a password was set.
#[test]
fn after_a_pin_the_cli_sets_the_first_password_from_a_file_or_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = start_server(&data, "127.0.0.1:0", &[]);
    let ca = data.join("ca.pem");
    let ca = ca.to_str().unwrap();
    admin(&server, &data, &["user-add", "first@example.com"]);
    let invite = admin(&server, &data, &["invite", "first@example.com", "--pin"]);
    let (url, pin) = (
        invite["url"].as_str().unwrap().to_owned(),
        invite["pin"].as_str().unwrap().to_owned(),
    );
    let weak = dir.path().join("weak.txt");
    std::fs::write(&weak, "short\n").unwrap();
    let good = dir.path().join("good.txt");
    std::fs::write(&good, "Cli-First-Passw0rd\n").unwrap();
    let state = dir.path().join("agent");
    let (code, json, err) = run(
        &[
            "enroll",
            "--server",
            &url,
            "--ca",
            ca,
            "--pin",
            &pin,
            "--new-password-file",
            weak.to_str().unwrap(),
        ],
        &state,
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(json["state"], "active", "{json}");
    assert_eq!(json["password_set"], false, "{json}");
    assert_eq!(json["password_error"]["code"], "weak_password", "{json}");
    assert_eq!(json["password_offered"], true, "{json}");
    assert!(err.contains("enroll resume --new-password-file"), "{err}");
    let (code, json, err) = run(&["resume", "--new-password-file", good.to_str().unwrap()], &state);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        (json["password_set"].as_bool(), json["password_offered"].as_bool()),
        (Some(true), Some(false)),
        "{json}"
    );
    assert!(!json.to_string().contains("Cli-First-Passw0rd") && !err.contains("Cli-First-Passw0rd"));
    let users = admin(&server, &data, &["users"]);
    let first = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "first@example.com")
        .unwrap()
        .clone();
    assert_eq!(first["has_password"], true, "{first}");

    // Declined: nothing set, the offer gone.
    admin(&server, &data, &["user-add", "skip@example.com"]);
    let invite = admin(&server, &data, &["invite", "skip@example.com", "--pin"]);
    let state = dir.path().join("agent-skip");
    let (code, json, err) = run(
        &[
            "enroll",
            "--server",
            invite["url"].as_str().unwrap(),
            "--ca",
            ca,
            "--pin",
            invite["pin"].as_str().unwrap(),
            "--no-new-password",
        ],
        &state,
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        (json["password_set"].as_bool(), json["password_offered"].as_bool()),
        (Some(false), Some(false)),
        "{json}"
    );
    let users = admin(&server, &data, &["users"]);
    assert!(users
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["email"] == "skip@example.com" && u["has_password"] == false));
}
