//! The frame scanner: a bounded cascade of binarisation passes in front of rxing's QR detector.
//!
//! Every pass binarises the luma plane with our fast local-average binarizer
//! ([`super::binarize`]) and runs rxing's port of the zxing-cpp QR detector and decoder
//! (`rxing::qrcode::cpp_port::QrReader`, "try harder", QR Model 2 only) on the bit matrix.
//! The cascade stops at the first pass that decodes something, so a frame costs one pass when
//! the code is easy and at most six (the default [`ScanOptions`]) when it is not:
//!
//! 1. **quick**: 8x8-block local average (ZXing's HybridBinarizer rule) on the frame, detector
//!    scanning every n-th row (ZXing's normal mode; about half the cost of "try harder" on
//!    1080p frames);
//! 2. **standard**: the same bit matrix, every 3rd row ("try harder": small or far codes);
//! 3. **inverted**: the same bit matrix flipped (light-on-dark codes); no new binarisation;
//! 4. **smoothed**: a 3x3 binomial blur first (sensor noise, JPEG ringing, slight motion blur);
//! 5. **sharpened**: a 3x3 unsharp mask first (defocus blur);
//! 6. **coarse**: 16x16-block local average (shadows and glare that fool 8x8 blocks).
//!
//! An optional last-resort pass runs rqrr (a different detector), off by default because it is
//! 10-40x slower per frame (see `docs/qr.md` for the measurements behind each choice).
//!
//! Every call into a decoder runs inside [`std::panic::catch_unwind`]: a hostile or unlucky
//! frame can make a decoder panic (rqrr 0.11 does on one ZXing test photo), and a camera frame
//! must never take the app down. A panicking pass counts as "nothing found".

use super::binarize::{self, Plane};
use super::frame::LumaFrame;
use rxing::common::{BitArray, BitMatrix, LineOrientation};
use rxing::multi::MultipleBarcodeReader;
use rxing::qrcode::cpp_port::QrReader;
use rxing::{
    BarcodeFormat, Binarizer, BinaryBitmap, DecodeHints, Exceptions, Luma8Source, LuminanceSource,
    RXingResult, RXingResultMetadataType, RXingResultMetadataValue,
};
use std::borrow::Cow;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A point in frame coordinates (pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QrPoint {
    /// Column.
    pub x: f32,
    /// Row.
    pub y: f32,
}

/// Position of one symbol of a structured-append sequence (a message split over several codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructuredAppend {
    /// Zero-based index of this symbol.
    pub index: u8,
    /// Number of symbols in the sequence.
    pub count: u8,
}

/// Which pass of the cascade decoded a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanPass {
    /// 8x8-block local average; the detector scans every n-th row only (ZXing's default,
    /// n = 3 * height / 388, at least 3).
    Quick,
    /// 8x8-block local average (same bit matrix as `Quick`), every 3rd row ("try harder").
    Standard,
    /// Inverted bit matrix of the standard pass.
    Inverted,
    /// 3x3 blur, then 8x8-block local average.
    Smoothed,
    /// Unsharp mask (3x3), then 8x8-block local average.
    Sharpened,
    /// 16x16-block local average.
    Coarse,
    /// rqrr on the raw luma (opt-in).
    Rqrr,
}

/// One decoded QR symbol.
///
/// `Debug` shows only sizes: a payload may carry an enrollment token.
#[derive(Clone, PartialEq)]
pub struct DecodedQr {
    /// The text exactly as decoded (byte segments interpreted with the ECI / guessed
    /// character set, e.g. Shift_JIS, and converted to UTF-8).
    pub text: String,
    /// The decoded content bytes (before character-set interpretation).
    pub bytes: Vec<u8>,
    /// Corners / finder centres reported by the detector, in frame pixels.
    pub points: Vec<QrPoint>,
    /// Set when the symbol is part of a structured-append sequence.
    pub structured_append: Option<StructuredAppend>,
    /// The pass that found it.
    pub pass: ScanPass,
}

impl std::fmt::Debug for DecodedQr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedQr")
            .field("text_len", &self.text.len())
            .field("bytes_len", &self.bytes.len())
            .field("points", &self.points)
            .field("structured_append", &self.structured_append)
            .field("pass", &self.pass)
            .finish()
    }
}

/// The pass cascade: which passes run, in which order (duplicates are skipped, at most
/// [`ScanOptions::MAX_PASSES`] run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// Passes in order; the scan stops at the first one that decodes something.
    pub passes: Vec<ScanPass>,
}

impl Default for ScanOptions {
    /// Quick, standard, inverted, smoothed, sharpened, coarse: the cascade chosen by
    /// measurement.
    fn default() -> Self {
        Self {
            passes: vec![
                ScanPass::Quick,
                ScanPass::Standard,
                ScanPass::Inverted,
                ScanPass::Smoothed,
                ScanPass::Sharpened,
                ScanPass::Coarse,
            ],
        }
    }
}

impl ScanOptions {
    /// Upper bound on the passes run for one frame.
    pub const MAX_PASSES: usize = 7;

    /// Quick and standard passes only (one binarisation): for tight frame budgets.
    pub fn fast() -> Self {
        Self {
            passes: vec![ScanPass::Quick, ScanPass::Standard],
        }
    }

    /// The default cascade plus rqrr as a last resort (10-40x slower when it runs).
    pub fn with_rqrr() -> Self {
        let mut options = Self::default();
        options.passes.push(ScanPass::Rqrr);
        options
    }

    /// The passes to run, in order, without duplicates, bounded.
    fn effective_passes(&self) -> Vec<ScanPass> {
        let mut passes: Vec<ScanPass> = Vec::new();
        for pass in &self.passes {
            if !passes.contains(pass) {
                passes.push(*pass);
            }
        }
        passes.truncate(Self::MAX_PASSES);
        passes
    }
}

/// Finds and decodes QR codes in luma frames. Cheap to create, `Send + Sync`, stateless.
#[derive(Debug, Clone, Default)]
pub struct QrScanner {
    options: ScanOptions,
}

impl QrScanner {
    /// A scanner with the default (measured) cascade.
    pub fn new() -> Self {
        Self::default()
    }

    /// A scanner with custom options.
    pub fn with_options(options: ScanOptions) -> Self {
        Self { options }
    }

    /// The options in use.
    pub fn options(&self) -> &ScanOptions {
        &self.options
    }

    /// Returns every QR payload found in `frame` by the first pass that finds any (possibly
    /// none). Never panics.
    pub fn scan(&self, frame: &LumaFrame<'_>) -> Vec<DecodedQr> {
        let plane = frame.plane();
        // The 8x8 bit matrix is shared by the quick, standard and inverted passes.
        let mut standard: Option<Option<BitMatrix>> = None;
        let mut quick_ran = false;
        for pass in self.options.effective_passes() {
            // On frames under QUICK_SAME_AS_STANDARD_BELOW rows the quick detector already scans
            // every 3rd row, so a standard pass after it would repeat the same work.
            if pass == ScanPass::Standard && quick_ran && plane.height < QUICK_SAME_AS_STANDARD_BELOW {
                continue;
            }
            quick_ran |= pass == ScanPass::Quick;
            let found = match pass {
                ScanPass::Quick => standard_matrix(&mut standard, &plane)
                    .map(|m| detect(m, pass, false))
                    .unwrap_or_default(),
                ScanPass::Standard => standard_matrix(&mut standard, &plane)
                    .map(|m| detect(m, pass, true))
                    .unwrap_or_default(),
                ScanPass::Inverted => standard_matrix(&mut standard, &plane)
                    .map(|m| {
                        let mut inverted = m.clone();
                        inverted.flip_self();
                        detect(&inverted, pass, true)
                    })
                    .unwrap_or_default(),
                ScanPass::Smoothed => guarded(|| {
                    let smooth = binarize::smooth3(&plane)?;
                    let smooth_plane = Plane {
                        data: &smooth,
                        width: plane.width,
                        height: plane.height,
                        stride: plane.width,
                    };
                    binarize::local_average(&smooth_plane, binarize::BLOCK)
                })
                .map(|m| detect(&m, pass, true))
                .unwrap_or_default(),
                ScanPass::Sharpened => guarded(|| {
                    let sharp = binarize::sharpen3(&plane)?;
                    let sharp_plane = Plane {
                        data: &sharp,
                        width: plane.width,
                        height: plane.height,
                        stride: plane.width,
                    };
                    binarize::local_average(&sharp_plane, binarize::BLOCK)
                })
                .map(|m| detect(&m, pass, true))
                .unwrap_or_default(),
                ScanPass::Coarse => guarded(|| binarize::local_average(&plane, 16))
                    .map(|m| detect(&m, pass, true))
                    .unwrap_or_default(),
                ScanPass::Rqrr => rqrr_pass(&plane),
            };
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }
}

/// rxing's non-"try harder" row skip is `3 * height / 388` (at least 3): below this height it is
/// 3, the same as "try harder".
const QUICK_SAME_AS_STANDARD_BELOW: usize = 518;

/// The 8x8 bit matrix of `plane`, computed on first use and kept in `slot`.
fn standard_matrix<'s>(slot: &'s mut Option<Option<BitMatrix>>, plane: &Plane<'_>) -> Option<&'s BitMatrix> {
    slot.get_or_insert_with(|| guarded(|| binarize::local_average(plane, binarize::BLOCK)))
        .as_ref()
}

/// Runs `f`, turning a panic into `None`.
fn guarded<T>(f: impl FnOnce() -> Option<T>) -> Option<T> {
    catch_unwind(AssertUnwindSafe(f)).ok().flatten()
}

/// An rxing [`Binarizer`] that hands out a matrix binarised beforehand (borrowed: no copy).
struct Prebinarized<'m> {
    source: Luma8Source<'static>,
    matrix: Option<Cow<'m, BitMatrix>>,
}

impl Binarizer for Prebinarized<'_> {
    type Source = Luma8Source<'static>;

    fn get_luminance_source(&self) -> &Self::Source {
        &self.source
    }

    fn get_black_row(&self, y: usize) -> rxing::common::Result<Cow<'_, BitArray>> {
        self.get_black_line(y, LineOrientation::Row)
    }

    fn get_black_row_from_matrix(&self, y: usize) -> rxing::common::Result<Cow<'_, BitArray>> {
        self.get_black_line(y, LineOrientation::Row)
    }

    fn get_black_matrix(&self) -> rxing::common::Result<&BitMatrix> {
        self.matrix.as_deref().ok_or(Exceptions::NOT_FOUND)
    }

    fn get_black_line(&self, l: usize, lt: LineOrientation) -> rxing::common::Result<Cow<'_, BitArray>> {
        let m = self.get_black_matrix()?;
        let (bound, line) = match lt {
            LineOrientation::Row => (m.height(), l as u32),
            LineOrientation::Column => (m.width(), l as u32),
        };
        if l >= bound as usize {
            return Err(Exceptions::INDEX_OUT_OF_BOUNDS);
        }
        Ok(Cow::Owned(match lt {
            LineOrientation::Row => m.getRow(line),
            LineOrientation::Column => m.getCol(line),
        }))
    }

    fn create_binarizer(&self, source: Self::Source) -> Self {
        let data = source.get_matrix();
        let plane = Plane {
            data: &data,
            width: source.get_width(),
            height: source.get_height(),
            stride: source.get_width(),
        };
        let matrix = binarize::local_average(&plane, binarize::BLOCK).map(Cow::Owned);
        Self { source, matrix }
    }

    fn get_width(&self) -> usize {
        self.matrix.as_ref().map_or(0, |m| m.width() as usize)
    }

    fn get_height(&self) -> usize {
        self.matrix.as_ref().map_or(0, |m| m.height() as usize)
    }
}

/// Detects and decodes every QR symbol in a binarised frame (panic-safe).
fn detect(matrix: &BitMatrix, pass: ScanPass, try_harder: bool) -> Vec<DecodedQr> {
    let results = catch_unwind(AssertUnwindSafe(|| {
        let hints = DecodeHints {
            PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
            TryHarder: Some(try_harder),
            ..DecodeHints::default()
        };
        let mut bitmap = BinaryBitmap::new(Prebinarized {
            source: Luma8Source::with_empty_image(1, 1),
            matrix: Some(Cow::Borrowed(matrix)),
        });
        QrReader.decode_multiple_with_hints(&mut bitmap, &hints)
    }));
    match results {
        Ok(Ok(results)) => results.iter().map(|r| convert(r, pass)).collect(),
        _ => Vec::new(),
    }
}

fn convert(result: &RXingResult, pass: ScanPass) -> DecodedQr {
    let metadata = result.getRXingResultMetadata();
    let index = match metadata.get(&RXingResultMetadataType::STRUCTURED_APPEND_SEQUENCE) {
        Some(RXingResultMetadataValue::StructuredAppendSequence(i)) => *i,
        _ => -1,
    };
    // rxing stores the symbol count under the "parity" key (see RXingResult::with_decoder_result).
    let count = match metadata.get(&RXingResultMetadataType::STRUCTURED_APPEND_PARITY) {
        Some(RXingResultMetadataValue::StructuredAppendParity(c)) => *c,
        _ => -1,
    };
    let structured_append = match (u8::try_from(index), u8::try_from(count)) {
        (Ok(index), Ok(count)) if count > 1 && index < count => Some(StructuredAppend { index, count }),
        _ => None,
    };
    DecodedQr {
        text: result.getText().to_owned(),
        bytes: result.getRawBytes().to_vec(),
        points: result
            .getPoints()
            .iter()
            .map(|p| QrPoint { x: p.x, y: p.y })
            .collect(),
        structured_append,
        pass,
    }
}

/// Largest frame handed to rqrr (its cost grows quickly with size).
#[cfg(feature = "rqrr-pass")]
const RQRR_MAX_PIXELS: usize = 2_100_000;

#[cfg(not(feature = "rqrr-pass"))]
fn rqrr_pass(_plane: &Plane<'_>) -> Vec<DecodedQr> {
    // Built without rqrr (the lean mobile library): the pass finds nothing.
    Vec::new()
}

#[cfg(feature = "rqrr-pass")]
fn rqrr_pass(plane: &Plane<'_>) -> Vec<DecodedQr> {
    if plane.width.saturating_mul(plane.height) > RQRR_MAX_PIXELS {
        return Vec::new();
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(plane.width, plane.height, |x, y| {
            plane.data.get(y * plane.stride + x).copied().unwrap_or(255)
        });
        let mut found = Vec::new();
        for grid in prepared.detect_grids() {
            let mut bytes = Vec::new();
            if grid.decode_to(&mut bytes).is_err() {
                continue;
            }
            let Ok(text) = String::from_utf8(bytes.clone()) else {
                continue;
            };
            found.push(DecodedQr {
                text,
                bytes,
                points: grid
                    .bounds
                    .iter()
                    .map(|p| QrPoint {
                        x: p.x as f32,
                        y: p.y as f32,
                    })
                    .collect(),
                structured_append: None,
                pass: ScanPass::Rqrr,
            });
        }
        found
    }));
    outcome.unwrap_or_default()
}
