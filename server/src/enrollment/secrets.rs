//! Derived secrets: the enrollment and device bearer secrets (HMACs of the server secret, never
//! stored) and the fingerprint of an idempotent request.

use super::validate::canonical_json;
use super::EnrollmentService;
use crate::crypto;
use crate::error::ApiError;

impl EnrollmentService<'_> {
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

    pub(super) fn fingerprint(
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
}
