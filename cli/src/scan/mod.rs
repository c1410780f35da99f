//! `enroll scan`: decodes enrollment QR codes from image files, a directory of frames (a
//! simulated camera) or the camera, prints what they hold, and can enroll with the code found.
//! The decoding itself is in [`decode`].

pub mod decode;

use crate::agent::credential::{ConnectArgs, CredentialArgs};
use crate::agent::{self, EnrollArgs};
use crate::global::GlobalArgs;
use crate::out::Out;
use anyhow::{anyhow, bail};
use clap::Args;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

/// `enroll scan`: what to scan, and how to enroll with the code found.
#[derive(Args)]
pub struct ScanArgs {
    /// Image files to decode (JPEG, PNG, WebP).
    files: Vec<PathBuf>,
    /// Scan live camera frames until an enrollment code is found.
    #[arg(long, conflicts_with = "frames")]
    camera: bool,
    /// Camera index for --camera.
    #[arg(long, default_value_t = 0)]
    camera_index: u32,
    /// Scan the images of a directory as successive camera frames (a simulated camera).
    #[arg(long)]
    frames: Option<PathBuf>,
    /// Give up a live scan after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Enroll with the code found by a live scan without asking.
    #[arg(long)]
    enroll: bool,
    /// Where the server is (default: the one the code names).
    #[command(flatten)]
    connect: ConnectArgs,
    /// What to enroll with (default: the code's token).
    #[command(flatten)]
    credential: CredentialArgs,
}

/// Runs a scan: image files, or a live scan that can go on to enroll; prints through `out`.
pub async fn run(global: &GlobalArgs, args: &ScanArgs, out: &Out) -> anyhow::Result<()> {
    let options = enroll_proto::payload::PayloadOptions {
        allow_insecure_loopback_http: args.connect.insecure_loopback_http,
        ..Default::default()
    };
    if !args.camera && args.frames.is_none() {
        if args.files.is_empty() {
            bail!("give image files, --frames DIR or --camera");
        }
        let results = decode::scan_files(&args.files, &options);
        let mut human = Vec::new();
        let mut json = Vec::new();
        let mut found_any = false;
        for (path, result) in &results {
            match result {
                Ok(codes) => {
                    found_any |= codes.iter().any(|c| c.intent.is_some());
                    if codes.is_empty() {
                        human.push(format!("{}: no QR code found", path.display()));
                    }
                    for c in codes {
                        human.push(match (&c.intent, &c.error) {
                            (Some(intent), _) => format!(
                                "{}: {} enrollment code ({} bytes)",
                                path.display(),
                                intent["kind"].as_str().unwrap_or("?"),
                                c.text.len()
                            ),
                            (None, Some(e)) => {
                                format!("{}: QR code, not an enrollment payload: {e}", path.display())
                            }
                            (None, None) => format!("{}: QR code", path.display()),
                        });
                    }
                    json.push(serde_json::json!({"file": path, "codes": codes.iter().map(decode::CodeReport::to_json).collect::<Vec<_>>()}));
                }
                Err(e) => {
                    human.push(format!("{}: {e}", path.display()));
                    json.push(serde_json::json!({"file": path, "error": e}));
                }
            }
        }
        out.result(human.join("\n"), serde_json::Value::Array(json));
        if !found_any {
            bail!("no enrollment code found");
        }
        return Ok(());
    }
    let source = match &args.frames {
        Some(dir) => decode::LiveSource::Frames(dir.clone()),
        None => decode::LiveSource::Camera(args.camera_index),
    };
    out.step("Scanning … (point the camera at the enrollment QR code)");
    let timeout = Duration::from_secs(args.timeout);
    let hit = tokio::task::spawn_blocking(move || decode::scan_live(source, options, timeout))
        .await?
        .map_err(|e| anyhow!(e))?;
    let Some(hit) = hit else {
        bail!("no enrollment code found before the timeout")
    };
    let summary = decode::intent_summary(&hit.intent);
    out.result(
        format!(
            "Found a {} enrollment code after {} frames",
            summary["kind"].as_str().unwrap_or("?"),
            hit.frames
        ),
        serde_json::json!({"text": hit.text, "intent": summary, "frames": hit.frames}),
    );
    let server = args
        .connect
        .server
        .clone()
        .or_else(|| hit.intent.server_url().map(|u| u.to_string()));
    let Some(server) = server else {
        out.step("The code names no server: run `enroll enroll --server URL --token …` to enroll.");
        return Ok(());
    };
    let wants = args.enroll
        || (std::io::stdin().is_terminal() && !global.json && {
            eprint!("Enroll with {server}? [y/N] ");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            answer.trim().eq_ignore_ascii_case("y")
        });
    if !wants {
        return Ok(());
    }
    let mut credential = args.credential.clone();
    if credential.token.is_none() && credential.pin.is_none() && credential.user.is_none() {
        credential.token = hit.intent.token().map(|t| t.expose().to_owned());
    }
    let user_from_hint = match &hit.intent {
        enroll_core::qr::EnrollmentIntent::Invitation(i) => i.user_hint.clone(),
        _ => None,
    };
    if credential.user.is_none() && credential.token.is_none() {
        credential.user = user_from_hint;
    }
    let mut connect = args.connect.clone();
    connect.server = Some(server);
    let dir = global.state_dir();
    agent::enroll(
        global,
        &dir,
        &EnrollArgs {
            connect,
            credential,
            new_password: Default::default(),
        },
        out,
    )
    .await
}
