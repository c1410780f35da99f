//! `enroll simulate` as a user runs it, against the real NanoMDM + scepserver that
//! `scripts/peers.sh start` runs (skipped with a message when they are not running, a failure
//! when `ENROLL_PEERS_REQUIRED` is set, as `scripts/test.sh` does).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_enroll");

fn peers() -> Option<HashMap<String, String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/peers/peers.env");
    let env: Option<HashMap<String, String>> = std::fs::read_to_string(&path).ok().map(|text| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    });
    let running = env.as_ref().is_some_and(|env| {
        let url = url::Url::parse(env.get("NANOMDM_URL").map(String::as_str).unwrap_or("x:")).ok();
        url.and_then(|u| Some((u.host_str()?.to_owned(), u.port()?)))
            .is_some_and(|addr| std::net::TcpStream::connect(addr).is_ok())
    });
    if !running {
        assert!(
            std::env::var_os("ENROLL_PEERS_REQUIRED").is_none(),
            "ENROLL_PEERS_REQUIRED is set but the Apple peers are not running"
        );
        eprintln!("SKIPPED: the Apple peers are not running; start them with scripts/peers.sh start");
        return None;
    }
    env
}

#[test]
fn simulate_enrolls_devices_into_nanomdm_and_prints_one_json_summary() {
    let Some(peers) = peers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("nanomdm.mobileconfig");
    std::fs::write(
        &profile,
        enroll_sim::build_profile(&enroll_sim::ProfileSpec {
            scep_url: peers["SCEP_URL"].clone(),
            challenge: peers["SCEP_CHALLENGE"].clone(),
            server_url: format!("{}/mdm", peers["NANOMDM_URL"]),
            checkin_url: None,
            topic: "com.apple.mgmt.External.cli-test".into(),
            common_name: "enroll-cli-test".into(),
            organization: "enroll tests".into(),
        }),
    )
    .unwrap();
    let output = Command::new(BIN)
        .args([
            "simulate",
            "--platform",
            "apple",
            "--devices",
            "4",
            "--concurrency",
            "2",
        ])
        .arg("--profile")
        .arg(&profile)
        .args(["--insecure-loopback-http", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["devices"], 4);
    assert_eq!(v["active"], 4);
    assert_eq!(v["failed"], serde_json::json!({}));
    assert!(v["enrollments_per_sec"].as_f64().unwrap() > 0.0);
    for step in [
        "keygen",
        "scep",
        "authenticate",
        "tokenupdate",
        "first_command",
        "total",
    ] {
        assert_eq!(v["steps"][step]["count"], 4, "{step}");
        assert!(v["steps"][step]["p99"].as_f64().unwrap() >= v["steps"][step]["p50"].as_f64().unwrap());
    }
    assert!(stderr.contains("\"progress\""), "{stderr}");
    assert!(!stderr.contains(&peers["SCEP_CHALLENGE"]) && !stdout.contains(&peers["SCEP_CHALLENGE"]));

    // Plain http without the flag is refused before anything is sent.
    let output = Command::new(BIN)
        .args(["simulate", "--devices", "1", "--profile"])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("config") || stderr.contains("http"), "{stderr}");
}
