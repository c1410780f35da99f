//! Detection floors on the shared QR corpus (`shared/qr-corpus/dev`, or `$ENROLL_QR_CORPUS`).
//!
//! An image counts as detected when one decoded text equals its `<stem>.txt` exactly. The floors
//! are the counts measured when the scanner's cascade was chosen (see `docs/qr.md`); the scanner
//! is deterministic, so any drop is a regression. zxingcpp-qrcode-7 is one structured-append
//! message in 4 symbols: it is not scored per image; instead the 4 parts must decode and merge
//! (by sequence index) into `01.txt`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are failures

use enroll_core::qr::{
    load_luma_file, scan_source, FrameOutcome, ImageFileSource, PayloadOptions, QrScanner, ScanLimits,
    ScanOptions, ScanOutcome, ScanPass, ScanSession,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Minimum detected images per set (dev half), as measured.
const FLOORS: &[(&str, usize, usize)] = &[
    // (set, floor, images scored)
    ("synthetic-enroll", 76, 100),
    ("zxing-qrcode-1", 10, 10),
    ("zxing-qrcode-2", 18, 18),
    ("zxing-qrcode-3", 21, 21),
    ("zxing-qrcode-4", 18, 24),
    ("zxing-qrcode-5", 10, 10),
    ("zxing-qrcode-6", 8, 8),
    ("zxingcpp-qrcode-1", 4, 4),
    ("zxingcpp-qrcode-2", 28, 29),
    ("zxingcpp-qrcode-3", 9, 9),
    ("zxingcpp-qrcode-4", 7, 13),
    ("zxingcpp-qrcode-5", 8, 8),
    ("zxingcpp-qrcode-6", 8, 8),
];

fn corpus_dev() -> PathBuf {
    let root = std::env::var_os("ENROLL_QR_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/qr-corpus"));
    let dev = root.join("dev");
    assert!(
        dev.is_dir(),
        "QR corpus not found at {} — CI checks out shared/ beside the repository; \
         set ENROLL_QR_CORPUS=/path/to/qr-corpus to point elsewhere",
        dev.display()
    );
    dev
}

fn images(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("jpg" | "jpeg" | "png" | "webp")
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn detection_floors_per_set() {
    let dev = corpus_dev();
    let scanner = QrScanner::new();
    let mut failures = Vec::new();
    let mut by_pass: BTreeMap<String, usize> = BTreeMap::new();
    let (mut total, mut total_scored) = (0, 0);
    for &(set, floor, expected_scored) in FLOORS {
        let mut detected = 0;
        let mut scored = 0;
        for path in images(&dev.join(set)) {
            let Ok(expected) = std::fs::read(path.with_extension("txt")) else {
                continue;
            };
            scored += 1;
            let frame = load_luma_file(&path).unwrap_or_else(|e| panic!("{e}"));
            let found = scanner.scan(&frame.as_frame());
            let expected = String::from_utf8(expected).expect("expected payloads are UTF-8");
            if let Some(hit) = found.iter().find(|d| d.text == expected) {
                detected += 1;
                assert!(!hit.bytes.is_empty(), "{}: decoded bytes missing", path.display());
                *by_pass.entry(format!("{:?}", hit.pass)).or_default() += 1;
            }
        }
        println!(
            "{set:20} {detected:3}/{scored:3} ({:5.1}%)  floor {floor}",
            100.0 * detected as f64 / scored.max(1) as f64
        );
        total += detected;
        total_scored += scored;
        if scored != expected_scored {
            failures.push(format!(
                "{set}: {scored} scored images, expected {expected_scored}"
            ));
        }
        if detected < floor {
            failures.push(format!("{set}: {detected} detected, floor {floor}"));
        }
    }
    println!("total {total}/{total_scored}; detections by pass: {by_pass:?}");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn structured_append_parts_merge() {
    let dev = corpus_dev();
    let dir = dev.join("zxingcpp-qrcode-7");
    let scanner = QrScanner::new();
    let mut parts = BTreeMap::new();
    let mut count = None;
    for path in images(&dir) {
        let frame = load_luma_file(&path).unwrap();
        for d in scanner.scan(&frame.as_frame()) {
            let sa = d
                .structured_append
                .unwrap_or_else(|| panic!("{}: no structured-append header", path.display()));
            count = Some(sa.count);
            parts.insert(sa.index, d.text);
        }
    }
    assert_eq!(count, Some(4));
    assert_eq!(parts.len(), 4, "parts decoded: {:?}", parts.keys());
    let merged: String = parts.into_values().collect();
    let expected = std::fs::read_to_string(dir.join("01.txt")).unwrap();
    assert_eq!(merged, expected);
}

#[test]
fn rqrr_pass_never_crashes_on_the_zxing_photos() {
    // rqrr 0.11 panics on one ZXing photo (upstream issue #54); the scanner must survive it.
    let dev = corpus_dev();
    let only_rqrr = QrScanner::with_options(ScanOptions {
        passes: vec![ScanPass::Rqrr],
    });
    let mut scanned = 0;
    for set in ["zxing-qrcode-6", "zxingcpp-qrcode-6"] {
        for path in images(&dev.join(set)) {
            let frame = load_luma_file(&path).unwrap();
            let _ = only_rqrr.scan(&frame.as_frame());
            scanned += 1;
        }
    }
    assert!(scanned > 0);
}

#[test]
fn capture_loop_over_corpus_files_stops_at_first_enrollment_code() {
    let dev = corpus_dev();
    // A ZXing photo (a QR code that is not an enrollment payload), then synthetic frames.
    let mut paths = vec![images(&dev.join("zxing-qrcode-1"))[0].clone()];
    paths.extend(images(&dev.join("synthetic-enroll")).into_iter().take(8));

    // Which frame should win, computed frame by frame.
    let mut reference = ScanSession::new(QrScanner::new(), PayloadOptions::default());
    let mut expected_index = None;
    for (i, path) in paths.iter().enumerate() {
        let frame = load_luma_file(path).unwrap();
        match reference.feed(&frame.as_frame()) {
            FrameOutcome::Found(_) => {
                expected_index = Some(i as u64);
                break;
            }
            FrameOutcome::Rejected(errors) => assert!(i == 0, "{}: {errors:?}", path.display()),
            _ => {}
        }
    }
    let expected_index = expected_index.expect("one of the first 8 synthetic frames decodes");
    assert!(expected_index >= 1);

    let total = paths.len();
    let mut source = ImageFileSource::new(paths);
    let mut session = ScanSession::default();
    let outcome = scan_source(&mut source, &mut session, &ScanLimits::default()).unwrap();
    let ScanOutcome::Found(hit) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(hit.frame_index, expected_index);
    assert!(hit.intent.token().is_some());
    assert_eq!(source.remaining(), total - expected_index as usize - 1);
}
