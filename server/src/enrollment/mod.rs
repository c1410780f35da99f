//! Enrollment: how a device becomes managed, from the credential to the confirmed profile, and
//! what an enrolled agent calls afterwards.
//!
//! - `credentials.rs`: password (local or directory), one-time PIN, user token, bulk token and
//!   tokenless credentials, checked into a `Principal`;
//! - `invitations.rs`: invitation links with one-time PINs (seed 003: lifetime, attempts, lock)
//!   and their QR code; `tokens.rs`: user enrollment tokens (seed 000: 7 to 999 days or never);
//! - `enroll.rs`: idempotent `POST /enrollments`, device matching and re-enrollment (seed 003:
//!   one entry reused, or a new entry and the old ones archived on Android 10+);
//! - `lifecycle.rs`: profile issuance (the `.mobileconfig` built by [`profile`], signed by the
//!   PKI), confirm and cancel; `checkin.rs`: device check-in, action acknowledgement;
//! - `validate.rs`: input checks of the agent's requests; `secrets.rs`: derived enrollment and
//!   device secrets and request fingerprints; `queries.rs`: PINs, profile issuances,
//!   idempotency keys; `routes.rs`: the HTTP routes, the `/go` page and the CA download;
//! - `limits.rs`: rate limits of the credential routes (per source address and account);
//! - `password.rs`: the agent's "set your password" step after a PIN enrollment (the offer in
//!   the enrollment reply, `POST /enrollments/{id}/password` through the users' rule);
//! - `portal.rs`: what the self-service portal (`crate::portal`) asks of enrollment: PIN and
//!   password sign-in, a profile for a browser-enrolled Mac or iPhone, the in-app QR link.
//!
//! Depends on `users`, `devices` and `bulk` (their small public APIs), never the other way.
//! Every function is synchronous (SQLite and argon2 block); the HTTP layer runs them on the
//! blocking thread pool. Rules are described in `docs/protocol.md`.

mod checkin;
mod credentials;
mod enroll;
mod invitations;
mod lifecycle;
mod limits;
mod password;
mod portal;
pub mod profile;
mod queries;
mod routes;
mod secrets;
mod tokens;
mod validate;

pub use password::PASSWORD_SETUP_WINDOW_SECS;
pub use portal::{PortalProfile, PORTAL_QR_TOKEN_DAYS};
pub(crate) use routes::table;
pub use validate::{canonical_json, validate_descriptor, validate_idempotency_key};

use crate::state::domain_service;
use enroll_proto::{ServerInfo, PROTOCOL_VERSION};

/// Most entries accepted in check-in `details`.
pub const MAX_DETAILS: usize = 64;
/// Most profiles issued for one enrollment.
pub const MAX_PROFILE_ISSUANCES: u32 = 10;
/// Accepted `pin_ttl_secs` bounds (one minute to 30 days).
pub const PIN_TTL_SECS: std::ops::RangeInclusive<u64> = 60..=2_592_000;
/// Longest accepted enrollment token, in bytes.
const MAX_TOKEN_BYTES: usize = 256;
/// Longest accepted PIN, in bytes.
const MAX_PIN_BYTES: usize = 64;

domain_service!(
    /// Rules of enrollment (credentials, invitations, tokens, profiles, confirm/cancel,
    /// check-in, re-enrollment).
    EnrollmentService
);

impl EnrollmentService<'_> {
    /// `GET /info`.
    pub fn info(&self) -> ServerInfo {
        ServerInfo {
            protocol: PROTOCOL_VERSION,
            name: self.name.clone(),
            server_time_ms: self.now().saturating_mul(1000),
            profile_validity_secs: u64::try_from(self.profile_validity).unwrap_or(0),
        }
    }
}
