//! Field validation of bulk devices: identifiers (an IMEI, or a serial number plus a
//! manufacturer), custom attribute names and values, and the limits of one import.

use enroll_proto::MAX_CSV_ROWS;

use super::*;

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
    /// The field separator; `None`: the one the header line uses (`,`, `;` or tab).
    pub delimiter: Option<u8>,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            max_rows: MAX_CSV_ROWS,
            max_columns: 64,
            max_field_bytes: 1024,
            max_record_bytes: 64 * 1024,
            max_reported_errors: 1000,
            delimiter: None,
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

pub(super) fn check_text(value: &str, max_chars: usize, what: &'static str) -> Result<(), String> {
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
