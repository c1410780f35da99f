//! QR benchmark over the shared corpus: detection and decode time of the project's scanner,
//! of rqrr alone and of zxing-cpp (through `shared/tools/qr_bench_python.py`), in one run.
//!
//! Protocol (same as the Python tool): each image is loaded and converted to 8-bit luma first
//! (not timed; `image`'s `to_luma8` uses the same Rec.709 integer weights), one untimed
//! warm-up call whose result is scored, then `REPS` timed calls; the per-image figure is the
//! median of those. Per set: detection rate, median and p95 of the per-image medians.
//! Set by set, zxing-cpp runs before and after our scanner (interleaved, so both see the same
//! machine load) and the faster of its two per-image medians is kept (errs against our ratio).
//!
//! ```text
//! cargo bench -p enroll-core --bench qr
//! ENROLL_QR_CORPUS=/path/to/qr-corpus ENROLL_QR_BENCH_REPS=5 cargo bench -p enroll-core --bench qr
//! ENROLL_QR_BENCH_SKIP_PYTHON=1 / ENROLL_QR_BENCH_SKIP_RQRR=1 to leave a decoder out
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enroll_core::qr::{load_luma_file, LumaFrame, OwnedLumaFrame, QrScanner, ScanPass};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One corpus image, loaded.
struct Sample {
    set: String,
    /// Path relative to the corpus root, as in the manifest (`dev/<set>/<file>`).
    rel: String,
    frame: OwnedLumaFrame,
    expected: Option<Vec<u8>>,
}

#[derive(Default)]
struct Stats {
    scored: usize,
    detected: usize,
    times: Vec<f64>,
    panics: usize,
}

impl Stats {
    fn rate(&self) -> String {
        if self.scored == 0 {
            return "   -".to_owned();
        }
        format!(
            "{:3}/{:<3} {:5.1}%",
            self.detected,
            self.scored,
            100.0 * self.detected as f64 / self.scored as f64
        )
    }

    fn median(&self) -> Option<f64> {
        percentile(&self.times, 0.5)
    }

    fn p95(&self) -> Option<f64> {
        percentile(&self.times, 0.95)
    }
}

fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if (q - 0.5).abs() < f64::EPSILON {
        let n = v.len();
        return Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        });
    }
    let idx = ((v.len() - 1) as f64 * q).round() as usize;
    Some(v[idx.min(v.len() - 1)])
}

fn corpus_root() -> PathBuf {
    std::env::var_os("ENROLL_QR_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/qr-corpus"))
}

fn load_corpus(root: &Path) -> Vec<Sample> {
    let dev = root.join("dev");
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&dev)
        .unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", dev.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    sets.sort();
    let mut samples = Vec::new();
    for set_dir in sets {
        let set = set_dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&set_dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("jpg" | "jpeg" | "png" | "webp")
                )
            })
            .collect();
        files.sort();
        for path in files {
            let frame = load_luma_file(&path).unwrap_or_else(|e| panic!("{e}"));
            let expected = std::fs::read(path.with_extension("txt")).ok();
            let rel = format!("dev/{set}/{}", path.file_name().unwrap().to_string_lossy());
            samples.push(Sample {
                set: set.clone(),
                rel,
                frame,
                expected,
            });
        }
    }
    samples
}

/// Runs `f` once (scored) and `reps` more times (timed); returns (result, median ms).
fn measure<T>(reps: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let first = f();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        std::hint::black_box(f());
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    (first, percentile(&times, 0.5).unwrap_or(f64::NAN))
}

fn rqrr_decode(frame: &LumaFrame<'_>) -> Result<Vec<String>, ()> {
    let (w, h, s) = (
        frame.width() as usize,
        frame.height() as usize,
        frame.stride() as usize,
    );
    let data = frame.data();
    std::panic::catch_unwind(|| {
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| data[y * s + x]);
        img.detect_grids()
            .into_iter()
            .filter_map(|g| g.decode().ok().map(|(_, text)| text))
            .collect()
    })
    .map_err(|_| ())
}

/// Group names a set belongs to (the set itself plus summary groups).
fn groups(sample: &Sample) -> Vec<String> {
    let mut g = vec![sample.set.clone()];
    if sample.set.starts_with("zxing") && sample.set != "zxingcpp-qrcode-7" {
        g.push("ALL ZXing photos (zxing-* + zxingcpp-1..6)".to_owned());
    }
    if sample.set == "synthetic-enroll" {
        g.push(format!(
            "synthetic {}x{}",
            sample.frame.width(),
            sample.frame.height()
        ));
    }
    g
}

struct PyRow {
    ok: Option<bool>,
    ms: f64,
}

fn run_zxing_cpp(root: &Path, set: &str) -> Result<HashMap<String, PyRow>, String> {
    let tool = root.join("../tools/qr_bench_python.py");
    let out = std::env::temp_dir().join(format!("enroll-qr-zxingcpp-{}.csv", std::process::id()));
    let output = Command::new("python3")
        .arg(&tool)
        .arg("--corpus")
        .arg(root)
        .args([
            "--split",
            "dev",
            "--decoders",
            "zxing-cpp",
            "--sets",
            set,
            "--out",
        ])
        .arg(&out)
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        return Err(format!(
            "{} exited with {}: {last} (pip install -r shared/tools/qr_bench_requirements.txt)",
            tool.display(),
            output.status
        ));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&out);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(file), Some(ok), Some(ms), Some(has)) =
        (col("file"), col("ok_exact"), col("dec_ms"), col("has_expected"))
    else {
        return Err("unexpected CSV header".to_owned());
    };
    let mut rows = HashMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < header.len() {
            continue;
        }
        rows.insert(
            f[file].to_owned(),
            PyRow {
                ok: (f[has] == "1").then(|| f[ok] == "1"),
                ms: f[ms].parse().unwrap_or(f64::NAN),
            },
        );
    }
    Ok(rows)
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or("     -".to_owned(), |v| format!("{v:6.2}"))
}

fn main() {
    // rqrr panics on one image; the panics are caught and counted, their messages muted.
    std::panic::set_hook(Box::new(|_| {}));
    let reps: usize = std::env::var("ENROLL_QR_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let skip_py = std::env::var_os("ENROLL_QR_BENCH_SKIP_PYTHON").is_some();
    let skip_rqrr = std::env::var_os("ENROLL_QR_BENCH_SKIP_RQRR").is_some();
    let root = corpus_root();
    let root = root.canonicalize().unwrap_or(root);
    println!(
        "corpus: {}  (dev split, {reps} timed reps per image)",
        root.display()
    );
    let samples = load_corpus(&root);
    println!("{} images loaded", samples.len());

    let scanner = QrScanner::new();
    let mut ours: BTreeMap<String, Stats> = BTreeMap::new();
    let mut rq: BTreeMap<String, Stats> = BTreeMap::new();
    let mut zx: BTreeMap<String, Stats> = BTreeMap::new();
    let mut by_pass: BTreeMap<String, usize> = BTreeMap::new();
    let mut structured: BTreeMap<u8, String> = BTreeMap::new();
    let mut structured_expected: Option<Vec<u8>> = None;

    // Set by set: zxing-cpp on the set, our scanner on the set, zxing-cpp on the set again; per
    // image the faster of zxing-cpp's two medians is kept. Interleaving keeps both decoders under
    // the same machine load, and keeping zxing-cpp's better run errs against our ratio.
    let mut py: Option<HashMap<String, PyRow>> = if skip_py {
        println!("zxing-cpp: skipped (ENROLL_QR_BENCH_SKIP_PYTHON)");
        None
    } else {
        Some(HashMap::new())
    };
    let mut timed = Vec::with_capacity(samples.len());
    let mut start = 0;
    while start < samples.len() {
        let set = samples[start].set.clone();
        let end = start + samples[start..].iter().take_while(|s| s.set == set).count();
        let before = py.as_ref().map(|_| run_zxing_cpp(&root, &set));
        for sample in &samples[start..end] {
            let frame = sample.frame.as_frame();
            timed.push(measure(reps, || scanner.scan(&frame)));
        }
        let after = py.as_ref().map(|_| run_zxing_cpp(&root, &set));
        match (before, after) {
            (Some(Ok(before)), Some(after)) => {
                let after = after.unwrap_or_default();
                let rows = py.get_or_insert_with(HashMap::new);
                for (file, mut row) in before {
                    if let Some(again) = after.get(&file) {
                        row.ms = row.ms.min(again.ms);
                    }
                    rows.insert(file, row);
                }
            }
            (Some(Err(e)), _) => {
                println!("zxing-cpp: NOT AVAILABLE ({e}); continuing without it");
                py = None;
            }
            _ => {}
        }
        start = end;
    }

    for (sample, (found, ms)) in samples.iter().zip(timed) {
        let frame = sample.frame.as_frame();
        let expected = sample.expected.as_deref();
        let scored = expected.is_some() && sample.set != "zxingcpp-qrcode-7";
        let hit = expected.and_then(|e| {
            let e = String::from_utf8_lossy(e);
            found.iter().find(|d| d.text == e)
        });
        if sample.set == "zxingcpp-qrcode-7" {
            for d in &found {
                if let Some(sa) = d.structured_append {
                    structured.insert(sa.index, d.text.clone());
                }
            }
            if structured_expected.is_none() {
                structured_expected = std::fs::read(root.join("dev/zxingcpp-qrcode-7/01.txt")).ok();
            }
        }
        if let Some(h) = hit {
            if scored {
                let pass = match h.pass {
                    ScanPass::Quick => "quick",
                    ScanPass::Standard => "standard",
                    ScanPass::Inverted => "inverted",
                    ScanPass::Smoothed => "smoothed",
                    ScanPass::Sharpened => "sharpened",
                    ScanPass::Coarse => "coarse",
                    ScanPass::Rqrr => "rqrr",
                };
                *by_pass.entry(pass.to_owned()).or_default() += 1;
            }
        }
        let rq_result = if skip_rqrr {
            None
        } else {
            Some(measure(reps, || rqrr_decode(&frame)))
        };
        for g in groups(sample) {
            let s = ours.entry(g.clone()).or_default();
            s.times.push(ms);
            if scored {
                s.scored += 1;
                s.detected += usize::from(hit.is_some());
            }
            if let Some((r, rms)) = &rq_result {
                let s = rq.entry(g.clone()).or_default();
                s.times.push(*rms);
                match r {
                    Err(()) => s.panics += 1,
                    Ok(texts) if scored => {
                        let e = String::from_utf8_lossy(expected.unwrap_or_default());
                        s.detected += usize::from(texts.iter().any(|t| *t == e));
                    }
                    Ok(_) => {}
                }
                if scored {
                    s.scored += 1;
                }
            }
            if let Some(row) = py.as_ref().and_then(|p| p.get(&sample.rel)) {
                let s = zx.entry(g.clone()).or_default();
                s.times.push(row.ms);
                if scored {
                    if let Some(ok) = row.ok {
                        s.scored += 1;
                        s.detected += usize::from(ok);
                    }
                }
            }
        }
    }

    println!();
    println!(
        "{:44} | {:>15} {:>6} {:>6} | {:>15} {:>6} {:>6} {:>3} | {:>15} {:>6} {:>6} | {:>6}",
        "set",
        "scanner det",
        "med",
        "p95",
        "rqrr det",
        "med",
        "p95",
        "pan",
        "zxing-cpp det",
        "med",
        "p95",
        "ratio"
    );
    let empty = Stats::default();
    for (group, s) in &ours {
        let r = rq.get(group).unwrap_or(&empty);
        let z = zx.get(group).unwrap_or(&empty);
        let ratio = match (s.median(), z.median()) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:6.2}", a / b),
            _ => "     -".to_owned(),
        };
        println!(
            "{:44} | {:>15} {} {} | {:>15} {} {} {:3} | {:>15} {} {} | {}",
            group,
            s.rate(),
            fmt_ms(s.median()),
            fmt_ms(s.p95()),
            r.rate(),
            fmt_ms(r.median()),
            fmt_ms(r.p95()),
            r.panics,
            z.rate(),
            fmt_ms(z.median()),
            fmt_ms(z.p95()),
            ratio
        );
    }
    println!();
    println!("scanner detections by pass: {by_pass:?}");
    let merged: String = structured.values().cloned().collect();
    let merged_ok = structured_expected
        .as_deref()
        .is_some_and(|e| merged.as_bytes() == e);
    println!(
        "zxingcpp-qrcode-7 (structured append, not scored per image): {} parts decoded, merged text {}",
        structured.len(),
        if merged_ok {
            "matches 01.txt"
        } else {
            "does NOT match 01.txt"
        }
    );
    println!("ratio = scanner median / zxing-cpp median (<= 1.0 means at least as fast)");
}
