//! Business rules of the server, independent of HTTP: credentials, idempotent enrollment,
//! device matching, profile issuance, confirm/cancel, check-in and administrator actions.
//!
//! Every function is synchronous (SQLite and argon2 block); the HTTP layer runs them on the
//! blocking thread pool. Rules are described in `docs/protocol.md`.

use crate::clock::ServerClock;
use crate::crypto;
use crate::directory::{Directory, DirectoryError};
use crate::error::ApiError;
use crate::pki::Pki;
use crate::profile::{self, ProfileParams};
use crate::store::{self, DeviceRow, EnrollmentRow, Store, UserRow};
use enroll_core::protocol::{
    AckRequest, CancelRequest, CancelResponse, CheckinRequest, CheckinResponse, ConfirmRequest,
    ConfirmResponse, CreateTokenRequest, CreateUserRequest, CredentialWire, DeviceAction, DeviceDescriptor,
    DeviceDetail, DeviceState, DeviceView, EnrollRequest, EnrollResponse, EnrollmentKind, ErrorCode,
    InviteRequest, InviteResponse, MdmStatus, PendingInstall, Platform, ReenrollRequest, ServerInfo,
    TokenResponse, UserView, MAX_IDEMPOTENCY_KEY_LEN, MIN_IDEMPOTENCY_KEY_LEN, PROTOCOL_VERSION,
};
use enroll_core::secret::SecretString;
use rusqlite::{Connection, TransactionBehavior};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Longest accepted free-text field (model, serial, reason, detail values…), in characters.
pub const MAX_FIELD_CHARS: usize = 256;
/// Most entries accepted in check-in `details`.
pub const MAX_DETAILS: usize = 64;
/// Most profiles issued for one enrollment.
pub const MAX_PROFILE_ISSUANCES: u32 = 10;
/// Token validity bounds, in days.
pub const TOKEN_DAYS: std::ops::RangeInclusive<u32> = 7..=999;
/// Default token validity, in days.
pub const DEFAULT_TOKEN_DAYS: u32 = 7;
/// Accepted `pin_ttl_secs` bounds (one minute to 30 days).
pub const PIN_TTL_SECS: std::ops::RangeInclusive<u64> = 60..=2_592_000;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_PASSWORD_BYTES: usize = 1024;
const MAX_TOKEN_BYTES: usize = 256;
const MAX_PIN_BYTES: usize = 64;
const MAX_ID_BYTES: usize = 64;

/// The server's state shared by all requests.
pub(crate) struct Core {
    pub store: Mutex<Store>,
    pub directory: Arc<dyn Directory>,
    pub pki: Pki,
    pub secret: Vec<u8>,
    pub admin_token: SecretString,
    pub clock: Arc<dyn ServerClock>,
    pub base_url: String,
    pub name: String,
    pub profile_validity: i64,
    pub pin_max_attempts: u32,
    pub pin_ttl: i64,
    pub topic: String,
    /// The DPC named in provisioning payloads.
    pub dpc: crate::qr::DpcSettings,
    /// Where CSV uploads are spooled before import.
    pub upload_dir: std::path::PathBuf,
}

/// Who an enrollment is for, once the credential checked out.
struct Principal {
    user: Option<UserRow>,
    credential: &'static str,
    /// The bulk device matched (bulk token or tokenless enrollment).
    bulk_device: Option<i64>,
}

fn field(name: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(ApiError::bad_request(format!(
            "{name} is longer than {MAX_FIELD_CHARS} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{name} contains control characters"
        )));
    }
    Ok(())
}

/// Checks a device description sent by an agent.
pub fn validate_descriptor(d: &DeviceDescriptor) -> Result<(), ApiError> {
    field("device.os_version", &d.os_version)?;
    field("device.model", &d.model)?;
    field("device.manufacturer", &d.manufacturer)?;
    field("device.agent_version", &d.agent_version)?;
    if let Some(s) = &d.serial {
        field("device.serial", s)?;
    }
    if let Some(s) = &d.hardware_id {
        field("device.hardware_id", s)?;
    }
    if d.imeis.len() > 2 {
        return Err(ApiError::bad_request("device.imeis has more than two entries"));
    }
    if d.imeis
        .iter()
        .any(|i| i.len() != 15 || !i.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::bad_request("device.imeis entries must be 15 digits"));
    }
    Ok(())
}

/// Checks an e-mail address (shape only).
pub fn validate_email(email: &str) -> Result<(), ApiError> {
    let e = email.trim();
    let ok = !e.is_empty()
        && e.chars().count() <= MAX_EMAIL_CHARS
        && e.contains('@')
        && !e.starts_with('@')
        && !e.ends_with('@')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request("invalid e-mail address"))
    }
}

fn validate_credential(c: &CredentialWire) -> Result<(), ApiError> {
    match c {
        CredentialWire::Token { token } => {
            if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
                return Err(ApiError::bad_request("credential.token has an invalid length"));
            }
        }
        CredentialWire::Pin { user, pin } => {
            if user.chars().count() > MAX_EMAIL_CHARS {
                return Err(ApiError::bad_request("credential.user is too long"));
            }
            if pin.is_empty() || pin.len() > MAX_PIN_BYTES {
                return Err(ApiError::bad_request("credential.pin has an invalid length"));
            }
        }
        CredentialWire::Password { user, password } => {
            if user.chars().count() > MAX_EMAIL_CHARS {
                return Err(ApiError::bad_request("credential.user is too long"));
            }
            if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
                return Err(ApiError::bad_request("credential.password has an invalid length"));
            }
        }
        CredentialWire::Tokenless { profile_id } => {
            if profile_id.as_ref().is_some_and(|p| !id_ok(p)) {
                return Err(ApiError::bad_request(
                    "credential.profile_id has an invalid length",
                ));
            }
        }
    }
    Ok(())
}

/// Checks an `idempotency-key` header value: 16 to 64 characters of `[A-Za-z0-9_-]`.
pub fn validate_idempotency_key(key: &str) -> Result<(), ApiError> {
    let ok = (MIN_IDEMPOTENCY_KEY_LEN..=MAX_IDEMPOTENCY_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "idempotency-key must be {MIN_IDEMPOTENCY_KEY_LEN} to {MAX_IDEMPOTENCY_KEY_LEN} characters of [A-Za-z0-9_-]"
        )))
    }
}

/// Major version of an OS version string (`"10.0.1"` → 10); `None` if it does not start with
/// digits.
pub fn os_major(version: &str) -> Option<u32> {
    let digits: String = version.trim().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Whether re-enrolling this device creates a new entry and archives the old ones (Android 10
/// and later; an unreadable version counts as recent).
pub fn archives_on_reenroll(d: &DeviceDescriptor) -> bool {
    d.platform == Platform::Android && os_major(&d.os_version).is_none_or(|v| v >= 10)
}

/// Canonical JSON: object keys sorted, no insignificant whitespace.
pub fn canonical_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(value) = map.get(*k) {
                    canonical_json(value, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn action_event(a: DeviceAction) -> &'static str {
    match a {
        DeviceAction::Retire => "retired",
        DeviceAction::Wipe => "wiped",
        DeviceAction::Reset => "reset",
    }
}

impl Core {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn lock(&self) -> Result<MutexGuard<'_, Store>, ApiError> {
        self.store
            .lock()
            .map_err(|_| ApiError::internal(&"store lock poisoned"))
    }

    // -----------------------------------------------------------------------------------------
    // derived secrets

    /// `base64url(HMAC(server-secret, "enrollment:" + enrollment_id))`.
    pub fn enrollment_secret(&self, enrollment_id: &str) -> String {
        crypto::b64url(&crypto::hmac_sha256(
            &self.secret,
            format!("enrollment:{enrollment_id}").as_bytes(),
        ))
    }

    /// `base64url(HMAC(server-secret, "device:" + device_id + ":" + enrollment_id))`.
    pub fn device_secret(&self, device_id: &str, enrollment_id: &str) -> String {
        crypto::b64url(&crypto::hmac_sha256(
            &self.secret,
            format!("device:{device_id}:{enrollment_id}").as_bytes(),
        ))
    }

    fn fingerprint(
        &self,
        op: &str,
        device_id: Option<&str>,
        request: &impl serde::Serialize,
    ) -> Result<Vec<u8>, ApiError> {
        let value = serde_json::json!({
            "op": op,
            "device_id": device_id,
            "request": serde_json::to_value(request).map_err(|e| ApiError::internal(&e))?,
        });
        let mut canonical = String::from("idempotency:");
        canonical_json(&value, &mut canonical);
        Ok(crypto::hmac_sha256(&self.secret, canonical.as_bytes()))
    }

    /// Checks the admin bearer token in constant time.
    pub fn admin_ok(&self, bearer: Option<&str>) -> bool {
        bearer.is_some_and(|b| crypto::ct_eq_str(b, self.admin_token.expose()))
    }

    pub fn info(&self) -> ServerInfo {
        ServerInfo {
            protocol: PROTOCOL_VERSION,
            name: self.name.clone(),
            server_time_ms: self.now().saturating_mul(1000),
            profile_validity_secs: u64::try_from(self.profile_validity).unwrap_or(0),
        }
    }

    // -----------------------------------------------------------------------------------------
    // users, invitations, tokens

    pub fn create_user(&self, req: &CreateUserRequest) -> Result<UserView, ApiError> {
        validate_email(&req.email)?;
        field("display_name", &req.display_name)?;
        if let Some(p) = &req.password {
            if p.is_empty() || p.len() > MAX_PASSWORD_BYTES {
                return Err(ApiError::bad_request("password must be 1 to 1024 bytes"));
            }
        }
        let exists = |c: &Connection| -> Result<(), ApiError> {
            if store::user_by_email(c, &req.email)?.is_some() {
                return Err(ApiError::bad_request("a user with this e-mail already exists")
                    .with_status(axum::http::StatusCode::CONFLICT));
            }
            Ok(())
        };
        exists(self.lock()?.conn())?;
        let password_hash = match (&req.password, req.directory) {
            (Some(p), false) => Some(crypto::argon2_hash(p.expose().as_bytes())?),
            _ => None,
        };
        let user = UserRow {
            id: new_id(),
            email: req.email.trim().to_string(),
            display_name: req.display_name.clone(),
            directory: req.directory,
            password_hash,
            created_at: self.now(),
        };
        {
            let store = self.lock()?;
            exists(store.conn())?;
            store::insert_user(store.conn(), &user)?;
        }
        if let (true, Some(p)) = (req.directory, &req.password) {
            if let Err(e) = self.directory.set_password(&user.email, p) {
                if let Ok(store) = self.lock() {
                    let _ = store::delete_user(store.conn(), &user.id);
                }
                return Err(match e {
                    DirectoryError::Unsupported => {
                        ApiError::bad_request("this directory does not accept passwords from the server")
                    }
                    DirectoryError::Unavailable(_) => {
                        ApiError::new(ErrorCode::Unavailable, "directory unavailable")
                    }
                });
            }
        }
        tracing::info!(user_id = %user.id, directory = user.directory, "user created");
        Ok(user.view())
    }

    pub fn list_users(&self) -> Result<Vec<UserView>, ApiError> {
        Ok(store::list_users(self.lock()?.conn())?
            .iter()
            .map(UserRow::view)
            .collect())
    }

    pub fn invite(&self, email: &str, req: &InviteRequest) -> Result<InviteResponse, ApiError> {
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(ApiError::not_found("no such user"));
        }
        let user = store::user_by_email(self.lock()?.conn(), email)?
            .ok_or_else(|| ApiError::not_found("no such user"))?;
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("user", &user.email)
            .finish();
        let url = format!("{}/go?{query}", self.base_url);
        if !req.with_pin {
            return Ok(InviteResponse {
                url,
                pin: None,
                pin_expires_at: None,
            });
        }
        let ttl = match req.pin_ttl_secs {
            Some(secs) if PIN_TTL_SECS.contains(&secs) => i64::try_from(secs).unwrap_or(self.pin_ttl),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "pin_ttl_secs must be between 60 and 2592000",
                ))
            }
            None => self.pin_ttl,
        };
        let pin = crypto::random_pin()?;
        let hash = crypto::argon2_hash(pin.as_bytes())?;
        let now = self.now();
        let expires_at = now.saturating_add(ttl);
        {
            let mut store = self.lock()?;
            let tx = store
                .conn_mut()
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            store::replace_pin(&tx, &user.id, &hash, now, expires_at, self.pin_max_attempts)?;
            tx.commit()?;
        }
        tracing::info!(user_id = %user.id, "invitation with one-time PIN issued");
        Ok(InviteResponse {
            url,
            pin: Some(SecretString::new(pin)),
            pin_expires_at: Some(expires_at),
        })
    }

    pub fn create_token(&self, req: &CreateTokenRequest) -> Result<TokenResponse, ApiError> {
        let days = if req.never_expires {
            None
        } else {
            let d = req.days.unwrap_or(DEFAULT_TOKEN_DAYS);
            if !TOKEN_DAYS.contains(&d) {
                return Err(ApiError::bad_request(
                    "days must be between 7 and 999, or set never_expires",
                ));
            }
            Some(d)
        };
        let store = self.lock()?;
        let user = store::user_by_email(store.conn(), &req.user)?
            .ok_or_else(|| ApiError::not_found("no such user"))?;
        let now = self.now();
        let expires_at = days.map(|d| now.saturating_add(i64::from(d) * 86_400));
        let token = format!("ent_{}", crypto::random_b64(32)?);
        let row = store::TokenRow {
            id: new_id(),
            user_id: Some(user.id.clone()),
            bulk_profile_id: None,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        store::insert_token(store.conn(), &row, &crypto::sha256(token.as_bytes()))?;
        tracing::info!(user_id = %user.id, token_id = %row.id, "enrollment token issued");
        Ok(TokenResponse {
            token: SecretString::new(token),
            expires_at,
        })
    }

    // -----------------------------------------------------------------------------------------
    // credentials

    /// Checks a password outside the store lock (argon2 or a directory bind are slow).
    fn verify_password(&self, email: &str, password: &SecretString) -> Result<UserRow, ApiError> {
        let invalid = || ApiError::new(ErrorCode::InvalidCredentials, "invalid username or password");
        let user = store::user_by_email(self.lock()?.conn(), email)?;
        let Some(user) = user else {
            let _ = crypto::argon2_verify(password.expose().as_bytes(), crypto::dummy_hash());
            return Err(invalid());
        };
        let ok = if user.directory {
            match self.directory.authenticate(&user.email, password) {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::warn!(error = %e, "directory authentication failed");
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        "directory unavailable, retry later",
                    ));
                }
            }
        } else {
            match &user.password_hash {
                Some(h) => crypto::argon2_verify(password.expose().as_bytes(), h),
                None => {
                    let _ = crypto::argon2_verify(password.expose().as_bytes(), crypto::dummy_hash());
                    false
                }
            }
        };
        if ok {
            Ok(user)
        } else {
            Err(invalid())
        }
    }

    /// Checks a token or PIN inside the enrollment transaction. A PIN is consumed here; failed
    /// attempts are written even though the caller returns an error (it commits first).
    fn verify_in_tx(
        &self,
        c: &Connection,
        cred: &CredentialWire,
        device: &DeviceDescriptor,
        now: i64,
    ) -> Result<Principal, ApiError> {
        match cred {
            CredentialWire::Token { token } => {
                let invalid = crate::bulk_service::invalid_token;
                let row = store::token_by_hash(c, &crypto::sha256(token.expose().as_bytes()))?
                    .ok_or_else(invalid)?;
                if row.revoked_at.is_some() {
                    return Err(invalid());
                }
                if row.expires_at.is_some_and(|e| now >= e) {
                    return Err(ApiError::new(
                        ErrorCode::TokenExpired,
                        "the enrollment token expired",
                    ));
                }
                if let Some(profile_id) = &row.bulk_profile_id {
                    let bulk = self.bulk_principal_for_token(c, profile_id, device)?;
                    let user = match &bulk.user_id {
                        Some(id) => store::user_by_id(c, id)?,
                        None => None,
                    };
                    return Ok(Principal {
                        user,
                        credential: "bulk_token",
                        bulk_device: Some(bulk.bulk_device),
                    });
                }
                let user = match &row.user_id {
                    Some(id) => Some(store::user_by_id(c, id)?.ok_or_else(invalid)?),
                    None => None,
                };
                Ok(Principal {
                    user,
                    credential: "token",
                    bulk_device: None,
                })
            }
            CredentialWire::Pin { user, pin } => {
                let invalid = || ApiError::new(ErrorCode::InvalidCredentials, "invalid user or PIN");
                let user = store::user_by_email(c, user)?.ok_or_else(invalid)?;
                let row = store::current_pin(c, &user.id)?.ok_or_else(invalid)?;
                if row.used_at.is_some() {
                    return Err(ApiError::new(
                        ErrorCode::PinUsed,
                        "this one-time PIN was already used",
                    ));
                }
                if row.attempts >= row.max_attempts {
                    return Err(ApiError::new(
                        ErrorCode::PinLocked,
                        "too many wrong PINs: ask for a new invitation",
                    ));
                }
                if now >= row.expires_at {
                    return Err(ApiError::new(ErrorCode::PinExpired, "the one-time PIN expired"));
                }
                if crypto::argon2_verify(pin.expose().as_bytes(), &row.pin_hash) {
                    store::pin_mark_used(c, row.id, now)?;
                    Ok(Principal {
                        user: Some(user),
                        credential: "pin",
                        bulk_device: None,
                    })
                } else {
                    let attempts = store::pin_failed_attempt(c, row.id)?;
                    let left = row.max_attempts.saturating_sub(attempts);
                    tracing::info!(user_id = %user.id, attempts_left = left, "wrong PIN");
                    Err(ApiError::new(ErrorCode::InvalidPin, "wrong PIN").with_attempts_left(left))
                }
            }
            CredentialWire::Tokenless { profile_id } => {
                let bulk = self.bulk_principal_tokenless(c, profile_id.as_deref(), device)?;
                let user = match &bulk.user_id {
                    Some(id) => store::user_by_id(c, id)?,
                    None => None,
                };
                Ok(Principal {
                    user,
                    credential: "tokenless",
                    bulk_device: Some(bulk.bulk_device),
                })
            }
            CredentialWire::Password { .. } => {
                Err(ApiError::internal(&"password checked outside the transaction"))
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // enrollment

    fn enroll_response(&self, c: &Connection, e: &EnrollmentRow) -> Result<EnrollResponse, ApiError> {
        let user = match &e.user_id {
            Some(id) => store::user_by_id(c, id)?.map(|u| u.email),
            None => None,
        };
        Ok(EnrollResponse {
            enrollment_id: e.id.clone(),
            enrollment_secret: SecretString::new(self.enrollment_secret(&e.id)),
            device_id: e.device_id.clone(),
            kind: e.kind,
            user,
            profile_validity_secs: u64::try_from(self.profile_validity).unwrap_or(0),
        })
    }

    /// `Some(response)` when `key` was used with the same request; `idempotency_conflict` when
    /// it was used with another one; `None` for a new key.
    fn check_replay(
        &self,
        c: &Connection,
        key: &str,
        fingerprint: &[u8],
    ) -> Result<Option<EnrollResponse>, ApiError> {
        let Some((stored, enrollment_id)) = store::idempotency_get(c, key)? else {
            return Ok(None);
        };
        if !crypto::ct_eq_bytes(&stored, fingerprint) {
            return Err(ApiError::new(
                ErrorCode::IdempotencyConflict,
                "this idempotency key was used with a different request",
            ));
        }
        let e = store::enrollment_by_id(c, &enrollment_id)?
            .ok_or_else(|| ApiError::internal(&"idempotency key without enrollment"))?;
        tracing::info!(enrollment_id = %e.id, "idempotent replay");
        Ok(Some(self.enroll_response(c, &e)?))
    }

    /// `POST /enrollments`. Returns the response and whether it was created (201) or replayed (200).
    pub fn enroll(&self, key: &str, req: &EnrollRequest) -> Result<(EnrollResponse, bool), ApiError> {
        validate_idempotency_key(key)?;
        validate_descriptor(&req.device)?;
        validate_credential(&req.credential)?;
        let fingerprint = self.fingerprint("enroll", None, req)?;
        if let Some(resp) = self.check_replay(self.lock()?.conn(), key, &fingerprint)? {
            return Ok((resp, false));
        }
        let pre_verified = match &req.credential {
            CredentialWire::Password { user, password } => Some(self.verify_password(user, password)?),
            _ => None,
        };
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Again inside the transaction: a concurrent request with the same key may have won.
        if let Some(resp) = self.check_replay(&tx, key, &fingerprint)? {
            return Ok((resp, false));
        }
        let principal = match pre_verified {
            Some(user) => Principal {
                user: Some(user),
                credential: "password",
                bulk_device: None,
            },
            None => match self.verify_in_tx(&tx, &req.credential, &req.device, now) {
                Ok(p) => p,
                Err(e) => {
                    // Keep the failed-attempt count.
                    tx.commit()?;
                    return Err(e);
                }
            },
        };
        let resp = self.create_enrollment(&tx, key, &fingerprint, &req.device, principal, None, now)?;
        tx.commit()?;
        Ok((resp, true))
    }

    /// `POST /devices/{id}/reenroll`.
    pub fn reenroll(
        &self,
        device_id: &str,
        bearer: Option<&str>,
        key: &str,
        req: &ReenrollRequest,
    ) -> Result<(EnrollResponse, bool), ApiError> {
        validate_idempotency_key(key)?;
        validate_descriptor(&req.device)?;
        let fingerprint = self.fingerprint("reenroll", Some(device_id), req)?;
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let device = self.auth_device(&tx, device_id, bearer)?;
        if let Some(resp) = self.check_replay(&tx, key, &fingerprint)? {
            return Ok((resp, false));
        }
        if device.state != DeviceState::Active
            || matches!(
                device.pending_action,
                Some(DeviceAction::Retire | DeviceAction::Wipe)
            )
        {
            return Err(ApiError::new(
                ErrorCode::DeviceInactive,
                "the device is not active",
            ));
        }
        if req.device.platform != device.descriptor.platform {
            return Err(ApiError::bad_request(
                "device.platform differs from the enrolled device",
            ));
        }
        let user = match &device.user_id {
            Some(id) => store::user_by_id(&tx, id)?,
            None => None,
        };
        let principal = Principal {
            user,
            credential: "device",
            bulk_device: None,
        };
        let resp =
            self.create_enrollment(&tx, key, &fingerprint, &req.device, principal, Some(device), now)?;
        tx.commit()?;
        Ok((resp, true))
    }

    /// Applies the device-matching rules and records the enrollment.
    #[allow(clippy::too_many_arguments)]
    fn create_enrollment(
        &self,
        c: &Connection,
        key: &str,
        fingerprint: &[u8],
        descriptor: &DeviceDescriptor,
        principal: Principal,
        forced: Option<DeviceRow>,
        now: i64,
    ) -> Result<EnrollResponse, ApiError> {
        let mut matched = store::matching_devices(c, descriptor, false)?;
        if let Some(f) = &forced {
            if !matched.iter().any(|d| d.id == f.id) {
                matched.insert(0, f.clone());
            }
        }
        // An open enrollment for the same device is superseded: one attempt at a time.
        for d in &matched {
            for open in store::open_enrollments_for_device(c, &d.id)? {
                store::enrollment_close(c, &open.id, now, "superseded")?;
                tracing::info!(enrollment_id = %open.id, "enrollment superseded");
            }
        }
        let user_id = principal.user.as_ref().map(|u| u.id.clone());
        let ever_enrolled: Vec<&DeviceRow> = matched.iter().filter(|d| d.enrolled_at.is_some()).collect();

        let (device_id, kind, archive_on_confirm) = if matched.is_empty() {
            (
                self.insert_pending_device(c, descriptor, &user_id, now)?,
                EnrollmentKind::New,
                false,
            )
        } else if ever_enrolled.is_empty() {
            // Only never-activated entries (an abandoned or cancelled first attempt): reuse.
            let mut d = matched[0].clone();
            d.state = DeviceState::Pending;
            d.mdm = MdmStatus::Pending;
            d.descriptor = descriptor.clone();
            d.user_id = user_id.clone();
            store::update_device(c, &d)?;
            (d.id, EnrollmentKind::New, false)
        } else if archives_on_reenroll(descriptor) {
            // Android 10+: a new entry; the old ones are archived on confirm. A never-activated
            // entry left by a superseded or cancelled attempt is reused instead of adding one.
            let reusable = matched.iter().find(|d| {
                d.enrolled_at.is_none() && matches!(d.state, DeviceState::Pending | DeviceState::Cancelled)
            });
            let id = match reusable {
                Some(d) => {
                    let mut d = d.clone();
                    d.state = DeviceState::Pending;
                    d.mdm = MdmStatus::Pending;
                    d.descriptor = descriptor.clone();
                    d.user_id = user_id.clone();
                    store::update_device(c, &d)?;
                    d.id
                }
                None => self.insert_pending_device(c, descriptor, &user_id, now)?,
            };
            (id, EnrollmentKind::Reenroll, true)
        } else {
            // Android 9 and older, iOS, macOS, Linux: one entry, reused.
            let target = match &forced {
                Some(f) => f.id.clone(),
                None => ever_enrolled
                    .iter()
                    .max_by_key(|d| d.enrolled_at)
                    .map(|d| d.id.clone())
                    .unwrap_or_else(|| matched[0].id.clone()),
            };
            (target, EnrollmentKind::Reenroll, false)
        };

        let enrollment = EnrollmentRow {
            id: new_id(),
            device_id: device_id.clone(),
            user_id,
            kind,
            credential: principal.credential.to_string(),
            descriptor: descriptor.clone(),
            archive_on_confirm,
            replaces: forced
                .as_ref()
                .map(|f| f.id.clone())
                .filter(|id| *id != device_id),
            created_at: now,
            confirmed_at: None,
            closed_at: None,
            close_reason: None,
            bulk_device_id: principal.bulk_device,
        };
        store::insert_enrollment(c, &enrollment)?;
        store::idempotency_put(c, key, fingerprint, &enrollment.id, now)?;
        tracing::info!(
            enrollment_id = %enrollment.id,
            device_id = %enrollment.device_id,
            kind = ?kind,
            credential = principal.credential,
            "enrollment started"
        );
        self.enroll_response(c, &enrollment)
    }

    fn insert_pending_device(
        &self,
        c: &Connection,
        descriptor: &DeviceDescriptor,
        user_id: &Option<String>,
        now: i64,
    ) -> Result<String, ApiError> {
        let d = DeviceRow {
            id: new_id(),
            user_id: user_id.clone(),
            descriptor: descriptor.clone(),
            state: DeviceState::Pending,
            mdm: MdmStatus::Pending,
            pending_action: None,
            last_action: None,
            created_at: now,
            enrolled_at: None,
            last_checkin_at: None,
            archived_at: None,
            activated_by: None,
            details: BTreeMap::new(),
            attributes: BTreeMap::new(),
        };
        store::insert_device(c, &d)?;
        Ok(d.id)
    }

    /// Finds an enrollment and checks its bearer secret.
    fn auth_enrollment(
        &self,
        c: &Connection,
        id: &str,
        bearer: Option<&str>,
    ) -> Result<EnrollmentRow, ApiError> {
        let bearer = bearer.ok_or_else(ApiError::unauthorized)?;
        if !id_ok(id) {
            return Err(ApiError::new(ErrorCode::EnrollmentNotFound, "no such enrollment"));
        }
        let e = store::enrollment_by_id(c, id)?
            .ok_or_else(|| ApiError::new(ErrorCode::EnrollmentNotFound, "no such enrollment"))?;
        if !crypto::ct_eq_str(bearer, &self.enrollment_secret(&e.id)) {
            return Err(ApiError::unauthorized());
        }
        Ok(e)
    }

    fn closed_error(e: &EnrollmentRow) -> ApiError {
        let why = match e.close_reason.as_deref() {
            Some("cancelled") => "the enrollment was cancelled",
            Some("superseded") => "the enrollment was superseded by a newer attempt for this device",
            Some(_) => "the enrollment was closed by an administrator action",
            None => "the enrollment is already confirmed",
        };
        ApiError::new(ErrorCode::EnrollmentClosed, why)
    }

    /// `GET /enrollments/{id}/profile`: a newly signed profile and its expiry.
    pub fn issue_profile(&self, id: &str, bearer: Option<&str>) -> Result<(Vec<u8>, i64), ApiError> {
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let e = self.auth_enrollment(&tx, id, bearer)?;
        if e.closed_at.is_some() || e.confirmed_at.is_some() {
            return Err(Self::closed_error(&e));
        }
        if store::issuance_count(&tx, &e.id)? >= MAX_PROFILE_ISSUANCES {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                "too many profiles for this enrollment: start a new enrollment",
            ));
        }
        let challenge = crypto::random_b64(24)?;
        let expires_at = now.saturating_add(self.profile_validity);
        let params = ProfileParams {
            device_id: e.device_id.clone(),
            payload_uuid: profile::new_uuid(),
            identity_uuid: profile::new_uuid(),
            mdm_uuid: profile::new_uuid(),
            base_url: self.base_url.clone(),
            challenge: challenge.clone(),
            topic: self.topic.clone(),
            organization: self.name.clone(),
            issued_at: now,
            expires_at,
        };
        let plist = profile::build_enrollment_profile(&params);
        let signed = self
            .pki
            .signer()
            .sign_at(&plist, u64::try_from(now).unwrap_or(0))?;
        store::insert_issuance(
            &tx,
            &params.payload_uuid,
            &e.id,
            now,
            expires_at,
            &crypto::sha256(challenge.as_bytes()),
        )?;
        tx.commit()?;
        tracing::info!(enrollment_id = %e.id, expires_at, "profile issued");
        Ok((signed, expires_at))
    }

    /// `POST /enrollments/{id}/confirm`.
    pub fn confirm(
        &self,
        id: &str,
        bearer: Option<&str>,
        req: &ConfirmRequest,
    ) -> Result<ConfirmResponse, ApiError> {
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let e = self.auth_enrollment(&tx, id, bearer)?;
        if e.closed_at.is_some() {
            return Err(Self::closed_error(&e));
        }
        if req.profile_uuid.len() > MAX_ID_BYTES || !store::issuance_exists(&tx, &e.id, &req.profile_uuid)? {
            return Err(ApiError::bad_request(
                "profile_uuid is not a profile issued for this enrollment",
            ));
        }
        let mut device = store::device_by_id(&tx, &e.device_id)?
            .ok_or_else(|| ApiError::internal(&"enrollment without device record"))?;
        if e.confirmed_at.is_some() {
            // Idempotent: the same answer again.
            return Ok(ConfirmResponse {
                device_id: device.id.clone(),
                device_secret: SecretString::new(self.device_secret(&device.id, &e.id)),
                device_state: device.state,
            });
        }
        let event = if e.kind == EnrollmentKind::New {
            "enrolled"
        } else {
            "reenrolled"
        };
        device.state = DeviceState::Active;
        device.mdm = MdmStatus::Enabled;
        device.enrolled_at = Some(now);
        device.activated_by = Some(e.id.clone());
        device.descriptor = e.descriptor.clone();
        device.user_id = e.user_id.clone();
        device.pending_action = None;
        device.last_action = None;
        device.archived_at = None;
        if let Some(bulk_device) = e.bulk_device_id {
            if let Some(attributes) = self.bulk_on_confirm(&tx, bulk_device, &device.id, now)? {
                device.attributes = attributes;
            }
        }
        store::update_device(&tx, &device)?;
        store::enrollment_confirm(&tx, &e.id, now)?;
        store::add_history(&tx, &device.id, now, event, &format!("enrollment {}", e.id))?;
        if e.archive_on_confirm {
            let mut olds = store::matching_devices(&tx, &e.descriptor, false)?;
            if let Some(replaced) = e
                .replaces
                .as_deref()
                .map(|id| store::device_by_id(&tx, id))
                .transpose()?
                .flatten()
            {
                if !olds.iter().any(|o| o.id == replaced.id) && replaced.state != DeviceState::Archived {
                    olds.push(replaced);
                }
            }
            for mut old in olds {
                if old.id == device.id {
                    continue;
                }
                old.state = DeviceState::Archived;
                old.mdm = MdmStatus::Deactivated;
                old.archived_at = Some(now);
                old.pending_action = None;
                store::update_device(&tx, &old)?;
                store::add_history(
                    &tx,
                    &old.id,
                    now,
                    "archived",
                    &format!("replaced by device {}", device.id),
                )?;
                tracing::info!(device_id = %old.id, replaced_by = %device.id, "device entry archived");
            }
        }
        tx.commit()?;
        tracing::info!(enrollment_id = %e.id, device_id = %device.id, event, "enrollment confirmed");
        Ok(ConfirmResponse {
            device_id: device.id.clone(),
            device_secret: SecretString::new(self.device_secret(&device.id, &e.id)),
            device_state: DeviceState::Active,
        })
    }

    /// `POST /enrollments/{id}/cancel`.
    pub fn cancel(
        &self,
        id: &str,
        bearer: Option<&str>,
        req: &CancelRequest,
    ) -> Result<CancelResponse, ApiError> {
        field("reason", &req.reason)?;
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let e = self.auth_enrollment(&tx, id, bearer)?;
        let mut device = store::device_by_id(&tx, &e.device_id)?
            .ok_or_else(|| ApiError::internal(&"enrollment without device record"))?;
        match (e.confirmed_at, e.close_reason.as_deref()) {
            (None, Some("cancelled")) => {
                return Ok(CancelResponse {
                    device_state: device.state,
                    mdm: device.mdm,
                });
            }
            (None, None) => {}
            _ => return Err(Self::closed_error(&e)),
        }
        store::enrollment_close(&tx, &e.id, now, "cancelled")?;
        device.state = DeviceState::Cancelled;
        device.mdm = MdmStatus::Deactivated;
        device.pending_action = None;
        store::update_device(&tx, &device)?;
        let reason = if req.reason.is_empty() {
            "no reason given"
        } else {
            req.reason.as_str()
        };
        store::add_history(&tx, &device.id, now, "cancelled", reason)?;
        tx.commit()?;
        tracing::info!(enrollment_id = %e.id, device_id = %device.id, "enrollment cancelled; MDM deactivated");
        Ok(CancelResponse {
            device_state: device.state,
            mdm: device.mdm,
        })
    }

    // -----------------------------------------------------------------------------------------
    // device routes

    /// Finds a device and checks its bearer secret (derived from the enrollment that last
    /// activated it).
    fn auth_device(&self, c: &Connection, id: &str, bearer: Option<&str>) -> Result<DeviceRow, ApiError> {
        let bearer = bearer.ok_or_else(ApiError::unauthorized)?;
        let not_found = || ApiError::new(ErrorCode::DeviceNotFound, "no such device");
        if !id_ok(id) {
            return Err(not_found());
        }
        let d = store::device_by_id(c, id)?.ok_or_else(not_found)?;
        let Some(activated_by) = &d.activated_by else {
            return Err(ApiError::unauthorized());
        };
        if !crypto::ct_eq_str(bearer, &self.device_secret(&d.id, activated_by)) {
            return Err(ApiError::unauthorized());
        }
        Ok(d)
    }

    /// Devices may call check-in/ack while active, or while a retire/wipe waits for them.
    fn require_reachable(d: &DeviceRow) -> Result<(), ApiError> {
        let ok = match d.state {
            DeviceState::Active => true,
            DeviceState::Retired | DeviceState::Wiped => d.pending_action.is_some(),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::DeviceInactive,
                "the device is no longer managed: enroll again",
            ))
        }
    }

    /// `POST /devices/{id}/checkin`.
    pub fn checkin(
        &self,
        id: &str,
        bearer: Option<&str>,
        req: &CheckinRequest,
    ) -> Result<CheckinResponse, ApiError> {
        validate_descriptor(&req.device)?;
        if req.details.len() > MAX_DETAILS {
            return Err(ApiError::bad_request(format!(
                "details has more than {MAX_DETAILS} entries"
            )));
        }
        for (k, v) in &req.details {
            field("details key", k)?;
            field("details value", v)?;
        }
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut d = self.auth_device(&tx, id, bearer)?;
        Self::require_reachable(&d)?;
        if req.device.platform != d.descriptor.platform {
            return Err(ApiError::bad_request(
                "device.platform differs from the enrolled device",
            ));
        }
        d.descriptor = req.device.clone();
        d.details = req.details.clone();
        d.last_checkin_at = Some(now);
        store::update_device(&tx, &d)?;
        tx.commit()?;
        Ok(CheckinResponse {
            device_state: d.state,
            action: d.pending_action,
        })
    }

    /// `POST /devices/{id}/ack`.
    pub fn ack(&self, id: &str, bearer: Option<&str>, req: &AckRequest) -> Result<CheckinResponse, ApiError> {
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut d = self.auth_device(&tx, id, bearer)?;
        Self::require_reachable(&d)?;
        match d.pending_action {
            Some(a) if a == req.action => {
                d.pending_action = None;
                d.last_action = Some(a);
                store::update_device(&tx, &d)?;
                store::add_history(&tx, &d.id, now, "action_applied", store::action_str(a))?;
                tx.commit()?;
                tracing::info!(device_id = %d.id, action = store::action_str(a), "action acknowledged");
            }
            None if d.last_action == Some(req.action) => {}
            _ => return Err(ApiError::bad_request("this action is not pending for the device")),
        }
        Ok(CheckinResponse {
            device_state: d.state,
            action: None,
        })
    }

    // -----------------------------------------------------------------------------------------
    // admin devices

    pub fn list_devices(&self, include_archived: bool) -> Result<Vec<DeviceView>, ApiError> {
        let store = self.lock()?;
        let c = store.conn();
        store::list_devices(c, include_archived)?
            .iter()
            .map(|d| Ok(store::device_view(c, d)?))
            .collect()
    }

    pub fn device_detail(&self, id: &str) -> Result<DeviceDetail, ApiError> {
        let store = self.lock()?;
        let c = store.conn();
        let not_found = || ApiError::new(ErrorCode::DeviceNotFound, "no such device");
        if !id_ok(id) {
            return Err(not_found());
        }
        let d = store::device_by_id(c, id)?.ok_or_else(not_found)?;
        let mut archived: Vec<DeviceRow> = store::matching_devices(c, &d.descriptor, true)?
            .into_iter()
            .filter(|o| o.id != d.id && o.state == DeviceState::Archived)
            .collect();
        archived.sort_by_key(|o| std::cmp::Reverse((o.archived_at, o.created_at)));
        Ok(DeviceDetail {
            device: store::device_view(c, &d)?,
            history: store::history(c, &d.id)?,
            archived: archived
                .iter()
                .map(|o| store::device_view(c, o))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Retire, wipe or reset: applied on the server at once, delivered at the next check-in.
    pub fn device_action(&self, id: &str, action: DeviceAction) -> Result<DeviceView, ApiError> {
        let now = self.now();
        let mut store = self.lock()?;
        let tx = store
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let not_found = || ApiError::new(ErrorCode::DeviceNotFound, "no such device");
        if !id_ok(id) {
            return Err(not_found());
        }
        let mut d = store::device_by_id(&tx, id)?.ok_or_else(not_found)?;
        if d.state != DeviceState::Active {
            return Err(ApiError::new(
                ErrorCode::DeviceInactive,
                "only an active device can take this action",
            )
            .with_status(axum::http::StatusCode::CONFLICT));
        }
        match action {
            DeviceAction::Retire => {
                d.state = DeviceState::Retired;
                d.mdm = MdmStatus::Deactivated;
            }
            DeviceAction::Wipe => {
                d.state = DeviceState::Wiped;
                d.mdm = MdmStatus::Deactivated;
            }
            DeviceAction::Reset => {}
        }
        d.pending_action = Some(action);
        store::update_device(&tx, &d)?;
        store::add_history(&tx, &d.id, now, action_event(action), "waiting for the device")?;
        if action != DeviceAction::Reset {
            for open in store::open_enrollments_for_device(&tx, &d.id)? {
                store::enrollment_close(&tx, &open.id, now, action_event(action))?;
            }
        }
        let view = store::device_view(&tx, &d)?;
        tx.commit()?;
        tracing::info!(device_id = %d.id, action = store::action_str(action), "administrator action");
        Ok(view)
    }

    pub fn pending_installs(&self) -> Result<Vec<PendingInstall>, ApiError> {
        Ok(store::pending_installs(self.lock()?.conn())?
            .into_iter()
            .map(|p| PendingInstall {
                enrollment_id: p.enrollment_id,
                device_id: p.device_id,
                user: p.user,
                started_at: p.started_at,
                last_profile_at: p.last_profile_at,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_key_rules() {
        assert!(validate_idempotency_key("abcdefghijklmnop").is_ok());
        assert!(validate_idempotency_key(&"a".repeat(64)).is_ok());
        assert!(validate_idempotency_key("A-b_0123456789xyz").is_ok());
        assert!(validate_idempotency_key("short").is_err());
        assert!(validate_idempotency_key(&"a".repeat(65)).is_err());
        assert!(validate_idempotency_key("abcdefghijklmnop!").is_err());
        assert!(validate_idempotency_key("abcdefghijklmnop é").is_err());
    }

    #[test]
    fn os_major_versions() {
        assert_eq!(os_major("14"), Some(14));
        assert_eq!(os_major("9"), Some(9));
        assert_eq!(os_major("10.0.1"), Some(10));
        assert_eq!(os_major("beta"), None);
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"z":0,"y":"é"}],"c":null}}"#).unwrap();
        let mut out = String::new();
        canonical_json(&v, &mut out);
        assert_eq!(out, r#"{"a":{"c":null,"d":[1,{"y":"é","z":0}]},"b":1}"#);
    }

    #[test]
    fn emails() {
        assert!(validate_email("a@b.c").is_ok());
        assert!(validate_email("").is_err());
        assert!(validate_email("no-at").is_err());
        assert!(validate_email("a b@c").is_err());
        assert!(validate_email(&format!("{}@x", "a".repeat(300))).is_err());
    }
}
