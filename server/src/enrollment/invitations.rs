//! Invitations (seed 003): the link a user opens on the device, optionally with a one-time PIN
//! (lifetime `pin_ttl_secs`, `pin_max_attempts` wrong PINs before it locks, one use), and the
//! link as a QR code.

use super::{queries, EnrollmentService, PIN_TTL_SECS};
use crate::common::MAX_EMAIL_CHARS;
use crate::crypto;
use crate::error::ApiError;
use crate::qr::{self, ImageFormat};
use crate::users;
use enroll_proto::secret::SecretString;
use enroll_proto::{InviteRequest, InviteResponse};
use rusqlite::TransactionBehavior;

impl EnrollmentService<'_> {
    /// `POST /admin/users/{email}/invitations`: the invitation link, with a one-time PIN if asked.
    pub fn invite(&self, email: &str, req: &InviteRequest) -> Result<InviteResponse, ApiError> {
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(ApiError::not_found("no such user"));
        }
        let user = users::user_by_email(&*self.read()?, email)?
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
            queries::replace_pin(&tx, &user.id, &hash, now, expires_at, self.pin_max_attempts)?;
            tx.commit()?;
        }
        tracing::info!(user_id = %user.id, "invitation with one-time PIN issued");
        Ok(InviteResponse {
            url,
            pin: Some(SecretString::new(pin)),
            pin_expires_at: Some(expires_at),
        })
    }

    /// `GET /admin/users/{email}/invitation/qr`: the invitation URL as a QR code.
    pub fn invitation_qr(&self, email: &str, format: ImageFormat, scale: u32) -> Result<Vec<u8>, ApiError> {
        if email.chars().count() > 254 {
            return Err(ApiError::not_found("no such user"));
        }
        let user = users::user_by_email(&*self.read()?, email)?
            .ok_or_else(|| ApiError::not_found("no such user"))?;
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("user", &user.email)
            .finish();
        let url = format!("{}/go?{query}", self.base_url);
        qr::render(&url, format, scale).map_err(|e| ApiError::bad_request(e.to_string()))
    }
}
