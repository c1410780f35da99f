//! Secret-planting scan (issue 13): known secrets (a password, the first password set after a
//! PIN, a one-time PIN, an enrollment
//! token, the admin token, the device secrets the server issues) go through a real server
//! process and the `enroll` binary, both at the most verbose log level (`ENROLL_LOG=trace`),
//! with `--json`. No log line of either, no error document and no `--json` output may hold
//! any of them, except the one output whose purpose is to deliver a secret to the
//! administrator (`invite --pin` prints the PIN, `token` prints the token: their stdout is not
//! scanned; their logs are).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_enroll");
const PASSWORD: &str = "Planted-Passw0rd-7c41";
/// The first password the PIN-enrolled agent sets (`--new-password-file`).
const NEW_PASSWORD: &str = "Planted-NewPassw0rd-93b2";

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], state: &Path, stdin: Option<&str>) -> Run {
    let mut child = Command::new(BIN)
        .args(["--json", "-vv", "--store", "file", "--state-dir"])
        .arg(state)
        .args(args)
        .env("ENROLL_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

fn last_json(s: &str) -> serde_json::Value {
    s.lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn planted_secrets_appear_in_no_log_error_or_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server_log = dir.path().join("server.log");
    let mut server = Command::new(BIN)
        .args([
            "--json",
            "-vv",
            "server",
            "run",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .env("ENROLL_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&server_log).unwrap()))
        .spawn()
        .unwrap();
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = serde_json::from_str::<serde_json::Value>(&line).unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut server_stdout = line.clone();
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut rest);
        rest
    });
    let ca = data.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let admin_state = dir.path().join("admin");
    let mut scanned: Vec<(String, String)> = Vec::new();
    let mut keep = |what: &str, r: &Run, stdout_too: bool| {
        scanned.push((format!("{what} (stderr)"), r.stderr.clone()));
        if stdout_too {
            scanned.push((format!("{what} (stdout)"), r.stdout.clone()));
        }
    };
    let admin = |args: &[&str], stdin: Option<&str>| {
        let mut full = vec!["server"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--server", &url, "--data-dir", data.to_str().unwrap()]);
        let r = run(&full, &admin_state, stdin);
        assert!(r.ok, "{args:?}: {}", r.stderr);
        r
    };

    let r = admin(
        &["user-add", "pw@example.com", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    keep("user-add --password-stdin", &r, true);
    let r = admin(&["user-add", "pin@example.com"], None);
    keep("user-add", &r, true);
    let r = admin(&["user-add", "tok@example.com"], None);
    keep("user-add", &r, true);
    let r = admin(&["invite", "pin@example.com", "--pin"], None);
    keep("invite --pin", &r, false);
    let invite = last_json(&r.stdout);
    let pin = invite["pin"].as_str().unwrap().to_owned();
    let invite_url = invite["url"].as_str().unwrap().to_owned();
    let r = admin(&["token", "tok@example.com"], None);
    keep("token", &r, false);
    let token = last_json(&r.stdout)["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 16, "{}", r.stdout);

    // Wrong credentials first (error documents), then the right ones.
    let (s_pin, s_pw, s_tok) = (
        dir.path().join("a-pin"),
        dir.path().join("a-pw"),
        dir.path().join("a-tok"),
    );
    let wrong_pin = if pin == "00000000" { "11111111" } else { "00000000" };
    let new_password_file = dir.path().join("new-password.txt");
    std::fs::write(&new_password_file, format!("{NEW_PASSWORD}\n")).unwrap();
    let new_password_file = new_password_file.to_str().unwrap().to_owned();
    for (what, state, args, stdin, ok) in [
        (
            "enroll wrong pin",
            &s_pin,
            vec!["enroll", "--server", &invite_url, "--ca", ca, "--pin", wrong_pin],
            None,
            false,
        ),
        (
            "enroll pin",
            &s_pin,
            vec![
                "enroll",
                "--server",
                &invite_url,
                "--ca",
                ca,
                "--pin",
                &pin,
                "--new-password-file",
                &new_password_file,
            ],
            None,
            true,
        ),
        (
            "enroll wrong password",
            &s_pw,
            vec![
                "enroll",
                "--server",
                &url,
                "--ca",
                ca,
                "--user",
                "pw@example.com",
                "--password-stdin",
            ],
            Some("not-the-password\n"),
            false,
        ),
        (
            "enroll password",
            &s_pw,
            vec![
                "enroll",
                "--server",
                &url,
                "--ca",
                ca,
                "--user",
                "pw@example.com",
                "--password-stdin",
            ],
            Some(&*format!("{PASSWORD}\n")),
            true,
        ),
        (
            "enroll token",
            &s_tok,
            vec!["enroll", "--server", &url, "--ca", ca, "--token", &token],
            None,
            true,
        ),
    ] {
        let r = run(&args, state, stdin);
        assert_eq!(r.ok, ok, "{what}: {} {}", r.stdout, r.stderr);
        if !ok {
            assert!(
                last_json(&r.stdout)["error"]["code"].is_string(),
                "{what}: {}",
                r.stdout
            );
        }
        keep(what, &r, true);
        if ok {
            // This machine is one device to the server: each enrollment replaces the previous
            // one's record, so each agent checks in right after its own enrollment.
            for args in [vec!["status"], vec!["checkin"]] {
                let r = run(&args, state, None);
                assert!(r.ok, "{args:?}: {}", r.stderr);
                keep(&args.join(" "), &r, true);
            }
        }
    }
    let r = admin(&["devices"], None);
    keep("devices", &r, true);
    // The first password went through: the PIN user has one now.
    let r = admin(&["users"], None);
    keep("users", &r, true);
    assert!(
        last_json(&r.stdout)
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["email"] == "pin@example.com" && u["has_password"] == true),
        "{}",
        r.stdout
    );

    // The secrets: the planted ones, the admin token, and the device secrets the agents hold.
    let mut secrets = vec![
        ("password", PASSWORD.to_owned()),
        ("new password", NEW_PASSWORD.to_owned()),
        ("PIN", pin.clone()),
        ("enrollment token", token.clone()),
        (
            "admin token",
            std::fs::read_to_string(data.join("admin-token"))
                .unwrap()
                .trim()
                .to_owned(),
        ),
    ];
    for state in [&s_pin, &s_pw, &s_tok] {
        let stored = std::fs::read_to_string(state.join("secrets.insecure-file-store.json")).unwrap();
        // Values are base64 of the agent's state (JSON).
        let mut text = String::new();
        fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::String(s) => out.push(s.clone()),
                serde_json::Value::Object(m) => m.values().for_each(|v| strings(v, out)),
                serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                _ => {}
            }
        }
        let mut values = Vec::new();
        strings(&serde_json::from_str(&stored).unwrap(), &mut values);
        for v in values {
            use base64::Engine as _;
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(v.as_bytes()) {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        let at = text.find("device_secret").expect("device secret stored");
        let value: String = text[at + "device_secret".len()..]
            .trim_start_matches(['"', ':', ' '])
            .chars()
            .take_while(|c| *c != '"' && *c != '\\')
            .collect();
        assert!(value.len() >= 16, "{value}");
        secrets.push(("device secret", value));
    }

    let _ = server.kill();
    let _ = server.wait();
    server_stdout.push_str(&drain.join().unwrap());
    let log = std::fs::read_to_string(&server_log).unwrap();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the server log is verbose"
    );
    assert!(log.lines().count() > 20, "the server logged the requests");
    scanned.push(("server log".into(), log));
    scanned.push(("server stdout".into(), server_stdout));
    for (what, text) in &scanned {
        for (name, secret) in &secrets {
            assert!(!text.contains(secret.as_str()), "the {name} appears in {what}");
        }
        // The PIN is short: also not as a quoted JSON value or a `pin=` field.
        assert!(!text.contains(&format!("\"{pin}\"")), "the PIN appears in {what}");
    }
}
