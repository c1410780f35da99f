//! QR scanning of camera frames: [`scan_frame`] for raw codes, [`QrScanSession`] for the first
//! enrollment payload, as a [`ScanResult`] mirror of the core's `EnrollmentIntent`.
//!
//! Frames are 8-bit luma planes: Android CameraX `ImageProxy.planes[0]` (YUV_420_888) with its
//! `rowStride`, or plane 0 of a 420f/420v `CVPixelBuffer` with its bytes-per-row. Scanning is
//! synchronous and CPU-bound (a few milliseconds per 720p frame, more when the code is hard to
//! read): call it on the camera's analysis thread, never the main thread. Tokens found in a
//! payload are wrapped in a [`Credential`], whose text form never shows them.

use crate::client::Credential;
use crate::error::EnrollError;
use enroll_core::qr::{self, FrameOutcome, LumaFrame, PayloadOptions, QrScanner};
use enroll_core::secret::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A point in frame coordinates (pixels).
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct FramePoint {
    /// Column.
    pub x: f32,
    /// Row.
    pub y: f32,
}

/// One decoded QR code. `text` may hold an enrollment token: do not log it.
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct ScannedCode {
    /// The decoded text.
    pub text: String,
    /// Corners / finder centres, in frame pixels (for drawing an overlay).
    pub points: Vec<FramePoint>,
}

impl std::fmt::Debug for ScannedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScannedCode")
            .field("text_len", &self.text.len())
            .field("points", &self.points)
            .finish()
    }
}

impl From<qr::DecodedQr> for ScannedCode {
    fn from(code: qr::DecodedQr) -> Self {
        Self {
            points: code
                .points
                .iter()
                .map(|p| FramePoint { x: p.x, y: p.y })
                .collect(),
            text: code.text,
        }
    }
}

/// Decodes every QR code in one luma frame (`width` x `height` pixels, `stride` bytes per row,
/// the last row may be unpadded). Throws `InvalidInput` when the buffer does not match the
/// dimensions. Blocks for the scan (milliseconds): call it off the main thread.
#[uniffi::export]
pub fn scan_frame(
    data: Vec<u8>,
    width: u32,
    height: u32,
    stride: u32,
) -> Result<Vec<ScannedCode>, EnrollError> {
    let frame = LumaFrame::new(&data, width, height, stride)?;
    Ok(QrScanner::new()
        .scan(&frame)
        .into_iter()
        .map(Into::into)
        .collect())
}

/// A secret text (a Wi-Fi password from a provisioning payload). Its text form never shows the
/// value; read it with [`SecretText::expose`] only where it is used.
#[derive(Debug, uniffi::Object)]
#[uniffi::export(Debug)]
pub struct SecretText {
    inner: SecretString,
}

#[uniffi::export]
impl SecretText {
    /// The secret value. Do not log it.
    pub fn expose(&self) -> String {
        self.inner.expose().to_owned()
    }
}

/// Wi-Fi security of a provisioning network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum WifiSecurity {
    /// Open network.
    None,
    /// WPA/WPA2 personal.
    Wpa,
    /// WEP.
    Wep,
    /// WPA enterprise (EAP).
    Eap,
}

impl From<qr::WifiSecurity> for WifiSecurity {
    fn from(s: qr::WifiSecurity) -> Self {
        match s {
            qr::WifiSecurity::None => Self::None,
            qr::WifiSecurity::Wpa => Self::Wpa,
            qr::WifiSecurity::Wep => Self::Wep,
            qr::WifiSecurity::Eap => Self::Eap,
        }
    }
}

/// Wi-Fi settings of an Android provisioning payload.
#[derive(Debug, Clone, uniffi::Record)]
pub struct WifiSettings {
    /// SSID.
    pub ssid: Option<String>,
    /// Security type.
    pub security: Option<WifiSecurity>,
    /// Password (secret).
    pub password: Option<Arc<SecretText>>,
    /// Hidden network.
    pub hidden: Option<bool>,
}

impl From<qr::WifiConfig> for WifiSettings {
    fn from(w: qr::WifiConfig) -> Self {
        Self {
            ssid: w.ssid,
            security: w.security.map(Into::into),
            password: w.password.map(|inner| Arc::new(SecretText { inner })),
            hidden: w.hidden,
        }
    }
}

/// What a scanned enrollment QR code asks the device to do (the payload's details; the
/// server and credential to enroll with are on [`ScanResult`]).
#[derive(Debug, Clone, uniffi::Enum)]
pub enum ScannedIntent {
    /// An invitation or self-service URL.
    Invitation {
        /// Server base URL.
        server_url: String,
        /// The invited user (`user=`), if any: pre-fill the e-mail of the PIN/password form.
        user_hint: Option<String>,
        /// Tenant (`tenant=`), if any.
        tenant: Option<String>,
        /// Target platform (`platform=`), if any.
        platform: Option<String>,
    },
    /// Android Enterprise QR provisioning (factory-reset device, DPC download).
    AndroidProvisioning {
        /// DPC package name.
        admin_package: String,
        /// DPC admin receiver component, if given.
        admin_component: Option<String>,
        /// Where the DPC APK is downloaded from.
        download_location: Option<String>,
        /// Enrollment server URL from the admin extras, if any.
        server_url: Option<String>,
        /// Bulk enrollment profile id from the admin extras, if any.
        profile_id: Option<String>,
        /// Custom attributes from the admin extras.
        attributes: HashMap<String, String>,
        /// Wi-Fi to join first, if any.
        wifi: Option<WifiSettings>,
        /// Locale (e.g. `de_DE`), if any.
        locale: Option<String>,
        /// Time zone (e.g. `Europe/Berlin`), if any.
        time_zone: Option<String>,
    },
    /// Samsung KME DPC extras, or an Android admin extras bundle on its own
    /// ([`crate::parse_admin_extras`]).
    KmeExtras {
        /// Enrollment server URL, if any.
        server_url: Option<String>,
        /// Bulk enrollment profile id, if any.
        profile_id: Option<String>,
        /// Custom attributes.
        attributes: HashMap<String, String>,
    },
    /// A bare enrollment token (on [`ScanResult::credential`]); the server comes from the app's
    /// configuration.
    Token,
}

fn url_text(url: Option<url::Url>) -> Option<String> {
    url.map(|u| u.as_str().trim_end_matches('/').to_owned())
}

impl From<qr::EnrollmentIntent> for ScannedIntent {
    fn from(intent: qr::EnrollmentIntent) -> Self {
        match intent {
            qr::EnrollmentIntent::Invitation(i) => Self::Invitation {
                server_url: i.server_base.as_str().trim_end_matches('/').to_owned(),
                user_hint: i.user_hint,
                tenant: i.tenant,
                platform: i.platform,
            },
            qr::EnrollmentIntent::AndroidProvisioning(a) => {
                let a = *a;
                Self::AndroidProvisioning {
                    admin_package: a.admin_package,
                    admin_component: a.admin_component,
                    download_location: url_text(a.download_location),
                    server_url: url_text(a.admin_extras.server_url),
                    profile_id: a.admin_extras.profile_id,
                    attributes: a.admin_extras.attributes.into_iter().collect(),
                    wifi: a.wifi.map(Into::into),
                    locale: a.locale,
                    time_zone: a.time_zone,
                }
            }
            qr::EnrollmentIntent::KmeExtras(e) => Self::KmeExtras {
                server_url: url_text(e.server_url),
                profile_id: e.profile_id,
                attributes: e.attributes.into_iter().collect(),
            },
            qr::EnrollmentIntent::Token(_) => Self::Token,
        }
    }
}

/// The result of a scan session.
///
/// To enroll: `client.enroll(server_url, credential)` when both are set. Without a credential
/// (an invitation without token) ask the user for a PIN or password; without a server (a bare
/// token) use the app's configured server.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ScanResult {
    /// What the code asks for.
    pub intent: ScannedIntent,
    /// The enrollment server the payload names, if any.
    pub server_url: Option<String>,
    /// The credential the payload carries: its token, or a tokenless bulk enrollment for
    /// Android provisioning / KME extras without token. Its text form never shows the token.
    pub credential: Option<Arc<Credential>>,
    /// Zero-based index of the frame, counted by the session.
    pub frame_index: u64,
}

impl ScanResult {
    fn new(intent: qr::EnrollmentIntent, frame_index: u64) -> Self {
        let credential = crate::payload::credential_of(&intent).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the scanned payload carries an unusable credential");
            None
        });
        Self {
            server_url: url_text(intent.server_url().cloned()),
            credential: credential.map(|inner| Arc::new(Credential { inner })),
            intent: intent.into(),
            frame_index,
        }
    }
}

impl From<&qr::ScanHit> for ScanResult {
    fn from(hit: &qr::ScanHit) -> Self {
        Self::new(hit.intent.clone(), hit.frame_index)
    }
}

/// Scans camera frames until one carries a valid enrollment payload. Codes that decode but are
/// not enrollment payloads (a Wi-Fi QR, a shop URL) are skipped and scanning goes on.
///
/// Thread-safe; frames fed concurrently are scanned one at a time.
#[derive(Debug, uniffi::Object)]
pub struct QrScanSession {
    inner: Mutex<qr::ScanSession>,
    last_rejection: Mutex<Option<String>>,
}

#[uniffi::export]
impl QrScanSession {
    /// A new session. `allow_insecure_loopback_http` accepts `http://` invitation URLs to a
    /// loopback host (development only).
    #[uniffi::constructor(default(allow_insecure_loopback_http = false))]
    pub fn new(allow_insecure_loopback_http: bool) -> Arc<Self> {
        let options = PayloadOptions {
            allow_insecure_loopback_http,
            ..PayloadOptions::default()
        };
        Arc::new(Self {
            inner: Mutex::new(qr::ScanSession::new(QrScanner::new(), options)),
            last_rejection: Mutex::new(None),
        })
    }

    /// Scans one luma frame (see [`scan_frame`] for the layout). Returns the result once a
    /// frame carries an enrollment payload, and the same result for every later frame (which is
    /// not scanned); null/nil/None until then. Throws `InvalidInput` for a malformed frame.
    /// Blocks for the scan: call it on the camera analysis thread.
    pub fn feed(
        &self,
        data: Vec<u8>,
        width: u32,
        height: u32,
        stride: u32,
    ) -> Result<Option<ScanResult>, EnrollError> {
        let frame = LumaFrame::new(&data, width, height, stride)?;
        let mut session = self.inner.lock().map_err(|_| EnrollError::Internal {
            detail: "scan session lock poisoned".into(),
        })?;
        match session.feed(&frame) {
            FrameOutcome::Found(hit) => Ok(Some((&hit).into())),
            FrameOutcome::AlreadyFinished => Ok(session.hit().map(Into::into)),
            FrameOutcome::Rejected(errors) => {
                if let (Ok(mut last), Some(first)) = (self.last_rejection.lock(), errors.first()) {
                    *last = Some(first.to_string());
                }
                Ok(None)
            }
            FrameOutcome::NoCode => Ok(None),
        }
    }

    /// Why the last decoded code was not an enrollment payload ("not an enrollment URL", …),
    /// for a hint in the camera UI. Never quotes a secret.
    pub fn last_rejection(&self) -> Option<String> {
        self.last_rejection.lock().ok().and_then(|l| l.clone())
    }

    /// Frames scanned so far.
    pub fn frames_scanned(&self) -> u64 {
        self.inner.lock().map(|s| s.frames_scanned()).unwrap_or(0)
    }

    /// Whether an enrollment payload was found.
    pub fn is_finished(&self) -> bool {
        self.inner.lock().map(|s| s.is_finished()).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enroll_core::qr::PayloadOptions;

    #[test]
    fn blank_frame_has_no_code_and_bad_frames_are_invalid_input() {
        let blank = vec![255u8; 64 * 48];
        assert!(scan_frame(blank.clone(), 64, 48, 64).expect("scan").is_empty());
        assert!(matches!(
            scan_frame(blank.clone(), 64, 48, 32),
            Err(EnrollError::InvalidInput { .. })
        ));
        assert!(matches!(
            scan_frame(vec![0; 10], 64, 48, 64),
            Err(EnrollError::InvalidInput { .. })
        ));
        let session = QrScanSession::new(false);
        assert!(session.feed(blank, 64, 48, 64).expect("feed").is_none());
        assert_eq!(session.frames_scanned(), 1);
        assert!(!session.is_finished());
    }

    fn result_of(payload: &str) -> ScanResult {
        let intent = qr::parse_payload(payload, &PayloadOptions::default()).expect("valid payload");
        ScanResult::new(intent, 7)
    }

    fn token_of(credential: &Credential) -> String {
        match &credential.inner {
            enroll_core::Credential::Token { token } => token.expose().to_owned(),
            other => panic!("not a token: {other:?}"),
        }
    }

    #[test]
    fn invitation_result_hides_the_token() {
        let result =
            result_of("https://mdm.example.com/go?token=SECRETTOKEN1234567890&user=a%40b.c&tenant=t1");
        assert!(!format!("{result:?}").contains("SECRETTOKEN"), "{result:?}");
        assert_eq!(result.frame_index, 7);
        assert_eq!(result.server_url.as_deref(), Some("https://mdm.example.com"));
        let credential = result.credential.expect("token credential");
        assert_eq!(credential.kind(), "token");
        assert_eq!(token_of(&credential), "SECRETTOKEN1234567890");
        let ScannedIntent::Invitation {
            server_url,
            user_hint,
            tenant,
            ..
        } = result.intent
        else {
            panic!("expected an invitation");
        };
        assert_eq!(server_url, "https://mdm.example.com");
        assert_eq!(user_hint.as_deref(), Some("a@b.c"));
        assert_eq!(tenant.as_deref(), Some("t1"));

        // Without a token the user signs in with a PIN or password.
        let result = result_of("https://mdm.example.com/go?user=a%40b.c");
        assert!(result.credential.is_none());
        assert_eq!(result.server_url.as_deref(), Some("https://mdm.example.com"));
    }

    #[test]
    fn bare_token_result_has_a_credential_and_no_server() {
        let result = result_of("ent_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345");
        assert!(matches!(result.intent, ScannedIntent::Token));
        assert!(result.server_url.is_none());
        assert_eq!(
            token_of(&result.credential.expect("credential")),
            "ent_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
        );
    }

    #[test]
    fn android_provisioning_result() {
        let json = r#"{
            "android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME": "com.example.dpc/.AdminReceiver",
            "android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION": "https://example.com/dpc.apk",
            "android.app.extra.PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM": "gJD2YwtOiWJHkSMkkIfLRlj-quNqG1fb6v100QmzM9w",
            "android.app.extra.PROVISIONING_WIFI_SSID": "Corp",
            "android.app.extra.PROVISIONING_WIFI_SECURITY_TYPE": "WPA",
            "android.app.extra.PROVISIONING_WIFI_PASSWORD": "WIFISECRET",
            "android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE": {
                "enroll.SERVER_URL": "https://mdm.example.com",
                "enroll.ENROLLMENT_TOKEN": "TOKENSECRET123456"
            }
        }"#;
        let result = result_of(json);
        let text = format!("{result:?}");
        assert!(
            !text.contains("WIFISECRET") && !text.contains("TOKENSECRET"),
            "{text}"
        );
        assert_eq!(result.server_url.as_deref(), Some("https://mdm.example.com"));
        assert_eq!(
            token_of(&result.credential.expect("credential")),
            "TOKENSECRET123456"
        );
        let ScannedIntent::AndroidProvisioning {
            admin_package,
            server_url,
            wifi,
            ..
        } = result.intent
        else {
            panic!("expected android provisioning");
        };
        assert_eq!(admin_package, "com.example.dpc");
        assert_eq!(server_url.as_deref(), Some("https://mdm.example.com"));
        let wifi = wifi.expect("wifi");
        assert_eq!(wifi.security, Some(WifiSecurity::Wpa));
        assert_eq!(wifi.password.expect("password").expose(), "WIFISECRET");
    }

    #[test]
    fn kme_extras_without_token_enroll_tokenless() {
        let result = result_of(r#"{"enroll.SERVER_URL":"https://mdm.example.com","enroll.PROFILE_ID":"p1"}"#);
        assert!(matches!(result.intent, ScannedIntent::KmeExtras { .. }));
        assert_eq!(result.credential.expect("credential").kind(), "tokenless");
    }

    #[test]
    fn session_finds_a_camera_frame_payload() {
        // A synthetic camera frame from the shared QR corpus, when it is beside the repository.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/qr-corpus/dev/synthetic-enroll");
        let Ok(expected) = std::fs::read_to_string(dir.join("enroll-0034.txt")) else {
            eprintln!("qr corpus not found; covered by the blank-frame test only");
            return;
        };
        let luma = luma_of_jpeg(&dir.join("enroll-0034.jpg"));
        let session = QrScanSession::new(false);
        let result = session
            .feed(luma.data, luma.width, luma.height, luma.width)
            .expect("feed")
            .expect("a payload");
        assert!(result.credential.is_some());
        let ScannedIntent::Invitation {
            server_url, tenant, ..
        } = result.intent
        else {
            panic!("expected an invitation");
        };
        assert!(expected.starts_with(&server_url), "{server_url}");
        assert_eq!(tenant.as_deref(), Some("globex-6746"));
        assert!(session.is_finished());
    }

    struct Luma {
        data: Vec<u8>,
        width: u32,
        height: u32,
    }

    fn luma_of_jpeg(path: &std::path::Path) -> Luma {
        let img = image::open(path).expect("decode jpeg").to_luma8();
        Luma {
            width: img.width(),
            height: img.height(),
            data: img.into_raw(),
        }
    }
}
