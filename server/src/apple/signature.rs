//! Who sent an MDM request: the `Mdm-Signature` header (CMS SignedData over the exact body,
//! detached or attached, SHA-1 or SHA-256) verified, its signer issued by our SCEP CA and
//! recorded in `apple_certificates`, not revoked, not expired.
//!
//! Refusals: no header, a signature that does not verify, or a signer this server did not
//! issue → 400 (`bad_request`, nothing changes); a revoked identity (renewed, checked out) →
//! 403 `com.apple.unrecognized.device`.

use super::{queries, unrecognized, AppleService};
use crate::error::ApiError;
use enroll_mdm::mdm_signature;
use rusqlite::Connection;

/// The identity that signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Caller {
    /// Serial (lower-case hex) of the identity certificate.
    pub serial: String,
    /// The device record it was issued to.
    pub device_id: String,
    /// The enrollment it was issued for.
    pub enrollment_id: Option<String>,
}

impl AppleService<'_> {
    /// Verifies `header` over `body` (CPU only, no store access).
    pub(super) fn verify_signature(
        &self,
        header: Option<&str>,
        body: &[u8],
    ) -> Result<enroll_mdm::cert::ParsedCertificate, ApiError> {
        let header = header.ok_or_else(|| {
            ApiError::bad_request("the Mdm-Signature header is required (the profile sets SignMessage)")
        })?;
        let signer = mdm_signature::verify_detached_or_attached(header, body)
            .map_err(|e| ApiError::bad_request(format!("Mdm-Signature does not verify: {e}")))?;
        let ca = self.pki.scep_ca().parsed()?;
        if signer.verify_signed_by(&ca).is_err() {
            return Err(ApiError::bad_request(
                "Mdm-Signature is by a certificate this server did not issue",
            ));
        }
        Ok(signer)
    }

    /// The recorded identity behind a verified signer.
    pub(super) fn caller(
        &self,
        c: &Connection,
        signer: &enroll_mdm::cert::ParsedCertificate,
    ) -> Result<Caller, ApiError> {
        let serial = crate::pki::serial_hex(&signer.der)?;
        let id = queries::identity(c, &serial, &signer.der)?.ok_or_else(|| {
            ApiError::bad_request("Mdm-Signature is by a certificate this server did not issue")
        })?;
        if id.revoked {
            return Err(unrecognized("identity revoked"));
        }
        if id.not_after <= self.now() {
            return Err(ApiError::bad_request(
                "the device identity has expired: enroll the device again",
            ));
        }
        Ok(Caller {
            serial,
            device_id: id.device_id,
            enrollment_id: id.enrollment_id,
        })
    }
}
