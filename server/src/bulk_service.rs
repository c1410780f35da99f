//! Business rules of bulk enrollment (seed 000) and Samsung Knox Mobile Enrollment (seed 004):
//! profiles, their tokens and configuration, device inventories (CSV or one by one), the KME
//! uploads and approvals, QR codes, and the matching of an enrolling device.
//!
//! Decisions (also in `docs/protocol.md` and `docs/bulk.md`):
//!
//! - **All or nothing.** A CSV upload (or a batch of added/edited devices) is validated whole
//!   and applied in one transaction: one bad row rejects the file, every bad line is reported
//!   (at most 1000, plus the count) and nothing is imported.
//! - **One profile per device.** An IMEI, or a serial number + manufacturer, belongs to at most
//!   one profile (or KME upload): duplicates within a file and against other profiles are
//!   reported. Matching an enrolling device is then unambiguous.
//! - **Inventories are allow-lists.** A bulk token enrolls only the devices of its profile; a
//!   tokenless enrollment only devices of tokenless profiles. A device matches a bulk device by
//!   one of its IMEIs, or by its serial number *and* manufacturer (case-insensitively): the
//!   four situations of seed 000's table.
//! - **Samsung KME.** Uploads wait for approval; approved devices land in the default KME
//!   profile, which lists the devices *not assigned* to a KME profile: they cannot enroll
//!   (`device_unassigned`) until moved to another KME profile; unapproved uploads get
//!   `device_not_approved`.
//! - **Tokens are derived**, like the enrollment and device secrets:
//!   `ent_` + base64url(HMAC(server-secret, "bulk-token:" + profile id + ":" + generation)), so
//!   the administrator can see a profile's token (and its QR code) at any time; only its SHA-256
//!   is stored, as for user tokens. A refresh increments the generation and revokes the old row.

use crate::bulk::{self, ImportLimits, ImportTarget, ProfileRow};
use crate::crypto;
use crate::error::ApiError;
use crate::qr::{self, ImageFormat, PayloadParams};
use crate::service::{validate_email, Core, TOKEN_DAYS};
use crate::store::{self, TokenRow};
use enroll_core::protocol::{
    AddBulkDevicesRequest, AffectedResponse, BulkDeviceInput, BulkDeviceView, BulkProfileConfig,
    BulkProfileDetail, BulkProfileKind, BulkProfileView, BulkTokenAction, BulkTokenRequest,
    CreateBulkProfileRequest, DeviceDescriptor, DeviceIdsRequest, EditBulkDevicesRequest, ErrorCode,
    ImportLineError, ImportReport, KmeApproveRequest, KmeIntegrationRequest, KmeIntegrationView,
    MoveDevicesRequest, ProvisioningPayloads, TokenResponse, UpdateBulkProfileRequest, FALLBACK_PASSWORD,
};
use enroll_core::secret::SecretString;
use rusqlite::{Connection, TransactionBehavior};
use std::collections::BTreeMap;
use std::path::Path;

/// Most devices in one add/edit request.
pub const MAX_DEVICES_PER_REQUEST: usize = 1000;
/// Most device ids in one selection.
pub const MAX_SELECTION: usize = 10_000;
/// Default and largest page of a device listing.
pub const DEVICE_PAGE: (u64, u64) = (1000, 10_000);
/// Longest profile name, in characters.
pub const MAX_PROFILE_NAME_CHARS: usize = 128;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Most product keys, custom system keys or profile attributes.
pub const MAX_CONFIG_ENTRIES: usize = 32;
/// Name of the default Samsung KME profile.
pub const DEFAULT_KME_PROFILE_NAME: &str = "Samsung KME default profile";
/// Default token validity, days.
const DEFAULT_DAYS: u32 = 7;

const META_KME_ENABLED_AT: &str = "kme_enabled_at";
const META_KME_NAME: &str = "kme_name";
const META_KME_DESCRIPTION: &str = "kme_description";
const META_KME_LAST_SYNC: &str = "kme_last_sync_at";

/// Who enrolls through a bulk profile: the profile's user and the bulk device.
#[derive(Debug, Clone)]
pub(crate) struct BulkPrincipal {
    /// The profile's associated user.
    pub user_id: Option<String>,
    /// The matched bulk device.
    pub bulk_device: i64,
}

fn profile_not_found() -> ApiError {
    ApiError::not_found("no such bulk profile")
}

fn text_field(name: &str, value: &str, max: usize, required: bool) -> Result<(), ApiError> {
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

fn is_upper_key(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks a profile configuration against the rules and against the QR parser of the agent.
pub fn validate_config(config: &BulkProfileConfig) -> Result<(), ApiError> {
    if config.product_keys.len() > MAX_CONFIG_ENTRIES
        || config.custom_system_keys.len() > MAX_CONFIG_ENTRIES
        || config.attributes.len() > MAX_CONFIG_ENTRIES
    {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_CONFIG_ENTRIES} product keys, custom system keys and attributes"
        )));
    }
    for (k, v) in &config.product_keys {
        let name = k.strip_prefix("enroll.").unwrap_or("");
        let reserved = ["SERVER_URL", "ENROLLMENT_TOKEN", "TOKEN", "PROFILE_ID"]
            .iter()
            .any(|r| name.eq_ignore_ascii_case(r));
        if !is_upper_key(name) || reserved {
            return Err(ApiError::bad_request(
                "product keys are enroll.<KEY> with KEY of letters, digits and '_' (not SERVER_URL, ENROLLMENT_TOKEN, TOKEN or PROFILE_ID)",
            ));
        }
        text_field("a product key value", v, 256, true)?;
    }
    for (k, v) in &config.custom_system_keys {
        let name = k
            .strip_prefix(qr::ANDROID_EXTRA)
            .filter(|n| n.starts_with("PROVISIONING_"))
            .unwrap_or("");
        let managed = qr::MANAGED_SYSTEM_KEYS.contains(&name)
            || name == "PROVISIONING_LOCALE"
            || name == "PROVISIONING_TIME_ZONE";
        if !is_upper_key(name) || managed {
            return Err(ApiError::bad_request(
                "custom system keys are android.app.extra.PROVISIONING_<KEY>, other than the keys the server sets and the predefined extras",
            ));
        }
        match v {
            serde_json::Value::Bool(_) => {}
            serde_json::Value::Number(n) if n.is_i64() => {}
            serde_json::Value::String(s) => text_field("a custom system key value", s, 256, true)?,
            _ => {
                return Err(ApiError::bad_request(
                    "custom system key values are strings, booleans or integers",
                ))
            }
        }
    }
    for (k, v) in &config.attributes {
        bulk::check_attribute_name(k).map_err(ApiError::bad_request)?;
        bulk::check_attribute_value(v).map_err(ApiError::bad_request)?;
    }
    let sys = &config.system_extras;
    if let Some(l) = &sys.locale {
        let ok = (2..=35).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(ApiError::bad_request("locale must look like fr_FR"));
        }
    }
    if let Some(tz) = &sys.time_zone {
        let ok = (1..=64).contains(&tz.len())
            && tz
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_/+-".contains(&b));
        if !ok {
            return Err(ApiError::bad_request(
                "time_zone must be a tz database name like Europe/Paris",
            ));
        }
    }
    // What the device will parse: the longest token, a long server URL.
    let dpc = qr::DpcSettings::default();
    let probe_token = format!("ent_{}", "A".repeat(43));
    let params = PayloadParams {
        server_url: "https://mdm.example.com",
        profile_id: "00000000-0000-0000-0000-000000000000",
        token: Some(&probe_token),
        config,
        dpc: &dpc,
    };
    let text = qr::android_provisioning(&params).to_string();
    if text.len() + 200 > qr::MAX_PAYLOAD_BYTES {
        return Err(ApiError::bad_request(
            "the configuration is too large to fit in a QR code",
        ));
    }
    enroll_core::qr::parse_payload(&text, &enroll_core::qr::PayloadOptions::default()).map_err(|e| {
        ApiError::bad_request(format!(
            "the provisioning payload would be refused by devices: {e}"
        ))
    })?;
    Ok(())
}

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

impl Core {
    // -----------------------------------------------------------------------------------------
    // tokens of bulk profiles

    /// The profile's token of a given generation (derived, never stored).
    fn bulk_token_text(&self, profile_id: &str, generation: i64) -> String {
        format!(
            "ent_{}",
            crypto::b64url(&crypto::hmac_sha256(
                &self.secret,
                format!("bulk-token:{profile_id}:{generation}").as_bytes(),
            ))
        )
    }

    /// Issues the profile's token of its current generation, valid `days` (None: never).
    fn issue_bulk_token(
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

    fn revoke_bulk_token(c: &Connection, p: &mut ProfileRow, now: i64) -> Result<(), ApiError> {
        if let Some(old) = p.token_id.take() {
            store::revoke_token(c, &old, now)?;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // views

    fn user_email(c: &Connection, user_id: Option<&str>) -> Result<Option<String>, ApiError> {
        Ok(match user_id {
            Some(id) => store::user_by_id(c, id)?.map(|u| u.email),
            None => None,
        })
    }

    fn profile_view(c: &Connection, p: &ProfileRow, device_count: u64) -> Result<BulkProfileView, ApiError> {
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

    fn profile_detail(&self, c: &Connection, p: &ProfileRow) -> Result<BulkProfileDetail, ApiError> {
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

    fn load_profile(c: &Connection, id: &str) -> Result<ProfileRow, ApiError> {
        if id.is_empty() || id.len() > 64 {
            return Err(profile_not_found());
        }
        bulk::profile_by_id(c, id)?.ok_or_else(profile_not_found)
    }

    fn user_id_of(c: &Connection, email: &str) -> Result<String, ApiError> {
        validate_email(email).map_err(|_| ApiError::not_found("no such user"))?;
        Ok(store::user_by_email(c, email)?
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

    /// `GET /admin/users/{email}/invitation/qr`: the invitation URL as a QR code.
    pub fn invitation_qr(&self, email: &str, format: ImageFormat, scale: u32) -> Result<Vec<u8>, ApiError> {
        if email.chars().count() > 254 {
            return Err(ApiError::not_found("no such user"));
        }
        let user = store::user_by_email(self.lock()?.conn(), email)?
            .ok_or_else(|| ApiError::not_found("no such user"))?;
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("user", &user.email)
            .finish();
        let url = format!("{}/go?{query}", self.base_url);
        qr::render(&url, format, scale).map_err(|e| ApiError::bad_request(e.to_string()))
    }

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

    fn selection(ids: &[i64]) -> Result<(), ApiError> {
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

    /// Moves the selected devices of a KME profile to another KME profile.
    fn move_kme(&self, from: &str, ids: &[i64], to: Option<&str>) -> Result<AffectedResponse, ApiError> {
        Self::selection(ids)?;
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let src = Self::load_profile(&tx, from)?;
        if src.kind != BulkProfileKind::SamsungKme {
            return Err(ApiError::bad_request(
                "only the devices of Samsung KME profiles move between profiles",
            ));
        }
        let dst = match to {
            Some(to) => {
                let dst = Self::load_profile(&tx, to)?;
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

    // -----------------------------------------------------------------------------------------
    // CSV

    /// Imports a spooled CSV into `target` in one transaction with bulk-load settings; `prepare`
    /// runs first inside the transaction. All or nothing.
    fn import_file(
        &self,
        path: &Path,
        target: &ImportTarget,
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
            let report = bulk::import_csv(&tx, target, input, now, &ImportLimits::default(), size)?;
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
    /// inventory).
    pub fn import_bulk_csv(&self, id: &str, path: &Path, replace: bool) -> Result<ImportReport, ApiError> {
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

    fn export(&self, profile_pk: Option<i64>) -> Result<Vec<u8>, ApiError> {
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

    // -----------------------------------------------------------------------------------------
    // Samsung KME

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

    fn require_kme(c: &Connection) -> Result<ProfileRow, ApiError> {
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
        let report = self.import_file(
            path,
            &ImportTarget::KmeUploads,
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
        self.export(None)
    }

    /// `POST /admin/kme/uploads/approve`: all, or the selected uploads, into the default
    /// profile.
    pub fn kme_approve(&self, req: &KmeApproveRequest) -> Result<AffectedResponse, ApiError> {
        if !req.all {
            Self::selection(&req.device_ids)?;
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

    // -----------------------------------------------------------------------------------------
    // enrollment

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

fn push_error(report: &mut ImportReport, line: u64, reason: impl Into<String>) {
    report.error_count += 1;
    if report.errors.len() < 1000 {
        report.errors.push(ImportLineError {
            line,
            reason: reason.into(),
        });
    }
}

/// `invalid_token`, sending the device to the normal sign-in (user + password).
pub(crate) fn invalid_token() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidToken,
        "unknown or revoked enrollment token: sign in with your user name and password instead",
    )
    .with_fallback(FALLBACK_PASSWORD)
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
