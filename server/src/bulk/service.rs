//! Bulk profiles: create, edit, delete (a KME profile's devices go back to the default KME
//! profile), their derived tokens (refresh, extend, 7 to 999 days or never), their provisioning
//! payloads and QR code.

use super::{validate_config, BulkService};
use crate::bulk::{self, ProfileRow};
use crate::common::{validate_email, TOKEN_DAYS};
use crate::crypto;
use crate::error::ApiError;
use crate::qr::{self, ImageFormat, PayloadParams};
use crate::store::{self, TokenRow};
use crate::users;
use enroll_proto::secret::SecretString;
use enroll_proto::{
    BulkProfileDetail, BulkProfileKind, BulkProfileView, BulkTokenAction, BulkTokenRequest,
    CreateBulkProfileRequest, ProvisioningPayloads, TokenResponse, UpdateBulkProfileRequest,
};
use rusqlite::{Connection, TransactionBehavior};

/// Longest profile name, in characters.
pub const MAX_PROFILE_NAME_CHARS: usize = 128;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Default token validity, days.
const DEFAULT_DAYS: u32 = 7;
/// `meta` key: when the last Samsung KME upload was imported (shown on KME profiles).
pub(crate) const META_KME_LAST_SYNC: &str = "kme_last_sync_at";

fn profile_not_found() -> ApiError {
    ApiError::not_found("no such bulk profile")
}

/// Checks a free-text field: required or not, at most `max` characters, no control character.
pub(crate) fn text_field(name: &str, value: &str, max: usize, required: bool) -> Result<(), ApiError> {
    if required && value.trim().is_empty() {
        return Err(ApiError::bad_request(format!("{name} is required")));
    }
    if value.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{name} is longer than {max} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{name} contains control characters"
        )));
    }
    Ok(())
}

fn days_of(days: Option<u32>, never: bool, default: Option<u32>) -> Result<Option<u32>, ApiError> {
    if never {
        return Ok(None);
    }
    let d = days
        .or(default)
        .ok_or_else(|| ApiError::bad_request("give days (7 to 999) or never_expires"))?;
    if !TOKEN_DAYS.contains(&d) {
        return Err(ApiError::bad_request(
            "days must be between 7 and 999, or set never_expires",
        ));
    }
    Ok(Some(d))
}

impl BulkService<'_> {
    // -----------------------------------------------------------------------------------------
    // tokens of bulk profiles

    /// The profile's token of a given generation (derived, never stored).
    pub(crate) fn bulk_token_text(&self, profile_id: &str, generation: i64) -> String {
        format!(
            "ent_{}",
            crypto::b64url(&crypto::hmac_sha256(
                &self.secret,
                format!("bulk-token:{profile_id}:{generation}").as_bytes(),
            ))
        )
    }

    /// Issues the profile's token of its current generation, valid `days` (None: never).
    pub(crate) fn issue_bulk_token(
        &self,
        c: &Connection,
        p: &mut ProfileRow,
        days: Option<u32>,
        now: i64,
    ) -> Result<(), ApiError> {
        if let Some(old) = &p.token_id {
            store::revoke_token(c, old, now)?;
        }
        let token = self.bulk_token_text(&p.id, p.token_generation);
        let row = TokenRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: None,
            bulk_profile_id: Some(p.id.clone()),
            created_at: now,
            expires_at: days.map(|d| now.saturating_add(i64::from(d) * 86_400)),
            revoked_at: None,
        };
        store::insert_token(c, &row, &crypto::sha256(token.as_bytes()))?;
        p.token_id = Some(row.id);
        Ok(())
    }

    pub(crate) fn revoke_bulk_token(c: &Connection, p: &mut ProfileRow, now: i64) -> Result<(), ApiError> {
        if let Some(old) = p.token_id.take() {
            store::revoke_token(c, &old, now)?;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // views

    pub(crate) fn user_email(c: &Connection, user_id: Option<&str>) -> Result<Option<String>, ApiError> {
        Ok(match user_id {
            Some(id) => users::user_by_id(c, id)?.map(|u| u.email),
            None => None,
        })
    }

    pub(crate) fn profile_view(
        c: &Connection,
        p: &ProfileRow,
        device_count: u64,
    ) -> Result<BulkProfileView, ApiError> {
        Ok(BulkProfileView {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            kind: p.kind,
            default_kme: p.is_default,
            tokenless: p.tokenless,
            modified_at: p.modified_at,
            device_count,
            user: Self::user_email(c, p.user_id.as_deref())?,
        })
    }

    pub(crate) fn profile_detail(
        &self,
        c: &Connection,
        p: &ProfileRow,
    ) -> Result<BulkProfileDetail, ApiError> {
        let (count, enrolled) = bulk::profile_counts(c, p.pk)?;
        let (token, token_expires_at) = match &p.token_id {
            Some(tid) => {
                let row = store::token_by_id(c, tid)?;
                (
                    Some(SecretString::new(self.bulk_token_text(&p.id, p.token_generation))),
                    row.and_then(|r| r.expires_at),
                )
            }
            None => (None, None),
        };
        let last_sync_at = store::meta_get(c, META_KME_LAST_SYNC)?.and_then(|v| v.parse().ok());
        let kme = p.kind == BulkProfileKind::SamsungKme;
        Ok(BulkProfileDetail {
            profile: Self::profile_view(c, p, count)?,
            token,
            token_expires_at,
            enrolled_devices: enrolled,
            pending_devices: count.saturating_sub(enrolled),
            sync_status: kme.then(|| {
                if last_sync_at.is_some() {
                    "synced".to_owned()
                } else {
                    "never_synced".to_owned()
                }
            }),
            last_sync_at: if kme { last_sync_at } else { None },
            config: p.config.clone(),
        })
    }

    pub(crate) fn load_profile(c: &Connection, id: &str) -> Result<ProfileRow, ApiError> {
        if id.is_empty() || id.len() > 64 {
            return Err(profile_not_found());
        }
        bulk::profile_by_id(c, id)?.ok_or_else(profile_not_found)
    }

    pub(crate) fn user_id_of(c: &Connection, email: &str) -> Result<String, ApiError> {
        validate_email(email).map_err(|_| ApiError::not_found("no such user"))?;
        Ok(users::user_by_email(c, email)?
            .ok_or_else(|| ApiError::not_found("no such user"))?
            .id)
    }

    // -----------------------------------------------------------------------------------------
    // profiles

    /// `GET /admin/bulk/profiles`.
    pub fn list_bulk_profiles(&self) -> Result<Vec<BulkProfileView>, ApiError> {
        let store = self.lock()?;
        let c = store.conn();
        bulk::list_profiles(c)?
            .iter()
            .map(|(p, n)| Self::profile_view(c, p, *n))
            .collect()
    }

    /// `POST /admin/bulk/profiles`.
    pub fn create_bulk_profile(&self, req: &CreateBulkProfileRequest) -> Result<BulkProfileDetail, ApiError> {
        text_field("name", &req.name, MAX_PROFILE_NAME_CHARS, true)?;
        text_field("description", &req.description, MAX_DESCRIPTION_CHARS, false)?;
        validate_config(&req.config)?;
        let days = if req.tokenless {
            None
        } else {
            days_of(req.token_days, req.never_expires, Some(DEFAULT_DAYS))?
        };
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if req.kind == BulkProfileKind::SamsungKme && bulk::default_kme_profile(&tx)?.is_none() {
            return Err(ApiError::bad_request(
                "turn the Samsung KME integration on first (POST /api/v1/admin/kme/integration)",
            ));
        }
        let user_id = req
            .user
            .as_deref()
            .map(|u| Self::user_id_of(&tx, u))
            .transpose()?;
        let mut p = ProfileRow {
            pk: 0,
            id: uuid::Uuid::new_v4().to_string(),
            name: req.name.trim().to_owned(),
            description: req.description.trim().to_owned(),
            kind: req.kind,
            is_default: false,
            tokenless: req.tokenless,
            user_id,
            config: req.config.clone(),
            token_generation: 0,
            token_id: None,
            created_at: now,
            modified_at: now,
        };
        if !req.tokenless {
            self.issue_bulk_token(&tx, &mut p, days, now)?;
        }
        p.pk = bulk::insert_profile(&tx, &p)?;
        let detail = self.profile_detail(&tx, &p)?;
        tx.commit()?;
        tracing::info!(profile_id = %p.id, kind = bulk::kind_str(p.kind), tokenless = p.tokenless, "bulk profile created");
        Ok(detail)
    }

    /// `GET /admin/bulk/profiles/{id}`.
    pub fn bulk_profile(&self, id: &str) -> Result<BulkProfileDetail, ApiError> {
        let store = self.lock()?;
        let p = Self::load_profile(store.conn(), id)?;
        self.profile_detail(store.conn(), &p)
    }

    /// `PATCH /admin/bulk/profiles/{id}`.
    pub fn update_bulk_profile(
        &self,
        id: &str,
        req: &UpdateBulkProfileRequest,
    ) -> Result<BulkProfileDetail, ApiError> {
        if let Some(n) = &req.name {
            text_field("name", n, MAX_PROFILE_NAME_CHARS, true)?;
        }
        if let Some(d) = &req.description {
            text_field("description", d, MAX_DESCRIPTION_CHARS, false)?;
        }
        if let Some(c) = &req.config {
            validate_config(c)?;
        }
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut p = Self::load_profile(&tx, id)?;
        if p.is_default && (req.tokenless.is_some() || req.config.is_some()) {
            return Err(ApiError::bad_request(
                "the default Samsung KME profile has no token and no configuration: its devices cannot enroll",
            ));
        }
        if let Some(n) = &req.name {
            p.name = n.trim().to_owned();
        }
        if let Some(d) = &req.description {
            p.description = d.trim().to_owned();
        }
        if req.clear_user {
            p.user_id = None;
        } else if let Some(u) = &req.user {
            p.user_id = Some(Self::user_id_of(&tx, u)?);
        }
        if let Some(c) = &req.config {
            p.config = c.clone();
        }
        match req.tokenless {
            Some(true) if !p.tokenless => {
                p.tokenless = true;
                Self::revoke_bulk_token(&tx, &mut p, now)?;
            }
            Some(false) if p.tokenless => {
                p.tokenless = false;
                p.token_generation += 1;
                self.issue_bulk_token(&tx, &mut p, Some(DEFAULT_DAYS), now)?;
            }
            _ => {}
        }
        p.modified_at = now;
        bulk::update_profile(&tx, &p)?;
        let detail = self.profile_detail(&tx, &p)?;
        tx.commit()?;
        tracing::info!(profile_id = %p.id, "bulk profile updated");
        Ok(detail)
    }

    /// `DELETE /admin/bulk/profiles/{id}`. The default KME profile cannot be deleted; the
    /// devices of another KME profile go back to the default profile.
    pub fn delete_bulk_profile(&self, id: &str) -> Result<(), ApiError> {
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut p = Self::load_profile(&tx, id)?;
        if p.is_default {
            return Err(ApiError::bad_request(
                "the default Samsung KME profile cannot be deleted",
            ));
        }
        if p.kind == BulkProfileKind::SamsungKme {
            if let Some(default) = bulk::default_kme_profile(&tx)? {
                tx.execute(
                    "UPDATE bulk_devices SET profile_pk = ?2 WHERE profile_pk = ?1",
                    rusqlite::params![p.pk, default.pk],
                )?;
                bulk::touch_profile(&tx, default.pk, now)?;
            }
        }
        Self::revoke_bulk_token(&tx, &mut p, now)?;
        bulk::delete_profile(&tx, p.pk)?;
        tx.commit()?;
        tracing::info!(profile_id = %p.id, "bulk profile deleted");
        Ok(())
    }

    /// `POST /admin/bulk/profiles/{id}/token`: refresh (new token, the old one stops working)
    /// or extend (same token, new expiry), 7 to 999 days from now or never.
    pub fn bulk_token(&self, id: &str, req: &BulkTokenRequest) -> Result<TokenResponse, ApiError> {
        let default = match req.action {
            BulkTokenAction::Refresh => Some(DEFAULT_DAYS),
            BulkTokenAction::Extend => None,
        };
        let days = days_of(req.days, req.never_expires, default)?;
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut p = Self::load_profile(&tx, id)?;
        if p.tokenless || p.is_default {
            return Err(ApiError::bad_request("this profile has no enrollment token"));
        }
        let expires_at = days.map(|d| now.saturating_add(i64::from(d) * 86_400));
        match (req.action, &p.token_id) {
            (BulkTokenAction::Extend, Some(tid)) => store::set_token_expiry(&tx, tid, expires_at)?,
            _ => {
                p.token_generation += 1;
                self.issue_bulk_token(&tx, &mut p, days, now)?;
            }
        }
        p.modified_at = now;
        bulk::update_profile(&tx, &p)?;
        tx.commit()?;
        tracing::info!(profile_id = %p.id, action = ?req.action, "bulk token changed");
        Ok(TokenResponse {
            token: SecretString::new(self.bulk_token_text(&p.id, p.token_generation)),
            expires_at,
        })
    }

    /// `GET /admin/bulk/profiles/{id}/provisioning`.
    pub fn bulk_provisioning(&self, id: &str) -> Result<ProvisioningPayloads, ApiError> {
        let store = self.lock()?;
        let p = Self::load_profile(store.conn(), id)?;
        if p.is_default {
            return Err(ApiError::bad_request(
                "devices of the default Samsung KME profile cannot enroll: move them to a KME profile",
            ));
        }
        let token = p
            .token_id
            .as_ref()
            .map(|_| self.bulk_token_text(&p.id, p.token_generation));
        let params = PayloadParams {
            server_url: &self.base_url,
            profile_id: &p.id,
            token: token.as_deref(),
            config: &p.config,
            dpc: &self.dpc,
        };
        Ok(ProvisioningPayloads {
            android: qr::android_provisioning(&params),
            kme_dpc_extras: qr::admin_extras(&params),
        })
    }

    /// `GET /admin/bulk/profiles/{id}/qr`: the Android provisioning QR code.
    pub fn bulk_qr(&self, id: &str, format: ImageFormat, scale: u32) -> Result<Vec<u8>, ApiError> {
        let payloads = self.bulk_provisioning(id)?;
        qr::render(&payloads.android.to_string(), format, scale)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }
}
