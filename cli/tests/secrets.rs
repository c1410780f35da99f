//! Secret-planting scan (issue 13): known secrets (a password, the first password set after a PIN, a one-time PIN, an enrollment
//! token, the admin token, the device secrets the server issues, an Apple enrollment secret
//! and the SCEP challenge of its profile, a Windows provisioning package's UPN secret (right
//! and wrong), an Entra bulk token) go through a real server process and the `enroll` binary
//! (the agent, `enroll simulate --platform apple --profile` doing SCEP and MDM with the
//! challenge, `enroll simulate --platform windows --package` doing MS-MDE2 and OMA-DM with the
//! secret), both at the most verbose log level (`ENROLL_LOG=trace`), with `--json`. No log line of either, no error document and no `--json` output may hold
//! any of them, except the one output whose purpose is to deliver a secret to the
//! administrator (`invite --pin` prints the PIN, `token` and `entra bulk-token` print the
//! token: their stdout is not scanned; their logs are).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_enroll");
const PASSWORD: &str = "Planted-Passw0rd-7c41";
/// The first password the PIN-enrolled agent sets (`--new-password-file`).
const NEW_PASSWORD: &str = "Planted-NewPassw0rd-93b2";
const WINDOWS_SECRET: &str = "Planted-Upn-Secret-93c1";
const WRONG_WINDOWS_SECRET: &str = "Planted-Wrong-Upn-Secret-0d2e";

/// Enrolls an iPhone through the agent protocol with `token` and downloads its profile, as
/// `enroll-sim`'s server source does: (the enrollment secret, the signed profile).
fn fetch_apple_profile(url: &str, ca_pem: &[u8], token: &str) -> (String, Vec<u8>) {
    use enroll_core::client::{ClientConfig, ProtocolClient};
    use enroll_proto::{CredentialWire, DeviceDescriptor, EnrollRequest, Platform};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = ProtocolClient::new(
            url,
            ClientConfig {
                trust: enroll_core::tls::TrustConfig::with_ca(ca_pem).unwrap(),
                ..ClientConfig::default()
            },
            std::sync::Arc::new(enroll_core::platform::SystemClock),
        )
        .unwrap();
        let request = EnrollRequest {
            credential: CredentialWire::Token {
                token: token.to_owned().into(),
            },
            device: DeviceDescriptor {
                platform: Platform::Ios,
                os_version: "17.4".into(),
                model: "iPhone15,2".into(),
                manufacturer: "Apple".into(),
                serial: Some("SCANSERIAL01".into()),
                imeis: Vec::new(),
                hardware_id: Some("00008110-SCAN-0001".into()),
                agent_version: "secrets-scan".into(),
            },
        };
        let reply = client.enroll("secrets-scan-apple", &request).await.unwrap();
        let profile = client
            .fetch_profile(&reply.enrollment_id, &reply.enrollment_secret)
            .await
            .unwrap();
        (reply.enrollment_secret.expose().to_owned(), profile.signed)
    })
}

/// The `Challenge` of a profile's SCEP payload, read from its text (a signed profile holds
/// its plist as is).
fn plist_challenge(profile: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(profile);
    let at = text.find("<key>Challenge</key>")?;
    let rest = &text[at..];
    let start = rest.find("<string>")? + "<string>".len();
    let end = rest[start..].find("</string>")?;
    Some(rest[start..start + end].to_owned())
}

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
    // Apple: a profile with its SCEP challenge, fetched through the agent protocol as a device
    // does, then enrolled by `enroll simulate --profile` (SCEP PKCSReq with that challenge,
    // the MDM check-in and command channel), first with the challenge spent by nobody, then
    // again (the reused challenge is refused: an error document).
    admin(&["user-add", "apple@example.com"], None);
    let r = admin(&["token", "apple@example.com"], None);
    keep("token (apple)", &r, false);
    let apple_token = last_json(&r.stdout)["token"].as_str().unwrap().to_owned();
    let ca_pem = std::fs::read(ca).unwrap();
    let (apple_secret, profile) = fetch_apple_profile(&url, &ca_pem, &apple_token);
    let parsed = enroll_sim::EnrollmentProfile::parse(&profile, &[]).ok();
    let challenge = parsed
        .as_ref()
        .and_then(|p| p.scep.challenge.as_ref())
        .map(|c| c.to_string())
        .or_else(|| plist_challenge(&profile))
        .expect("the profile carries a SCEP challenge");
    assert!(challenge.len() >= 16, "{challenge}");
    let profile_file = dir.path().join("apple.mobileconfig");
    std::fs::write(&profile_file, &profile).unwrap();
    let sim_state = dir.path().join("sim");
    for (what, ok) in [
        ("simulate apple", true),
        ("simulate apple (challenge reused)", false),
    ] {
        let r = run(
            &[
                "simulate",
                "--platform",
                "apple",
                "--devices",
                "1",
                "--profile",
                profile_file.to_str().unwrap(),
                "--ca",
                ca,
            ],
            &sim_state,
            None,
        );
        let summary = last_json(&r.stdout);
        let active = summary["active"].as_u64().unwrap_or(0);
        assert_eq!(active == 1, ok, "{what}: {} {}", r.stdout, r.stderr);
        keep(what, &r, true);
    }

    // Windows: the provisioning package's UPN secret (seed 001) — the user's password, the
    // package written by `enroll server windows package`, a PC enrolled with it; and the
    // simulated Entra tenant's bulk token (seed 002).
    let wuser = "windows-bulkenroll-scan@example.com";
    let r = admin(
        &["user-add", wuser, "--password-stdin"],
        Some(&format!("{WINDOWS_SECRET}\n")),
    );
    keep("user-add (windows)", &r, true);
    let package_dir = dir.path().join("package");
    std::fs::create_dir_all(&package_dir).unwrap();
    let r = admin(
        &[
            "windows",
            "package",
            wuser,
            "--out-dir",
            package_dir.to_str().unwrap(),
        ],
        Some(&format!("{WINDOWS_SECRET}\n")),
    );
    keep("windows package", &r, true);
    let package = package_dir.join("customizations.xml");
    assert!(std::fs::read_to_string(&package)
        .unwrap()
        .contains(WINDOWS_SECRET));
    let r = run(
        &[
            "simulate",
            "--platform",
            "windows",
            "--devices",
            "1",
            "--package",
            package.to_str().unwrap(),
            "--ca",
            ca,
        ],
        &sim_state,
        None,
    );
    assert!(r.ok, "simulate windows: {} {}", r.stdout, r.stderr);
    keep("simulate windows", &r, true);
    // The same package with a wrong secret: the refusal (an MS-MDE2 fault) must not quote it.
    let wrong = std::fs::read_to_string(&package)
        .unwrap()
        .replace(WINDOWS_SECRET, WRONG_WINDOWS_SECRET);
    let wrong_package = package_dir.join("wrong.xml");
    std::fs::write(&wrong_package, wrong).unwrap();
    let r = run(
        &[
            "simulate",
            "--platform",
            "windows",
            "--devices",
            "1",
            "--package",
            wrong_package.to_str().unwrap(),
            "--ca",
            ca,
        ],
        &sim_state,
        None,
    );
    keep("simulate windows (wrong secret)", &r, true);
    let tenant = "contoso-scan.onmicrosoft.com";
    let entra_admin = format!("admin@{tenant}");
    keep(
        "entra connect",
        &admin(&["windows", "entra", "connect", tenant], None),
        true,
    );
    keep(
        "entra user",
        &admin(&["windows", "entra", "user", &entra_admin], None),
        true,
    );
    let r = admin(&["windows", "entra", "bulk-token", "--admin", &entra_admin], None);
    keep("entra bulk-token", &r, false);
    let bulk_token = last_json(&r.stdout)["token"].as_str().unwrap().to_owned();
    assert!(bulk_token.len() >= 16, "{}", r.stdout);

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
    secrets.push(("SCEP challenge", challenge.clone()));
    secrets.push(("enrollment secret (apple)", apple_secret));
    secrets.push(("Windows UPN secret", WINDOWS_SECRET.to_owned()));
    secrets.push(("wrong Windows UPN secret", WRONG_WINDOWS_SECRET.to_owned()));
    secrets.push(("Entra bulk token", bulk_token.clone()));
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
