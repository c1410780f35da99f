//! Fuzz target `bulk_csv` (opt-in: `--features server`): the reference server's bulk device
//! CSV import, `enroll_server::bulk::import_csv`, on arbitrary files, into an in-memory SQLite
//! database with the server's schema and one bulk profile.
//!
//! Covers the record-length guard in front of the `csv` reader, header parsing (identifier and
//! custom attribute columns), per-row validation (IMEI with its Luhn digit, serial +
//! manufacturer, attribute values), duplicate detection within the file and against stored
//! devices, both insert strategies and the bounded error report; into a self-maintained
//! profile or as Samsung KME uploads. Every import is rolled back, so runs stay independent.
//!
//! Input layout: byte 0 picks the target (bit 0), tight limits (bit 1), whether the size
//! hint is given (bit 2) and the separator (bits 3-4: the one the header uses, `,`, `;` or
//! tab); the rest is the file.
//!
//! Checks beyond "no panic": the report is bounded and consistent (listed errors at most the
//! limit and at most the count; nothing imported when a line is rejected).
//!
//! Opt-in because it builds the whole server (axum, hyper, SQLite): `scripts/fuzz.sh bulk_csv`.
#![no_main]

use enroll_server::bulk::{import_csv, ImportLimits, ImportTarget};
use libfuzzer_sys::fuzz_target;
use rusqlite::Connection;
use std::cell::RefCell;

thread_local! {
    static DB: RefCell<Connection> = RefCell::new(database());
}

fn database() -> Connection {
    let c = Connection::open_in_memory().expect("in-memory SQLite");
    enroll_server::store::apply_schema(&c).expect("the server's schema");
    c.execute(
        "INSERT INTO bulk_profiles(pk, id, name, kind, created_at, modified_at) \
         VALUES (1, 'p1', 'One', 'self_maintained', 0, 0)",
        [],
    )
    .expect("a bulk profile");
    c
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, csv)) = data.split_first() else {
        return;
    };
    let target = if mode & 1 == 0 {
        ImportTarget::Profile { pk: 1 }
    } else {
        ImportTarget::KmeUploads
    };
    let delimiter = match (mode >> 3) & 3 {
        0 => None,
        1 => Some(b','),
        2 => Some(b';'),
        _ => Some(b'\t'),
    };
    let limits = if mode & 2 == 0 {
        ImportLimits {
            delimiter,
            ..ImportLimits::default()
        }
    } else {
        ImportLimits {
            max_rows: 20,
            max_columns: 8,
            max_field_bytes: 40,
            max_record_bytes: 256,
            max_reported_errors: 3,
            delimiter,
        }
    };
    let size_hint = if mode & 4 == 0 { 0 } else { csv.len() as u64 };
    DB.with(|db| {
        let mut db = db.borrow_mut();
        let tx = db.transaction().expect("a transaction");
        let report = import_csv(&tx, &target, csv, 1, &limits, size_hint).expect("no storage error");
        assert!(
            report.errors.len() <= limits.max_reported_errors,
            "report not bounded"
        );
        assert!(report.errors.len() as u64 <= report.error_count);
        if report.error_count > 0 {
            assert_eq!(report.imported, 0, "imported despite rejected lines");
        }
        assert!(
            report.imported <= report.rows,
            "more devices imported than rows read"
        );
        drop(tx); // rolled back
    });
});
