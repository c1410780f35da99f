//! Seed 002's Entra ID side, simulated: there is no Microsoft cloud here, so this module plays
//! the tenant. It is off until an administrator connects a tenant, and it is the seam where a
//! real tenant goes (Microsoft Graph for users and device objects, the tenant's token-signing
//! keys from its OpenID configuration instead of [`TenantRow::key_pkcs8`]).
//!
//! - connecting a tenant makes its domain Federated at discovery;
//! - a bulk token (lifetime at most 180 days) creates the `package_<guid>@<domain>` user; it is
//!   refused when the requesting administrator has MFA on;
//! - redeeming it (what Windows does while installing the package) joins the device (an Entra
//!   device object owned by the package user, one per device) and returns an access token, a
//!   JWT signed RS256 by the tenant; it fails when the package user has MFA;
//! - the enrollment accepts that token only for a user synced to the server ([`sync`]).

use super::enroll::{fault, SoapFault};
use super::queries::{self, TenantRow};
use super::WindowsService;
use crate::crypto;
use crate::error::ApiError;
use crate::users::{self, UserRow};
use base64::Engine as _;
use enroll_mdm::key::{DigestAlgorithm, RsaBits, RsaPrivateKey};
use enroll_proto::ErrorCode;
use enroll_wmdm::soap::FaultKind;
use serde::{Deserialize, Serialize};

/// Where a device redeems its bulk token (the `AuthenticationServiceUrl` of discovery).
pub const AUTH_PATH: &str = "/api/v1/windows/entra/token";
/// The audience of access tokens for this MDM.
pub const AUDIENCE: &str = "urn:enroll:windows-mdm";
/// Longest bulk token lifetime, days (Windows Configuration Designer's limit).
pub const MAX_BULK_TOKEN_DAYS: i64 = 180;
/// Lifetime of an access token, seconds.
pub const ACCESS_TOKEN_SECS: i64 = 3600;
/// Longest access token accepted.
const MAX_JWT_BYTES: usize = 16 * 1024;

fn b64u(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64u_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .ok()
}

/// The claims of an access token this server accepts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// Issuer: `https://sts.entra.sim/<tenant id>/`.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Tenant id.
    pub tid: String,
    /// The user principal name.
    pub upn: String,
    /// The Entra device object (device enrollments).
    #[serde(default, rename = "deviceid", skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
}

/// What verification hands back.
pub(super) struct VerifiedClaims {
    pub(super) upn: String,
    pub(super) device_id: Option<String>,
}

/// `POST /api/v1/admin/windows/entra/tenant`.
#[derive(Debug, Deserialize)]
pub struct ConnectTenant {
    /// Primary domain, e.g. `contoso.onmicrosoft.com`.
    pub domain: String,
}

/// `POST /api/v1/admin/windows/entra/users`: a tenant user (the simulated Entra directory).
#[derive(Debug, Deserialize)]
pub struct TenantUser {
    /// UPN in the tenant's domain.
    pub upn: String,
    /// Multi-factor authentication on.
    #[serde(default)]
    pub mfa: bool,
}

/// `POST /api/v1/admin/windows/entra/bulk-token`.
#[derive(Debug, Deserialize)]
pub struct BulkTokenRequest {
    /// The Entra administrator who asks (Windows Configuration Designer's sign-in).
    pub admin_upn: String,
    /// Lifetime, days (1 to 180).
    pub expires_in_days: i64,
}

/// `POST /api/v1/windows/entra/token`: what a device sends while installing the package.
#[derive(Deserialize)]
pub struct RedeemRequest {
    /// The bulk token of the package (secret).
    pub bulk_token: enroll_proto::secret::SecretString,
    /// The device's hardware id (one device object per device).
    pub device_key: String,
    /// The device name.
    #[serde(default)]
    pub device_name: String,
}

fn forbidden(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, msg).with_status(axum::http::StatusCode::FORBIDDEN)
}

impl WindowsService<'_> {
    fn tenant_of(&self, c: &rusqlite::Connection, upn: &str) -> Result<TenantRow, ApiError> {
        let domain = upn.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        queries::tenant_by_domain(c, domain)?.ok_or_else(|| {
            ApiError::bad_request(format!(
                "no Entra tenant is connected for the domain of {upn}: connect it first (enroll server windows entra connect)"
            ))
        })
    }

    /// Connects a (simulated) tenant.
    pub(crate) fn connect_tenant(&self, req: &ConnectTenant) -> Result<serde_json::Value, ApiError> {
        let domain = req.domain.trim().to_lowercase();
        if domain.is_empty() || domain.len() > 253 || !domain.contains('.') || domain.contains('@') {
            return Err(ApiError::bad_request(
                "domain must be a DNS name such as contoso.onmicrosoft.com",
            ));
        }
        let key = RsaPrivateKey::generate(RsaBits::Rsa2048).map_err(|e| ApiError::internal(&e))?;
        let tenant = TenantRow {
            id: crate::common::new_id(),
            domain: domain.clone(),
            key_pkcs8: key.to_pkcs8_der().map_err(|e| ApiError::internal(&e))?,
        };
        let store = self.lock()?;
        if queries::tenant_by_domain(store.conn(), &domain)?.is_some() {
            return Err(ApiError::bad_request("this tenant is already connected")
                .with_status(axum::http::StatusCode::CONFLICT));
        }
        queries::insert_tenant(store.conn(), &tenant, self.now())?;
        tracing::info!(tenant_id = %tenant.id, %domain, "Entra tenant connected (simulated)");
        Ok(serde_json::json!({ "tenant_id": tenant.id, "domain": domain, "simulated": true }))
    }

    /// Adds (or updates the MFA of) a tenant user.
    pub(crate) fn tenant_user(&self, req: &TenantUser) -> Result<serde_json::Value, ApiError> {
        crate::common::validate_email(&req.upn)?;
        let store = self.lock()?;
        let tenant = self.tenant_of(store.conn(), &req.upn)?;
        let package = queries::entra_user(store.conn(), &req.upn)?.is_some_and(|u| u.3);
        queries::upsert_entra_user(store.conn(), &req.upn, &tenant.id, req.mfa, package, self.now())?;
        Ok(serde_json::json!({ "upn": req.upn, "mfa": req.mfa, "package": package }))
    }

    /// The bulk token: creates the package user; refused if the requesting admin has MFA.
    pub(crate) fn bulk_token(&self, req: &BulkTokenRequest) -> Result<serde_json::Value, ApiError> {
        if !(1..=MAX_BULK_TOKEN_DAYS).contains(&req.expires_in_days) {
            return Err(ApiError::bad_request(format!(
                "a bulk token lives 1 to {MAX_BULK_TOKEN_DAYS} days"
            )));
        }
        let store = self.lock()?;
        let c = store.conn();
        let tenant = self.tenant_of(c, &req.admin_upn)?;
        let admin = queries::entra_user(c, &req.admin_upn)?
            .ok_or_else(|| forbidden(format!("{} is not a user of the tenant", req.admin_upn)))?;
        if admin.2 {
            return Err(forbidden(format!(
                "{} has multi-factor authentication on: the account that requests a bulk token must not have MFA (seed 002); use another administrator or turn MFA off for it",
                req.admin_upn
            )));
        }
        let now = self.now();
        let package_upn = format!("package_{}@{}", uuid::Uuid::new_v4(), tenant.domain);
        queries::upsert_entra_user(c, &package_upn, &tenant.id, false, true, now)?;
        let token = format!("ebt_{}", crypto::random_b64(32)?);
        let expires_at = now + req.expires_in_days * 86_400;
        queries::insert_bulk_token(
            c,
            &crypto::sha256(token.as_bytes()),
            &package_upn,
            expires_at,
            now,
        )?;
        tracing::info!(%package_upn, "Entra bulk token created (simulated)");
        Ok(serde_json::json!({ "token": token, "package_upn": package_upn, "expires_at": expires_at }))
    }

    /// Creates the server users of every tenant user not on the server yet.
    pub(crate) fn sync(&self) -> Result<serde_json::Value, ApiError> {
        let store = self.lock()?;
        let c = store.conn();
        let mut created = Vec::new();
        let tenants: Vec<String> = {
            let mut st = c.prepare("SELECT id FROM entra_tenants")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for t in tenants {
            for (upn, ..) in queries::entra_users(c, &t)? {
                if users::user_by_email(c, &upn)?.is_none() {
                    users::insert_user(
                        c,
                        &UserRow {
                            id: crate::common::new_id(),
                            email: upn.clone(),
                            display_name: String::new(),
                            directory: false,
                            password_hash: None,
                            created_at: self.now(),
                        },
                    )?;
                    created.push(upn);
                }
            }
        }
        Ok(serde_json::json!({ "created": created }))
    }

    /// Device objects of the tenants (id, owner, name).
    pub(crate) fn entra_devices(&self) -> Result<serde_json::Value, ApiError> {
        let list = queries::entra_devices(self.lock()?.conn())?;
        Ok(serde_json::Value::Array(
            list.into_iter()
                .map(
                    |(id, owner, name)| serde_json::json!({ "id": id, "owner": owner, "display_name": name }),
                )
                .collect(),
        ))
    }

    /// Redeems a bulk token: joins the device and returns an access token for it.
    pub(crate) fn redeem(&self, req: &RedeemRequest) -> Result<serde_json::Value, ApiError> {
        let key = req.device_key.trim();
        if key.is_empty() || key.len() > 128 {
            return Err(ApiError::bad_request("device_key must be 1 to 128 characters"));
        }
        let invalid = || {
            ApiError::new(
                ErrorCode::InvalidToken,
                "AADSTS70000: the bulk token is not valid",
            )
        };
        let now = self.now();
        let store = self.lock()?;
        let c = store.conn();
        let (package_upn, expires_at) =
            queries::bulk_token(c, &crypto::sha256(req.bulk_token.expose().as_bytes()))?
                .ok_or_else(invalid)?;
        if now >= expires_at {
            return Err(ApiError::new(
                ErrorCode::TokenExpired,
                "AADSTS700082: the bulk token expired: make a new package",
            ));
        }
        let (_, tenant_id, mfa, _) = queries::entra_user(c, &package_upn)?.ok_or_else(invalid)?;
        if mfa {
            return Err(forbidden(format!(
                "AADSTS50076: {package_upn} has multi-factor authentication on; the package user must not have MFA (seed 002)"
            )));
        }
        let tenant = queries::tenant_by_id(c, &tenant_id)?.ok_or_else(invalid)?;
        let digest = crypto::sha256(format!("{}\n{key}", tenant.id).as_bytes());
        let device_id = uuid::Builder::from_random_bytes(digest[..16].try_into().map_err(|_| invalid())?)
            .into_uuid()
            .to_string();
        if queries::entra_device(c, &device_id)?.is_none() {
            let name = if req.device_name.is_empty() {
                key
            } else {
                req.device_name.as_str()
            };
            queries::insert_entra_device(c, &device_id, &tenant.id, &package_upn, name, now)?;
        }
        let claims = AccessClaims {
            iss: format!("https://sts.entra.sim/{}/", tenant.id),
            aud: AUDIENCE.into(),
            tid: tenant.id.clone(),
            upn: package_upn,
            device_id: Some(device_id.clone()),
            iat: now,
            nbf: now - 60,
            exp: now + ACCESS_TOKEN_SECS,
        };
        let token = sign_jwt(&tenant, &claims)?;
        Ok(
            serde_json::json!({ "access_token": token, "device_id": device_id, "expires_in": ACCESS_TOKEN_SECS }),
        )
    }

    /// Verifies an access token: RS256 by a connected tenant's key, audience, issuer, times.
    pub(super) fn verify_access_token(&self, token: &str) -> Result<VerifiedClaims, SoapFault> {
        let bad = |why: &str| {
            fault(
                FaultKind::Authentication,
                format!("the Entra token is refused: {why}"),
            )
        };
        if token.len() > MAX_JWT_BYTES {
            return Err(bad("too large"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("not a JWT"));
        };
        let header: serde_json::Value =
            serde_json::from_slice(&b64u_decode(h).ok_or_else(|| bad("bad header"))?)
                .map_err(|_| bad("bad header"))?;
        if header["alg"] != "RS256" {
            return Err(bad("only RS256 tokens are accepted"));
        }
        let claims: AccessClaims = serde_json::from_slice(&b64u_decode(p).ok_or_else(|| bad("bad claims"))?)
            .map_err(|_| bad("bad claims"))?;
        let sig = b64u_decode(s).ok_or_else(|| bad("bad signature"))?;
        let tenant = queries::tenant_by_id(self.lock()?.conn(), &claims.tid)?
            .ok_or_else(|| bad("its tenant is not connected"))?;
        let key = RsaPrivateKey::from_pkcs8_der(&tenant.key_pkcs8)
            .map_err(|e| SoapFault::from(ApiError::internal(&e)))?;
        let public = key
            .public_key()
            .map_err(|e| SoapFault::from(ApiError::internal(&e)))?;
        public
            .verify(DigestAlgorithm::Sha256, format!("{h}.{p}").as_bytes(), &sig)
            .map_err(|_| bad("wrong signature"))?;
        let now = self.now();
        if claims.aud != AUDIENCE || claims.iss != format!("https://sts.entra.sim/{}/", tenant.id) {
            return Err(bad("wrong audience or issuer"));
        }
        if now >= claims.exp {
            return Err(bad("expired"));
        }
        if now < claims.nbf {
            return Err(bad("not valid yet"));
        }
        Ok(VerifiedClaims {
            upn: claims.upn,
            device_id: claims.device_id,
        })
    }
}

/// Signs claims with the tenant's key (RS256).
pub(super) fn sign_jwt(tenant: &TenantRow, claims: &AccessClaims) -> Result<String, ApiError> {
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": tenant.id });
    let body = serde_json::to_vec(claims).map_err(|e| ApiError::internal(&e))?;
    let input = format!("{}.{}", b64u(header.to_string().as_bytes()), b64u(&body));
    let key = RsaPrivateKey::from_pkcs8_der(&tenant.key_pkcs8).map_err(|e| ApiError::internal(&e))?;
    let sig = key
        .sign(DigestAlgorithm::Sha256, input.as_bytes())
        .map_err(|e| ApiError::internal(&e))?;
    Ok(format!("{input}.{}", b64u(&sig)))
}
