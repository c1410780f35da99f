//! QR scanning of camera frames and parsing of enrollment payloads.
//!
//! Enrollment starts by pointing the camera at a QR code. The platform hands each camera frame
//! to this module as an 8-bit luma plane ([`LumaFrame`]: the Y plane of CameraX's
//! YUV_420_888 or of a 420f `CVPixelBuffer`, with its row stride), and gets back either nothing,
//! or the decoded payloads ([`QrScanner::scan`]), or directly a typed [`EnrollmentIntent`]
//! ([`ScanSession::feed`]).
//!
//! - [`frame`]: [`LumaFrame`] / [`OwnedLumaFrame`], validated luma planes;
//! - [`scanner`]: [`QrScanner`], a bounded cascade of binarisation passes in front of rxing's
//!   QR detector, panic-safe;
//! - [`payload`]: [`parse_payload`], invitation URLs, Android Enterprise provisioning JSON,
//!   Samsung KME DPC extras and bare tokens, with explicit limits;
//! - [`session`]: [`ScanSession`], the [`FrameSource`] trait, [`ImageFileSource`] (feature
//!   `image-files`) and the [`scan_source`] capture loop.
//!
//! Why these decoders and passes, with the corpus measurements: `docs/qr.md`.
//!
//! ```
//! use enroll_core::qr::{LumaFrame, PayloadOptions, QrScanner, ScanSession, FrameOutcome};
//!
//! let pixels = vec![255u8; 640 * 480]; // a blank frame
//! let frame = LumaFrame::new(&pixels, 640, 480, 640).expect("valid plane");
//! assert!(QrScanner::new().scan(&frame).is_empty());
//!
//! let mut session = ScanSession::new(QrScanner::new(), PayloadOptions::default());
//! assert!(matches!(session.feed(&frame), FrameOutcome::NoCode));
//! ```

mod binarize;
pub mod frame;
/// Enrollment payloads of QR codes (the parser lives in `enroll-proto`, shared with the server).
pub use enroll_proto::payload;
pub mod scanner;
pub mod session;

pub use frame::{FrameError, LumaFrame, OwnedLumaFrame, MAX_FRAME_DIMENSION};
pub use payload::{
    parse_payload, parse_payload_bytes, AdminExtras, AndroidProvisioning, EnrollmentIntent, ExtraValue,
    Invitation, PayloadError, PayloadOptions, WifiConfig, WifiSecurity,
};
pub use scanner::{DecodedQr, QrPoint, QrScanner, ScanOptions, ScanPass, StructuredAppend};
#[cfg(feature = "image-files")]
pub use session::{load_luma_file, ImageFileSource};
pub use session::{
    scan_source, FrameOutcome, FrameSource, FrameSourceError, ScanHit, ScanLimits, ScanOutcome, ScanSession,
};
