//! Which bulk device an enrolling device is: by one of its IMEIs, or by its serial number *and*
//! manufacturer (case-insensitively), the four situations of seed 000's table; for a bulk token
//! or for a tokenless enrollment (seed 000). Then, on confirm, the bulk device is marked
//! enrolled and its attributes go to the device record.

use super::*;
use crate::bulk::{self, ProfileRow};
use crate::common::invalid_token;
use crate::error::ApiError;
use enroll_proto::{DeviceDescriptor, ErrorCode};
use rusqlite::Connection;
use std::collections::BTreeMap;

/// Who enrolls through a bulk profile: the profile's user and the bulk device.
#[derive(Debug, Clone)]
pub(crate) struct BulkPrincipal {
    /// The profile's associated user.
    pub user_id: Option<String>,
    /// The matched bulk device.
    pub bulk_device: i64,
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

impl BulkService<'_> {
    /// The bulk device a token of profile `profile_id` enrolls, or why not.
    pub(crate) fn bulk_principal_for_token(
        &self,
        c: &Connection,
        profile_id: &str,
        device: &DeviceDescriptor,
    ) -> Result<BulkPrincipal, ApiError> {
        let profile = bulk::profile_by_id(c, profile_id)?.ok_or_else(invalid_token)?;
        let matches = bulk::matching(c, &device.imeis, device.serial.as_deref(), &device.manufacturer)?;
        if let Some(m) = matches
            .iter()
            .find(|m| m.device.profile_pk == Some(profile.pk) && m.device.approved)
        {
            return Ok(BulkPrincipal {
                user_id: profile.user_id.clone(),
                bulk_device: m.device.id,
            });
        }
        Err(not_enrolled_error(&matches))
    }

    /// The bulk device a tokenless enrollment matches, or why not.
    pub(crate) fn bulk_principal_tokenless(
        &self,
        c: &Connection,
        profile_id: Option<&str>,
        device: &DeviceDescriptor,
    ) -> Result<BulkPrincipal, ApiError> {
        let matches = bulk::matching(c, &device.imeis, device.serial.as_deref(), &device.manufacturer)?;
        let eligible = matches.iter().find_map(|m| {
            let p = m.profile.as_ref()?;
            let ok = m.device.approved
                && p.tokenless
                && !p.is_default
                && profile_id.is_none_or(|want| want == p.id);
            ok.then(|| BulkPrincipal {
                user_id: p.user_id.clone(),
                bulk_device: m.device.id,
            })
        });
        eligible.ok_or_else(|| not_enrolled_error(&matches))
    }

    /// On confirm: the bulk device's custom attributes (over the profile's) for the record,
    /// and the bulk device marked enrolled.
    pub(crate) fn bulk_on_confirm(
        &self,
        c: &Connection,
        bulk_device: i64,
        device_id: &str,
        now: i64,
    ) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        let Some(row) = bulk::device_by_id(c, bulk_device)? else {
            return Ok(None);
        };
        let mut attributes = match row.profile_pk {
            Some(pk) => bulk::profile_by_pk(c, pk)?
                .map(|p| p.config.attributes)
                .unwrap_or_default(),
            None => BTreeMap::new(),
        };
        attributes.extend(row.attributes.clone());
        bulk::mark_enrolled(c, row.id, device_id, now)?;
        Ok(Some(attributes))
    }
}

/// Why a device found in no eligible profile cannot enroll. The same error for the "not
/// enrolled" rows of seed 000's table (no IMEI match, and serial + manufacturer not both
/// matching), so that an unauthenticated caller cannot probe which serial numbers exist.
fn not_enrolled_error(matches: &[bulk::Match]) -> ApiError {
    if matches.iter().any(|m| m.device.kme && !m.device.approved) {
        return ApiError::new(
            ErrorCode::DeviceNotApproved,
            "this device waits for the administrator's approval (Samsung KME)",
        );
    }
    if matches
        .iter()
        .any(|m| m.profile.as_ref().is_some_and(|p| p.is_default))
    {
        return ApiError::new(
            ErrorCode::DeviceUnassigned,
            "this device is not assigned to a Samsung KME profile yet",
        );
    }
    ApiError::new(
        ErrorCode::DeviceNotMatched,
        "this device's IMEI, or serial number and manufacturer, match no device of the enrollment profile",
    )
}
