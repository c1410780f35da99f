//! The devices of a bulk profile: listing, add / edit / delete (all or nothing, one profile per
//! device), CSV import into a profile and CSV export.

use super::BulkService;
use crate::bulk::{self, ImportLimits, ImportTarget, ProfileRow};
use crate::error::ApiError;
use enroll_proto::{
    AddBulkDevicesRequest, AffectedResponse, BulkDeviceInput, BulkDeviceView, BulkProfileKind,
    DeviceIdsRequest, EditBulkDevicesRequest, ImportLineError, ImportReport,
};
use rusqlite::{Connection, TransactionBehavior};
use std::collections::BTreeMap;
use std::path::Path;

/// Most devices in one add/edit request.
pub const MAX_DEVICES_PER_REQUEST: usize = 1000;
/// Most device ids in one selection.
pub const MAX_SELECTION: usize = 10_000;

/// Validates one device of an add or edit request; returns the row to store.
fn device_row(input: &BulkDeviceInput, profile: &ProfileRow, now: i64) -> Result<bulk::DeviceRow, String> {
    let trim = |o: &Option<String>| o.as_deref().map(str::trim).unwrap_or("").to_owned();
    let (imei, serial, manufacturer) = (trim(&input.imei), trim(&input.serial), trim(&input.manufacturer));
    let ids = bulk::validate_identifiers(&imei, &serial, &manufacturer)?;
    if input.attributes.len() > bulk::MAX_ATTRIBUTES {
        return Err(format!("at most {} custom attributes", bulk::MAX_ATTRIBUTES));
    }
    let mut attributes = BTreeMap::new();
    for (k, v) in &input.attributes {
        bulk::check_attribute_name(k)?;
        bulk::check_attribute_value(v)?;
        let v = v.trim();
        if !v.is_empty() {
            attributes.insert(k.clone(), v.to_owned());
        }
    }
    Ok(bulk::DeviceRow {
        id: 0,
        profile_pk: Some(profile.pk),
        imei: ids.imei,
        serial: ids.serial.map(str::to_owned),
        manufacturer: ids.manufacturer.map(str::to_owned),
        attributes,
        kme: profile.kind == BulkProfileKind::SamsungKme,
        approved: true,
        enrolled_device_id: None,
        enrolled_at: None,
        created_at: now,
    })
}

fn holder_reason(
    c: &Connection,
    d: &bulk::DeviceRow,
    self_id: Option<i64>,
    pk: i64,
) -> Result<Option<String>, ApiError> {
    let mut holders = Vec::new();
    if let Some(n) = d.imei {
        holders.extend(bulk::holder_of_imei(c, n)?);
    }
    if let (Some(s), Some(m)) = (&d.serial, &d.manufacturer) {
        holders.extend(bulk::holder_of_serial(c, s, m)?);
    }
    Ok(holders
        .iter()
        .find(|(h, _)| Some(h.id) != self_id)
        .map(|(_, p)| match p {
            Some(p) if p.pk == pk => "duplicate device: already in this profile".to_owned(),
            Some(p) => format!(
                "duplicate device: already in bulk profile {:?} ({})",
                p.name, p.id
            ),
            None => "duplicate device: already uploaded from Samsung KME".to_owned(),
        }))
}

impl BulkService<'_> {
    // -----------------------------------------------------------------------------------------
    // devices of a profile

    /// `GET /admin/bulk/profiles/{id}/devices`.
    pub fn list_bulk_devices(
        &self,
        id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<BulkDeviceView>, ApiError> {
        let store = self.lock()?;
        let p = Self::load_profile(store.conn(), id)?;
        Ok(bulk::list_devices(store.conn(), Some(p.pk), offset, limit)?
            .iter()
            .map(|d| d.view(Some(p.id.clone())))
            .collect())
    }

    /// `POST /admin/bulk/profiles/{id}/devices`: add devices, all or nothing.
    pub fn add_bulk_devices(&self, id: &str, req: &AddBulkDevicesRequest) -> Result<ImportReport, ApiError> {
        if req.devices.is_empty() || req.devices.len() > MAX_DEVICES_PER_REQUEST {
            return Err(ApiError::bad_request(format!(
                "give 1 to {MAX_DEVICES_PER_REQUEST} devices"
            )));
        }
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let p = Self::load_profile(&tx, id)?;
        if p.kind == BulkProfileKind::SamsungKme {
            return Err(ApiError::bad_request(
                "devices of Samsung KME profiles come from the Knox uploads: approve them, then move them",
            ));
        }
        let mut report = ImportReport::default();
        for (i, input) in req.devices.iter().enumerate() {
            let line = i as u64 + 1;
            report.rows += 1;
            let row = match device_row(input, &p, now) {
                Ok(row) => row,
                Err(reason) => {
                    push_error(&mut report, line, reason);
                    continue;
                }
            };
            if report.error_count == 0 && bulk::insert_device(&tx, &row)?.is_some() {
                report.imported += 1;
                continue;
            }
            match holder_reason(&tx, &row, None, p.pk)? {
                Some(reason) => push_error(&mut report, line, reason),
                None => push_error(&mut report, line, "duplicate device within the request"),
            }
        }
        if report.error_count > 0 {
            report.imported = 0;
            return Err(ApiError::rejected_import(report));
        }
        bulk::touch_profile(&tx, p.pk, now)?;
        tx.commit()?;
        tracing::info!(profile_id = %p.id, added = report.imported, "bulk devices added");
        Ok(report)
    }

    /// `PATCH /admin/bulk/profiles/{id}/devices`: edit devices, all or nothing. Samsung KME
    /// devices keep the identifiers Knox reported: only their attributes change.
    pub fn edit_bulk_devices(
        &self,
        id: &str,
        req: &EditBulkDevicesRequest,
    ) -> Result<Vec<BulkDeviceView>, ApiError> {
        if req.devices.is_empty() || req.devices.len() > MAX_DEVICES_PER_REQUEST {
            return Err(ApiError::bad_request(format!(
                "give 1 to {MAX_DEVICES_PER_REQUEST} devices"
            )));
        }
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let p = Self::load_profile(&tx, id)?;
        let mut report = ImportReport::default();
        let mut out = Vec::new();
        for (i, edit) in req.devices.iter().enumerate() {
            let line = i as u64 + 1;
            report.rows += 1;
            let Some(old) = bulk::device_by_id(&tx, edit.id)?.filter(|d| d.profile_pk == Some(p.pk)) else {
                push_error(&mut report, line, "no such device in this profile");
                continue;
            };
            let input = if old.kme {
                BulkDeviceInput {
                    imei: old.imei.map(bulk::format_imei),
                    serial: old.serial.clone(),
                    manufacturer: old.manufacturer.clone(),
                    attributes: edit.attributes.clone(),
                }
            } else {
                BulkDeviceInput {
                    imei: edit.imei.clone(),
                    serial: edit.serial.clone(),
                    manufacturer: edit.manufacturer.clone(),
                    attributes: edit.attributes.clone(),
                }
            };
            let mut row = match device_row(&input, &p, now) {
                Ok(row) => row,
                Err(reason) => {
                    push_error(&mut report, line, reason);
                    continue;
                }
            };
            row.id = old.id;
            row.kme = old.kme;
            row.created_at = old.created_at;
            row.enrolled_device_id = old.enrolled_device_id.clone();
            row.enrolled_at = old.enrolled_at;
            if let Some(reason) = holder_reason(&tx, &row, Some(old.id), p.pk)? {
                push_error(&mut report, line, reason);
                continue;
            }
            if report.error_count == 0 {
                bulk::update_device(&tx, &row)?;
            }
            out.push(row.view(Some(p.id.clone())));
        }
        if report.error_count > 0 {
            return Err(ApiError::rejected_import(report));
        }
        bulk::touch_profile(&tx, p.pk, now)?;
        tx.commit()?;
        Ok(out)
    }

    pub(crate) fn selection(ids: &[i64]) -> Result<(), ApiError> {
        if ids.is_empty() || ids.len() > MAX_SELECTION {
            return Err(ApiError::bad_request(format!(
                "select 1 to {MAX_SELECTION} devices"
            )));
        }
        Ok(())
    }

    /// `POST /admin/bulk/profiles/{id}/devices/delete`.
    pub fn delete_bulk_devices(
        &self,
        id: &str,
        req: &DeviceIdsRequest,
    ) -> Result<AffectedResponse, ApiError> {
        Self::selection(&req.device_ids)?;
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let p = Self::load_profile(&tx, id)?;
        let mut affected = 0;
        for d in &req.device_ids {
            if bulk::device_by_id(&tx, *d)?.is_some_and(|row| row.profile_pk == Some(p.pk)) {
                bulk::delete_device(&tx, *d)?;
                affected += 1;
            }
        }
        bulk::touch_profile(&tx, p.pk, now)?;
        tx.commit()?;
        Ok(AffectedResponse { affected })
    }

    // -----------------------------------------------------------------------------------------
    // CSV

    /// Imports a spooled CSV into `target` in one transaction with bulk-load settings; `prepare`
    /// runs first inside the transaction. All or nothing. `delimiter`: the field separator, or
    /// `None` for the one the header line uses.
    pub(crate) fn import_file(
        &self,
        path: &Path,
        target: &ImportTarget,
        delimiter: Option<u8>,
        prepare: impl FnOnce(&Connection) -> Result<(), ApiError>,
        finish: impl FnOnce(&Connection, &ImportReport) -> Result<(), ApiError>,
    ) -> Result<ImportReport, ApiError> {
        let file = std::fs::File::open(path).map_err(|e| ApiError::internal(&e))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let input = std::io::BufReader::with_capacity(256 * 1024, file);
        let now = self.now();
        let mut store = self.lock()?;
        let load = bulk::begin_bulk_load(store.conn())?;
        let result = (|| {
            let tx = store
                .conn_mut()
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            prepare(&tx)?;
            let limits = ImportLimits {
                delimiter,
                ..ImportLimits::default()
            };
            let report = bulk::import_csv(&tx, target, input, now, &limits, size)?;
            if report.error_count > 0 {
                return Err(ApiError::rejected_import(report));
            }
            finish(&tx, &report)?;
            tx.commit()?;
            Ok(report)
        })();
        // The import's outcome stands either way: a failure here only leaves the connection
        // with a rollback journal or a larger cache until the next start.
        if let Err(e) = bulk::end_bulk_load(store.conn(), load) {
            tracing::warn!(error = %e, "could not restore the connection settings after a CSV import");
        }
        result
    }

    /// `POST /admin/bulk/profiles/{id}/devices/csv` (`replace`: the new file replaces the
    /// inventory; `delimiter`: the field separator, `None` to detect it from the header).
    pub fn import_bulk_csv(
        &self,
        id: &str,
        path: &Path,
        replace: bool,
        delimiter: Option<u8>,
    ) -> Result<ImportReport, ApiError> {
        let p = Self::load_profile(self.lock()?.conn(), id)?;
        if p.kind == BulkProfileKind::SamsungKme {
            return Err(ApiError::bad_request(
                "devices of Samsung KME profiles come from the Knox uploads (POST /api/v1/admin/kme/uploads/csv)",
            ));
        }
        let now = self.now();
        let started = std::time::Instant::now();
        let report = self.import_file(
            path,
            &ImportTarget::Profile { pk: p.pk },
            delimiter,
            |c| {
                if replace {
                    c.execute("DELETE FROM bulk_devices WHERE profile_pk = ?1", [p.pk])?;
                }
                Ok(())
            },
            |c, _| Ok(bulk::touch_profile(c, p.pk, now)?),
        )?;
        tracing::info!(profile_id = %p.id, rows = report.rows, imported = report.imported, ms = started.elapsed().as_millis() as u64, "CSV imported");
        Ok(report)
    }

    pub(crate) fn export(&self, profile_pk: Option<i64>) -> Result<Vec<u8>, ApiError> {
        let store = self.lock()?;
        let c = store.conn();
        let names = bulk::attribute_names(c, profile_pk)?;
        let mut out = bulk::CsvOut::new(Vec::new(), names).map_err(|e| ApiError::internal(&e))?;
        bulk::for_each_device(c, profile_pk, |d| out.device(d))?.map_err(|e| ApiError::internal(&e))?;
        out.finish().map_err(|e| ApiError::internal(&e))
    }

    /// `GET /admin/bulk/profiles/{id}/devices/csv`: the inventory, formula-safe.
    pub fn export_bulk_csv(&self, id: &str) -> Result<Vec<u8>, ApiError> {
        let pk = Self::load_profile(self.lock()?.conn(), id)?.pk;
        self.export(Some(pk))
    }
}

fn push_error(report: &mut ImportReport, line: u64, reason: impl Into<String>) {
    report.error_count += 1;
    if report.errors.len() < 1000 {
        report.errors.push(ImportLineError {
            line,
            reason: reason.into(),
        });
    }
}
