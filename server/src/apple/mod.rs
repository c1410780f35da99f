//! Apple MDM: SCEP enrollment of the device identity at `/scep` (`scep.rs`), its store
//! queries (`queries.rs`) and routes (`routes.rs`). The wire formats (PKIMessage, CMS
//! envelopes, CSRs) come from `enroll_mdm`; the SCEP issuing CA from [`crate::pki::ScepCa`].
//!
//! The challenge a device presents is the one-time challenge of the `.mobileconfig` it was
//! given (`enrollment/profile.rs` stores it as SHA-256 in `profile_issuances`): valid once,
//! until the profile expires, and only for a request whose subject is that enrollment's device
//! (`CN=<device id>`, the profile's SCEP `Subject`).
//!
//! This domain reads the enrollment and device tables; no other domain imports it.

mod queries;
pub(crate) mod routes;
mod scep;

pub(crate) use routes::table;

crate::state::domain_service!(
    /// Apple MDM rules (SCEP today).
    AppleService
);
