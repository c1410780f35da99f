//! Windows MDM (issue 12, seeds 001 and 002): MS-MDE2 enrollment and OMA-DM management of
//! Windows PCs, on the wire formats of `enroll_wmdm`.
//!
//! - `enroll.rs`: discovery (`/EnrollmentServer/Discovery.svc`, also `POST /`), the MS-XCEP
//!   policy (RSA ≥ 2048, SHA-256) and the MS-WSTEP enrollment: OnPremise UsernameToken checked
//!   against the users, or Federated with a token of the simulated Entra tenant; the PKCS #10 is
//!   verified, a client certificate issued by the device-identity CA, and a
//!   `wap-provisioningdoc` answered. Faults are MS-MDE2 SOAP faults with MENROLL codes; a
//!   refused enrollment changes nothing.
//! - `omadm.rs`: OMA-DM sessions over mutual TLS (`/ManagementServer/MDM.svc`): the first
//!   session fills the device record and activates it, later sessions report and take queued
//!   commands; retire and wipe become DMClient unenroll and RemoteWipe; at most
//!   [`MAX_SESSION_MESSAGES`] messages per session.
//! - `bulk.rs`: seed 001: `windows-bulkenroll…` users enroll any number of devices, the WCD
//!   `customizations.xml`, "Assign to user" (bulk-enrolled devices only), the first sign-in
//!   password change, and no `./User/…` command ever to a bulk-enrolled device.
//! - `entra.rs`: seed 002: the simulated Entra tenant (off until connected), the seam where a
//!   real tenant goes: bulk tokens, the `package_<guid>@<domain>` user, MFA refusals, device
//!   objects, signed access tokens (RS256), the sync of its users to the server.
//!
//! This domain reads users and devices; no other domain imports it.

mod bulk;
mod enroll;
mod entra;
mod omadm;
mod queries;
mod routes;

pub(crate) use bulk::AssignRequest;
pub(crate) use routes::table;

crate::state::domain_service!(
    /// Windows MDM rules.
    WindowsService
);

/// Discovery endpoint (MS-MDE2 `EnterpriseEnrollment.<domain>/EnrollmentServer/Discovery.svc`).
pub const DISCOVERY_PATH: &str = "/EnrollmentServer/Discovery.svc";
/// MS-XCEP endpoint.
pub const POLICY_PATH: &str = "/EnrollmentServer/Policy.svc";
/// MS-WSTEP endpoint.
pub const ENROLLMENT_PATH: &str = "/EnrollmentServer/Enrollment.svc";
/// OMA-DM endpoint (mutual TLS).
pub const MANAGEMENT_PATH: &str = "/ManagementServer/MDM.svc";
/// The DMClient provider id of this server.
pub const PROVIDER_ID: &str = "enroll";
/// Most messages one OMA-DM session may have.
pub const MAX_SESSION_MESSAGES: i64 = 16;
/// Longest OMA-DM session, seconds.
pub const MAX_SESSION_SECS: i64 = 600;
/// Days a Windows client certificate is valid.
pub const CLIENT_CERT_DAYS: u64 = 365;
/// The user-name prefix of seed 001's bulk users.
pub const BULK_PREFIX: &str = "windows-bulkenroll";

/// Whether a UPN is a seed 001 bulk user: its local part starts with `windows-bulkenroll`,
/// case-insensitively.
pub fn is_bulk_upn(upn: &str) -> bool {
    let local = upn.split('@').next().unwrap_or("");
    local
        .get(..BULK_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(BULK_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_prefix_is_case_insensitive_on_the_local_part() {
        assert!(is_bulk_upn("windows-bulkenroll-user1@abc.com"));
        assert!(is_bulk_upn("Windows-BulkEnroll@abc.com"));
        assert!(!is_bulk_upn("user@windows-bulkenroll.com"));
        assert!(!is_bulk_upn("windows-bulk@abc.com"));
        assert!(!is_bulk_upn("é@x"));
    }
}
