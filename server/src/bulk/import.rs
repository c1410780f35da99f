//! The all-or-nothing CSV import ([`import_csv`]), picking its strategy from the file size and
//! the table size.

use enroll_proto::ImportReport;
use rusqlite::{params, Connection};
use std::io::Read;

use super::*;

/// Validates a CSV and inserts its devices into `target`, inside the caller's transaction.
/// `size_hint` is the file size in bytes (0 when unknown), used to pick the bulk-load strategy.
///
/// Returns the report; commit only when `report.error_count == 0`, otherwise roll back.
/// Storage errors abort with `Err` (roll back too).
///
/// Strategies:
/// - small imports, or into a large table: the unique indexes stay; duplicates within the file
///   are found in memory, duplicates of existing devices by the insert itself (`OR IGNORE`, then
///   a lookup of the holder);
/// - large imports into a small table ([`REBUILD_MIN_ROWS`]): the two unique indexes are
///   dropped and built again at the end. For a self-maintained profile the duplicate check is
///   deferred: a file without duplicates (the usual case) never pays for it, the index build
///   proves it. At the first bad row, or when the index build finds a duplicate, the rows inserted
///   so far are checked in memory and the rest of the file is checked as it is read, so the
///   report is the same as with the other strategy. KME uploads (which skip devices already
///   known) check every row in memory, against the existing devices loaded first.
pub fn import_csv<R: Read>(
    c: &Connection,
    target: &ImportTarget,
    input: R,
    now: i64,
    limits: &ImportLimits,
    size_hint: u64,
) -> rusqlite::Result<ImportReport> {
    let mut out = Reporter {
        report: ImportReport::default(),
        max: limits.max_reported_errors,
    };
    let (mut reader, delimiter) = match csv_reader(input, limits, limits.delimiter) {
        Ok(r) => r,
        Err(reason) => {
            out.error(1, reason);
            return Ok(out.report);
        }
    };
    let mut record = csv::ByteRecord::new();

    let fatal_read = |out: &mut Reporter, e: csv::Error, lines: u64, open_quote: Option<u64>| {
        let reason = match e.kind() {
            csv::ErrorKind::Io(io)
                if io.get_ref().is_some_and(|i| i.is::<RecordTooLong>()) && open_quote.is_some() =>
            {
                let at = open_quote.unwrap_or(lines + 1);
                out.error(at, unclosed_quote(at));
                return;
            }
            csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|i| i.is::<RecordTooLong>()) => {
                format!(
                    "a record is longer than {} bytes (is a quote left open?); nothing was imported",
                    limits.max_record_bytes
                )
            }
            csv::ErrorKind::Io(_) => "the file could not be read".to_owned(),
            _ => "the file is not valid CSV".to_owned(),
        };
        out.error(lines + 1, reason);
    };

    // Header: the first record.
    let header = loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {
                if record.iter().all(|f| trim_ascii(f).is_empty()) {
                    continue;
                }
                let end = reader.position().byte();
                let line = record_line(reader.get_mut(), end, &record);
                match parse_header(&record, limits) {
                    Ok(h) => break h,
                    Err(reason) => {
                        out.error(line, header_hint(reason, &record, delimiter));
                        return Ok(out.report);
                    }
                }
            }
            Ok(false) => {
                out.error(
                    1,
                    "the file is empty: it needs a header line (imei,serial_number,manufacturer)",
                );
                return Ok(out.report);
            }
            Err(e) => {
                let r = reader.get_ref();
                let (lines, open_quote) = (r.lines, r.in_quotes.then_some(r.quote_line));
                fatal_read(&mut out, e, lines, open_quote);
                return Ok(out.report);
            }
        }
    };
    out.report.attribute_columns = header.attributes.clone();

    let (profile_pk, kme, approved) = match target {
        ImportTarget::Profile { pk } => (Some(*pk), false, true),
        ImportTarget::KmeUploads => (None, true, false),
    };
    // The smallest data row is an IMEI and a line end: 17 bytes; most rows are longer.
    let expected_rows = size_hint / 24;
    let existing =
        u64::try_from(c.query_row("SELECT COUNT(*) FROM bulk_devices", [], |r| r.get::<_, i64>(0))?)
            .unwrap_or(u64::MAX);
    let rebuild =
        expected_rows >= REBUILD_MIN_ROWS && existing <= expected_rows && existing <= REBUILD_MAX_EXISTING;
    let capacity = usize::try_from(expected_rows.min(limits.max_rows)).unwrap_or(0);
    // `Some` while the duplicate check is deferred (see above).
    let mut deferred = (rebuild && profile_pk.is_some()).then(|| Inserted {
        rows: Vec::with_capacity(capacity),
    });
    let mut dedupe = Dedupe::with_capacity(if deferred.is_some() { 0 } else { capacity });
    if rebuild {
        if deferred.is_none() {
            for (id, imei, serial, norm) in stored_identifiers(c)? {
                dedupe.existing(id, imei, serial.as_deref(), norm.as_deref());
            }
        }
        // The profile index stays: this import appends to it (one profile, rising ids).
        c.execute_batch("DROP INDEX IF EXISTS bulk_devices_imei; DROP INDEX IF EXISTS bulk_devices_serial;")?;
    }
    let mut insert = c.prepare_cached(INSERT_DEVICE)?;
    let mut batch = if rebuild {
        Some(BatchInsert::new(c, profile_pk, kme, approved, now)?)
    } else {
        None
    };
    let mut json = String::with_capacity(256);
    let mut manufacturer_norm = String::with_capacity(32);
    let ncols = header.columns.len();

    loop {
        // The first bad row ends the deferral: check what was inserted so far, then every row.
        if out.report.error_count > 0 {
            if let Some(mut inserted) = deferred.take() {
                if let Some(batch) = batch.as_mut() {
                    batch.flush(Some(&mut inserted))?;
                }
                dedupe = find_duplicates(c, target, &mut inserted, &mut out, capacity)?;
            }
        }
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => {
                let r = reader.get_ref();
                if r.in_quotes {
                    out.error(r.quote_line, unclosed_quote(r.quote_line));
                }
                break;
            }
            Err(e) => {
                let r = reader.get_ref();
                let (lines, open_quote) = (r.lines, r.in_quotes.then_some(r.quote_line));
                fatal_read(&mut out, e, lines, open_quote);
                break;
            }
        }
        let end = reader.position().byte();
        let line = record_line(reader.get_mut(), end, &record);
        // A blank CRLF line (records end at LF): skipped silently, as a blank LF line is.
        if record.len() == 1 && record.get(0).is_some_and(|f| f == b"\r") {
            continue;
        }
        // Line breaks inside quoted fields (a spreadsheet cell on several lines): one space.
        // (The CR of a CRLF line end is trimmed with the last field.)
        let bytes = record.as_slice();
        if memchr::memchr2(b'\n', b'\r', bytes.strip_suffix(b"\r").unwrap_or(bytes)).is_some() {
            record = fold_line_breaks(&record);
        }
        if record.iter().all(|f| trim_ascii(f).is_empty()) {
            out.report.skipped += 1;
            continue;
        }
        out.report.rows += 1;
        if out.report.rows > limits.max_rows {
            out.error(
                line,
                format!(
                    "more than {} rows: split the file; nothing was imported",
                    limits.max_rows
                ),
            );
            break;
        }
        if record.len() != ncols {
            out.error(
                line,
                format!("has {} fields, the header has {ncols}", record.len()),
            );
            continue;
        }
        // Fields.
        let (mut imei, mut serial, mut manufacturer) = ("", "", "");
        let mut bad: Option<String> = None;
        for (i, raw) in record.iter().enumerate() {
            let raw = trim_ascii(raw);
            if raw.len() > limits.max_field_bytes {
                bad = Some(format!(
                    "column {} is longer than {} bytes",
                    i + 1,
                    limits.max_field_bytes
                ));
                break;
            }
            let Ok(text) = std::str::from_utf8(raw) else {
                bad = Some(format!("column {} is not valid UTF-8", i + 1));
                break;
            };
            match header.columns.get(i) {
                Some(Column::Imei) => imei = text,
                Some(Column::Serial) => serial = text,
                Some(Column::Manufacturer) => manufacturer = text,
                Some(Column::Attribute(_)) | None => {}
            }
        }
        if let Some(reason) = bad {
            out.error(line, reason);
            continue;
        }
        if !header.has_imei {
            imei = "";
        }
        if !header.has_serial {
            serial = "";
            manufacturer = "";
        }
        let ids = match validate_identifiers(imei, serial, manufacturer) {
            Ok(ids) => ids,
            Err(reason) => {
                out.error(line, reason);
                continue;
            }
        };
        // Fields were checked for UTF-8 above.
        let attr = |a: usize| -> &str {
            header
                .attribute_columns
                .get(a)
                .and_then(|col| record.get(*col))
                .and_then(|raw| std::str::from_utf8(trim_ascii(raw)).ok())
                .unwrap_or("")
        };
        if let Some(reason) = (0..header.attributes.len()).find_map(|a| check_attribute_value(attr(a)).err())
        {
            out.error(line, reason);
            continue;
        }
        manufacturer_norm.clear();
        if let Some(m) = ids.manufacturer {
            manufacturer_norm.extend(m.trim().chars().flat_map(char::to_lowercase));
        }
        // Duplicates within the file (and, when rebuilding, against existing devices).
        if deferred.is_none() {
            let serial_key = ids.serial.filter(|_| ids.manufacturer.is_some());
            match dedupe.check(
                c,
                target,
                line,
                ids.imei,
                serial_key.map(|s| (s, manufacturer_norm.as_str())),
            )? {
                Verdict::New => {}
                Verdict::Refused(reason) => {
                    out.error(line, reason);
                    continue;
                }
                Verdict::Skipped => {
                    out.report.skipped += 1;
                    continue;
                }
            }
        }
        // With the rebuild strategy every duplicate is found in memory, so rows after the
        // first error are only checked (the caller rolls back). Otherwise rows are inserted even
        // after an error: the insert is the cheapest duplicate check against the other profiles.
        if rebuild && out.report.error_count > 0 {
            continue;
        }
        if let Some(row) = batch.as_mut().and_then(BatchInsert::next_row) {
            row.imei = imei_sql(ids.imei);
            row.serial.push_str(ids.serial.unwrap_or(""));
            if let Some(m) = ids.manufacturer {
                row.manufacturer.push_str(m);
                row.manufacturer_norm.push_str(&manufacturer_norm);
            }
            push_attributes_json(&mut row.attributes, &header.attributes, &attr);
            row.line = line;
            if let Some(batch) = batch.as_mut() {
                batch.commit_row(deferred.as_mut())?;
            }
            out.report.imported += 1;
            continue;
        }
        // Attributes as a JSON object (names sorted, empty values left out).
        json.clear();
        push_attributes_json(&mut json, &header.attributes, &attr);
        let n = insert.execute(params![
            profile_pk,
            imei_sql(ids.imei),
            ids.serial,
            ids.manufacturer,
            ids.manufacturer.map(|_| manufacturer_norm.as_str()),
            (!json.is_empty()).then_some(json.as_str()),
            i64::from(kme),
            i64::from(approved),
            now
        ])?;
        if n > 0 {
            out.report.imported += 1;
            if let Some(inserted) = deferred.as_mut() {
                inserted.rows.push((c.last_insert_rowid(), line));
            }
            continue;
        }
        // A conflict: who holds the device?
        let mut holders = Vec::new();
        if let Some(n) = ids.imei {
            holders.extend(holder_of_imei(c, n)?);
        }
        if let (Some(s), Some(m)) = (ids.serial, ids.manufacturer) {
            holders.extend(holder_of_serial(c, s, m)?);
        }
        match holders.iter().find_map(|h| describe_holder(h, target)) {
            Some(reason) => out.error(line, format!("duplicate device: {reason}")),
            None if !holders.is_empty() => out.report.skipped += 1,
            None => {}
        }
    }
    if let Some(batch) = batch.as_mut() {
        if out.report.error_count == 0 || deferred.is_some() {
            batch.flush(deferred.as_mut())?;
        }
    }
    drop(batch);
    if out.report.error_count > 0 {
        // The file ended (or was cut short) right after its first error.
        if let Some(mut inserted) = deferred.take() {
            find_duplicates(c, target, &mut inserted, &mut out, capacity)?;
        }
    } else if rebuild {
        // The index build is the duplicate check of a deferred import: a duplicate makes it
        // fail (the statement is rolled back, the transaction stays), and the rows are then
        // checked in memory to find the lines.
        match c.execute_batch(crate::store::BULK_INDEXES) {
            Ok(()) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation && deferred.is_some() =>
            {
                if let Some(mut inserted) = deferred.take() {
                    find_duplicates(c, target, &mut inserted, &mut out, capacity)?;
                }
                if out.report.error_count == 0 {
                    out.error(0, "duplicate device (the unique index build failed)");
                }
            }
            Err(e) => return Err(e),
        }
    }
    if out.report.error_count > 0 {
        out.report.imported = 0;
    }
    Ok(out.report)
}

/// Appends the attributes as a JSON object (names sorted, empty values left out); appends
/// nothing when every value is empty.
pub(super) fn push_attributes_json<'a>(
    out: &mut String,
    names: &[String],
    value: &impl Fn(usize) -> &'a str,
) {
    let start = out.len();
    for (a, name) in names.iter().enumerate() {
        let v = value(a);
        if v.is_empty() {
            continue;
        }
        out.push(if out.len() == start { '{' } else { ',' });
        push_json_string(out, name);
        out.push(':');
        push_json_string(out, v);
    }
    if out.len() > start {
        out.push('}');
    }
}

pub(super) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(s);
        out.push('"');
        return;
    }
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
