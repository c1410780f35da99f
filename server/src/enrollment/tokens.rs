//! User enrollment tokens (seed 000): `ent_` + 32 random bytes, valid 7 to 999 days or never;
//! only their SHA-256 is stored (`crate::store::tokens`).

use super::EnrollmentService;
use crate::common::{new_id, DEFAULT_TOKEN_DAYS, TOKEN_DAYS};
use crate::crypto;
use crate::error::ApiError;
use crate::store;
use crate::users;
use enroll_proto::secret::SecretString;
use enroll_proto::{CreateTokenRequest, TokenResponse};

impl EnrollmentService<'_> {
    /// `POST /admin/tokens`: a user enrollment token, 7 to 999 days or never.
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
        let user = users::user_by_email(store.conn(), &req.user)?
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
}
