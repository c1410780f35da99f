//! Store queries of bulk profiles and bulk devices (and who holds an identifier).

use enroll_proto::{BulkDeviceView, BulkProfileConfig, BulkProfileKind};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::BTreeMap;
use std::io::{self};

use super::*;

// ---------------------------------------------------------------------------------------------
// storage: profiles

/// Wire name of a profile kind.
pub fn kind_str(k: BulkProfileKind) -> &'static str {
    match k {
        BulkProfileKind::SelfMaintained => "self_maintained",
        BulkProfileKind::SamsungKme => "samsung_kme",
    }
}

pub(super) fn parse_kind(s: &str) -> BulkProfileKind {
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

pub(super) const PROFILE_COLS: &str =
    "pk, id, name, description, kind, is_default, tokenless, user_id, config, \
     token_generation, token_id, created_at, modified_at";

pub(super) fn profile_from_row(r: &Row<'_>) -> rusqlite::Result<ProfileRow> {
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

pub(super) fn config_json(config: &BulkProfileConfig) -> rusqlite::Result<String> {
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

pub(super) const DEVICE_COLS: &str =
    "d.id, d.profile_pk, d.imei, d.serial, d.manufacturer, d.attributes, d.kme, \
     d.approved, d.enrolled_device_id, d.enrolled_at, d.created_at";

pub(super) fn device_from_row(r: &Row<'_>) -> rusqlite::Result<DeviceRow> {
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

pub(super) fn attributes_json(a: &BTreeMap<String, String>) -> rusqlite::Result<Option<String>> {
    if a.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(a)
        .map(Some)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

pub(super) fn imei_sql(imei: Option<u64>) -> Option<i64> {
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

pub(super) const HOLDER_OF_IMEI: &str = "SELECT d.id, d.profile_pk, d.imei, d.serial, d.manufacturer, d.attributes, \
     d.kme, d.approved, d.enrolled_device_id, d.enrolled_at, d.created_at FROM bulk_devices d WHERE d.imei = ?1";
pub(super) const HOLDER_OF_SERIAL: &str =
    "SELECT d.id, d.profile_pk, d.imei, d.serial, d.manufacturer, d.attributes, \
     d.kme, d.approved, d.enrolled_device_id, d.enrolled_at, d.created_at FROM bulk_devices d \
     WHERE d.serial = ?1 AND d.manufacturer_norm = ?2";

pub(super) fn holder(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> rusqlite::Result<Option<Holder>> {
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
