//! The capture loop: frames in, first valid enrollment intent out.
//!
//! A [`ScanSession`] is fed frames (from the platform camera through FFI, or from a
//! [`FrameSource`] through [`scan_source`]) and finishes at the first frame that carries a QR
//! code whose payload parses into an [`EnrollmentIntent`]. Codes that decode but are not
//! enrollment payloads (a Wi-Fi QR, a shop URL) are reported as rejected and scanning goes on.

use super::frame::{FrameError, LumaFrame, OwnedLumaFrame};
use super::payload::{parse_payload, EnrollmentIntent, PayloadError, PayloadOptions};
use super::scanner::QrScanner;
use std::time::{Duration, Instant};
use thiserror::Error;

/// A successful scan. `Debug` omits the raw text (it may carry the token).
#[derive(Clone)]
pub struct ScanHit {
    /// The parsed enrollment intent.
    pub intent: EnrollmentIntent,
    /// The decoded QR text exactly as in the code. It may contain the enrollment token: never
    /// log it; prefer [`ScanHit::intent`].
    pub text: String,
    /// Zero-based index of the frame it came from, counted by the session.
    pub frame_index: u64,
}

impl std::fmt::Debug for ScanHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanHit")
            .field("intent", &self.intent)
            .field("text_len", &self.text.len())
            .field("frame_index", &self.frame_index)
            .finish()
    }
}

/// What one frame gave.
#[derive(Debug, Clone)]
pub enum FrameOutcome {
    /// No QR code decoded in this frame.
    NoCode,
    /// QR codes decoded, but none is an enrollment payload; one error per code.
    Rejected(Vec<PayloadError>),
    /// An enrollment payload: the session is finished.
    Found(ScanHit),
    /// The session had already finished; the frame was not scanned.
    AlreadyFinished,
}

/// Scans frames until one yields a valid enrollment payload.
#[derive(Debug, Clone, Default)]
pub struct ScanSession {
    scanner: QrScanner,
    payload_options: PayloadOptions,
    frames: u64,
    hit: Option<ScanHit>,
}

impl ScanSession {
    /// A session using `scanner` and parsing payloads with `payload_options`.
    pub fn new(scanner: QrScanner, payload_options: PayloadOptions) -> Self {
        Self {
            scanner,
            payload_options,
            frames: 0,
            hit: None,
        }
    }

    /// Scans one frame. After a [`FrameOutcome::Found`], further frames are ignored.
    pub fn feed(&mut self, frame: &LumaFrame<'_>) -> FrameOutcome {
        if self.hit.is_some() {
            return FrameOutcome::AlreadyFinished;
        }
        let index = self.frames;
        self.frames += 1;
        let codes = self.scanner.scan(frame);
        if codes.is_empty() {
            return FrameOutcome::NoCode;
        }
        let mut errors = Vec::new();
        for code in codes {
            match parse_payload(&code.text, &self.payload_options) {
                Ok(intent) => {
                    let hit = ScanHit {
                        intent,
                        text: code.text,
                        frame_index: index,
                    };
                    self.hit = Some(hit.clone());
                    return FrameOutcome::Found(hit);
                }
                Err(e) => errors.push(e),
            }
        }
        FrameOutcome::Rejected(errors)
    }

    /// Number of frames scanned so far.
    pub fn frames_scanned(&self) -> u64 {
        self.frames
    }

    /// The result, once found.
    pub fn hit(&self) -> Option<&ScanHit> {
        self.hit.as_ref()
    }

    /// Whether a valid payload was found.
    pub fn is_finished(&self) -> bool {
        self.hit.is_some()
    }
}

/// Why a frame source could not deliver a frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameSourceError {
    /// Reading the frame failed.
    #[error("cannot read frame {name}: {message}")]
    Io {
        /// File name or other label of the frame.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The frame could not be decoded into luma.
    #[error("cannot decode frame {name}: {message}")]
    Decode {
        /// File name or other label of the frame.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The decoded frame is not a valid luma plane.
    #[error("invalid frame {name}: {source}")]
    Frame {
        /// File name or other label of the frame.
        name: String,
        /// The validation error.
        source: FrameError,
    },
    /// Any other failure of a platform source.
    #[error("frame source failed: {0}")]
    Other(String),
}

/// Something that produces luma frames: a camera, a video, a list of image files.
pub trait FrameSource {
    /// The next frame, or `None` when the source is exhausted.
    fn next_frame(&mut self) -> Result<Option<OwnedLumaFrame>, FrameSourceError>;
}

/// Bounds of a capture loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanLimits {
    /// Stop after this many frames (`None`: no bound).
    pub max_frames: Option<u64>,
    /// Stop after this much wall time (`None`: no bound). Checked between frames.
    pub timeout: Option<Duration>,
}

impl Default for ScanLimits {
    fn default() -> Self {
        Self {
            max_frames: Some(10_000),
            timeout: Some(Duration::from_secs(120)),
        }
    }
}

/// How a capture loop ended.
#[derive(Debug, Clone)]
pub enum ScanOutcome {
    /// An enrollment payload was found.
    Found(ScanHit),
    /// The source ran out of frames.
    Exhausted {
        /// Frames scanned by this call.
        frames: u64,
    },
    /// [`ScanLimits::max_frames`] was reached.
    FrameLimit {
        /// Frames scanned by this call.
        frames: u64,
    },
    /// [`ScanLimits::timeout`] expired.
    TimedOut {
        /// Frames scanned by this call.
        frames: u64,
    },
}

/// Pulls frames from `source` into `session` until a payload is found, the source ends, or a
/// limit is hit. A source error ends the loop with that error.
pub fn scan_source(
    source: &mut dyn FrameSource,
    session: &mut ScanSession,
    limits: &ScanLimits,
) -> Result<ScanOutcome, FrameSourceError> {
    let started = Instant::now();
    let mut frames = 0u64;
    if let Some(hit) = session.hit() {
        return Ok(ScanOutcome::Found(hit.clone()));
    }
    loop {
        if limits.max_frames.is_some_and(|max| frames >= max) {
            return Ok(ScanOutcome::FrameLimit { frames });
        }
        if limits.timeout.is_some_and(|t| started.elapsed() >= t) {
            return Ok(ScanOutcome::TimedOut { frames });
        }
        let Some(frame) = source.next_frame()? else {
            return Ok(ScanOutcome::Exhausted { frames });
        };
        frames += 1;
        if let FrameOutcome::Found(hit) = session.feed(&frame.as_frame()) {
            return Ok(ScanOutcome::Found(hit));
        }
    }
}

/// A [`FrameSource`] that decodes image files (JPEG, PNG, WebP) in order and converts them
/// to luma, for testing the capture loop without a camera.
#[cfg(feature = "image-files")]
#[derive(Debug, Clone)]
pub struct ImageFileSource {
    paths: std::collections::VecDeque<std::path::PathBuf>,
}

#[cfg(feature = "image-files")]
impl ImageFileSource {
    /// Largest encoded file read, in bytes.
    pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

    /// Frames from these files, in this order.
    pub fn new(paths: impl IntoIterator<Item = std::path::PathBuf>) -> Self {
        Self {
            paths: paths.into_iter().collect(),
        }
    }

    /// Frames from the `.jpg`, `.jpeg`, `.png` and `.webp` files of `dir`, sorted by name.
    pub fn from_dir(dir: &std::path::Path) -> Result<Self, FrameSourceError> {
        let io = |e: std::io::Error| FrameSourceError::Io {
            name: dir.display().to_string(),
            message: e.to_string(),
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png" | "webp")) {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(Self::new(paths))
    }

    /// Files not read yet.
    pub fn remaining(&self) -> usize {
        self.paths.len()
    }
}

/// Decodes an image file into a luma frame (same Rec.709 integer weights as zxing-cpp's
/// Python binding, via `image`'s `to_luma8`). Never panics.
#[cfg(feature = "image-files")]
pub fn load_luma_file(path: &std::path::Path) -> Result<OwnedLumaFrame, FrameSourceError> {
    use std::io::Read as _;
    let name = path.display().to_string();
    let io = |e: std::io::Error| FrameSourceError::Io {
        name: name.clone(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(ImageFileSource::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > ImageFileSource::MAX_FILE_BYTES {
        return Err(FrameSourceError::Io {
            name,
            message: format!("file larger than {} bytes", ImageFileSource::MAX_FILE_BYTES),
        });
    }
    let decode_error = |message: String| FrameSourceError::Decode {
        name: name.clone(),
        message,
    };
    let decoded = std::panic::catch_unwind(|| {
        let mut reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|e| e.to_string())?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(super::frame::MAX_FRAME_DIMENSION);
        limits.max_image_height = Some(super::frame::MAX_FRAME_DIMENSION);
        limits.max_alloc = Some(512 * 1024 * 1024);
        reader.limits(limits);
        reader
            .decode()
            .map(|img| img.to_luma8())
            .map_err(|e| e.to_string())
    })
    .map_err(|_| decode_error("image decoder panicked".to_owned()))?
    .map_err(decode_error)?;
    let (width, height) = decoded.dimensions();
    OwnedLumaFrame::new(decoded.into_raw(), width, height, width)
        .map_err(|source| FrameSourceError::Frame { name, source })
}

#[cfg(feature = "image-files")]
impl FrameSource for ImageFileSource {
    fn next_frame(&mut self) -> Result<Option<OwnedLumaFrame>, FrameSourceError> {
        match self.paths.pop_front() {
            Some(path) => load_luma_file(&path).map(Some),
            None => Ok(None),
        }
    }
}
