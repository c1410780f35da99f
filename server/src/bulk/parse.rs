//! CSV parsing and validation for the import: the record-length guard, the header, the report
//! of bad lines, and the in-memory duplicate check ([`Dedupe`]).

use enroll_proto::{ImportLineError, ImportReport};
use foldhash::fast::RandomState;
use rusqlite::Connection;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::{self, Read};

use super::*;

// ---------------------------------------------------------------------------------------------
// CSV import

pub(super) const INSERT_DEVICE: &str =
    "INSERT OR IGNORE INTO bulk_devices(profile_pk, imei, serial, manufacturer, \
     manufacturer_norm, attributes, kme, approved, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Why a record was cut off before parsing.
#[derive(Debug)]
pub(super) struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for RecordTooLong {}

/// A reader that fails when one CSV record (bytes between two newlines outside quotes) is
/// longer than `max`, so that the CSV parser never buffers more than that. Counts lines, and
/// follows quoting as RFC 4180 does (a quote opens a quoted field only at the start of a field;
/// `""` inside one is a literal quote), so that an unclosed quote can be named by its line.
pub(super) struct RecordLimit<R> {
    pub(super) inner: R,
    pub(super) max: usize,
    pub(super) run: usize,
    pub(super) in_quotes: bool,
    pub(super) lines: u64,
    /// The field separator.
    pub(super) delimiter: u8,
    /// The next byte starts a field.
    pub(super) at_field_start: bool,
    /// Absolute offset of the quote that just closed a quoted field (a quote right after it
    /// is an escaped quote: the field goes on).
    pub(super) closed_at: Option<u64>,
    /// Bytes read so far.
    pub(super) offset: u64,
    /// Line (1-based) of the quote that opened the current quoted field.
    pub(super) quote_line: u64,
    /// Offsets of the newlines read but not yet passed by a record ([`record_line`]).
    pub(super) newlines: std::collections::VecDeque<u64>,
    /// Newlines passed by the records so far.
    pub(super) passed: u64,
}

impl<R> RecordLimit<R> {
    /// Wraps `inner` with records of at most `max` bytes separated by `delimiter`.
    pub(super) fn new(inner: R, max: usize, delimiter: u8) -> Self {
        Self {
            inner,
            max,
            run: 0,
            in_quotes: false,
            lines: 0,
            delimiter,
            at_field_start: true,
            closed_at: None,
            offset: 0,
            quote_line: 0,
            newlines: std::collections::VecDeque::new(),
            passed: 0,
        }
    }
}

/// The line (1-based) a record just read starts on, counted from the newlines of the file
/// itself: csv's own position counts one too low after a CRLF or a skipped blank line. `end`
/// is the reader's byte offset after the record (and its line end).
pub(super) fn record_line<R>(limit: &mut RecordLimit<R>, end: u64, record: &csv::ByteRecord) -> u64 {
    // Newlines before the record's own line end.
    let last = end.saturating_sub(1);
    while limit.newlines.front().is_some_and(|at| *at < last) {
        limit.newlines.pop_front();
        limit.passed += 1;
    }
    let inside = memchr::memchr_iter(b'\n', record.as_slice()).count() as u64;
    (limit.passed + 1).saturating_sub(inside).max(1)
}

impl<R: Read> Read for RecordLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        let too_long = || io::Error::new(io::ErrorKind::InvalidData, RecordTooLong);
        // Only newlines, quotes and separators change the state: jump from one to the next.
        let mut from = 0;
        for at in memchr::memchr3_iter(b'\n', b'"', self.delimiter, data) {
            // Any other byte between two of them: no longer at the start of a field.
            if at > from {
                self.at_field_start = false;
            }
            self.run += at - from;
            from = at + 1;
            let abs = self.offset + at as u64;
            match data[at] {
                b'\n' => {
                    self.lines += 1;
                    self.newlines.push_back(abs);
                    if !self.in_quotes {
                        if self.run > self.max {
                            return Err(too_long());
                        }
                        self.run = 0;
                        self.at_field_start = true;
                        continue;
                    }
                }
                b'"' => {
                    if self.in_quotes {
                        self.in_quotes = false;
                        self.closed_at = Some(abs);
                    } else if self.at_field_start || self.closed_at.is_some_and(|c| c + 1 == abs) {
                        if self.at_field_start {
                            self.quote_line = self.lines + 1;
                        }
                        self.in_quotes = true;
                        self.closed_at = None;
                    }
                    self.at_field_start = false;
                }
                _ => {
                    if !self.in_quotes {
                        self.at_field_start = true;
                    }
                }
            }
            self.run += 1;
            if self.run > self.max {
                return Err(too_long());
            }
        }
        if n > from {
            self.at_field_start = false;
        }
        self.run += n - from;
        self.offset += n as u64;
        if self.run > self.max {
            return Err(too_long());
        }
        Ok(n)
    }
}

/// Reads the start of `input` up to the end of its first line (at most `max` bytes), returns
/// it with the reader of the rest.
fn first_line<R: Read>(mut input: R, max: usize) -> io::Result<(Vec<u8>, R)> {
    let mut prefix = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    while prefix.len() < max && !prefix.contains(&b'\n') {
        let n = input.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        prefix.extend_from_slice(&chunk[..n]);
    }
    Ok((prefix, input))
}

/// The separators a file may use, as named in messages.
const SEPARATORS: [(u8, &str); 3] = [(b',', "comma"), (b';', "semicolon"), (b'\t', "tab")];

/// The separator of a header line: the one of `,`, `;` and tab it uses most (outside quotes),
/// a comma when it has none.
pub(super) fn detect_delimiter(header: &[u8]) -> u8 {
    let line = header.split(|b| *b == b'\n').next().unwrap_or(header);
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for b in line {
        if *b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(i) = SEPARATORS.iter().position(|(s, _)| s == b) {
                counts[i] += 1;
            }
        }
    }
    let mut best = 0;
    for i in 1..counts.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    SEPARATORS[best].0
}

/// The name of a separator in messages.
pub(super) fn separator_name(d: u8) -> &'static str {
    SEPARATORS
        .iter()
        .find(|(s, _)| *s == d)
        .map_or("custom", |(_, n)| *n)
}

/// Why a file is refused before its first record, with the next step.
pub(super) fn refuse_encoding(prefix: &[u8]) -> Option<String> {
    let utf16 = prefix.starts_with(b"\xFF\xFE") || prefix.starts_with(b"\xFE\xFF");
    // UTF-16 without a byte-order mark: a NUL byte in every other position of the header.
    let nul_header = prefix.iter().take(64).filter(|b| **b == 0).count() >= 4;
    (utf16 || nul_header).then(|| {
        "the file is encoded in UTF-16 (Excel's \"Unicode Text\" or some \"Save as CSV\" dialogs): \
         save it as \"CSV UTF-8 (Comma delimited)\" (or any CSV in UTF-8) and upload it again; \
         nothing was imported"
            .to_owned()
    })
}

/// A CSV reader over `input` for the import: the separator given, or the one the header line
/// uses. `Err` is the reason a file is refused outright (UTF-16, unreadable), for line 1.
#[allow(clippy::type_complexity)]
pub(super) fn csv_reader<R: Read>(
    input: R,
    limits: &ImportLimits,
    delimiter: Option<u8>,
) -> Result<(csv::Reader<RecordLimit<io::Chain<io::Cursor<Vec<u8>>, R>>>, u8), String> {
    let (prefix, rest) =
        first_line(input, limits.max_record_bytes).map_err(|_| "the file could not be read".to_owned())?;
    if let Some(reason) = refuse_encoding(&prefix) {
        return Err(reason);
    }
    let delimiter = delimiter.unwrap_or_else(|| detect_delimiter(&prefix));
    let limited = RecordLimit::new(
        io::Cursor::new(prefix).chain(rest),
        limits.max_record_bytes,
        delimiter,
    );
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        // Records end at LF; a CR before it is trimmed with the field (CRLF files keep their
        // line numbers right: csv's own CRLF handling counts the line one too low).
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(256 * 1024)
        .from_reader(limited);
    Ok((reader, delimiter))
}

/// The record with every line break inside a field (CR, LF or CRLF, with the blanks around
/// it) replaced by one space: a value keeps its words, and stays on one line.
pub(super) fn fold_line_breaks(record: &csv::ByteRecord) -> csv::ByteRecord {
    let mut out = csv::ByteRecord::with_capacity(record.as_slice().len(), record.len());
    let mut field = Vec::new();
    for raw in record.iter() {
        field.clear();
        for part in raw.split(|b| *b == b'\n' || *b == b'\r') {
            let part = part.trim_ascii();
            if part.is_empty() {
                continue;
            }
            if !field.is_empty() {
                field.push(b' ');
            }
            field.extend_from_slice(part);
        }
        out.push_field(&field);
    }
    out
}

/// The report line of a quote opened on `line` and never closed.
pub(super) fn unclosed_quote(line: u64) -> String {
    format!(
        "the quote that opens a field on line {line} is never closed: close it, or write a quote \
         inside a field as two quotes (\"\"); nothing was imported"
    )
}

/// The header refusal, with a hint when another separator would have split it.
pub(super) fn header_hint(reason: String, fields: &csv::ByteRecord, delimiter: u8) -> String {
    if fields.len() == 1 {
        let only = fields.get(0).unwrap_or_default();
        if let Some((_, name)) = SEPARATORS
            .iter()
            .find(|(s, _)| *s != delimiter && only.contains(s))
        {
            return format!(
                "{reason}: the header looks {name}-separated, not {}-separated: upload it with \
                 the matching delimiter (`--delimiter`, or the `delimiter` query parameter), or save \
                 it as comma-separated CSV",
                separator_name(delimiter)
            );
        }
    }
    reason
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
    Imei,
    Serial,
    Manufacturer,
    /// Index into the (sorted) attribute names.
    Attribute(usize),
}

pub(super) struct Header {
    pub(super) columns: Vec<Column>,
    /// Attribute names, sorted.
    pub(super) attributes: Vec<String>,
    /// Column index of each (sorted) attribute.
    pub(super) attribute_columns: Vec<usize>,
    pub(super) has_imei: bool,
    pub(super) has_serial: bool,
}

pub(super) fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

pub(super) fn parse_header(fields: &csv::ByteRecord, limits: &ImportLimits) -> Result<Header, String> {
    if fields.len() > limits.max_columns {
        return Err(format!(
            "the header has {} columns, more than the {} allowed",
            fields.len(),
            limits.max_columns
        ));
    }
    let mut names: Vec<(usize, String)> = Vec::new();
    let mut columns = Vec::with_capacity(fields.len());
    let mut seen = std::collections::BTreeSet::new();
    let (mut has_imei, mut has_serial, mut has_manufacturer) = (false, false, false);
    for (i, raw) in fields.iter().enumerate() {
        let raw = if i == 0 {
            raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
        } else {
            raw
        };
        let name = std::str::from_utf8(trim_ascii(raw))
            .map_err(|_| format!("header column {} is not valid UTF-8", i + 1))?;
        let key = name.to_ascii_lowercase().replace([' ', '-'], "_");
        if name.is_empty() {
            return Err(format!("header column {} has no name", i + 1));
        }
        if !seen.insert(key.clone()) {
            return Err(format!("header column {} repeats a column name", i + 1));
        }
        let col = match key.as_str() {
            "imei" => {
                has_imei = true;
                Column::Imei
            }
            "serial" | "serial_number" | "serialnumber" | "serial_no" => {
                if has_serial {
                    return Err(format!("header column {} repeats the serial number", i + 1));
                }
                has_serial = true;
                Column::Serial
            }
            "manufacturer" => {
                has_manufacturer = true;
                Column::Manufacturer
            }
            _ => {
                check_attribute_name(name).map_err(|e| format!("header column {}: {e}", i + 1))?;
                names.push((i, name.to_owned()));
                Column::Attribute(usize::MAX)
            }
        };
        columns.push(col);
    }
    if !(has_imei || has_serial && has_manufacturer) {
        return Err("the header needs an imei column, or serial_number and manufacturer columns".into());
    }
    if names.len() > MAX_ATTRIBUTES {
        return Err(format!("more than {MAX_ATTRIBUTES} custom attribute columns"));
    }
    let mut sorted: Vec<String> = names.iter().map(|(_, n)| n.clone()).collect();
    sorted.sort();
    let mut attribute_columns = vec![0; sorted.len()];
    for (col_index, name) in &names {
        let idx = sorted.iter().position(|n| n == name).unwrap_or(0);
        columns[*col_index] = Column::Attribute(idx);
        if let Some(slot) = attribute_columns.get_mut(idx) {
            *slot = *col_index;
        }
    }
    Ok(Header {
        columns,
        attributes: sorted,
        attribute_columns,
        has_imei,
        has_serial: has_serial && has_manufacturer,
    })
}

/// Collects the report while importing.
pub(super) struct Reporter {
    pub(super) report: ImportReport,
    pub(super) max: usize,
}

impl Reporter {
    pub(crate) fn error(&mut self, line: u64, reason: impl Into<String>) {
        self.report.error_count += 1;
        if self.report.errors.len() < self.max {
            self.report.errors.push(ImportLineError {
                line,
                reason: reason.into(),
            });
        }
    }
}

pub(super) fn describe_holder(h: &Holder, target: &ImportTarget) -> Option<String> {
    let (device, profile) = h;
    match (target, profile) {
        (ImportTarget::KmeUploads, _) if device.kme => None,
        (ImportTarget::Profile { pk }, Some(p)) if p.pk == *pk => Some("already in this profile".into()),
        (_, Some(p)) => Some(format!("already in bulk profile {:?} ({})", p.name, p.id)),
        (_, None) if device.kme => Some("already uploaded from Samsung KME (waiting for approval)".into()),
        (_, None) => Some("already known".into()),
    }
}

/// Where an identifier was seen: an earlier line of the file, or an existing bulk device.
#[derive(Debug, Clone, Copy)]
pub(super) enum Seen {
    Line(u64),
    Device(i64),
}

/// What the duplicate check says of one row.
pub(super) enum Verdict {
    /// A device not seen before.
    New,
    /// A duplicate: the row is refused for this reason.
    Refused(String),
    /// Already known and fine as it is (a KME resync): skipped.
    Skipped,
}

/// Duplicate detection by identifier, in memory: each identifier maps to the line (or the
/// existing device) that holds it. foldhash: several times faster than SipHash on these short
/// keys, and seeded per process.
pub(super) struct Dedupe {
    pub(super) imei: HashMap<u64, Seen, RandomState>,
    pub(super) serial: HashMap<String, Seen, RandomState>,
    pub(super) key: String,
}

impl Dedupe {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self {
            imei: HashMap::with_capacity_and_hasher(rows, RandomState::default()),
            serial: HashMap::with_capacity_and_hasher(rows / 2, RandomState::default()),
            key: String::with_capacity(96),
        }
    }

    pub(crate) fn serial_key(&mut self, serial: &str, manufacturer_norm: &str) -> String {
        self.key.clear();
        self.key.push_str(manufacturer_norm);
        self.key.push('\u{0}');
        self.key.push_str(serial);
        self.key.clone()
    }

    /// Records an existing device's identifiers.
    pub(crate) fn existing(
        &mut self,
        id: i64,
        imei: Option<u64>,
        serial: Option<&str>,
        manufacturer_norm: Option<&str>,
    ) {
        if let Some(n) = imei {
            self.imei.insert(n, Seen::Device(id));
        }
        if let (Some(s), Some(m)) = (serial, manufacturer_norm) {
            let key = self.serial_key(s, m);
            self.serial.insert(key, Seen::Device(id));
        }
    }

    /// Checks the row at `line` and claims its identifiers when it is new. A row refused for its
    /// serial number gives its IMEI back.
    pub(crate) fn check(
        &mut self,
        c: &Connection,
        target: &ImportTarget,
        line: u64,
        imei: Option<u64>,
        serial: Option<(&str, &str)>,
    ) -> rusqlite::Result<Verdict> {
        let mut known: Option<i64> = None;
        let mut claimed_imei = None;
        if let Some(n) = imei {
            match self.imei.entry(n) {
                Entry::Occupied(e) => match *e.get() {
                    Seen::Line(first) => {
                        return Ok(Verdict::Refused(format!(
                            "duplicate IMEI: same device as line {first}"
                        )));
                    }
                    Seen::Device(id) => known = Some(id),
                },
                Entry::Vacant(v) => {
                    v.insert(Seen::Line(line));
                    claimed_imei = Some(n);
                }
            }
        }
        if let Some((s, m)) = serial {
            let key = self.serial_key(s, m);
            match self.serial.entry(key) {
                Entry::Occupied(e) => match *e.get() {
                    Seen::Line(first) => {
                        if let Some(n) = claimed_imei {
                            self.imei.remove(&n);
                        }
                        return Ok(Verdict::Refused(format!(
                            "duplicate serial number and manufacturer: same device as line {first}"
                        )));
                    }
                    Seen::Device(id) => known = known.or(Some(id)),
                },
                Entry::Vacant(v) => {
                    v.insert(Seen::Line(line));
                }
            }
        }
        let Some(id) = known else {
            return Ok(Verdict::New);
        };
        // An existing device holds this identifier.
        Ok(match device_by_id(c, id)? {
            Some(device) => {
                let profile = match device.profile_pk {
                    Some(pk) => profile_by_pk(c, pk)?,
                    None => None,
                };
                match describe_holder(&(device, profile), target) {
                    Some(reason) => Verdict::Refused(format!("duplicate device: {reason}")),
                    None => Verdict::Skipped,
                }
            }
            None => Verdict::Refused("duplicate device: already known".into()),
        })
    }
}
