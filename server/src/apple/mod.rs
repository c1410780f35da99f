//! Apple MDM: SCEP enrollment of the device identity at `/scep` (`scep.rs`), the check-in at
//! `/mdm/checkin` (`checkin.rs`), the command channel at `/mdm/server` with its queue
//! (`commands.rs`), the `Mdm-Signature` authentication of both (`signature.rs`), the
//! administrator's commands (`admin.rs`), their store queries (`queries.rs`,
//! `mdm_queries.rs`) and routes (`routes.rs`). The wire formats (PKIMessage, CMS envelopes,
//! CSRs, check-in and command plists) come from `enroll_mdm`; the SCEP issuing CA from
//! [`crate::pki::ScepCa`]; pushes from [`crate::push`].
//!
//! The challenge a device presents is the one-time challenge of the `.mobileconfig` it was
//! given (`enrollment/profile.rs` stores it as SHA-256 in `profile_issuances`): valid once,
//! until the profile expires, and only for a request whose subject is that enrollment's device
//! (`CN=<device id>`, the profile's SCEP `Subject`).
//!
//! The device becomes active through the enrollment domain's activation at its first
//! `TokenUpdate`; device records and history are written through the devices domain's
//! queries. No other domain imports this one.

mod admin;
mod checkin;
mod commands;
mod mdm_queries;
mod plist_json;
mod queries;
pub(crate) mod routes;
mod scep;
mod signature;

pub(crate) use routes::table;

use crate::error::ApiError;
use axum::http::StatusCode;
use enroll_proto::ErrorCode;

/// Device states that may not obtain an identity nor talk MDM.
pub(crate) const CLOSED_STATES: [&str; 4] = ["retired", "wiped", "cancelled", "archived"];

/// Largest command-channel body: `ProfileList` and `InstalledApplicationList` answers can be
/// megabytes. Check-ins stay at `enroll_mdm::checkin::MAX_CHECKIN_BYTES` (64 KiB).
pub(crate) const MDM_SERVER_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The answer to a device this server does not (or no longer) manage: 403 with Apple's
/// `com.apple.unrecognized.device`, never 401. `why` is logged, not sent.
pub(crate) fn unrecognized(why: &str) -> ApiError {
    tracing::info!(reason = why, "MDM request from an unrecognized device");
    ApiError::new(ErrorCode::DeviceInactive, "com.apple.unrecognized.device")
        .with_status(StatusCode::FORBIDDEN)
}

crate::state::domain_service!(
    /// Apple MDM rules (SCEP, check-in, command channel).
    AppleService
);
