//! Unit tests of the CSV import, export and IMEI checks.

use enroll_proto::ImportReport;
use rusqlite::Connection;

use super::*;

fn db() -> Connection {
    let c = Connection::open_in_memory().unwrap();
    crate::store::apply_schema(&c).unwrap();
    c.execute(
        "INSERT INTO bulk_profiles(pk, id, name, kind, created_at, modified_at) VALUES (1, 'p1', 'One', 'self_maintained', 0, 0)",
        [],
    )
    .unwrap();
    c.execute(
        "INSERT INTO bulk_profiles(pk, id, name, kind, created_at, modified_at) VALUES (2, 'p2', 'Two', 'self_maintained', 0, 0)",
        [],
    )
    .unwrap();
    c
}

/// All or nothing, as the service does it.
fn import_with(c: &mut Connection, target: &ImportTarget, csv: &[u8], limits: &ImportLimits) -> ImportReport {
    let tx = c.transaction().unwrap();
    let r = import_csv(&tx, target, csv, 1, limits, 0).unwrap();
    if r.error_count == 0 {
        tx.commit().unwrap();
    }
    r
}

fn import(c: &mut Connection, pk: i64, csv: &str) -> ImportReport {
    import_with(
        c,
        &ImportTarget::Profile { pk },
        csv.as_bytes(),
        &ImportLimits::default(),
    )
}

fn count(c: &Connection) -> i64 {
    c.query_row("SELECT COUNT(*) FROM bulk_devices", [], |r| r.get(0))
        .unwrap()
}

const IMEI_A: &str = "490154203237518";
const IMEI_B: &str = "356938035643809";

#[test]
fn luhn_and_imei() {
    assert!(parse_imei(IMEI_A).is_ok());
    assert!(parse_imei(IMEI_B).is_ok());
    assert!(parse_imei("490154203237519").is_err());
    assert!(parse_imei("49015420323751").is_err());
    assert!(parse_imei("4901542032375180").is_err());
    assert!(parse_imei("49015420323751a").is_err());
    assert!(parse_imei("４90154203237518").is_err());
    assert_eq!(
        format_imei(parse_imei("000000000000000").unwrap()),
        "000000000000000"
    );
}

#[test]
fn a_good_file_imports_with_attributes() {
    let mut c = db();
    let r = import(
        &mut c,
        1,
        &format!(
            "\u{feff}IMEI,Serial Number,MANUFACTURER,dept,site\r\n{IMEI_A},,,Sales,\r\n,R58N1,Samsung,\"Sup, port\",\"Paris\"\r\n,,,,\r\n\r\n"
        ),
    );
    assert_eq!(r.error_count, 0, "{r:?}");
    assert_eq!((r.rows, r.imported, r.skipped), (2, 2, 1));
    assert_eq!(r.attribute_columns, vec!["dept", "site"]);
    let rows = list_devices(&c, Some(1), 0, 10).unwrap();
    assert_eq!(rows[0].attributes.get("dept").unwrap(), "Sales");
    assert!(!rows[0].attributes.contains_key("site"));
    assert_eq!(rows[1].attributes.get("dept").unwrap(), "Sup, port");
    assert_eq!(rows[1].manufacturer.as_deref(), Some("Samsung"));
    // Manufacturer is compared case-insensitively.
    assert_eq!(
        holder_of_serial(&c, "R58N1", "SAMSUNG").unwrap().unwrap().0.id,
        rows[1].id
    );
}

#[test]
fn one_bad_row_rejects_the_whole_file_with_every_bad_line() {
    let mut c = db();
    let csv = format!(
        "imei,serial_number,manufacturer\n{IMEI_A},,\n490154203237519,,\n,SER1,\n,,Acme\n12,,\n{IMEI_B},,\n{IMEI_A},,\n,S2,Acme\n,S2,ACME\n"
    );
    let r = import(&mut c, 1, &csv);
    assert_eq!(r.imported, 0);
    let lines: Vec<u64> = r.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 8, 10], "{r:?}");
    assert_eq!(r.error_count, 6);
    assert!(r.errors[0].reason.contains("Luhn"));
    assert!(r.errors[1].reason.contains("manufacturer"));
    assert!(r.errors[2].reason.contains("too little"));
    assert!(r.errors[4].reason.contains("line 2"));
    assert!(r.errors[5].reason.contains("line 9"));
    for e in &r.errors {
        assert!(!e.reason.contains("4901542"), "no value echoed: {}", e.reason);
    }
}

#[test]
fn duplicates_against_other_profiles_are_reported() {
    let mut c = db();
    assert_eq!(import(&mut c, 1, &format!("imei\n{IMEI_A}\n")).imported, 1);
    let r = import(&mut c, 2, &format!("imei\n{IMEI_B}\n{IMEI_A}\n"));
    assert_eq!(r.error_count, 1);
    assert_eq!(r.errors[0].line, 3);
    assert!(r.errors[0].reason.contains("\"One\""), "{r:?}");
    let r = import(&mut c, 1, &format!("imei\n{IMEI_A}\n"));
    assert!(r.errors[0].reason.contains("this profile"));
}

#[test]
fn kme_resync_skips_known_devices() {
    let mut c = db();
    let mut up = |csv: &str| {
        import_with(
            &mut c,
            &ImportTarget::KmeUploads,
            csv.as_bytes(),
            &ImportLimits::default(),
        )
    };
    assert_eq!(up(&format!("imei\n{IMEI_A}\n")).imported, 1);
    let r = up(&format!("imei\n{IMEI_A}\n{IMEI_B}\n"));
    assert_eq!((r.imported, r.skipped, r.error_count), (1, 1, 0));
}

#[test]
fn hostile_inputs_are_bounded() {
    let mut c = db();
    let limits = ImportLimits {
        max_rows: 3,
        max_columns: 4,
        max_field_bytes: 16,
        max_record_bytes: 64,
        max_reported_errors: 2,
        delimiter: None,
    };
    let mut run = |csv: &[u8]| import_with(&mut c, &ImportTarget::Profile { pk: 1 }, csv, &limits);
    // Empty, header only, no usable column.
    assert_eq!(run(b"").errors[0].line, 1);
    assert_eq!(run(b"imei\n").imported, 0);
    assert!(run(b"foo,bar\n1,2\n").errors[0].reason.contains("header needs"));
    // Too many columns, duplicate or invalid names.
    assert!(run(b"imei,a,b,c,d\n").errors[0].reason.contains("columns"));
    assert!(run(b"imei,IMEI\n").errors[0].reason.contains("repeats"));
    assert!(run(b"imei,=cmd()\n").errors[0].reason.contains("attribute names"));
    // A quote never closed: the record limit stops the parser, the report names the quote's line.
    let mut open = b"imei\n\"".to_vec();
    open.extend(std::iter::repeat_n(b'1', 10_000));
    let r = run(&open);
    assert!(r.errors[0].reason.contains("never closed"), "{r:?}");
    assert_eq!(r.errors[0].line, 2, "{r:?}");
    // Long lines without quotes too.
    let mut long = b"imei\n".to_vec();
    long.extend(std::iter::repeat_n(b'9', 100));
    assert!(run(&long).errors[0].reason.contains("longer than"));
    // Field longer than the field limit but within the record limit.
    let r = run(format!("imei,a\n{IMEI_A},{}\n", "x".repeat(20)).as_bytes());
    assert!(r.errors[0].reason.contains("longer than 16 bytes"));
    // Not UTF-8, control characters, NUL.
    let r = run(b"imei,a\n490154203237518,\xff\xfe\n");
    assert!(r.errors[0].reason.contains("UTF-8"));
    let r = run(b"serial,manufacturer\nA\x01B,x\n");
    assert!(r.errors[0].reason.contains("control"));
    let r = run(b"serial,manufacturer\nA\x00B,x\n");
    assert!(r.errors[0].reason.contains("control"));
    // Wrong field counts.
    let r = run(format!("imei,a\n{IMEI_A}\n").as_bytes());
    assert!(r.errors[0].reason.contains("fields"));
    // Too many rows.
    let r = run(b"serial,manufacturer\na,x\nb,x\nc,x\nd,x\ne,x\n");
    assert!(r.errors[0].reason.contains("more than 3 rows"), "{r:?}");
    // The error list is bounded, the count is not.
    let r = run(b"imei\n1\n2\n3\n");
    assert_eq!((r.errors.len(), r.error_count), (2, 3));
    // UTF-16 (a BOM the UTF-8 reader does not take) is refused, not misread.
    let r = run(b"\xff\xfei\x00m\x00e\x00i\x00\n\x00");
    assert!(r.error_count > 0);
    assert_eq!(count(&c), 0, "nothing was kept from any hostile file");
}

#[test]
fn large_imports_rebuild_the_indexes_and_keep_the_rules() {
    let mut c = db();
    assert_eq!(import(&mut c, 1, &format!("imei\n{IMEI_A}\n")).imported, 1);
    let up = import_with(
        &mut c,
        &ImportTarget::KmeUploads,
        b"serial_number,manufacturer\nK1,Samsung\n",
        &ImportLimits::default(),
    );
    assert_eq!(up.imported, 1);
    let big = |extra: &str| {
        // Rows long enough for the size hint to pick the rebuild strategy.
        let mut csv = String::from("imei,serial_number,manufacturer,pad\n");
        for n in 0..12_000u64 {
            csv.push_str(&format!(",SN{n},Zebra,{}\n", "p".repeat(20)));
        }
        csv.push_str(extra);
        csv
    };
    let indexes = |c: &Connection| -> i64 {
        c.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'bulk_devices'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let run = |c: &mut Connection, target: &ImportTarget, csv: &str| {
        let tx = c.transaction().unwrap();
        let r = import_csv(
            &tx,
            target,
            csv.as_bytes(),
            1,
            &ImportLimits::default(),
            csv.len() as u64,
        )
        .unwrap();
        if r.error_count == 0 {
            tx.commit().unwrap();
        }
        r
    };
    // A duplicate of another profile's device and a file duplicate: rejected, indexes back.
    let r = run(
        &mut c,
        &ImportTarget::Profile { pk: 2 },
        &big(&format!("{IMEI_A},,,\n,SN5,ZEBRA,\n")),
    );
    assert_eq!(r.error_count, 2, "{:?}", r.errors);
    assert!(r.errors[0].reason.contains("\"One\""));
    assert!(r.errors[1].reason.contains("line 7"));
    assert_eq!(indexes(&c), 3);
    assert_eq!(count(&c), 2);
    // A clean file: imported, indexes rebuilt (uniqueness enforced again).
    let r = run(&mut c, &ImportTarget::Profile { pk: 2 }, &big(""));
    assert_eq!((r.imported, r.error_count), (12_000, 0));
    assert_eq!(indexes(&c), 3);
    assert!(c
        .execute(
            "INSERT INTO bulk_devices(profile_pk, serial, manufacturer, manufacturer_norm, created_at) VALUES (1, 'SN1', 'Zebra', 'zebra', 0)",
            [],
        )
        .is_err());
    // A KME re-sync of a big list skips the known device.
    let mut csv = String::from("serial_number,manufacturer,pad\nK1,SAMSUNG,\n");
    for n in 0..12_000u64 {
        csv.push_str(&format!("KME{n},Samsung,{}\n", "p".repeat(20)));
    }
    let r = run(&mut c, &ImportTarget::KmeUploads, &csv);
    assert_eq!(
        (r.imported, r.skipped, r.error_count),
        (12_000, 1, 0),
        "{:?}",
        r.errors
    );
    assert_eq!(indexes(&c), 3);
}

#[test]
fn every_strategy_gives_the_same_report() {
    // The same files through the per-row strategy (no size hint) and the rebuild strategy
    // with its deferred duplicate check (a large size hint): same reports, nothing stored.
    let mut c = db();
    assert_eq!(import(&mut c, 1, &format!("imei\n{IMEI_A}\n")).imported, 1);
    let kme = import_with(
        &mut c,
        &ImportTarget::KmeUploads,
        b"serial_number,manufacturer\nK1,Samsung\n",
        &ImportLimits::default(),
    );
    assert_eq!(kme.imported, 1);
    let rows = |n: u64| -> String {
        (0..n)
            .map(|i| format!(",SN{i},Zebra,{}\n", "p".repeat(20)))
            .collect()
    };
    let files = [
        // Duplicates before the first bad row, then a bad row, then more duplicates.
        format!(
            "imei,serial_number,manufacturer,pad\n{}{IMEI_A},,,\n,SN3,zebra,\n,SN9,,\n,SN4,ZEBRA,\n,K1,SAMSUNG,\n{}",
            rows(12_000),
            rows(3)
        ),
        // Only a duplicate near the end: found by the index build.
        format!("imei,serial_number,manufacturer,pad\n{},SN11999,Zebra,\n", rows(12_000)),
        // A bad row first: the check starts at once.
        format!("imei,serial_number,manufacturer,pad\n123,,,\n{}{}", rows(12_000), rows(2)),
        // A bad row last.
        format!("imei,serial_number,manufacturer,pad\n{}abc,,,\n", rows(12_000)),
    ];
    let before = count(&c);
    for (n, csv) in files.iter().enumerate() {
        for max in [1000, 3] {
            let limits = ImportLimits {
                max_reported_errors: max,
                ..ImportLimits::default()
            };
            let mut reports = Vec::new();
            for hint in [0, csv.len() as u64] {
                let tx = c.transaction().unwrap();
                let r = import_csv(
                    &tx,
                    &ImportTarget::Profile { pk: 2 },
                    csv.as_bytes(),
                    1,
                    &limits,
                    hint,
                )
                .unwrap();
                drop(tx);
                reports.push(r);
            }
            assert!(reports[0].error_count > 0, "file {n}: {:?}", reports[0].errors);
            assert_eq!(reports[0], reports[1], "file {n}, max {max}");
            assert_eq!(count(&c), before);
        }
    }
    let r = {
        let tx = c.transaction().unwrap();
        import_csv(
            &tx,
            &ImportTarget::Profile { pk: 2 },
            files[0].as_bytes(),
            1,
            &ImportLimits::default(),
            files[0].len() as u64,
        )
        .unwrap()
    };
    let listed: Vec<(u64, &str)> = r.errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
    assert_eq!(r.error_count, 8, "{listed:?}");
    let expected = [
        (12_002, "\"One\""),
        (12_003, "line 5"),
        (12_004, "manufacturer"),
        (12_005, "line 6"),
        (12_006, "Samsung KME"),
        (12_007, "line 2"),
    ];
    for (i, (line, fragment)) in expected.into_iter().enumerate() {
        assert!(
            listed[i].0 == line && listed[i].1.contains(fragment),
            "{listed:?}"
        );
    }
}

#[test]
fn a_bulk_load_leaves_wal_only_when_alone_and_always_comes_back() {
    let dir = std::env::temp_dir().join(format!(
        "enroll-bulk-load-{}-{}",
        std::process::id(),
        crate::crypto::random_b64(6).unwrap()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.db");
    let mut store = crate::store::Store::open(&path).unwrap();
    let mode = |c: &Connection| -> String { c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap() };
    let csv = "imei\n490154203237518\n";
    let load_once = |store: &mut crate::store::Store| -> (bool, String) {
        let load = begin_bulk_load(store.conn()).unwrap();
        let during = mode(store.conn());
        let tx = store.conn_mut().transaction().unwrap();
        let r = import_csv(
            &tx,
            &ImportTarget::KmeUploads,
            csv.as_bytes(),
            1,
            &ImportLimits::default(),
            0,
        )
        .unwrap();
        assert_eq!(r.error_count, 0);
        tx.commit().unwrap();
        end_bulk_load(store.conn(), load).unwrap();
        (load.rollback_journal(), during)
    };
    // Alone: a rollback journal during the load, WAL again after.
    assert_eq!(load_once(&mut store), (true, "delete".to_owned()));
    assert_eq!(mode(store.conn()), "wal");
    // Another connection open: SQLite refuses the switch at once and the load stays in WAL.
    let other = Connection::open(&path).unwrap();
    let _: i64 = other
        .query_row("SELECT COUNT(*) FROM bulk_devices", [], |r| r.get(0))
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(load_once(&mut store), (false, "wal".to_owned()));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "no busy wait"
    );
    assert_eq!(mode(store.conn()), "wal");
    let cache: i64 = store
        .conn()
        .query_row("PRAGMA cache_size", [], |r| r.get(0))
        .unwrap();
    assert_ne!(cache, BULK_CACHE_KIB, "the page cache is restored");
    drop(other);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn quotes_and_crlf() {
    let mut c = db();
    let r = import(
        &mut c,
        1,
        "serial_number,manufacturer,note\r\n\"SN \"\"1\"\"\",\"Acme\",\"two\r\nlines\"\r\n",
    );
    // A line break inside a quoted value (RFC 4180) is accepted, folded to a space (issue 14).
    assert_eq!((r.error_count, r.imported), (0, 1), "{r:?}");
    assert_eq!(
        list_devices(&c, Some(1), 0, 10).unwrap()[0]
            .attributes
            .get("note")
            .unwrap(),
        "two lines"
    );
    let mut c = db();
    let r = import(
        &mut c,
        1,
        "serial_number,manufacturer,note\r\n\"SN \"\"1\"\"\",\"Acme\",\"a, b\"\r\n",
    );
    assert_eq!(r.imported, 1, "{r:?}");
    let d = list_devices(&c, Some(1), 0, 10).unwrap();
    assert_eq!(d[0].serial.as_deref(), Some("SN \"1\""));
}

#[test]
fn output_is_formula_safe_and_reimportable() {
    let mut c = db();
    let r = import(
        &mut c,
        1,
        &format!("imei,serial,manufacturer,a\n{IMEI_A},=1+1,Acme,@SUM(A1)\n,-x,+y,plain\n"),
    );
    assert_eq!(r.imported, 2, "{r:?}");
    let mut out = CsvOut::new(Vec::new(), attribute_names(&c, Some(1)).unwrap()).unwrap();
    for d in list_devices(&c, Some(1), 0, 10).unwrap() {
        out.device(&d).unwrap();
    }
    let text = String::from_utf8(out.finish().unwrap()).unwrap();
    assert_eq!(
        text,
        format!("imei,serial_number,manufacturer,a\r\n{IMEI_A},'=1+1,Acme,'@SUM(A1)\r\n,'-x,'+y,plain\r\n")
    );
    assert_eq!(template(), b"imei,serial_number,manufacturer\r\n");
    assert_eq!(safe_cell("\tx"), "'\tx");
    assert_eq!(safe_cell("ok"), "ok");
}

// ---------------------------------------------------------------------------------------------
// RFC 4180 and the files spreadsheets write (issue 14)

fn import_limits(c: &mut Connection, csv: &[u8], limits: &ImportLimits) -> ImportReport {
    import_with(c, &ImportTarget::Profile { pk: 1 }, csv, limits)
}

#[test]
fn crlf_files_report_the_right_lines() {
    let mut c = db();
    let csv = format!("imei,dept\r\n{IMEI_A},Sales\r\n\r\nnot-an-imei,x\r\n{IMEI_B},y\r\n12,z\r\n");
    let r = import(&mut c, 1, &csv);
    let lines: Vec<u64> = r.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![4, 6], "{r:?}");
    // The same file with LF ends reports the same lines.
    let r = import(&mut c, 1, &csv.replace("\r\n", "\n"));
    assert_eq!(
        r.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![4, 6],
        "{r:?}"
    );
    // And a good CRLF file imports with its blank lines skipped silently.
    let r = import(&mut c, 1, &format!("imei,dept\r\n{IMEI_A},Sales\r\n\r\n"));
    assert_eq!((r.error_count, r.imported, r.skipped), (0, 1, 0), "{r:?}");
    let rows = list_devices(&c, Some(1), 0, 10).unwrap();
    assert_eq!(rows[0].attributes.get("dept").unwrap(), "Sales");
}

#[test]
fn semicolon_and_tab_separators_are_detected_from_the_header() {
    for sep in [";", "\t"] {
        let mut c = db();
        let csv = format!(
            "imei{sep}serial_number{sep}manufacturer{sep}dept\r\n{IMEI_A}{sep}{sep}{sep}\"Sales, EMEA\"\r\n{sep}R58N1{sep}Samsung{sep}Support\r\n"
        );
        let r = import(&mut c, 1, &csv);
        assert_eq!((r.error_count, r.imported), (0, 2), "{sep:?}: {r:?}");
        let rows = list_devices(&c, Some(1), 0, 10).unwrap();
        assert_eq!(rows[0].attributes.get("dept").unwrap(), "Sales, EMEA");
    }
}

#[test]
fn an_explicit_delimiter_wins_and_a_mismatch_is_explained() {
    let mut c = db();
    let semicolons = format!("imei;dept\n{IMEI_A};Sales\n");
    let comma = ImportLimits {
        delimiter: Some(b','),
        ..ImportLimits::default()
    };
    let r = import_limits(&mut c, semicolons.as_bytes(), &comma);
    assert_eq!(r.errors[0].line, 1);
    assert!(r.errors[0].reason.contains("semicolon-separated"), "{r:?}");
    assert!(r.errors[0].reason.contains("delimiter"), "{r:?}");
    let semi = ImportLimits {
        delimiter: Some(b';'),
        ..ImportLimits::default()
    };
    let r = import_limits(&mut c, semicolons.as_bytes(), &semi);
    assert_eq!((r.error_count, r.imported), (0, 1), "{r:?}");
}

#[test]
fn utf16_files_are_refused_with_the_way_to_save_as_utf8() {
    let text = format!("imei\r\n{IMEI_A}\r\n");
    let le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    let no_bom: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for file in [le, be, no_bom] {
        let mut c = db();
        let r = import_limits(&mut c, &file, &ImportLimits::default());
        assert_eq!((r.error_count, r.imported), (1, 0), "{r:?}");
        assert_eq!(r.errors[0].line, 1);
        assert!(r.errors[0].reason.contains("UTF-16"), "{r:?}");
        assert!(r.errors[0].reason.contains("UTF-8"), "{r:?}");
        assert_eq!(count(&c), 0);
    }
}

#[test]
fn quoted_fields_may_hold_line_breaks_and_quotes() {
    let mut c = db();
    let csv = format!(
        "imei,note,size\r\n{IMEI_A},\"two\r\nlines\",\"5\"\" screen\"\r\n{IMEI_B},plain,6\"\r\nbad,x,y\r\n"
    );
    let r = import(&mut c, 1, &csv);
    // The bad row is on line 5 of the file (the quoted field spans lines 2 and 3).
    assert_eq!(
        r.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![5],
        "{r:?}"
    );
    let r = import(
        &mut c,
        1,
        &format!("imei,note,size\r\n{IMEI_A},\"two\r\nlines\",\"5\"\" screen\"\r\n{IMEI_B},plain,6\"\r\n"),
    );
    assert_eq!((r.error_count, r.imported), (0, 2), "{r:?}");
    let rows = list_devices(&c, Some(1), 0, 10).unwrap();
    assert_eq!(rows[0].attributes.get("note").unwrap(), "two lines");
    assert_eq!(rows[0].attributes.get("size").unwrap(), "5\" screen");
    assert_eq!(rows[1].attributes.get("size").unwrap(), "6\"");
}

#[test]
fn an_unclosed_quote_is_named_with_its_line() {
    let mut c = db();
    let r = import(
        &mut c,
        1,
        &format!("imei,note\n{IMEI_A},ok\n{IMEI_B},\"never closed\n"),
    );
    assert!(r.error_count >= 1, "{r:?}");
    let e = r
        .errors
        .iter()
        .find(|e| e.reason.contains("never closed"))
        .unwrap();
    assert_eq!(e.line, 3, "{r:?}");
    assert_eq!(count(&c), 0);
}
