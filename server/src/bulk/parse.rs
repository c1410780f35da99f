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
/// longer than `max`, so that the CSV parser never buffers more than that. Counts lines too.
pub(super) struct RecordLimit<R> {
    pub(super) inner: R,
    pub(super) max: usize,
    pub(super) run: usize,
    pub(super) in_quotes: bool,
    pub(super) lines: u64,
}

impl<R: Read> Read for RecordLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        let too_long = || io::Error::new(io::ErrorKind::InvalidData, RecordTooLong);
        // Only newlines and quotes change the state: jump from one to the next.
        let mut from = 0;
        for at in memchr::memchr2_iter(b'\n', b'"', data) {
            self.run += at - from;
            from = at + 1;
            if data[at] == b'\n' {
                self.lines += 1;
                if !self.in_quotes {
                    if self.run > self.max {
                        return Err(too_long());
                    }
                    self.run = 0;
                    continue;
                }
            } else {
                self.in_quotes = !self.in_quotes;
            }
            self.run += 1;
            if self.run > self.max {
                return Err(too_long());
            }
        }
        self.run += n - from;
        if self.run > self.max {
            return Err(too_long());
        }
        Ok(n)
    }
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
