//! Moving devices between Samsung KME profiles: to another KME profile, or back to the default
//! one (unassign: they cannot enroll any more).

use super::KmeService;
use crate::bulk::BulkService;
use crate::bulk::{self};
use crate::error::ApiError;
use enroll_proto::{AffectedResponse, BulkProfileKind, DeviceIdsRequest, MoveDevicesRequest};
use rusqlite::TransactionBehavior;

impl KmeService<'_> {
    /// Moves the selected devices of a KME profile to another KME profile.
    pub(super) fn move_kme(
        &self,
        from: &str,
        ids: &[i64],
        to: Option<&str>,
    ) -> Result<AffectedResponse, ApiError> {
        BulkService::selection(ids)?;
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let src = BulkService::load_profile(&tx, from)?;
        if src.kind != BulkProfileKind::SamsungKme {
            return Err(ApiError::bad_request(
                "only the devices of Samsung KME profiles move between profiles",
            ));
        }
        let dst = match to {
            Some(to) => {
                let dst = BulkService::load_profile(&tx, to)?;
                if dst.kind != BulkProfileKind::SamsungKme || dst.is_default || dst.pk == src.pk {
                    return Err(ApiError::bad_request(
                        "the destination must be another Samsung KME profile (not the default one: use unassign)",
                    ));
                }
                dst
            }
            None => {
                if src.is_default {
                    return Err(ApiError::bad_request(
                        "these devices are already unassigned (default Samsung KME profile)",
                    ));
                }
                bulk::default_kme_profile(&tx)?
                    .ok_or_else(|| ApiError::bad_request("the Samsung KME integration is off"))?
            }
        };
        let mut affected = 0;
        for d in ids {
            if let Some(mut row) = bulk::device_by_id(&tx, *d)?.filter(|r| r.profile_pk == Some(src.pk)) {
                row.profile_pk = Some(dst.pk);
                bulk::update_device(&tx, &row)?;
                affected += 1;
            }
        }
        bulk::touch_profile(&tx, src.pk, now)?;
        bulk::touch_profile(&tx, dst.pk, now)?;
        tx.commit()?;
        tracing::info!(from = %src.id, to = %dst.id, affected, "KME devices moved");
        Ok(AffectedResponse { affected })
    }

    /// `POST /admin/bulk/profiles/{id}/devices/move`.
    pub fn move_bulk_devices(
        &self,
        id: &str,
        req: &MoveDevicesRequest,
    ) -> Result<AffectedResponse, ApiError> {
        self.move_kme(id, &req.device_ids, Some(&req.to_profile))
    }

    /// `POST /admin/bulk/profiles/{id}/devices/unassign`: back to the default KME profile.
    pub fn unassign_bulk_devices(
        &self,
        id: &str,
        req: &DeviceIdsRequest,
    ) -> Result<AffectedResponse, ApiError> {
        self.move_kme(id, &req.device_ids, None)
    }
}
