//! The `enroll` binary as a user runs it: a real server process, admin commands, enrollment,
//! status, check-in with a retire, JSON output, and the scan command's errors.

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

fn start_server(data: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["--json", "server", "run", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(v["ca_fingerprint"].as_str().unwrap().contains(':'));
    Server {
        child,
        url: v["url"].as_str().unwrap().to_owned(),
    }
}

fn enroll(args: &[&str], state: &Path) -> (bool, serde_json::Value, String) {
    let out = Command::new(BIN)
        .args(["--json", "--store", "file", "--state-dir"])
        .arg(state)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(serde_json::Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn enroll_status_checkin_and_retire_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let state = dir.path().join("agent");
    let server = start_server(&data);
    let admin = |args: &[&str]| {
        let mut full = vec!["server"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--server", &server.url, "--data-dir", data.to_str().unwrap()]);
        let (ok, json, err) = enroll(&full, &state);
        assert!(ok, "{args:?}: {err}");
        json
    };
    admin(&["user-add", "cli@example.com"]);
    let invite = admin(&["invite", "cli@example.com", "--pin"]);
    let url = invite["url"].as_str().unwrap().to_owned();
    let pin = invite["pin"].as_str().unwrap().to_owned();
    assert!(url.contains("/go?user=cli%40example.com"), "{url}");

    let ca = data.join("ca.pem");
    // A wrong PIN fails with a readable error and a non-zero exit.
    let (ok, json, err) = enroll(
        &[
            "enroll",
            "--server",
            &url,
            "--ca",
            ca.to_str().unwrap(),
            "--pin",
            "00000000",
        ],
        &state,
    );
    assert!(!ok);
    // The error document has a stable code, and the message the tries left (issue 14).
    assert_eq!(json["error"]["code"], "invalid_pin", "{json}");
    assert_eq!(json["error"]["attempts_left"], 4, "{json}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("PIN") && message.contains("left"),
        "{json} {err}"
    );
    assert!(!err.contains(&pin));

    let (ok, json, err) = enroll(
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
    assert!(ok, "{err}");
    assert_eq!(json["state"], "active");
    let device_id = json["device_id"].as_str().unwrap().to_owned();
    let secrets = std::fs::read_to_string(state.join("secrets.insecure-file-store.json")).unwrap();
    assert!(!secrets.contains(&pin), "the PIN is not kept after enrollment");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join("secrets.insecure-file-store.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        state.join("profiles").read_dir().unwrap().count() >= 2,
        "profile and index written"
    );

    let (ok, json, _) = enroll(&["status"], &state);
    assert!(ok);
    assert_eq!(json["state"], "active");
    let (ok, json, _) = enroll(&["checkin"], &state);
    assert!(ok);
    assert_eq!(json["device_state"], "active");

    let devices = admin(&["devices"]);
    assert_eq!(devices.as_array().unwrap().len(), 1);
    admin(&["retire", &device_id]);
    let (ok, json, _) = enroll(&["checkin"], &state);
    assert!(ok);
    assert_eq!(json["applied"], "retire");
    assert_eq!(json["status"]["state"], "retired");
    let detail = admin(&["device", &device_id]);
    assert_eq!(detail["device"]["state"], "retired");
    let (ok, json, _) = enroll(&["status"], &state);
    assert!(ok);
    assert_eq!(json["state"], "retired");
}

#[test]
fn scan_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = enroll(&["scan"], dir.path());
    assert!(!ok);
    assert!(err.contains("give image files"), "{err}");
    let (ok, json, _) = enroll(&["scan", "/nonexistent/file.png"], dir.path());
    assert!(!ok);
    assert!(
        json.to_string().contains("no enrollment code") || json[0]["error"].is_string(),
        "{json}"
    );
    if !cfg!(feature = "camera") {
        let (ok, _, err) = enroll(&["scan", "--camera", "--timeout", "1"], dir.path());
        assert!(!ok);
        assert!(err.contains("no camera support"), "{err}");
    }
    // Random noise is not a QR code: scanned, nothing found, no crash.
    let noise: Vec<u8> = (0..320u32 * 240)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let path = dir.path().join("noise.png");
    image::save_buffer(&path, &noise, 320, 240, image::ExtendedColorType::L8).unwrap();
    let (ok, _, err) = enroll(&["scan", path.to_str().unwrap()], dir.path());
    assert!(!ok, "{err}");
    assert!(err.contains("no enrollment code"), "{err}");
}

/// Runs the binary; returns (exit code, stdout lines, stderr).
fn run_raw(args: &[&str], state: &Path) -> (Option<i32>, Vec<String>, String) {
    let out = Command::new(BIN)
        .args(["--json", "--store", "file", "--state-dir"])
        .arg(state)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Failures in the user's terms (issue 14): exactly one JSON document on stdout with a stable
/// code, the documented exit code, the next step, no library jargon; a closed stdout ends quietly.
#[test]
fn failures_are_one_json_document_in_the_users_terms() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let other = dir.path().join("other");
    let state = dir.path().join("agent");
    let server = start_server(&data);
    let second = start_server(&other);
    drop(second);
    let go = "/go?user=cli%40example.com";

    // Nothing listens on port 1: refused connection.
    let (code, lines, err) = run_raw(
        &[
            "enroll",
            "--server",
            &format!("https://127.0.0.1:1{go}"),
            "--ca",
            data.join("ca.pem").to_str().unwrap(),
            "--pin",
            "1234",
        ],
        &state,
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    let doc: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(doc["error"]["code"], "connection_refused", "{doc}");
    assert_eq!(code, Some(3));
    assert!(err.contains("running at that address"), "{err}");

    // The wrong CA: says to check --ca, without rustls' words. (A fresh state directory; the
    // retry over a failed attempt is in `newcomer.rs`.)
    let state = dir.path().join("agent2");
    let (code, lines, err) = run_raw(
        &[
            "enroll",
            "--server",
            &format!("{}{go}", server.url),
            "--ca",
            other.join("ca.pem").to_str().unwrap(),
            "--pin",
            "1234",
        ],
        &state,
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    let doc: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(doc["error"]["code"], "untrusted_certificate", "{doc}");
    assert_eq!(code, Some(3));
    assert!(err.contains("--ca"), "{err}");
    assert!(!err.contains("UnknownIssuer") && !err.contains("rustls"), "{err}");

    // A rejected upload prints its report and nothing else.
    let admin = |args: &[&str]| {
        let mut full = vec!["server"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--server", &server.url, "--data-dir", data.to_str().unwrap()]);
        run_raw(&full, &state)
    };
    let (code, _, err) = admin(&["bulk", "create", "Depot"]);
    if code == Some(0) {
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "imei\n123\n").unwrap();
        let (code, lines, err) = admin(&["bulk", "upload", "Depot", bad.to_str().unwrap()]);
        assert_ne!(code, Some(0), "{err}");
        assert_eq!(lines.len(), 1, "one JSON document: {lines:?}");
        let doc: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(doc["report"]["errors"][0]["line"], 2, "{doc}");
    } else {
        panic!("bulk create failed: {err}");
    }

    // A closed stdout (`enroll server users | head -0`): no panic.
    let mut child = Command::new(BIN)
        .args([
            "server",
            "users",
            "--server",
            &server.url,
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{err}");
}
