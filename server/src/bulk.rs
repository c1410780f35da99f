//! Bulk enrollment storage and CSV: profiles, their devices, the all-or-nothing CSV import,
//! IMEI checks and formula-safe CSV output.
//!
//! ## CSV format
//!
//! UTF-8 (a leading byte-order mark is tolerated), comma separated, RFC 4180 quoting, LF or
//! CRLF line ends. The first line is the header: `imei`, `serial_number` (or `serial`) and
//! `manufacturer` in any order and case; every other column is a custom attribute named by its
//! header. Each data row needs an IMEI (15 digits, valid Luhn check digit), or a serial number
//! plus a manufacturer (compared case-insensitively), or both. Rows whose fields are all empty
//! are skipped.
//!
//! ## All or nothing
//!
//! [`import_csv`] validates every row and inserts the valid ones into the caller's transaction
//! as it goes (one streaming pass; large files use multi-row inserts, an index rebuild and a
//! duplicate check deferred to it, see [`import_csv`] and `docs/bulk.md`; the caller wraps the
//! transaction in [`begin_bulk_load`] / [`end_bulk_load`]). Bad rows are listed (at most
//! [`ImportLimits::max_reported_errors`], plus the total count) and validation goes on to the
//! end; when any row was bad the caller rolls the transaction back: a file is imported whole or
//! not at all, never half.
//!
//! ## Limits (hostile input)
//!
//! The upload itself is limited by the HTTP layer ([`enroll_core::protocol::MAX_CSV_UPLOAD_BYTES`]).
//! Here: at most [`ImportLimits::max_rows`] data rows, [`ImportLimits::max_columns`] columns,
//! [`ImportLimits::max_field_bytes`] per field, and [`ImportLimits::max_record_bytes`] per record
//! (checked on the raw bytes before the CSV parser buffers them, quotes included, so a
//! never-closed quote cannot make the parser hold the whole file). Reasons never quote values.

use enroll_core::protocol::{
    BulkDeviceView, BulkProfileConfig, BulkProfileKind, ImportLineError, ImportReport, MAX_CSV_ROWS,
};
use foldhash::fast::RandomState;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

/// Longest serial number or manufacturer, in characters.
pub const MAX_IDENTIFIER_CHARS: usize = 64;
/// Longest custom attribute name, in characters.
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 64;
/// Longest custom attribute value, in characters.
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 256;
/// Most custom attributes on one device.
pub const MAX_ATTRIBUTES: usize = 60;
/// Header of the CSV template and of inventory downloads.
pub const TEMPLATE_COLUMNS: [&str; 3] = ["imei", "serial_number", "manufacturer"];

/// Limits of one CSV import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// Most data rows (blank rows not counted).
    pub max_rows: u64,
    /// Most columns.
    pub max_columns: usize,
    /// Longest field, in bytes.
    pub max_field_bytes: usize,
    /// Longest record (one CSV line, or several when a quoted field spans lines), in bytes.
    pub max_record_bytes: usize,
    /// Most bad lines listed in the report (all are counted).
    pub max_reported_errors: usize,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            max_rows: MAX_CSV_ROWS,
            max_columns: 64,
            max_field_bytes: 1024,
            max_record_bytes: 64 * 1024,
            max_reported_errors: 1000,
        }
    }
}

/// Where imported rows go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportTarget {
    /// A self-maintained bulk profile (its internal key).
    Profile {
        /// `bulk_profiles.pk`.
        pk: i64,
    },
    /// Samsung KME reseller uploads, waiting for approval. Devices already known to the KME
    /// integration are skipped (a sync sends the same devices again).
    KmeUploads,
}

// ---------------------------------------------------------------------------------------------
// field validation

/// Whether 15 ASCII digits pass the Luhn check (the IMEI check digit).
pub fn luhn_ok(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut x = u32::from(d.wrapping_sub(b'0'));
        if i % 2 == 1 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    sum % 10 == 0
}

/// Parses an IMEI: exactly 15 digits with a valid check digit.
pub fn parse_imei(text: &str) -> Result<u64, &'static str> {
    let b = text.as_bytes();
    if b.len() != 15 || !b.iter().all(u8::is_ascii_digit) {
        return Err("IMEI must be exactly 15 digits");
    }
    if !luhn_ok(b) {
        return Err("IMEI fails the Luhn check (wrong check digit)");
    }
    let mut n = 0u64;
    for d in b {
        n = n * 10 + u64::from(d - b'0');
    }
    Ok(n)
}

/// An IMEI stored as an integer, back to its 15 digits.
pub fn format_imei(n: u64) -> String {
    format!("{n:015}")
}

fn check_text(value: &str, max_chars: usize, what: &'static str) -> Result<(), String> {
    if value.is_ascii() {
        if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(format!("{what} contains control characters"));
        }
        if value.len() > max_chars {
            return Err(format!("{what} is longer than {max_chars} characters"));
        }
        return Ok(());
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    if value.chars().count() > max_chars {
        return Err(format!("{what} is longer than {max_chars} characters"));
    }
    Ok(())
}

/// Checks a custom attribute name: 1 to 64 characters of letters, digits, `_`, `-`, `.`.
pub fn check_attribute_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_ATTRIBUTE_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "custom attribute names are 1 to {MAX_ATTRIBUTE_NAME_CHARS} characters of letters, digits, '_', '-' and '.'"
        ))
    }
}

/// Checks a custom attribute value.
pub fn check_attribute_value(value: &str) -> Result<(), String> {
    check_text(value, MAX_ATTRIBUTE_VALUE_CHARS, "a custom attribute value")
}

/// A device's identifiers, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifiers<'a> {
    /// IMEI.
    pub imei: Option<u64>,
    /// Serial number.
    pub serial: Option<&'a str>,
    /// Manufacturer as entered.
    pub manufacturer: Option<&'a str>,
}

/// Validates the identifiers of one device (already trimmed; empty means absent): an IMEI, or a
/// serial number plus a manufacturer.
pub fn validate_identifiers<'a>(
    imei: &'a str,
    serial: &'a str,
    manufacturer: &'a str,
) -> Result<Identifiers<'a>, String> {
    let imei = if imei.is_empty() {
        None
    } else {
        Some(parse_imei(imei).map_err(str::to_owned)?)
    };
    let serial = (!serial.is_empty()).then_some(serial);
    let manufacturer = (!manufacturer.is_empty()).then_some(manufacturer);
    if let Some(s) = serial {
        check_text(s, MAX_IDENTIFIER_CHARS, "the serial number")?;
    }
    if let Some(m) = manufacturer {
        check_text(m, MAX_IDENTIFIER_CHARS, "the manufacturer")?;
    }
    if imei.is_none() {
        match (serial, manufacturer) {
            (Some(_), Some(_)) => {}
            (Some(_), None) => {
                return Err("a serial number without IMEI needs a manufacturer".into());
            }
            _ => return Err(
                "too little information: each device needs an IMEI, or a serial number and a manufacturer"
                    .into(),
            ),
        }
    }
    Ok(Identifiers {
        imei,
        serial,
        manufacturer,
    })
}

/// Lower-cased manufacturer, the form compared (case-insensitively) and indexed.
pub fn normalize_manufacturer(m: &str) -> String {
    m.trim().to_lowercase()
}

// ---------------------------------------------------------------------------------------------
// storage: profiles

/// Wire name of a profile kind.
pub fn kind_str(k: BulkProfileKind) -> &'static str {
    match k {
        BulkProfileKind::SelfMaintained => "self_maintained",
        BulkProfileKind::SamsungKme => "samsung_kme",
    }
}

fn parse_kind(s: &str) -> BulkProfileKind {
    if s == "samsung_kme" {
        BulkProfileKind::SamsungKme
    } else {
        BulkProfileKind::SelfMaintained
    }
}

/// A bulk profile row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRow {
    /// Internal key (referenced by devices).
    pub pk: i64,
    /// Public identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Type.
    pub kind: BulkProfileKind,
    /// The default Samsung KME profile.
    pub is_default: bool,
    /// Devices enroll without a token.
    pub tokenless: bool,
    /// Associated user.
    pub user_id: Option<String>,
    /// Provisioning configuration.
    pub config: BulkProfileConfig,
    /// Generation of the derived token (incremented by a refresh).
    pub token_generation: i64,
    /// Current token row (`tokens.id`).
    pub token_id: Option<String>,
    /// Creation.
    pub created_at: i64,
    /// Last modification.
    pub modified_at: i64,
}

const PROFILE_COLS: &str = "pk, id, name, description, kind, is_default, tokenless, user_id, config, \
     token_generation, token_id, created_at, modified_at";

fn profile_from_row(r: &Row<'_>) -> rusqlite::Result<ProfileRow> {
    let kind: String = r.get(4)?;
    let config: String = r.get(8)?;
    Ok(ProfileRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        kind: parse_kind(&kind),
        is_default: r.get::<_, i64>(5)? != 0,
        tokenless: r.get::<_, i64>(6)? != 0,
        user_id: r.get(7)?,
        config: serde_json::from_str(&config).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e))
        })?,
        token_generation: r.get(9)?,
        token_id: r.get(10)?,
        created_at: r.get(11)?,
        modified_at: r.get(12)?,
    })
}

fn config_json(config: &BulkProfileConfig) -> rusqlite::Result<String> {
    serde_json::to_string(config).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// Inserts a profile; returns its internal key.
pub fn insert_profile(c: &Connection, p: &ProfileRow) -> rusqlite::Result<i64> {
    c.execute(
        "INSERT INTO bulk_profiles(id, name, description, kind, is_default, tokenless, user_id, config,
             token_generation, token_id, created_at, modified_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            p.id,
            p.name,
            p.description,
            kind_str(p.kind),
            i64::from(p.is_default),
            i64::from(p.tokenless),
            p.user_id,
            config_json(&p.config)?,
            p.token_generation,
            p.token_id,
            p.created_at,
            p.modified_at
        ],
    )?;
    Ok(c.last_insert_rowid())
}

/// Writes every mutable column of a profile.
pub fn update_profile(c: &Connection, p: &ProfileRow) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE bulk_profiles SET name = ?2, description = ?3, tokenless = ?4, user_id = ?5, config = ?6,
             token_generation = ?7, token_id = ?8, modified_at = ?9
         WHERE pk = ?1",
        params![
            p.pk,
            p.name,
            p.description,
            i64::from(p.tokenless),
            p.user_id,
            config_json(&p.config)?,
            p.token_generation,
            p.token_id,
            p.modified_at
        ],
    )?;
    Ok(())
}

/// Sets a profile's last-modification time.
pub fn touch_profile(c: &Connection, pk: i64, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE bulk_profiles SET modified_at = ?2 WHERE pk = ?1",
        params![pk, now],
    )?;
    Ok(())
}

/// Finds a profile by its public identifier.
pub fn profile_by_id(c: &Connection, id: &str) -> rusqlite::Result<Option<ProfileRow>> {
    c.query_row(
        &format!("SELECT {PROFILE_COLS} FROM bulk_profiles WHERE id = ?1"),
        [id],
        profile_from_row,
    )
    .optional()
}

/// Finds a profile by its internal key.
pub fn profile_by_pk(c: &Connection, pk: i64) -> rusqlite::Result<Option<ProfileRow>> {
    c.query_row(
        &format!("SELECT {PROFILE_COLS} FROM bulk_profiles WHERE pk = ?1"),
        [pk],
        profile_from_row,
    )
    .optional()
}

/// The default Samsung KME profile, once the integration is on.
pub fn default_kme_profile(c: &Connection) -> rusqlite::Result<Option<ProfileRow>> {
    c.query_row(
        &format!("SELECT {PROFILE_COLS} FROM bulk_profiles WHERE is_default = 1 LIMIT 1"),
        [],
        profile_from_row,
    )
    .optional()
}

/// Every profile with its device count: the default KME profile first, then the most recently
/// modified.
pub fn list_profiles(c: &Connection) -> rusqlite::Result<Vec<(ProfileRow, u64)>> {
    let mut st = c.prepare(&format!(
        "SELECT {PROFILE_COLS}, (SELECT COUNT(*) FROM bulk_devices d WHERE d.profile_pk = bulk_profiles.pk)
         FROM bulk_profiles ORDER BY is_default DESC, modified_at DESC, pk DESC"
    ))?;
    let rows = st.query_map([], |r| Ok((profile_from_row(r)?, r.get::<_, i64>(13)?)))?;
    rows.map(|r| r.map(|(p, n)| (p, u64::try_from(n).unwrap_or(0))))
        .collect()
}

/// Devices of a profile: (all, enrolled).
pub fn profile_counts(c: &Connection, pk: i64) -> rusqlite::Result<(u64, u64)> {
    c.query_row(
        "SELECT COUNT(*), COUNT(enrolled_device_id) FROM bulk_devices WHERE profile_pk = ?1",
        [pk],
        |r| {
            Ok((
                u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            ))
        },
    )
}

/// Deletes a profile and its devices.
pub fn delete_profile(c: &Connection, pk: i64) -> rusqlite::Result<()> {
    c.execute("DELETE FROM bulk_devices WHERE profile_pk = ?1", [pk])?;
    c.execute("DELETE FROM bulk_profiles WHERE pk = ?1", [pk])?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// storage: devices

/// A device of a bulk profile, or a Samsung KME upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Identifier.
    pub id: i64,
    /// Profile (`None`: a KME upload waiting for approval).
    pub profile_pk: Option<i64>,
    /// IMEI.
    pub imei: Option<u64>,
    /// Serial number.
    pub serial: Option<String>,
    /// Manufacturer as entered.
    pub manufacturer: Option<String>,
    /// Custom attributes.
    pub attributes: BTreeMap<String, String>,
    /// Samsung KME device.
    pub kme: bool,
    /// Approved.
    pub approved: bool,
    /// Device record it enrolled as.
    pub enrolled_device_id: Option<String>,
    /// When it enrolled.
    pub enrolled_at: Option<i64>,
    /// When it was added.
    pub created_at: i64,
}

impl DeviceRow {
    /// The admin view (`profile_id` resolved by the caller).
    pub fn view(&self, profile_id: Option<String>) -> BulkDeviceView {
        BulkDeviceView {
            id: self.id,
            profile_id,
            imei: self.imei.map(format_imei),
            serial: self.serial.clone(),
            manufacturer: self.manufacturer.clone(),
            attributes: self.attributes.clone(),
            kme: self.kme,
            approved: self.approved,
            enrolled_device_id: self.enrolled_device_id.clone(),
            enrolled_at: self.enrolled_at,
            created_at: self.created_at,
        }
    }
}

const DEVICE_COLS: &str = "d.id, d.profile_pk, d.imei, d.serial, d.manufacturer, d.attributes, d.kme, \
     d.approved, d.enrolled_device_id, d.enrolled_at, d.created_at";

fn device_from_row(r: &Row<'_>) -> rusqlite::Result<DeviceRow> {
    let attributes: Option<String> = r.get(5)?;
    let imei: Option<i64> = r.get(2)?;
    Ok(DeviceRow {
        id: r.get(0)?,
        profile_pk: r.get(1)?,
        imei: imei.and_then(|n| u64::try_from(n).ok()),
        serial: r.get(3)?,
        manufacturer: r.get(4)?,
        attributes: match attributes {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(e))
            })?,
            None => BTreeMap::new(),
        },
        kme: r.get::<_, i64>(6)? != 0,
        approved: r.get::<_, i64>(7)? != 0,
        enrolled_device_id: r.get(8)?,
        enrolled_at: r.get(9)?,
        created_at: r.get(10)?,
    })
}

fn attributes_json(a: &BTreeMap<String, String>) -> rusqlite::Result<Option<String>> {
    if a.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(a)
        .map(Some)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn imei_sql(imei: Option<u64>) -> Option<i64> {
    imei.and_then(|n| i64::try_from(n).ok())
}

/// Finds a bulk device.
pub fn device_by_id(c: &Connection, id: i64) -> rusqlite::Result<Option<DeviceRow>> {
    c.query_row(
        &format!("SELECT {DEVICE_COLS} FROM bulk_devices d WHERE d.id = ?1"),
        [id],
        device_from_row,
    )
    .optional()
}

/// Devices of a profile (`Some(pk)`) or KME uploads waiting for approval (`None`), by id.
pub fn list_devices(
    c: &Connection,
    profile_pk: Option<i64>,
    offset: u64,
    limit: u64,
) -> rusqlite::Result<Vec<DeviceRow>> {
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = match profile_pk {
        Some(_) => format!(
            "SELECT {DEVICE_COLS} FROM bulk_devices d WHERE d.profile_pk = ?1 ORDER BY d.id LIMIT ?2 OFFSET ?3"
        ),
        None => format!(
            "SELECT {DEVICE_COLS} FROM bulk_devices d WHERE d.profile_pk IS NULL AND d.kme = 1 AND ?1 IS NULL
             ORDER BY d.id LIMIT ?2 OFFSET ?3"
        ),
    };
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params![profile_pk, limit, offset], device_from_row)?;
    rows.collect()
}

/// Calls `f` on every device of a profile (`Some(pk)`) or every KME upload waiting for approval
/// (`None`), by id, without loading them all.
pub fn for_each_device(
    c: &Connection,
    profile_pk: Option<i64>,
    mut f: impl FnMut(&DeviceRow) -> io::Result<()>,
) -> rusqlite::Result<Result<(), io::Error>> {
    let sql = match profile_pk {
        Some(_) => format!("SELECT {DEVICE_COLS} FROM bulk_devices d WHERE d.profile_pk = ?1 ORDER BY d.id"),
        None => format!(
            "SELECT {DEVICE_COLS} FROM bulk_devices d WHERE d.profile_pk IS NULL AND d.kme = 1 AND ?1 IS NULL ORDER BY d.id"
        ),
    };
    let mut st = c.prepare(&sql)?;
    let mut rows = st.query([profile_pk])?;
    while let Some(r) = rows.next()? {
        let d = device_from_row(r)?;
        if let Err(e) = f(&d) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

/// KME uploads waiting for approval.
pub fn count_pending_uploads(c: &Connection) -> rusqlite::Result<u64> {
    c.query_row(
        "SELECT COUNT(*) FROM bulk_devices WHERE profile_pk IS NULL AND kme = 1",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| u64::try_from(n).unwrap_or(0))
}

/// Sorted names of the custom attributes used by a profile's devices (or the KME uploads).
pub fn attribute_names(c: &Connection, profile_pk: Option<i64>) -> rusqlite::Result<Vec<String>> {
    let sql = match profile_pk {
        Some(_) => {
            "SELECT DISTINCT j.key FROM bulk_devices d, json_each(d.attributes) j
                    WHERE d.profile_pk = ?1 AND d.attributes IS NOT NULL ORDER BY j.key"
        }
        None => {
            "SELECT DISTINCT j.key FROM bulk_devices d, json_each(d.attributes) j
                 WHERE d.profile_pk IS NULL AND d.kme = 1 AND ?1 IS NULL AND d.attributes IS NOT NULL
                 ORDER BY j.key"
        }
    };
    let mut st = c.prepare(sql)?;
    let rows = st.query_map([profile_pk], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Inserts a device unless its IMEI or serial + manufacturer is already known. Returns the new
/// id, or `None` on a duplicate.
pub fn insert_device(c: &Connection, d: &DeviceRow) -> rusqlite::Result<Option<i64>> {
    let mut st = c.prepare_cached(INSERT_DEVICE)?;
    let n = st.execute(params![
        d.profile_pk,
        imei_sql(d.imei),
        d.serial,
        d.manufacturer,
        d.manufacturer.as_deref().map(normalize_manufacturer),
        attributes_json(&d.attributes)?,
        i64::from(d.kme),
        i64::from(d.approved),
        d.created_at
    ])?;
    Ok((n > 0).then(|| c.last_insert_rowid()))
}

/// Writes a device's identifiers, attributes, profile and approval. Fails with a constraint
/// violation when the new identifiers belong to another device.
pub fn update_device(c: &Connection, d: &DeviceRow) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE bulk_devices SET profile_pk = ?2, imei = ?3, serial = ?4, manufacturer = ?5,
             manufacturer_norm = ?6, attributes = ?7, approved = ?8 WHERE id = ?1",
        params![
            d.id,
            d.profile_pk,
            imei_sql(d.imei),
            d.serial,
            d.manufacturer,
            d.manufacturer.as_deref().map(normalize_manufacturer),
            attributes_json(&d.attributes)?,
            i64::from(d.approved)
        ],
    )?;
    Ok(())
}

/// Deletes a device.
pub fn delete_device(c: &Connection, id: i64) -> rusqlite::Result<()> {
    c.execute("DELETE FROM bulk_devices WHERE id = ?1", [id])?;
    Ok(())
}

/// Records that a bulk device enrolled as `device_id`.
pub fn mark_enrolled(c: &Connection, id: i64, device_id: &str, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE bulk_devices SET enrolled_device_id = ?2, enrolled_at = ?3 WHERE id = ?1",
        params![id, device_id, now],
    )?;
    Ok(())
}

/// Who already holds an identifier: (device, its profile if any).
pub type Holder = (DeviceRow, Option<ProfileRow>);

const HOLDER_OF_IMEI: &str = "SELECT d.id, d.profile_pk, d.imei, d.serial, d.manufacturer, d.attributes, \
     d.kme, d.approved, d.enrolled_device_id, d.enrolled_at, d.created_at FROM bulk_devices d WHERE d.imei = ?1";
const HOLDER_OF_SERIAL: &str = "SELECT d.id, d.profile_pk, d.imei, d.serial, d.manufacturer, d.attributes, \
     d.kme, d.approved, d.enrolled_device_id, d.enrolled_at, d.created_at FROM bulk_devices d \
     WHERE d.serial = ?1 AND d.manufacturer_norm = ?2";

fn holder(c: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<Option<Holder>> {
    let device = c.prepare_cached(sql)?.query_row(p, device_from_row).optional()?;
    match device {
        Some(d) => {
            let profile = match d.profile_pk {
                Some(pk) => profile_by_pk(c, pk)?,
                None => None,
            };
            Ok(Some((d, profile)))
        }
        None => Ok(None),
    }
}

/// The device holding this IMEI.
pub fn holder_of_imei(c: &Connection, imei: u64) -> rusqlite::Result<Option<Holder>> {
    holder(c, HOLDER_OF_IMEI, [imei_sql(Some(imei))])
}

/// The device holding this serial number + manufacturer.
pub fn holder_of_serial(
    c: &Connection,
    serial: &str,
    manufacturer: &str,
) -> rusqlite::Result<Option<Holder>> {
    holder(
        c,
        HOLDER_OF_SERIAL,
        params![serial, normalize_manufacturer(manufacturer)],
    )
}

/// A bulk device matching an enrolling device, with how it matched.
#[derive(Debug, Clone)]
pub struct Match {
    /// The bulk device.
    pub device: DeviceRow,
    /// Its profile.
    pub profile: Option<ProfileRow>,
    /// Matched by IMEI (otherwise by serial number + manufacturer).
    pub by_imei: bool,
}

/// Bulk devices matching an enrolling device: any of its IMEIs, or its serial number with its
/// manufacturer (case-insensitively). IMEI matches first.
pub fn matching(
    c: &Connection,
    imeis: &[String],
    serial: Option<&str>,
    manufacturer: &str,
) -> rusqlite::Result<Vec<Match>> {
    let mut out: Vec<Match> = Vec::new();
    for imei in imeis {
        let Ok(n) = imei.parse::<u64>() else { continue };
        if let Some((device, profile)) = holder_of_imei(c, n)? {
            if !out.iter().any(|m| m.device.id == device.id) {
                out.push(Match {
                    device,
                    profile,
                    by_imei: true,
                });
            }
        }
    }
    if let Some(s) = serial.map(str::trim).filter(|s| !s.is_empty()) {
        if let Some((device, profile)) = holder_of_serial(c, s, manufacturer)? {
            if !out.iter().any(|m| m.device.id == device.id) {
                out.push(Match {
                    device,
                    profile,
                    by_imei: false,
                });
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// CSV import

const INSERT_DEVICE: &str = "INSERT OR IGNORE INTO bulk_devices(profile_pk, imei, serial, manufacturer, \
     manufacturer_norm, attributes, kme, approved, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Why a record was cut off before parsing.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for RecordTooLong {}

/// A reader that fails when one CSV record (bytes between two newlines outside quotes) is
/// longer than `max`, so that the CSV parser never buffers more than that. Counts lines too.
struct RecordLimit<R> {
    inner: R,
    max: usize,
    run: usize,
    in_quotes: bool,
    lines: u64,
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
enum Column {
    Imei,
    Serial,
    Manufacturer,
    /// Index into the (sorted) attribute names.
    Attribute(usize),
}

struct Header {
    columns: Vec<Column>,
    /// Attribute names, sorted.
    attributes: Vec<String>,
    /// Column index of each (sorted) attribute.
    attribute_columns: Vec<usize>,
    has_imei: bool,
    has_serial: bool,
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

fn parse_header(fields: &csv::ByteRecord, limits: &ImportLimits) -> Result<Header, String> {
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
struct Reporter {
    report: ImportReport,
    max: usize,
}

impl Reporter {
    fn error(&mut self, line: u64, reason: impl Into<String>) {
        self.report.error_count += 1;
        if self.report.errors.len() < self.max {
            self.report.errors.push(ImportLineError {
                line,
                reason: reason.into(),
            });
        }
    }
}

fn describe_holder(h: &Holder, target: &ImportTarget) -> Option<String> {
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
enum Seen {
    Line(u64),
    Device(i64),
}

/// What the duplicate check says of one row.
enum Verdict {
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
struct Dedupe {
    imei: HashMap<u64, Seen, RandomState>,
    serial: HashMap<String, Seen, RandomState>,
    key: String,
}

impl Dedupe {
    fn with_capacity(rows: usize) -> Self {
        Self {
            imei: HashMap::with_capacity_and_hasher(rows, RandomState::default()),
            serial: HashMap::with_capacity_and_hasher(rows / 2, RandomState::default()),
            key: String::with_capacity(96),
        }
    }

    fn serial_key(&mut self, serial: &str, manufacturer_norm: &str) -> String {
        self.key.clear();
        self.key.push_str(manufacturer_norm);
        self.key.push('\u{0}');
        self.key.push_str(serial);
        self.key.clone()
    }

    /// Records an existing device's identifiers.
    fn existing(
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
    fn check(
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

/// A large import into a small table (at least this many rows expected, and no fewer than
/// the rows already there) drops the two unique (IMEI, serial number) indexes of
/// `bulk_devices` and builds them again at the end of its transaction: building an index from
/// sorted keys is several times cheaper than inserting 200,000 random keys one by one (see
/// [`import_csv`] for how duplicates are then found).
pub const REBUILD_MIN_ROWS: u64 = 10_000;
/// Most existing devices for the index-rebuild strategy (their identifiers are held in memory).
pub const REBUILD_MAX_EXISTING: u64 = 250_000;

/// Rows per multi-row `INSERT` of the rebuild strategy.
const BATCH_ROWS: usize = 64;

/// An empty string is bound as SQL `NULL`.
fn text_or_null(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// One row waiting in a [`BatchInsert`] (empty strings are SQL `NULL`).
#[derive(Default)]
struct PendingRow {
    imei: Option<i64>,
    serial: String,
    manufacturer: String,
    manufacturer_norm: String,
    attributes: String,
    line: u64,
}

/// Multi-row inserts for the rebuild strategy, where no index can refuse a row: one statement
/// stores [`BATCH_ROWS`] rows (the row-independent values are bound once, as `?1` to `?4`),
/// which saves most of SQLite's per-statement work. The row buffers are reused.
struct BatchInsert<'c> {
    c: &'c Connection,
    full: rusqlite::Statement<'c>,
    constants: [rusqlite::types::Value; 4],
    rows: Vec<PendingRow>,
    len: usize,
}

fn batch_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO bulk_devices(profile_pk, kme, approved, created_at, imei, serial, manufacturer, \
         manufacturer_norm, attributes) VALUES ",
    );
    for r in 0..rows {
        let p = 5 + r * 5;
        if r > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(?1,?2,?3,?4,?{},?{},?{},?{},?{})",
            p,
            p + 1,
            p + 2,
            p + 3,
            p + 4
        ));
    }
    sql
}

impl<'c> BatchInsert<'c> {
    fn new(
        c: &'c Connection,
        profile_pk: Option<i64>,
        kme: bool,
        approved: bool,
        now: i64,
    ) -> rusqlite::Result<Self> {
        use rusqlite::types::Value;
        let constants = [
            profile_pk.map_or(Value::Null, Value::Integer),
            Value::Integer(i64::from(kme)),
            Value::Integer(i64::from(approved)),
            Value::Integer(now),
        ];
        let mut full = c.prepare(&batch_sql(BATCH_ROWS))?;
        for (i, v) in constants.iter().enumerate() {
            full.raw_bind_parameter(i + 1, v)?;
        }
        Ok(Self {
            c,
            full,
            constants,
            rows: (0..BATCH_ROWS).map(|_| PendingRow::default()).collect(),
            len: 0,
        })
    }

    /// The next free row buffer (cleared); [`BatchInsert::commit_row`] keeps it.
    fn next_row(&mut self) -> Option<&mut PendingRow> {
        let row = self.rows.get_mut(self.len)?;
        row.serial.clear();
        row.manufacturer.clear();
        row.manufacturer_norm.clear();
        row.attributes.clear();
        Some(row)
    }

    /// Keeps the row filled through [`BatchInsert::next_row`]; stores the batch when full.
    fn commit_row(&mut self, inserted: Option<&mut Inserted>) -> rusqlite::Result<()> {
        self.len += 1;
        if self.len == BATCH_ROWS {
            self.flush(inserted)?;
        }
        Ok(())
    }

    /// Stores the waiting rows; records their row ids when `inserted` is given.
    fn flush(&mut self, inserted: Option<&mut Inserted>) -> rusqlite::Result<()> {
        let n = self.len;
        if n == 0 {
            return Ok(());
        }
        let mut partial;
        let st = if n == BATCH_ROWS {
            &mut self.full
        } else {
            partial = self.c.prepare(&batch_sql(n))?;
            for (i, v) in self.constants.iter().enumerate() {
                partial.raw_bind_parameter(i + 1, v)?;
            }
            &mut partial
        };
        for (r, row) in self.rows.iter().take(n).enumerate() {
            let p = 5 + r * 5;
            st.raw_bind_parameter(p, row.imei)?;
            st.raw_bind_parameter(p + 1, text_or_null(&row.serial))?;
            st.raw_bind_parameter(p + 2, text_or_null(&row.manufacturer))?;
            st.raw_bind_parameter(p + 3, text_or_null(&row.manufacturer_norm))?;
            st.raw_bind_parameter(p + 4, text_or_null(&row.attributes))?;
        }
        st.raw_execute()?;
        // A multi-row insert gives each row the next row id (largest + 1), in order.
        if let Some(inserted) = inserted {
            let last = self.c.last_insert_rowid();
            let first = last - (n as i64 - 1);
            inserted.rows.extend(
                self.rows
                    .iter()
                    .take(n)
                    .enumerate()
                    .map(|(i, row)| (first + i as i64, row.line)),
            );
        }
        self.len = 0;
        Ok(())
    }
}

/// The rows this import inserted, by row id, with their line numbers (for the deferred
/// duplicate check).
struct Inserted {
    rows: Vec<(i64, u64)>,
}

impl Inserted {
    fn line_of(&self, id: i64) -> Option<u64> {
        self.rows
            .binary_search_by_key(&id, |(row, _)| *row)
            .ok()
            .and_then(|i| self.rows.get(i))
            .map(|(_, line)| *line)
    }
}

/// Identifiers of one stored bulk device: row id, IMEI, serial number, normalised manufacturer.
type StoredIdentifiers = (i64, Option<u64>, Option<String>, Option<String>);

/// The identifiers of every stored bulk device, by row id.
fn stored_identifiers(c: &Connection) -> rusqlite::Result<Vec<StoredIdentifiers>> {
    let mut st = c.prepare("SELECT id, imei, serial, manufacturer_norm FROM bulk_devices ORDER BY id")?;
    let rows = st.query_map([], |r| {
        let imei = r.get::<_, Option<i64>>(1)?.and_then(|n| u64::try_from(n).ok());
        Ok((r.get(0)?, imei, r.get(2)?, r.get(3)?))
    })?;
    rows.collect()
}

/// The deferred duplicate check: reads every row of `bulk_devices` (existing devices first,
/// then this import's rows in file order) into a [`Dedupe`], reporting each duplicate of this
/// import at its line. Returns the filled [`Dedupe`], ready to check the rest of the file.
fn find_duplicates(
    c: &Connection,
    target: &ImportTarget,
    inserted: &mut Inserted,
    out: &mut Reporter,
    capacity: usize,
) -> rusqlite::Result<Dedupe> {
    // Row ids rise with each insert; sort anyway, the lookup below needs it.
    if !inserted.rows.is_sorted_by_key(|(id, _)| *id) {
        inserted.rows.sort_unstable_by_key(|(id, _)| *id);
    }
    let mut dedupe = Dedupe::with_capacity(capacity);
    let mut found = Vec::new();
    for (id, imei, serial, norm) in stored_identifiers(c)? {
        match inserted.line_of(id) {
            None => dedupe.existing(id, imei, serial.as_deref(), norm.as_deref()),
            Some(line) => found.push((line, imei, serial, norm)),
        }
    }
    found.sort_unstable_by_key(|(line, ..)| *line);
    let mut refused = Vec::new();
    for (line, imei, serial, norm) in &found {
        let serial = serial.as_deref().zip(norm.as_deref());
        match dedupe.check(c, target, *line, *imei, serial)? {
            Verdict::New => {}
            Verdict::Refused(reason) => refused.push((*line, reason)),
            Verdict::Skipped => out.report.skipped += 1,
        }
    }
    // These lines come before the ones already reported: merge, keep the first ones listed.
    out.report.error_count += refused.len() as u64;
    out.report.errors.extend(
        refused
            .into_iter()
            .map(|(line, reason)| ImportLineError { line, reason }),
    );
    out.report.errors.sort_by_key(|e| e.line);
    out.report.errors.truncate(out.max);
    Ok(dedupe)
}

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
    let limited = RecordLimit {
        inner: input,
        max: limits.max_record_bytes,
        run: 0,
        in_quotes: false,
        lines: 0,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(limited);
    let mut record = csv::ByteRecord::new();

    let fatal_read = |out: &mut Reporter, e: csv::Error, lines: u64| {
        let reason = match e.kind() {
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
                let line = record.position().map_or(1, csv::Position::line);
                match parse_header(&record, limits) {
                    Ok(h) => break h,
                    Err(reason) => {
                        out.error(line, reason);
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
                let lines = reader.get_ref().lines;
                fatal_read(&mut out, e, lines);
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
            Ok(false) => break,
            Err(e) => {
                let lines = reader.get_ref().lines;
                fatal_read(&mut out, e, lines);
                break;
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
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
fn push_attributes_json<'a>(out: &mut String, names: &[String], value: &impl Fn(usize) -> &'a str) {
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

fn push_json_string(out: &mut String, s: &str) {
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

// ---------------------------------------------------------------------------------------------
// CSV output

/// A cell made safe for spreadsheets: a value starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'` so that it is never evaluated as a formula.
pub fn safe_cell(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => std::borrow::Cow::Owned(format!("'{value}")),
        _ => std::borrow::Cow::Borrowed(value),
    }
}

/// Writes CSV rows of devices: the template columns, then one column per attribute name.
pub struct CsvOut<W: Write> {
    writer: csv::Writer<W>,
    attributes: Vec<String>,
}

impl<W: Write> CsvOut<W> {
    /// Starts the file with its header.
    pub fn new(out: W, attributes: Vec<String>) -> io::Result<Self> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        let mut header: Vec<std::borrow::Cow<'_, str>> = TEMPLATE_COLUMNS
            .iter()
            .map(|c| std::borrow::Cow::Borrowed(*c))
            .collect();
        header.extend(attributes.iter().map(|a| safe_cell(a)));
        writer.write_record(header.iter().map(|c| c.as_bytes()))?;
        Ok(Self { writer, attributes })
    }

    /// One device.
    pub fn device(&mut self, d: &DeviceRow) -> io::Result<()> {
        let imei = d.imei.map(format_imei).unwrap_or_default();
        let serial = safe_cell(d.serial.as_deref().unwrap_or(""));
        let manufacturer = safe_cell(d.manufacturer.as_deref().unwrap_or(""));
        let mut row: Vec<std::borrow::Cow<'_, str>> =
            vec![std::borrow::Cow::Borrowed(&imei), serial, manufacturer];
        for name in &self.attributes {
            row.push(safe_cell(d.attributes.get(name).map_or("", String::as_str)));
        }
        self.writer.write_record(row.iter().map(|c| c.as_bytes()))?;
        Ok(())
    }

    /// Flushes and returns the output.
    pub fn finish(self) -> io::Result<W> {
        self.writer
            .into_inner()
            .map_err(|e| io::Error::other(e.error().to_string()))
    }
}

/// Connection settings changed by [`begin_bulk_load`], restored by [`end_bulk_load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLoad {
    cache_size: i64,
    left_wal: bool,
}

impl BulkLoad {
    /// Whether the load runs with a rollback journal (this was the only connection, so the
    /// database could leave WAL mode for it).
    pub fn rollback_journal(&self) -> bool {
        self.left_wal
    }
}

/// Prepares the connection for a bulk load, outside any transaction:
///
/// - raises the page cache (the default 2 MiB would spill pages mid-transaction);
/// - when the database is in WAL mode and this is its only connection, switches to a rollback
///   journal for the load. In WAL mode every new page is written twice (to the WAL at commit,
///   then to the database file by the checkpoint); with a rollback journal the new pages of a
///   load are written once, and only the few pages that already existed are journaled. Any
///   other open connection makes SQLite refuse the switch at once (`SQLITE_BUSY`, no wait), and
///   the load then runs in WAL mode as usual. A crash mid-load leaves a hot journal that SQLite
///   rolls back on the next open: all or nothing either way.
pub fn begin_bulk_load(c: &Connection) -> rusqlite::Result<BulkLoad> {
    let cache_size: i64 = c.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
    c.pragma_update(None, "cache_size", BULK_CACHE_KIB)?;
    let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let left_wal = if mode.eq_ignore_ascii_case("wal") {
        // No busy wait: another connection is a reason not to switch, not to wait.
        let busy_ms: i64 = c.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
        c.pragma_update(None, "busy_timeout", 0)?;
        let switched = c.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0));
        c.pragma_update(None, "busy_timeout", busy_ms)?;
        match switched {
            Ok(now) => now.eq_ignore_ascii_case("delete"),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                false
            }
            Err(e) => {
                c.pragma_update(None, "cache_size", cache_size)?;
                return Err(e);
            }
        }
    } else {
        false
    };
    Ok(BulkLoad { cache_size, left_wal })
}

/// Restores what [`begin_bulk_load`] changed (call it outside the load's transaction, after a
/// commit or a rollback).
pub fn end_bulk_load(c: &Connection, load: BulkLoad) -> rusqlite::Result<()> {
    c.pragma_update(None, "cache_size", load.cache_size)?;
    if load.left_wal {
        let mode: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                Some(format!(
                    "the database could not return to WAL mode after a bulk load (journal mode {mode})"
                )),
            ));
        }
    }
    Ok(())
}

/// Page cache during a bulk load: 64 MiB (negative: KiB), enough for 200,000 rows and their
/// indexes without spilling pages mid-transaction.
pub const BULK_CACHE_KIB: i64 = -64 * 1024;

/// The CSV template: the header line.
pub fn template() -> Vec<u8> {
    format!("{}\r\n", TEMPLATE_COLUMNS.join(",")).into_bytes()
}

#[cfg(test)]
mod tests {
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
    fn import_with(
        c: &mut Connection,
        target: &ImportTarget,
        csv: &[u8],
        limits: &ImportLimits,
    ) -> ImportReport {
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
        // A quote never closed: the record limit stops the parser.
        let mut open = b"imei\n\"".to_vec();
        open.extend(std::iter::repeat_n(b'1', 10_000));
        let r = run(&open);
        assert!(r.errors[0].reason.contains("longer than 64 bytes"), "{r:?}");
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
        let mode =
            |c: &Connection| -> String { c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap() };
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
        // A newline inside a value is a control character.
        assert_eq!(r.error_count, 1);
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
            format!(
                "imei,serial_number,manufacturer,a\r\n{IMEI_A},'=1+1,Acme,'@SUM(A1)\r\n,'-x,'+y,plain\r\n"
            )
        );
        assert_eq!(template(), b"imei,serial_number,manufacturer\r\n");
        assert_eq!(safe_cell("\tx"), "'\tx");
        assert_eq!(safe_cell("ok"), "ok");
    }
}
