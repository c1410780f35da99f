//! Samsung Knox Mobile Enrollment (seed 004): the integration switch, the reseller uploads
//! waiting for approval, approvals into the default KME profile, and moving devices between KME
//! profiles (move, unassign).
//!
//! Approved devices land in the default KME profile, which lists the devices *not assigned* to
//! a KME profile: they cannot enroll (`device_unassigned`) until moved to another KME profile;
//! unapproved uploads get `device_not_approved` (both answered by `bulk/matching.rs`).
//!
//! Built on the bulk domain (profiles, inventories, CSV import): `kme` → `bulk`, never the
//! other way.

mod assign;
mod routes;
mod uploads;

pub(crate) use routes::table;

use crate::state::domain_service;

/// Name of the default Samsung KME profile.
pub const DEFAULT_KME_PROFILE_NAME: &str = "Samsung KME default profile";

pub(super) const META_KME_ENABLED_AT: &str = "kme_enabled_at";
pub(super) const META_KME_NAME: &str = "kme_name";
pub(super) const META_KME_DESCRIPTION: &str = "kme_description";

domain_service!(
    /// Rules of the Samsung KME integration.
    KmeService
);
