//! Bulk-enrollment CSV import benchmark (not a test).
//!
//! Generates a 200,000-row CSV with about 3 % invalid rows (bad Luhn digits, short IMEIs,
//! serial numbers without manufacturer, duplicates) and the same file with only its valid
//! rows, then measures, each in a child process of its own (so that the peak memory, VmHWM, is
//! the importer's alone):
//!
//! - (a) the import of the file with invalid rows: every row validated, the bad ones reported,
//!   nothing imported (all or nothing);
//! - (b) the import of the valid file: validated and persisted in one transaction into the
//!   server's real schema (unique indexes included);
//! - a plain `sqlite3 .import` of the valid file into an empty table (when `sqlite3` is on the
//!   PATH), and the ratio (b) / sqlite3.
//!
//! Run: `cargo bench -p enroll-server --bench bulk_import` (add `-- --rows N --runs N`, and
//! `--breakdown` for the time of CSV parsing alone, and of the rows and of the commit).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enroll_proto::{BulkProfileConfig, BulkProfileKind};
use enroll_server::bulk::{self, ImportLimits, ImportTarget, ProfileRow};
use enroll_server::store::Store;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn luhn_digit(d14: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, d) in d14.iter().rev().enumerate() {
        let mut x = u32::from(*d);
        if i % 2 == 0 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    ((10 - sum % 10) % 10) as u8
}

fn imei(n: u64) -> String {
    // A TAC-like prefix and a scrambled serial number: a bijection of n < 10^12 (the multiplier
    // is prime to 10), so distinct rows get distinct IMEIs, in no particular order.
    let scrambled = (n.wrapping_mul(982_451_653).wrapping_add(12_345)) % 1_000_000_000_000;
    let body = format!("35{scrambled:012}");
    let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    format!("{body}{}", luhn_digit(&digits))
}

/// Writes the file; returns (rows, invalid rows).
fn generate(path: &Path, rows: u64, with_invalid: bool) -> (u64, u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "imei,serial_number,manufacturer,department,cost_center\r").unwrap();
    let makers = ["Samsung", "Google", "Zebra", "Honeywell", "Lenovo"];
    let mut invalid = 0;
    for i in 0..rows {
        let bad = with_invalid && i % 33 == 17; // ~3 %
        let dept = ["Sales", "Support", "Logistics", "Field"][(i % 4) as usize];
        let maker = makers[(i % 5) as usize];
        let line = if bad {
            invalid += 1;
            match (i / 33) % 4 {
                0 => {
                    let mut s = imei(i);
                    let last = s.pop().unwrap();
                    s.push(if last == '9' {
                        '0'
                    } else {
                        (last as u8 + 1) as char
                    });
                    format!("{s},,,{dept},CC-{}", i % 1000)
                }
                1 => format!("{},,,{dept},CC-{}", &imei(i)[..14], i % 1000),
                2 => format!(",SN{i:010},,{dept},CC-{}", i % 1000),
                _ => format!("{},,,{dept},CC-{}", imei(i.saturating_sub(1)), i % 1000),
            }
        } else {
            match i % 10 {
                0..=4 => format!("{},,,{dept},CC-{}", imei(i), i % 1000),
                5..=7 => format!(",SN{i:010},{maker},{dept},CC-{}", i % 1000),
                _ => format!("{},SN{i:010},{maker},{dept},CC-{}", imei(i), i % 1000),
            }
        };
        write!(f, "{line}\r\n").unwrap();
    }
    f.flush().unwrap();
    (rows, invalid)
}

/// CPU time (user + system) of this process's waited-for children, in milliseconds (fields
/// `cutime` and `cstime` of `/proc/self/stat`, in clock ticks of 10 ms).
fn children_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After "pid (comm)": state is field 3, so cutime (16) and cstime (17) are at 13 and 14.
    let ticks: f64 = [13, 14]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks * 10.0
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The importer, in a process of its own: prints one JSON line. `variant`: `full`, or `parse`
/// (CSV parsing only, for the breakdown).
fn child(csv: &Path, db: &Path, variant: &str) {
    if variant == "parse" {
        let t0 = Instant::now();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(std::io::BufReader::with_capacity(
                256 * 1024,
                std::fs::File::open(csv).unwrap(),
            ));
        let mut record = csv::ByteRecord::new();
        let mut rows = 0u64;
        while reader.read_byte_record(&mut record).unwrap() {
            rows += 1;
        }
        println!(
            "{{\"import_ms\":{:.1},\"rows\":{rows},\"imported\":0,\"stored\":0,\"errors\":0,\"reported\":0,\"vmhwm_kib\":{}}}",
            t0.elapsed().as_secs_f64() * 1000.0,
            vm_hwm_kib()
        );
        return;
    }
    let started = Instant::now();
    let mut store = Store::open(db).unwrap();
    let profile = ProfileRow {
        pk: 0,
        id: "bench".into(),
        name: "bench".into(),
        description: String::new(),
        kind: BulkProfileKind::SelfMaintained,
        is_default: false,
        tokenless: true,
        user_id: None,
        config: BulkProfileConfig::default(),
        token_generation: 0,
        token_id: None,
        created_at: 0,
        modified_at: 0,
    };
    let pk = bulk::insert_profile(store.conn(), &profile).unwrap();
    let opened = started.elapsed();
    let t0 = Instant::now();
    let load = bulk::begin_bulk_load(store.conn()).unwrap();
    let tx = store
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let input = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(csv).unwrap());
    let report = bulk::import_csv(
        &tx,
        &ImportTarget::Profile { pk },
        input,
        1,
        &ImportLimits::default(),
        std::fs::metadata(csv).unwrap().len(),
    )
    .unwrap();
    let parsed_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let t1 = Instant::now();
    if report.error_count == 0 {
        tx.commit().unwrap();
    } else {
        drop(tx);
    }
    let commit_ms = t1.elapsed().as_secs_f64() * 1000.0;
    bulk::end_bulk_load(store.conn(), load).unwrap();
    let import_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let stored: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM bulk_devices", [], |r| r.get(0))
        .unwrap();
    println!(
        "{{\"import_ms\":{import_ms:.1},\"rows_ms\":{parsed_ms:.1},\"commit_ms\":{commit_ms:.1},\"open_ms\":{:.1},\"rows\":{},\"imported\":{},\"stored\":{stored},\"errors\":{},\"reported\":{},\"vmhwm_kib\":{}}}",
        opened.as_secs_f64() * 1000.0,
        report.rows,
        report.imported,
        report.error_count,
        report.errors.len(),
        vm_hwm_kib()
    );
}

fn run_child(csv: &Path, dir: &Path, tag: &str) -> serde_json::Value {
    run_variant(csv, dir, tag, "full")
}

fn run_variant(csv: &Path, dir: &Path, tag: &str, variant: &str) -> serde_json::Value {
    let db = dir.join(format!("{tag}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let cpu0 = children_cpu_ms();
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--child")
        .arg(csv)
        .arg(&db)
        .arg(variant)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cpu = children_cpu_ms() - cpu0;
    let text = String::from_utf8(out.stdout).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    v["process_cpu_ms"] = serde_json::json!(cpu);
    v
}

/// Wall and CPU time of `sqlite3 .import` (the whole process).
fn sqlite3_import(csv: &Path, dir: &Path) -> Option<(f64, f64)> {
    let db = dir.join("sqlite3-import.db");
    let _ = std::fs::remove_file(&db);
    let cpu0 = children_cpu_ms();
    let started = Instant::now();
    let status = Command::new("sqlite3")
        .arg(&db)
        .arg(".mode csv")
        .arg(format!(".import {} devices", csv.display()))
        .status()
        .ok()?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    status.success().then_some((ms, children_cpu_ms() - cpu0))
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(
            &PathBuf::from(&args[i + 1]),
            &PathBuf::from(&args[i + 2]),
            args.get(i + 3).map_or("full", String::as_str),
        );
        return;
    }
    let rows = arg(&args, "--rows", 200_000);
    let runs = arg(&args, "--runs", 3).max(1);
    let dir = std::env::temp_dir().join(format!("enroll-bulk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let invalid_csv = dir.join("with-invalid.csv");
    let valid_csv = dir.join("valid.csv");
    let (_, invalid) = generate(&invalid_csv, rows, true);
    generate(&valid_csv, rows, false);
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!(
        "bulk_import: {rows} rows; file (a) {} bytes with {invalid} invalid rows ({:.1} %); file (b) {} bytes, all valid; {runs} runs each, median",
        size(&invalid_csv),
        invalid as f64 * 100.0 / rows as f64,
        size(&valid_csv)
    );

    // Rounds interleave (a), (b) and sqlite3 so that a load change on the machine hits all three.
    let (mut a_ms, mut b_ms, mut s_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut b_cpu, mut s_cpu) = (Vec::new(), Vec::new());
    let (mut a_mem, mut b_mem) = (0, 0);
    let (mut a_last, mut b_last) = (serde_json::Value::Null, serde_json::Value::Null);
    let mut have_sqlite = true;
    for _ in 0..runs {
        let r = run_child(&invalid_csv, &dir, "a");
        a_ms.push(r["import_ms"].as_f64().unwrap());
        a_mem = a_mem.max(r["vmhwm_kib"].as_u64().unwrap());
        a_last = r;
        let r = run_child(&valid_csv, &dir, "b");
        b_ms.push(r["import_ms"].as_f64().unwrap());
        b_cpu.push(r["process_cpu_ms"].as_f64().unwrap());
        b_mem = b_mem.max(r["vmhwm_kib"].as_u64().unwrap());
        b_last = r;
        if have_sqlite {
            match sqlite3_import(&valid_csv, &dir) {
                Some((ms, cpu)) => {
                    s_ms.push(ms);
                    s_cpu.push(cpu);
                }
                None => have_sqlite = false,
            }
        }
    }
    assert_eq!(
        a_last["stored"], 0,
        "the file with invalid rows must import nothing"
    );
    assert_eq!(b_last["stored"].as_u64(), Some(rows));
    let ratios: Vec<f64> = b_ms.iter().zip(&s_ms).map(|(b, s)| b / s).collect();
    let (a, b) = (median(a_ms), median(b_ms));
    println!(
        "(a) validate file with invalid rows: {a:.0} ms, {} rows, {} errors ({} listed), 0 imported; peak memory (VmHWM) {:.1} MiB",
        a_last["rows"], a_last["errors"], a_last["reported"], a_mem as f64 / 1024.0
    );
    println!(
        "(b) validate + import valid file:    {b:.0} ms, {} rows imported; peak memory (VmHWM) {:.1} MiB",
        b_last["imported"],
        b_mem as f64 / 1024.0
    );
    if s_ms.is_empty() {
        println!("sqlite3 .import: sqlite3 not found on PATH (apt-get install sqlite3): no ratio");
    } else {
        let s = median(s_ms);
        println!("sqlite3 .import of file (b) into an empty table: {s:.0} ms");
        let (bc, sc) = (median(b_cpu), median(s_cpu));
        println!(
            "CPU time (whole processes, user + system): importer (b) {bc:.0} ms, sqlite3 {sc:.0} ms, ratio {:.2}",
            bc / sc
        );
        println!(
            "ratio (b) / sqlite3 .import = {:.2} (median of per-round ratios {:.2}; target <= 2); peak memory {:.1} MiB (target <= 128)",
            b / s,
            median(ratios),
            a_mem.max(b_mem) as f64 / 1024.0
        );
    }
    if args.iter().any(|a| a == "--breakdown") {
        let ms = median(
            (0..runs)
                .map(|_| {
                    run_variant(&valid_csv, &dir, "x", "parse")["import_ms"]
                        .as_f64()
                        .unwrap()
                })
                .collect(),
        );
        println!("breakdown: CSV parsing alone of file (b): {ms:.0} ms");
        println!(
            "breakdown: last (b) run: {} ms validating and inserting rows (index build included), {} ms commit",
            b_last["rows_ms"], b_last["commit_ms"]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
