//! The decoding behind `enroll scan`: enrollment QR codes from image files, a directory of
//! frames (a simulated camera) or a live camera (feature `camera`, through nokhwa: V4L2 on
//! Linux, AVFoundation on macOS).
//!
//! Every code found is reported with its decoded text exactly as in the QR code, beside the
//! parsed enrollment intent or the reason it is not one. The intent summary never contains
//! secrets (tokens and Wi-Fi passwords are reported as present or absent).

use enroll_core::qr::{
    load_luma_file, parse_payload, scan_source, EnrollmentIntent, FrameSource, ImageFileSource,
    OwnedLumaFrame, PayloadOptions, QrScanner, ScanLimits, ScanOutcome, ScanSession,
};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// One decoded code.
#[derive(Debug, Clone)]
pub struct CodeReport {
    /// Decoded text, exactly as in the code.
    pub text: String,
    /// Parsed intent summary, or `None`.
    pub intent: Option<Value>,
    /// Why the text is not an enrollment payload.
    pub error: Option<String>,
}

impl CodeReport {
    /// JSON form.
    pub fn to_json(&self) -> Value {
        json!({"text": self.text, "intent": self.intent, "error": self.error})
    }
}

/// A secret-free JSON summary of an intent.
pub fn intent_summary(intent: &EnrollmentIntent) -> Value {
    let server = intent.server_url().map(|u| u.to_string());
    let has_token = intent.token().is_some();
    match intent {
        EnrollmentIntent::Invitation(i) => json!({
            "kind": "invitation", "server_url": server, "has_token": has_token,
            "user_hint": i.user_hint, "tenant": i.tenant, "platform": i.platform,
        }),
        EnrollmentIntent::AndroidProvisioning(a) => json!({
            "kind": "android_provisioning", "server_url": server, "has_token": has_token,
            "admin_component": a.admin_component, "admin_package": a.admin_package,
            "download_location": a.download_location.as_ref().map(|u| u.to_string()),
            "profile_id": a.admin_extras.profile_id, "attributes": a.admin_extras.attributes,
            "product_keys": a.admin_extras.product_keys.keys().collect::<Vec<_>>(),
            "wifi_ssid": a.wifi.as_ref().and_then(|w| w.ssid.clone()),
            "leave_all_system_apps_enabled": a.leave_all_system_apps_enabled,
        }),
        EnrollmentIntent::KmeExtras(e) => json!({
            "kind": "kme_extras", "server_url": server, "has_token": has_token,
            "profile_id": e.profile_id, "attributes": e.attributes,
        }),
        EnrollmentIntent::Token(_) => json!({"kind": "token", "has_token": true}),
    }
}

/// Scans one luma frame and reports every code.
pub fn scan_frame(scanner: &QrScanner, frame: &OwnedLumaFrame, options: &PayloadOptions) -> Vec<CodeReport> {
    scanner
        .scan(&frame.as_frame())
        .into_iter()
        .map(|code| match parse_payload(&code.text, options) {
            Ok(intent) => CodeReport {
                intent: Some(intent_summary(&intent)),
                error: None,
                text: code.text,
            },
            Err(e) => CodeReport {
                intent: None,
                error: Some(e.to_string()),
                text: code.text,
            },
        })
        .collect()
}

/// Scans image files; one entry per file (codes, or the error reading it).
pub fn scan_files(
    paths: &[PathBuf],
    options: &PayloadOptions,
) -> Vec<(PathBuf, Result<Vec<CodeReport>, String>)> {
    let scanner = QrScanner::new();
    paths
        .iter()
        .map(|p| {
            let result = load_luma_file(p)
                .map(|f| scan_frame(&scanner, &f, options))
                .map_err(|e| e.to_string());
            (p.clone(), result)
        })
        .collect()
}

/// Where live frames come from.
pub enum LiveSource {
    /// Image files of a directory, in name order (a simulated camera).
    Frames(PathBuf),
    /// The default camera (index) of this machine.
    Camera(u32),
}

/// The found payload of a live scan.
#[derive(Debug, Clone)]
pub struct LiveHit {
    /// The parsed intent.
    pub intent: EnrollmentIntent,
    /// Its decoded text.
    pub text: String,
    /// Frames scanned.
    pub frames: u64,
}

/// Runs the capture loop until an enrollment payload is found or a limit is hit.
pub fn scan_live(
    source: LiveSource,
    options: PayloadOptions,
    timeout: Duration,
) -> Result<Option<LiveHit>, String> {
    let mut source: Box<dyn FrameSource> = match source {
        LiveSource::Frames(dir) => Box::new(ImageFileSource::from_dir(&dir).map_err(|e| e.to_string())?),
        LiveSource::Camera(index) => camera::open(index)?,
    };
    let mut session = ScanSession::new(QrScanner::new(), options);
    let limits = ScanLimits {
        max_frames: None,
        timeout: Some(timeout),
    };
    match scan_source(source.as_mut(), &mut session, &limits).map_err(|e| e.to_string())? {
        ScanOutcome::Found(hit) => Ok(Some(LiveHit {
            intent: hit.intent,
            text: hit.text,
            frames: session.frames_scanned(),
        })),
        ScanOutcome::Exhausted { .. } | ScanOutcome::FrameLimit { .. } | ScanOutcome::TimedOut { .. } => {
            Ok(None)
        }
    }
}

/// Whether this build can use a camera.
pub fn camera_supported() -> bool {
    cfg!(feature = "camera")
}

#[cfg(feature = "camera")]
mod camera {
    //! nokhwa camera source: frames decoded to luma.
    use super::*;
    use enroll_core::qr::FrameSourceError;
    use nokhwa::pixel_format::LumaFormat;
    use nokhwa::utils::{CameraIndex, RequestedFormat, RequestedFormatType};

    struct NokhwaSource {
        camera: nokhwa::Camera,
    }

    impl FrameSource for NokhwaSource {
        fn next_frame(&mut self) -> Result<Option<OwnedLumaFrame>, FrameSourceError> {
            let buffer = self
                .camera
                .frame()
                .map_err(|e| FrameSourceError::Other(e.to_string()))?;
            let image = buffer
                .decode_image::<LumaFormat>()
                .map_err(|e| FrameSourceError::Other(e.to_string()))?;
            let (w, h) = (image.width(), image.height());
            OwnedLumaFrame::new(image.into_raw(), w, h, w)
                .map(Some)
                .map_err(|e| FrameSourceError::Frame {
                    name: "camera".into(),
                    source: e,
                })
        }
    }

    pub(super) fn open(index: u32) -> Result<Box<dyn FrameSource>, String> {
        let format = RequestedFormat::new::<LumaFormat>(RequestedFormatType::AbsoluteHighestResolution);
        let mut camera = nokhwa::Camera::new(CameraIndex::Index(index), format)
            .map_err(|e| format!("no usable camera {index} on this machine: {e}"))?;
        camera
            .open_stream()
            .map_err(|e| format!("cannot start camera {index}: {e}"))?;
        Ok(Box::new(NokhwaSource { camera }))
    }
}

#[cfg(not(feature = "camera"))]
mod camera {
    //! Stub when the `camera` feature is off.
    use super::*;

    pub(super) fn open(_index: u32) -> Result<Box<dyn FrameSource>, String> {
        Err("this build of enroll has no camera support: rebuild with `cargo build -p enroll-cli --features camera` \
             (needs Debian libclang-dev), or scan image files with `enroll scan FILE…` / `--frames DIR`"
            .to_owned())
    }
}
