//! The integration (on / its name), the reseller uploads (the Knox sync seam), their export and
//! their approval into the default KME profile.

use super::KmeService;
use super::{DEFAULT_KME_PROFILE_NAME, META_KME_DESCRIPTION, META_KME_ENABLED_AT, META_KME_NAME};
use crate::bulk::{self, ImportTarget, ProfileRow};
use crate::bulk::{
    text_field, BulkService, MAX_DESCRIPTION_CHARS, MAX_PROFILE_NAME_CHARS, META_KME_LAST_SYNC,
};
use crate::error::ApiError;
use crate::store::{self};
use enroll_proto::{
    AffectedResponse, BulkDeviceView, BulkProfileConfig, BulkProfileKind, ImportReport, KmeApproveRequest,
    KmeIntegrationRequest, KmeIntegrationView,
};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

impl KmeService<'_> {
    /// `GET /admin/kme/integration`.
    pub fn kme_integration(&self) -> Result<KmeIntegrationView, ApiError> {
        let store = self.lock()?;
        let c = store.conn();
        let enabled_at = store::meta_get(c, META_KME_ENABLED_AT)?.and_then(|v| v.parse().ok());
        Ok(KmeIntegrationView {
            enabled: enabled_at.is_some(),
            name: store::meta_get(c, META_KME_NAME)?.unwrap_or_default(),
            description: store::meta_get(c, META_KME_DESCRIPTION)?.unwrap_or_default(),
            enabled_at,
            default_profile_id: bulk::default_kme_profile(c)?.map(|p| p.id),
            pending_approval: bulk::count_pending_uploads(c)?,
            last_sync_at: store::meta_get(c, META_KME_LAST_SYNC)?.and_then(|v| v.parse().ok()),
        })
    }

    /// `POST /admin/kme/integration`: turns the integration on (again: updates its name) and
    /// creates the default Samsung KME profile, with no device.
    pub fn enable_kme(&self, req: &KmeIntegrationRequest) -> Result<KmeIntegrationView, ApiError> {
        text_field("name", &req.name, MAX_PROFILE_NAME_CHARS, true)?;
        text_field("description", &req.description, MAX_DESCRIPTION_CHARS, false)?;
        let now = self.now();
        {
            let mut store = self.lock()?;
            let tx = store
                .conn_mut()
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            store::meta_set(&tx, META_KME_NAME, req.name.trim())?;
            store::meta_set(&tx, META_KME_DESCRIPTION, req.description.trim())?;
            if store::meta_get(&tx, META_KME_ENABLED_AT)?.is_none() {
                store::meta_set(&tx, META_KME_ENABLED_AT, &now.to_string())?;
            }
            if bulk::default_kme_profile(&tx)?.is_none() {
                let p = ProfileRow {
                    pk: 0,
                    id: uuid::Uuid::new_v4().to_string(),
                    name: DEFAULT_KME_PROFILE_NAME.to_owned(),
                    description: "Samsung devices not assigned to a KME profile (they cannot enroll)"
                        .to_owned(),
                    kind: BulkProfileKind::SamsungKme,
                    is_default: true,
                    tokenless: false,
                    user_id: None,
                    config: BulkProfileConfig::default(),
                    token_generation: 0,
                    token_id: None,
                    created_at: now,
                    modified_at: now,
                };
                bulk::insert_profile(&tx, &p)?;
                tracing::info!(profile_id = %p.id, "Samsung KME integration on: default profile created");
            }
            tx.commit()?;
        }
        self.kme_integration()
    }

    pub(super) fn require_kme(c: &Connection) -> Result<ProfileRow, ApiError> {
        bulk::default_kme_profile(c)?.ok_or_else(|| {
            ApiError::bad_request(
                "the Samsung KME integration is off: turn it on first (POST /api/v1/admin/kme/integration)",
            )
        })
    }

    /// `GET /admin/kme/uploads`: devices waiting for approval.
    pub fn kme_uploads(&self, offset: u64, limit: u64) -> Result<Vec<BulkDeviceView>, ApiError> {
        let store = self.lock()?;
        Ok(bulk::list_devices(store.conn(), None, offset, limit)?
            .iter()
            .map(|d| d.view(None))
            .collect())
    }

    /// `POST /admin/kme/uploads/csv`: the reseller upload / Knox sync seam. A real Knox client
    /// would fetch the reseller's device list and feed it here; devices already known to the
    /// integration are skipped.
    pub fn import_kme_csv(&self, path: &Path) -> Result<ImportReport, ApiError> {
        Self::require_kme(self.lock()?.conn())?;
        let now = self.now();
        let report = BulkService(self.0).import_file(
            path,
            &ImportTarget::KmeUploads,
            None,
            |_| Ok(()),
            |c, _| Ok(store::meta_set(c, META_KME_LAST_SYNC, &now.to_string())?),
        )?;
        tracing::info!(
            rows = report.rows,
            imported = report.imported,
            skipped = report.skipped,
            "KME upload imported"
        );
        Ok(report)
    }

    /// `GET /admin/kme/uploads/csv`: the unapproved devices, formula-safe.
    pub fn export_kme_csv(&self) -> Result<Vec<u8>, ApiError> {
        BulkService(self.0).export(None)
    }

    /// `POST /admin/kme/uploads/approve`: all, or the selected uploads, into the default
    /// profile.
    pub fn kme_approve(&self, req: &KmeApproveRequest) -> Result<AffectedResponse, ApiError> {
        if !req.all {
            BulkService::selection(&req.device_ids)?;
        }
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let default = Self::require_kme(&tx)?;
        let affected = if req.all {
            tx.execute(
                "UPDATE bulk_devices SET profile_pk = ?1, approved = 1 WHERE profile_pk IS NULL AND kme = 1",
                [default.pk],
            )?
        } else {
            let mut st = tx.prepare(
                "UPDATE bulk_devices SET profile_pk = ?1, approved = 1 WHERE id = ?2 AND profile_pk IS NULL AND kme = 1",
            )?;
            let mut n = 0;
            for id in &req.device_ids {
                n += st.execute(rusqlite::params![default.pk, id])?;
            }
            n
        };
        bulk::touch_profile(&tx, default.pk, now)?;
        tx.commit()?;
        tracing::info!(affected, "KME uploads approved");
        Ok(AffectedResponse {
            affected: affected as u64,
        })
    }
}
