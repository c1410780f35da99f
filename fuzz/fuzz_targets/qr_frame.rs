//! Fuzz target `qr_frame`: the camera-frame QR scanner (`enroll_core::qr::QrScanner`) and the
//! scan session on top of it, on small arbitrary luma frames.
//!
//! Input layout: byte 0 = width - 1, byte 1 = height - 1 (so 1 to 256 pixels each), byte 2 =
//! row padding (its low 3 bits: 0 to 7 bytes past the width), byte 3 = which passes run (bit
//! `i` for the `i`-th of quick, standard, inverted, smoothed, sharpened, coarse, rqrr; 0 for the
//! default cascade); the rest is the plane. The height is cut to the rows the input holds.
//!
//! Covers `LumaFrame::new`'s checks, every scanner pass (quick, standard, inverted, smoothed,
//! sharpened, coarse, and rqrr), our binarisers, rxing's detector and decoder, and the session's
//! payload parsing of whatever decodes.
//!
//! The decoders run inside `catch_unwind` (rxing and rqrr have known panics on odd images):
//! a panic caught there in a third-party decoder is an accepted outcome, so this target
//! installs its own panic hook instead of libFuzzer's aborting one. It still aborts (a crash
//! the fuzzer reports) on a panic raised in this repository's own code (`core/src`,
//! `proto/src`: the binarisers, the frame checks, the payload parser), caught or not, on a
//! panic that escapes the scanner, and on any real crash (ASan, stack overflow, out of memory,
//! timeout).
#![no_main]

use enroll_core::qr::{
    FrameOutcome, LumaFrame, PayloadOptions, QrScanner, ScanOptions, ScanPass, ScanSession,
};
use libfuzzer_sys::fuzz_target;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

static QUIET_HOOK: Once = Once::new();
/// Panics caught inside the scanner so far.
static CAUGHT: AtomicU64 = AtomicU64::new(0);
/// The message of the last panic, shown if one escapes the scanner.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

const PASSES: [ScanPass; 7] = [
    ScanPass::Quick,
    ScanPass::Standard,
    ScanPass::Inverted,
    ScanPass::Smoothed,
    ScanPass::Sharpened,
    ScanPass::Coarse,
    ScanPass::Rqrr,
];

/// Whether a panic location is in this repository's crates (not in std or a registry crate).
fn is_ours(file: &str) -> bool {
    (file.contains("core/src/") || file.contains("proto/src/"))
        && !file.contains("/library/")
        && !file.contains("registry/src")
        && !file.contains("git/checkouts")
}

fn run(data: &[u8]) {
    let [w, h, padding, mask, plane @ ..] = data else {
        return;
    };
    let width = u32::from(*w) + 1;
    let stride = width + u32::from(padding & 0x07);
    let rows = if plane.len() >= width as usize {
        (plane.len() - width as usize) / stride as usize + 1
    } else {
        0
    };
    let height = (u32::from(*h) + 1).min(u32::try_from(rows).unwrap_or(0));
    let Ok(frame) = LumaFrame::new(plane, width, height, stride) else {
        return;
    };
    let options = if mask & 0x7f == 0 {
        ScanOptions::default()
    } else {
        ScanOptions {
            passes: PASSES
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, p)| *p)
                .collect(),
        }
    };
    let mut session = ScanSession::new(QrScanner::with_options(options), PayloadOptions::default());
    match session.feed(&frame) {
        FrameOutcome::Found(hit) => {
            let _ = format!("{hit:?}");
            assert_eq!(session.hit().map(|h| &h.text), Some(&hit.text));
        }
        FrameOutcome::Rejected(errors) => assert!(!errors.is_empty()),
        FrameOutcome::NoCode | FrameOutcome::AlreadyFinished => {}
    }
    assert_eq!(session.frames_scanned(), 1);
}

fuzz_target!(|data: &[u8]| {
    QUIET_HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            CAUGHT.fetch_add(1, Ordering::Relaxed);
            if info.location().is_some_and(|l| is_ours(l.file())) {
                eprintln!("qr_frame: panic in enroll's own code: {info}");
                std::process::abort();
            }
            if let Ok(mut last) = LAST_PANIC.lock() {
                last.clear();
                last.push_str(&info.to_string());
            }
        }));
    });
    if std::panic::catch_unwind(|| run(data)).is_err() {
        let last = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
        eprintln!("qr_frame: a panic escaped the scanner: {last}");
        eprintln!("qr_frame: {} panics in all", CAUGHT.load(Ordering::Relaxed));
        std::process::abort();
    }
});
