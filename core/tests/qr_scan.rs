//! Frame validation, scanner robustness and the capture loop, on frames rendered here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are failures

use enroll_core::qr::{
    scan_source, EnrollmentIntent, FrameError, FrameOutcome, FrameSource, FrameSourceError, ImageFileSource,
    LumaFrame, OwnedLumaFrame, PayloadOptions, QrScanner, ScanLimits, ScanOptions, ScanOutcome, ScanPass,
    ScanSession, MAX_FRAME_DIMENSION,
};
use rxing::qrcode::QRCodeWriter;
use rxing::{BarcodeFormat, Writer};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

const INVITE: &str =
    "https://enroll.example.com:8443/go?user=alice%40example.com&token=ent_Zm9vYmFyYmF6cXV4MTIzNDU2";

/// Renders `text` as a QR code into a `w` x `h` frame with row `stride`, `module` pixels per
/// module, light grey paper, a little noise; padding bytes are garbage.
fn render(text: &str, module: usize, w: usize, h: usize, stride: usize, invert: bool) -> Vec<u8> {
    let bits = QRCodeWriter
        .encode(text, &BarcodeFormat::QR_CODE, 0, 0)
        .expect("encodable");
    let (bw, bh) = (bits.width() as usize, bits.height() as usize);
    let mut rng = fastrand::Rng::with_seed(42);
    let mut data: Vec<u8> = (0..stride * h).map(|_| rng.u8(..)).collect();
    let (ox, oy) = (
        w.saturating_sub(bw * module) / 2,
        h.saturating_sub(bh * module) / 2,
    );
    for y in 0..h {
        for x in 0..w {
            let (mx, my) = (x.wrapping_sub(ox) / module, y.wrapping_sub(oy) / module);
            let dark = x >= ox && y >= oy && mx < bw && my < bh && bits.get(mx as u32, my as u32);
            let dark = dark != invert;
            let base: i32 = if dark { 45 } else { 205 };
            data[y * stride + x] = (base + rng.i32(-12..=12)) as u8;
        }
    }
    data
}

#[test]
fn frame_validation() {
    let buf = vec![0u8; 100];
    assert_eq!(
        LumaFrame::new(&buf, 0, 10, 10).unwrap_err(),
        FrameError::ZeroSize { width: 0, height: 10 }
    );
    assert!(matches!(
        LumaFrame::new(&buf, 10, 0, 10),
        Err(FrameError::ZeroSize { .. })
    ));
    assert_eq!(
        LumaFrame::new(&buf, 10, 10, 9).unwrap_err(),
        FrameError::StrideTooSmall { stride: 9, width: 10 }
    );
    assert_eq!(
        LumaFrame::new(&buf, 10, 11, 10).unwrap_err(),
        FrameError::BufferTooShort {
            needed: 110,
            actual: 100
        }
    );
    assert!(matches!(
        LumaFrame::new(&buf, 10, 10, 12),
        Err(FrameError::BufferTooShort { needed: 118, .. })
    ));
    assert!(matches!(
        LumaFrame::new(&buf, MAX_FRAME_DIMENSION + 1, 1, MAX_FRAME_DIMENSION + 1),
        Err(FrameError::TooLarge { .. })
    ));
    assert!(matches!(
        LumaFrame::new(&buf, 1, u32::MAX, 1),
        Err(FrameError::TooLarge { .. })
    ));
    // Huge stride does not overflow.
    assert!(matches!(
        LumaFrame::new(&buf, 10, 10, u32::MAX),
        Err(FrameError::BufferTooShort { .. })
    ));
    // Last row without padding is fine (Android's YUV_420_888 Y plane often ends like this).
    let frame = LumaFrame::new(&buf, 8, 10, 10).unwrap();
    assert_eq!((frame.width(), frame.height(), frame.stride()), (8, 10, 10));
    let buf = vec![0u8; 9 * 10 + 8];
    assert!(LumaFrame::new(&buf, 8, 10, 10).is_ok());
    assert!(OwnedLumaFrame::new(vec![0u8; 5], 2, 3, 2).is_err());
    let owned = OwnedLumaFrame::new(vec![1u8; 6], 2, 3, 2).unwrap();
    assert_eq!(owned.as_frame().to_owned_frame(), owned);
}

#[test]
fn blank_black_white_and_noise_frames_give_nothing() {
    let scanner = QrScanner::new();
    let mut rng = fastrand::Rng::with_seed(1);
    let sizes = [
        (1, 1),
        (7, 7),
        (8, 8),
        (9, 3),
        (40, 40),
        (3, 1000),
        (1000, 3),
        (320, 240),
        (641, 479),
    ];
    for (w, h) in sizes {
        for fill in [0u8, 255, 128] {
            let data = vec![fill; w * h];
            let frame = LumaFrame::new(&data, w as u32, h as u32, w as u32).unwrap();
            assert!(scanner.scan(&frame).is_empty(), "{w}x{h} fill {fill}");
        }
        let noise: Vec<u8> = (0..w * h).map(|_| rng.u8(..)).collect();
        let frame = LumaFrame::new(&noise, w as u32, h as u32, w as u32).unwrap();
        assert!(scanner.scan(&frame).is_empty(), "{w}x{h} noise");
        // Salt and pepper (lots of finder-like runs).
        let sp: Vec<u8> = (0..w * h).map(|_| if rng.bool() { 0 } else { 255 }).collect();
        let frame = LumaFrame::new(&sp, w as u32, h as u32, w as u32).unwrap();
        let _ = scanner.scan(&frame);
    }
    // Every pass, including rqrr, on noise.
    let all = QrScanner::with_options(ScanOptions::with_rqrr());
    let noise: Vec<u8> = (0..640 * 480).map(|_| rng.u8(..)).collect();
    let frame = LumaFrame::new(&noise, 640, 480, 640).unwrap();
    assert!(all.scan(&frame).is_empty());
}

#[test]
fn decodes_rendered_code_with_row_padding() {
    let (w, h, stride) = (640, 480, 704);
    let data = render(INVITE, 4, w, h, stride, false);
    let frame = LumaFrame::new(&data, w as u32, h as u32, stride as u32).unwrap();
    let found = QrScanner::new().scan(&frame);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].text, INVITE);
    assert_eq!(found[0].bytes, INVITE.as_bytes());
    assert_eq!(found[0].pass, ScanPass::Quick);
    assert!(!found[0].points.is_empty());
    // Debug must not print the payload (it carries the token).
    assert!(!format!("{:?}", found[0]).contains("ent_"));
    // The fast options find it too.
    assert_eq!(QrScanner::with_options(ScanOptions::fast()).scan(&frame).len(), 1);
}

#[test]
fn decodes_inverted_code_with_inverted_pass() {
    let (w, h) = (400, 400);
    let data = render("ent_Zm9vYmFyYmF6cXV4MTIzNDU2", 5, w, h, w, true);
    let frame = LumaFrame::new(&data, w as u32, h as u32, w as u32).unwrap();
    let found = QrScanner::new().scan(&frame);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pass, ScanPass::Inverted);
    assert!(QrScanner::with_options(ScanOptions::fast())
        .scan(&frame)
        .is_empty());
    // Inverted alone binarises by itself.
    let only_inverted = ScanOptions {
        passes: vec![ScanPass::Inverted, ScanPass::Inverted],
    };
    assert_eq!(QrScanner::with_options(only_inverted).scan(&frame).len(), 1);
}

#[test]
fn every_pass_alone_decodes_a_clean_code() {
    let (w, h) = (400, 400);
    let data = render(INVITE, 4, w, h, w, false);
    let frame = LumaFrame::new(&data, w as u32, h as u32, w as u32).unwrap();
    for pass in [
        ScanPass::Quick,
        ScanPass::Standard,
        ScanPass::Smoothed,
        ScanPass::Sharpened,
        ScanPass::Coarse,
        ScanPass::Rqrr,
    ] {
        let scanner = QrScanner::with_options(ScanOptions { passes: vec![pass] });
        let found = scanner.scan(&frame);
        assert_eq!(found.len(), 1, "{pass:?}");
        assert_eq!(found[0].text, INVITE, "{pass:?}");
        assert_eq!(found[0].pass, pass);
    }
    let none = QrScanner::with_options(ScanOptions { passes: vec![] });
    assert!(none.scan(&frame).is_empty());
}

#[test]
fn session_stops_at_first_valid_payload() {
    let (w, h) = (480, 360);
    let blank = vec![200u8; w * h];
    let other = render("hello, this is not an enrollment code", 4, w, h, w, false);
    let enroll = render(INVITE, 4, w, h, w, false);
    fn frame(d: &[u8]) -> LumaFrame<'_> {
        LumaFrame::new(d, 480, 360, 480).unwrap()
    }

    let mut session = ScanSession::new(QrScanner::new(), PayloadOptions::default());
    assert!(matches!(session.feed(&frame(&blank)), FrameOutcome::NoCode));
    match session.feed(&frame(&other)) {
        FrameOutcome::Rejected(errors) => assert_eq!(errors.len(), 1),
        o => panic!("{o:?}"),
    }
    let hit = match session.feed(&frame(&enroll)) {
        FrameOutcome::Found(hit) => hit,
        o => panic!("{o:?}"),
    };
    assert_eq!(hit.frame_index, 2);
    assert_eq!(hit.text, INVITE);
    assert!(!format!("{hit:?}").contains("ent_Zm9v"), "{hit:?}");
    let EnrollmentIntent::Invitation(inv) = &hit.intent else {
        panic!()
    };
    assert_eq!(inv.server_base.as_str(), "https://enroll.example.com:8443/");
    assert_eq!(inv.user_hint.as_deref(), Some("alice@example.com"));
    assert!(session.is_finished());
    assert!(matches!(
        session.feed(&frame(&enroll)),
        FrameOutcome::AlreadyFinished
    ));
    assert_eq!(session.frames_scanned(), 3);
}

struct VecSource(VecDeque<OwnedLumaFrame>, usize);

impl FrameSource for VecSource {
    fn next_frame(&mut self) -> Result<Option<OwnedLumaFrame>, FrameSourceError> {
        self.1 += 1;
        Ok(self.0.pop_front())
    }
}

#[test]
fn capture_loop_limits() {
    let (w, h) = (320, 240);
    let blank = OwnedLumaFrame::new(vec![200u8; w * h], w as u32, h as u32, w as u32).unwrap();
    let enroll =
        OwnedLumaFrame::new(render(INVITE, 3, w, h, w, false), w as u32, h as u32, w as u32).unwrap();

    // Found on the third frame; the fourth is never pulled.
    let mut source = VecSource(
        VecDeque::from(vec![blank.clone(), blank.clone(), enroll.clone(), enroll.clone()]),
        0,
    );
    let mut session = ScanSession::default();
    let outcome = scan_source(&mut source, &mut session, &ScanLimits::default()).unwrap();
    assert!(
        matches!(outcome, ScanOutcome::Found(ref hit) if hit.frame_index == 2),
        "{outcome:?}"
    );
    assert_eq!(source.0.len(), 1);

    // Frame limit.
    let mut source = VecSource(VecDeque::from(vec![blank.clone(); 5]), 0);
    let limits = ScanLimits {
        max_frames: Some(3),
        timeout: None,
    };
    let outcome = scan_source(&mut source, &mut ScanSession::default(), &limits).unwrap();
    assert!(matches!(outcome, ScanOutcome::FrameLimit { frames: 3 }));

    // Exhausted.
    let mut source = VecSource(VecDeque::from(vec![blank.clone(); 2]), 0);
    let outcome = scan_source(&mut source, &mut ScanSession::default(), &ScanLimits::default()).unwrap();
    assert!(matches!(outcome, ScanOutcome::Exhausted { frames: 2 }));

    // Timeout.
    let mut source = VecSource(VecDeque::from(vec![blank; 2]), 0);
    let limits = ScanLimits {
        max_frames: None,
        timeout: Some(Duration::ZERO),
    };
    let outcome = scan_source(&mut source, &mut ScanSession::default(), &limits).unwrap();
    assert!(matches!(outcome, ScanOutcome::TimedOut { frames: 0 }));
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("enroll-qr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn save_png(path: &std::path::Path, data: Vec<u8>, w: usize, h: usize) {
    image::GrayImage::from_raw(w as u32, h as u32, data)
        .unwrap()
        .save(path)
        .unwrap();
}

#[test]
fn image_file_source_feeds_the_capture_loop() {
    let dir = temp_dir("files");
    let (w, h) = (360, 300);
    save_png(&dir.join("0-blank.png"), vec![190u8; w * h], w, h);
    save_png(
        &dir.join("1-other.png"),
        render("https://shop.example.com/", 4, w, h, w, false),
        w,
        h,
    );
    save_png(&dir.join("2-enroll.png"), render(INVITE, 4, w, h, w, false), w, h);
    save_png(
        &dir.join("3-later.png"),
        render("ent_Zm9vYmFyYmF6cXV4MTIzNDU2", 4, w, h, w, false),
        w,
        h,
    );
    std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
    let mut source = ImageFileSource::from_dir(&dir).unwrap();
    assert_eq!(source.remaining(), 4);
    let mut session = ScanSession::default();
    let outcome = scan_source(&mut source, &mut session, &ScanLimits::default()).unwrap();
    let ScanOutcome::Found(hit) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(hit.frame_index, 2);
    assert!(matches!(hit.intent, EnrollmentIntent::Invitation(_)));
    assert_eq!(source.remaining(), 1);

    // A corrupt image is a typed error, not a panic.
    std::fs::write(dir.join("4-corrupt.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
    let mut source = ImageFileSource::new(vec![dir.join("4-corrupt.png"), dir.join("missing.png")]);
    assert!(matches!(
        source.next_frame(),
        Err(FrameSourceError::Decode { .. })
    ));
    assert!(matches!(source.next_frame(), Err(FrameSourceError::Io { .. })));
    assert!(matches!(source.next_frame(), Ok(None)));
    let _ = std::fs::remove_dir_all(&dir);
}
