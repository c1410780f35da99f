//! `enroll demo --platform windows` and the Windows admin commands through the binary: the demo
//! shows every step and ends Active under the windows-bulkenroll user, then assigned; a refused
//! admin command shows the server's message and a next step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_enroll");

#[test]
fn the_windows_demo_shows_every_step_and_ends_assigned_to_a_real_user() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--platform", "windows", "--keep"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    // Every step of the device, in order, as the PC committed it.
    let steps = [
        "discovery: OnPremise authentication",
        "policy: RSA >= 2048 bits",
        "key and CSR:",
        "enrollment: certificate issued, provisioning document received",
        "provisioning document: the client certificate matches this key",
        "OMA-DM session 1:",
        "OMA-DM session 2:",
    ];
    let mut at = 0;
    for s in steps {
        let i = stderr[at..]
            .find(s)
            .unwrap_or_else(|| panic!("no {s:?} after byte {at}:\n{stderr}"));
        at += i + s.len();
    }
    assert!(
        stderr.contains(
            "user windows-bulkenroll-demo@example.com, bulk owner windows-bulkenroll-demo@example.com"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("assigned (assigned to demo.user@example.com"),
        "{stderr}"
    );
    assert!(
        stdout.contains("then was assigned to demo.user@example.com"),
        "{stdout}"
    );
    // The package project and the PC's state file are in the kept directory; the secret is not printed.
    let xml = std::fs::read_to_string(dir.path().join("pc/customizations.xml")).unwrap();
    let secret = xml
        .split("<Secret>")
        .nth(1)
        .unwrap()
        .split("</Secret>")
        .next()
        .unwrap();
    assert!(secret.starts_with("Bulk-"));
    assert!(!stderr.contains(secret) && !stdout.contains(secret));
    assert!(dir.path().join("pc/state.json").exists());

    // --json: one document, the device active under the real user, same certificate.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["--json", "demo", "--platform", "windows", "--keep"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "active");
    assert_eq!(v["user"], "demo.user@example.com");
    assert_eq!(v["bulk_owner"], "windows-bulkenroll-demo@example.com");
    assert_eq!(v["password_change_required"], true);
}

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
    Server {
        child,
        url: v["url"].as_str().unwrap().to_owned(),
    }
}

/// Runs `enroll ARGS --server URL --data-dir DATA` with `stdin`; (exit code, stdout, stderr).
fn admin(server: &Server, data: &Path, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--server", &server.url, "--data-dir"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_refused_windows_admin_command_shows_the_servers_message_and_a_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = start_server(&data);
    for (user, pw) in [
        ("windows-bulkenroll-ops@abc.com", "Bulk-pass-1!"),
        ("bob@abc.com", "Bob-pass-1"),
    ] {
        let (code, _, err) = admin(
            &server,
            &data,
            &["server", "user-add", user, "--password-stdin"],
            &format!("{pw}\n"),
        );
        assert_eq!(code, Some(0), "{err}");
    }
    // Bob's own PC: a package project with his UPN and password (a user enrollment, not bulk).
    let (code, _, err) = admin(
        &server,
        &data,
        &[
            "server",
            "windows",
            "package",
            "windows-bulkenroll-ops@abc.com",
            "--out-dir",
            dir.path().to_str().unwrap(),
        ],
        "Bulk-pass-1!\n",
    );
    assert_eq!(code, Some(0), "{err}");
    let xml = std::fs::read_to_string(dir.path().join("customizations.xml"))
        .unwrap()
        .replace("windows-bulkenroll-ops@abc.com", "bob@abc.com")
        .replace("Bulk-pass-1!", "Bob-pass-1");
    let bob = dir.path().join("bob.xml");
    std::fs::write(&bob, xml).unwrap();
    let out = Command::new(BIN)
        .args([
            "--json",
            "simulate",
            "--platform",
            "windows",
            "--devices",
            "1",
            "--package",
        ])
        .arg(&bob)
        .arg("--ca")
        .arg(data.join("ca.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, list, err) = admin(&server, &data, &["--json", "server", "windows", "devices"], "");
    assert_eq!(code, Some(0), "{err}");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["bulk_enrolled"], false);
    let id = list[0]["id"].as_str().unwrap().to_owned();

    // Text: the server's own reason, then the next step; exit 4 (refused).
    let (code, out, err) = admin(
        &server,
        &data,
        &["server", "windows", "assign", &id, "--user", "bob@abc.com"],
        "",
    );
    assert_eq!(code, Some(4), "{out}{err}");
    assert!(err.contains("only available for bulk-enrolled devices"), "{err}");
    assert!(err.contains("this device was enrolled by its user"), "{err}");
    assert!(err.contains("Next: `enroll server windows devices`"), "{err}");
    assert!(
        !err.contains("Try again, or contact your IT administrator"),
        "{err}"
    );
    // --json: one document with the server's code and the same message.
    let (code, out, _) = admin(
        &server,
        &data,
        &[
            "--json",
            "server",
            "windows",
            "assign",
            &id,
            "--user",
            "bob@abc.com",
        ],
        "",
    );
    assert_eq!(code, Some(4));
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or(&out))
        .or_else(|_| serde_json::from_str(&out))
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    let e = if v["error"].is_object() { &v["error"] } else { &v };
    assert_eq!(e["code"], "bad_request", "{v}");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("only available for bulk-enrolled devices"));
    // A user-scoped command to the (non-bulk) device is accepted; to an unknown device refused
    // with the server's message.
    let (code, _, err) = admin(
        &server,
        &data,
        &[
            "server",
            "windows",
            "command",
            "no-such-device",
            "Replace",
            "./Device/Vendor/MSFT/X",
            "1",
        ],
        "",
    );
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("The server refused:") && err.contains("Next: use a verb among"),
        "{err}"
    );
}
