//! # enroll-proto: the wire formats of enroll
//!
//! Wire protocol v1 between the agent and an enrollment server, and the enrollment payloads
//! that QR codes and links carry. These types are the single source of truth for the JSON
//! bodies: the agent (`enroll-core`, and through it the mobile library), the reference server
//! (`enroll-server`) and the CLI all use them, and `docs/protocol.md` plus `docs/openapi.json`
//! describe the same routes for other implementers.
//!
//! What belongs here: serde types of request and reply bodies, route templates, header names
//! and limits that both sides must agree on, the QR/link payload parser ([`payload`]) and the
//! secret wrapper ([`secret`]) those types carry. Nothing that does I/O, no rules of the
//! product, no HTTP client or server.
//!
//! ## Features
//!
//! - `admin` (off by default): the administrator API's types (users, invitations, tokens,
//!   device listings, bulk enrollment, Samsung KME) and their routes. The server and the CLI
//!   turn it on; the agent and the mobile library do not, so they hold only what a device needs.
//!
//! ## Conventions
//!
//! - every route lives under [`API_PREFIX`]; the server sends [`PROTOCOL_HEADER`] on every reply;
//! - times are Unix seconds (`i64`), UTC;
//! - errors are [`ErrorBody`] with a machine-readable [`ErrorCode`];
//! - device-side calls after authentication carry `Authorization: Bearer <secret>` where the
//!   secret is the enrollment secret (enrollment routes) or the device secret (device routes);
//! - `POST /enrollments` and `POST /devices/{id}/reenroll` require [`IDEMPOTENCY_HEADER`]: the
//!   same key with the same request replays the first answer and never creates a second record.

pub mod body;
pub mod payload;
pub mod secret;

mod agent;
pub use agent::*;

#[cfg(feature = "admin")]
mod admin;
#[cfg(feature = "admin")]
pub use admin::*;

#[cfg(feature = "admin")]
mod mdm;
#[cfg(feature = "admin")]
pub use mdm::*;

#[cfg(feature = "admin")]
mod bulk;
#[cfg(feature = "admin")]
pub use bulk::*;

/// Protocol version spoken by this crate.
pub const PROTOCOL_VERSION: u32 = 1;
/// Prefix of every API route.
pub const API_PREFIX: &str = "/api/v1";
/// Header carrying the protocol version on every server reply.
pub const PROTOCOL_HEADER: &str = "enroll-protocol";
/// Header carrying the idempotency key of an enrollment attempt.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Content type of a signed enrollment profile (CMS SignedData, DER).
pub const PROFILE_CONTENT_TYPE: &str = "application/x-apple-aspen-config";
/// Content type of every JSON body.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// Longest accepted idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 64;
/// Shortest accepted idempotency key.
pub const MIN_IDEMPOTENCY_KEY_LEN: usize = 16;
/// Header of a profile reply carrying the profile's `PayloadExpirationDate` (Unix seconds):
/// the device must install the profile before then.
pub const PROFILE_EXPIRES_HEADER: &str = "enroll-profile-expires";
/// Largest request body the server accepts, in bytes; larger bodies get `payload_too_large`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
#[cfg(feature = "admin")]
/// Content type of CSV uploads and downloads (bulk enrollment).
pub const CSV_CONTENT_TYPE: &str = "text/csv";
#[cfg(feature = "admin")]
/// Largest CSV upload the server accepts (bulk enrollment), in bytes: 64 MiB. Only the CSV
/// upload routes accept bodies larger than [`MAX_BODY_BYTES`].
pub const MAX_CSV_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;
#[cfg(feature = "admin")]
/// Most data rows in one bulk-enrollment CSV upload.
pub const MAX_CSV_ROWS: u64 = 200_000;
/// `ErrorInfo::fallback` value telling the device to fall back to the user + password flow.
pub const FALLBACK_PASSWORD: &str = "password";

/// Route templates (axum and OpenAPI share the `{param}` syntax).
pub mod routes {
    /// `GET`: server identity, protocol version and time. No authentication.
    pub const INFO: &str = "/api/v1/info";
    /// `POST` [`super::EnrollRequest`] → [`super::EnrollResponse`]. Needs an idempotency key.
    pub const ENROLLMENTS: &str = "/api/v1/enrollments";
    /// `GET` → signed profile (DER CMS, [`super::PROFILE_CONTENT_TYPE`]). Enrollment bearer.
    pub const ENROLLMENT_PROFILE: &str = "/api/v1/enrollments/{id}/profile";
    /// `POST` [`super::CancelRequest`] → [`super::CancelResponse`]. Enrollment bearer.
    pub const ENROLLMENT_CANCEL: &str = "/api/v1/enrollments/{id}/cancel";
    /// `POST` [`super::ConfirmRequest`] → [`super::ConfirmResponse`]. Enrollment bearer.
    pub const ENROLLMENT_CONFIRM: &str = "/api/v1/enrollments/{id}/confirm";
    /// `POST` [`super::SetPasswordRequest`] → [`super::SetPasswordResponse`]: the user's first
    /// password, once, when the enrollment reply offered it (`password_setup: offered`).
    /// Enrollment bearer.
    pub const ENROLLMENT_PASSWORD: &str = "/api/v1/enrollments/{id}/password";
    /// `POST` [`super::CheckinRequest`] → [`super::CheckinResponse`]. Device bearer.
    pub const DEVICE_CHECKIN: &str = "/api/v1/devices/{id}/checkin";
    /// `POST` [`super::AckRequest`] → [`super::CheckinResponse`]. Device bearer.
    pub const DEVICE_ACK: &str = "/api/v1/devices/{id}/ack";
    /// `POST` [`super::ReenrollRequest`] → [`super::EnrollResponse`]. Device bearer + idempotency key.
    pub const DEVICE_REENROLL: &str = "/api/v1/devices/{id}/reenroll";

    /// `POST` [`super::CreateUserRequest`] → [`super::UserView`]; `GET` → `Vec<UserView>`. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_USERS: &str = "/api/v1/admin/users";
    /// `POST` [`super::InviteRequest`] → [`super::InviteResponse`]. Admin. `{email}` is the user.
    #[cfg(feature = "admin")]
    pub const ADMIN_INVITATIONS: &str = "/api/v1/admin/users/{email}/invitations";
    /// `POST` [`super::CreateTokenRequest`] → [`super::TokenResponse`]. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_TOKENS: &str = "/api/v1/admin/tokens";
    /// `GET` → `Vec<DeviceView>` (query `include_archived=true` to list archived entries). Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_DEVICES: &str = "/api/v1/admin/devices";
    /// `GET` → [`super::DeviceDetail`] (device plus change history). Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_DEVICE: &str = "/api/v1/admin/devices/{id}";
    /// `POST` → [`super::DeviceView`]: retire the device (delivered at its next check-in). Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_DEVICE_RETIRE: &str = "/api/v1/admin/devices/{id}/retire";
    /// `POST` → [`super::DeviceView`]: wipe the device. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_DEVICE_WIPE: &str = "/api/v1/admin/devices/{id}/wipe";
    /// `POST` → [`super::DeviceView`]: reset the device (stays active until re-enrollment). Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_DEVICE_RESET: &str = "/api/v1/admin/devices/{id}/reset";
    /// `GET` → `Vec<MdmCommandView>` (oldest first); `POST` [`super::QueueCommandRequest`] →
    /// [`super::MdmCommandView`] (201): the Apple MDM commands of a device. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_DEVICE_COMMANDS: &str = "/api/v1/admin/devices/{id}/commands";
    /// `GET` → [`super::AppleMdmView`]: the device's Apple MDM enrollment and its last
    /// `DeviceInformation`. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_DEVICE_MDM: &str = "/api/v1/admin/devices/{id}/mdm";
    /// `GET` → `Vec<PendingInstall>`: enrollments whose profile is not installed yet (reminders). Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_PENDING: &str = "/api/v1/admin/enrollments/pending";

    /// `GET` → the bulk-enrollment CSV template (`text/csv`). Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_BULK_TEMPLATE: &str = "/api/v1/admin/bulk/template";
    /// `GET` → `Vec<BulkProfileView>` (the default Samsung KME profile first); `POST`
    /// [`super::CreateBulkProfileRequest`] → [`super::BulkProfileDetail`]. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_BULK_PROFILES: &str = "/api/v1/admin/bulk/profiles";
    /// `GET` → [`super::BulkProfileDetail`]; `PATCH` [`super::UpdateBulkProfileRequest`] →
    /// [`super::BulkProfileDetail`]; `DELETE` → 204. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_BULK_PROFILE: &str = "/api/v1/admin/bulk/profiles/{id}";
    /// `POST` [`super::BulkTokenRequest`] → [`super::TokenResponse`]: refresh or extend the
    /// profile's enrollment token. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_BULK_TOKEN: &str = "/api/v1/admin/bulk/profiles/{id}/token";
    /// `GET` → `Vec<BulkDeviceView>` (`offset`, `limit`); `POST` [`super::AddBulkDevicesRequest`]
    /// → [`super::ImportReport`]; `PATCH` [`super::EditBulkDevicesRequest`] →
    /// `Vec<BulkDeviceView>`. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_BULK_DEVICES: &str = "/api/v1/admin/bulk/profiles/{id}/devices";
    /// `GET` → the profile's inventory as CSV; `POST` a CSV (`text/csv`, up to
    /// [`super::MAX_CSV_UPLOAD_BYTES`], query `mode=append|replace`) → [`super::ImportReport`].
    /// Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_BULK_DEVICES_CSV: &str = "/api/v1/admin/bulk/profiles/{id}/devices/csv";
    /// `POST` [`super::DeviceIdsRequest`] → [`super::AffectedResponse`]: delete devices. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_BULK_DEVICES_DELETE: &str = "/api/v1/admin/bulk/profiles/{id}/devices/delete";
    /// `POST` [`super::MoveDevicesRequest`] → [`super::AffectedResponse`]: move Samsung KME
    /// devices to another KME profile. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_BULK_DEVICES_MOVE: &str = "/api/v1/admin/bulk/profiles/{id}/devices/move";
    /// `POST` [`super::DeviceIdsRequest`] → [`super::AffectedResponse`]: send Samsung KME devices
    /// back to the default KME profile. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_BULK_DEVICES_UNASSIGN: &str = "/api/v1/admin/bulk/profiles/{id}/devices/unassign";
    /// `GET` → [`super::ProvisioningPayloads`]: the Android provisioning JSON and the Samsung KME
    /// DPC extras of the profile (they carry its token). Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_BULK_PROVISIONING: &str = "/api/v1/admin/bulk/profiles/{id}/provisioning";
    /// `GET` (`format=png|svg`, `scale`) → the profile's Android provisioning QR code. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_BULK_QR: &str = "/api/v1/admin/bulk/profiles/{id}/qr";
    /// `GET` (`format=png|svg`, `scale`) → QR code of the user's invitation URL
    /// (`{base}/go?user=<email>`). Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_INVITATION_QR: &str = "/api/v1/admin/users/{email}/invitation/qr";
    /// `GET` → [`super::KmeIntegrationView`]; `POST` [`super::KmeIntegrationRequest`] →
    /// [`super::KmeIntegrationView`]: turn the Samsung KME integration on. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_KME_INTEGRATION: &str = "/api/v1/admin/kme/integration";
    /// `GET` → `Vec<BulkDeviceView>`: Samsung KME uploads waiting for approval. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_KME_UPLOADS: &str = "/api/v1/admin/kme/uploads";
    /// `POST` a CSV → [`super::ImportReport`]: the reseller upload / Knox sync seam; `GET` → the
    /// devices waiting for approval as CSV. Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_KME_UPLOADS_CSV: &str = "/api/v1/admin/kme/uploads/csv";
    /// `POST` [`super::KmeApproveRequest`] → [`super::AffectedResponse`]: approve uploads (they
    /// land in the default KME profile). Admin.
    #[cfg(feature = "admin")]
    pub const ADMIN_KME_APPROVE: &str = "/api/v1/admin/kme/uploads/approve";

    /// `GET` → HTML page telling the user to open the invitation link on the device, in the app.
    /// Not under the API prefix: it is the URL of invitations (`{base}/go?user=<email>`).
    pub const GO: &str = "/go";
    /// `GET` → the DPC package (APK) the server was given (`enroll server run --dpc-apk`), the
    /// default download location of Android provisioning payloads; 404 when it has none. Public.
    pub const DPC_PACKAGE: &str = "/dpc/enroll-agent.apk";
    /// `GET` → the server's CA certificate (PEM, public). Not under the API prefix.
    pub const CA_PEM: &str = "/ca.pem";
    /// `GET`/`POST` SCEP (RFC 8894) of Apple devices: `?operation=GetCACaps`, `GetCACert`,
    /// `PKIOperation` (GET with `message=<base64>`, or POST `application/x-pki-message`). Not
    /// under the API prefix: it is the profile's SCEP `URL`.
    pub const SCEP: &str = "/scep";
    /// `PUT`/`POST` Apple MDM check-in (`application/x-apple-aspen-mdm-checkin`):
    /// `Authenticate`, `TokenUpdate`, `CheckOut`, signed in `Mdm-Signature`. The profile's
    /// `CheckInURL`.
    pub const MDM_CHECKIN: &str = "/mdm/checkin";
    /// `PUT`/`POST` Apple MDM command channel (`application/x-apple-aspen-mdm`): the device's
    /// reports, answered with the next command or an empty 200. The profile's `ServerURL`.
    pub const MDM_SERVER: &str = "/mdm/server";
}
