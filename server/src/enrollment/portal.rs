//! The self-service portal's enrollment rules (seed 003), called by `crate::portal`: sign-in
//! with a one-time PIN or a password (local or directory, "network credentials") under the
//! same rate limits and PIN rules as `POST /enrollments`, the management profile of a Mac,
//! iPhone or iPad enrolled from the browser, and the in-app enrollment link of the QR code
//! ("générez le code QR depuis le portail libre-service").

use super::{limits, EnrollmentService};
use crate::crypto;
use crate::error::ApiError;
use crate::users::{self, UserRow};
use enroll_proto::secret::SecretString;
use enroll_proto::{CreateTokenRequest, CredentialWire, DeviceDescriptor, ErrorCode};
use rusqlite::TransactionBehavior;
use std::net::IpAddr;

/// Validity of the enrollment token in a portal QR code, days (the shortest allowed).
pub const PORTAL_QR_TOKEN_DAYS: u32 = 7;

/// A profile issued through the portal.
pub struct PortalProfile {
    /// The enrollment it belongs to (reused for a fresh download while it stays open).
    pub enrollment_id: String,
    /// The signed `.mobileconfig` (DER CMS).
    pub signed: Vec<u8>,
    /// Its `PayloadExpirationDate`, Unix seconds.
    pub expires_at: i64,
}

impl EnrollmentService<'_> {
    /// Portal sign-in with the invitation's one-time PIN: consumed when right, counted when
    /// wrong (the error says how many tries are left), refused once locked or expired.
    pub fn portal_pin_sign_in(
        &self,
        source: Option<IpAddr>,
        email: &str,
        pin: &SecretString,
    ) -> Result<UserRow, ApiError> {
        if pin.is_empty() || pin.len() > super::MAX_PIN_BYTES {
            return Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "invalid user or PIN",
            ));
        }
        let cred = CredentialWire::Pin {
            user: email.to_string(),
            pin: pin.clone(),
        };
        let keys = limits::keys_of(source, Some(&cred));
        limits::guarded(self, &keys, || {
            let now = self.now();
            let mut store = self.lock()?;
            let tx = store
                .conn_mut()
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = self.check_pin(&tx, email, pin, now);
            // A wrong PIN is counted even though the sign-in fails.
            tx.commit()?;
            out
        })
    }

    /// Portal sign-in with a password: local (argon2) or a directory account.
    pub fn portal_password_sign_in(
        &self,
        source: Option<IpAddr>,
        email: &str,
        password: &SecretString,
    ) -> Result<UserRow, ApiError> {
        if password.is_empty() || password.len() > crate::common::MAX_PASSWORD_BYTES {
            return Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "invalid username or password",
            ));
        }
        let cred = CredentialWire::Password {
            user: email.to_string(),
            password: password.clone(),
        };
        let keys = limits::keys_of(source, Some(&cred));
        limits::guarded(self, &keys, || self.verify_password(email, password))
    }

    /// A signed management profile for a device the signed-in user enrolls from the browser
    /// (macOS, iOS): the open enrollment `previous` gets a fresh profile while it can; otherwise
    /// a new enrollment starts (credential `portal`), following the usual device rules.
    pub fn portal_profile(
        &self,
        user_id: &str,
        device: &DeviceDescriptor,
        previous: Option<&str>,
    ) -> Result<PortalProfile, ApiError> {
        if let Some(id) = previous {
            let secret = self.enrollment_secret(id);
            match self.issue_profile(id, Some(&secret)) {
                Ok((signed, expires_at)) => {
                    return Ok(PortalProfile {
                        enrollment_id: id.to_string(),
                        signed,
                        expires_at,
                    })
                }
                Err(e) if matches!(e.info.code, ErrorCode::EnrollmentClosed | ErrorCode::RateLimited) => {}
                Err(e) => return Err(e),
            }
        }
        super::validate_descriptor(device)?;
        let now = self.now();
        let resp = {
            let mut store = self.lock()?;
            let tx = store
                .conn_mut()
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let user = users::user_by_id(&tx, user_id)?.ok_or_else(ApiError::unauthorized)?;
            let key = format!("portal-{}", uuid::Uuid::new_v4());
            let fingerprint = crypto::sha256(key.as_bytes());
            let principal = super::credentials::Principal {
                user: Some(user),
                credential: "portal",
                bulk_device: None,
            };
            let resp = self.create_enrollment(&tx, &key, &fingerprint, device, principal, None, now)?;
            tx.commit()?;
            resp
        };
        let (signed, expires_at) =
            self.issue_profile(&resp.enrollment_id, Some(resp.enrollment_secret.expose()))?;
        Ok(PortalProfile {
            enrollment_id: resp.enrollment_id,
            signed,
            expires_at,
        })
    }

    /// The in-app enrollment link of the portal's QR code: the invitation URL with a new
    /// enrollment token of the user ([`PORTAL_QR_TOKEN_DAYS`] days), as the agent's payload
    /// parser reads it (`…/go?user=…&token=…`). Returns the link and the token's expiry.
    pub fn portal_app_link(&self, user_id: &str) -> Result<(SecretString, Option<i64>), ApiError> {
        let user = users::user_by_id(self.lock()?.conn(), user_id)?.ok_or_else(ApiError::unauthorized)?;
        let token = self.create_token(&CreateTokenRequest {
            user: user.email.clone(),
            days: Some(PORTAL_QR_TOKEN_DAYS),
            never_expires: false,
        })?;
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("user", &user.email)
            .append_pair("token", token.token.expose())
            .finish();
        Ok((
            SecretString::new(format!("{}/go?{query}", self.base_url)),
            token.expires_at,
        ))
    }
}
