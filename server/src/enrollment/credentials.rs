//! Credentials: who an enrollment is for. Passwords are checked outside the store lock (argon2
//! or a directory bind are slow); tokens (user or bulk), one-time PINs (attempts, lock, expiry,
//! seed 003) and tokenless matching (seed 000) inside the enrollment transaction.

use super::{queries, EnrollmentService};
use crate::bulk::BulkService;
use crate::crypto;
use crate::error::ApiError;
use crate::store;
use crate::users::{self, UserRow};
use enroll_proto::secret::SecretString;
use enroll_proto::{CredentialWire, DeviceDescriptor, ErrorCode};
use rusqlite::Connection;

/// Who an enrollment is for, once the credential checked out.
pub(super) struct Principal {
    pub(super) user: Option<UserRow>,
    pub(super) credential: &'static str,
    /// The bulk device matched (bulk token or tokenless enrollment).
    pub(super) bulk_device: Option<i64>,
}

impl EnrollmentService<'_> {
    /// Checks a password outside the store lock (argon2 or a directory bind are slow).
    pub(super) fn verify_password(&self, email: &str, password: &SecretString) -> Result<UserRow, ApiError> {
        let invalid = || ApiError::new(ErrorCode::InvalidCredentials, "invalid username or password");
        let user = users::user_by_email(&*self.read()?, email)?;
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
    pub(super) fn verify_in_tx(
        &self,
        c: &Connection,
        cred: &CredentialWire,
        device: &DeviceDescriptor,
        now: i64,
    ) -> Result<Principal, ApiError> {
        match cred {
            CredentialWire::Token { token } => {
                let invalid = crate::common::invalid_token;
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
                    let bulk = BulkService(self.0).bulk_principal_for_token(c, profile_id, device)?;
                    let user = match &bulk.user_id {
                        Some(id) => users::user_by_id(c, id)?,
                        None => None,
                    };
                    return Ok(Principal {
                        user,
                        credential: "bulk_token",
                        bulk_device: Some(bulk.bulk_device),
                    });
                }
                let user = match &row.user_id {
                    Some(id) => Some(users::user_by_id(c, id)?.ok_or_else(invalid)?),
                    None => None,
                };
                Ok(Principal {
                    user,
                    credential: "token",
                    bulk_device: None,
                })
            }
            CredentialWire::Pin { user, pin } => Ok(Principal {
                user: Some(self.check_pin(c, user, pin, now)?),
                credential: "pin",
                bulk_device: None,
            }),
            CredentialWire::Tokenless { profile_id } => {
                let bulk = BulkService(self.0).bulk_principal_tokenless(c, profile_id.as_deref(), device)?;
                let user = match &bulk.user_id {
                    Some(id) => users::user_by_id(c, id)?,
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

    /// Checks a one-time PIN inside a transaction (seed 003): used, locked after
    /// `max_attempts` wrong PINs, expired; a right PIN is consumed, a wrong one counted (the
    /// error carries the tries left). The caller commits even on error.
    pub(super) fn check_pin(
        &self,
        c: &Connection,
        email: &str,
        pin: &SecretString,
        now: i64,
    ) -> Result<UserRow, ApiError> {
        let invalid = || ApiError::new(ErrorCode::InvalidCredentials, "invalid user or PIN");
        let user = users::user_by_email(c, email)?.ok_or_else(invalid)?;
        let row = queries::current_pin(c, &user.id)?.ok_or_else(invalid)?;
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
            queries::pin_mark_used(c, row.id, now)?;
            Ok(user)
        } else {
            let attempts = queries::pin_failed_attempt(c, row.id)?;
            let left = row.max_attempts.saturating_sub(attempts);
            tracing::info!(user_id = %user.id, attempts_left = left, "wrong PIN");
            Err(ApiError::new(ErrorCode::InvalidPin, "wrong PIN").with_attempts_left(left))
        }
    }
}
