//! HTTP routes of the Windows domain.
//!
//! MS-MDE2 endpoints (outside `/api/v1`, as Windows expects them) answer SOAP 1.2
//! (`application/soap+xml`): discovery at `/EnrollmentServer/Discovery.svc` (GET 200 for the
//! reachability probe, POST) and at `POST /` (seed 001 puts a bare host in
//! DiscoveryServiceFullUrl), policy and enrollment; faults with HTTP 400 (sender) or 500
//! (receiver). OMA-DM at `/ManagementServer/MDM.svc` (`application/vnd.syncml.dm+xml`). The
//! admin API (JSON, bearer) and the device-side JSON of the simulated Entra tenant under
//! `/api/v1`.

use super::bulk::{AssignRequest, PackageRequest, QueueRequest, SignInRequest};
use super::enroll::SoapFault;
use super::entra::{BulkTokenRequest, ConnectTenant, RedeemRequest, TenantUser, AUTH_PATH};
use super::{WindowsService, DISCOVERY_PATH, ENROLLMENT_PATH, MANAGEMENT_PATH, POLICY_PATH};
use crate::http::{blocking, json, Admin, ApiJson, ApiResult, AppState, PathParam, PeerCert, Route};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use enroll_wmdm::soap::{self, MAX_SOAP_BYTES};
use enroll_wmdm::syncml;

/// Admin: the WCD project of a bulk user.
pub const ADMIN_PACKAGES: &str = "/api/v1/admin/windows/packages";
/// Admin: Windows devices.
pub const ADMIN_DEVICES: &str = "/api/v1/admin/windows/devices";
/// Admin: "Assign to user".
pub const ADMIN_ASSIGN: &str = "/api/v1/admin/windows/devices/{id}/assign";
/// Admin: queue an OMA-DM command.
pub const ADMIN_COMMANDS: &str = "/api/v1/admin/windows/devices/{id}/commands";
/// Admin: connect the simulated Entra tenant.
pub const ADMIN_ENTRA_TENANT: &str = "/api/v1/admin/windows/entra/tenant";
/// Admin: a tenant user.
pub const ADMIN_ENTRA_USERS: &str = "/api/v1/admin/windows/entra/users";
/// Admin: a bulk token.
pub const ADMIN_ENTRA_BULK_TOKEN: &str = "/api/v1/admin/windows/entra/bulk-token";
/// Admin: sync the tenant's users to the server.
pub const ADMIN_ENTRA_SYNC: &str = "/api/v1/admin/windows/entra/sync";
/// Admin: the tenant's device objects.
pub const ADMIN_ENTRA_DEVICES: &str = "/api/v1/admin/windows/entra/devices";
/// A sign-in on a Windows device (first sign-in password change).
pub const SIGN_IN: &str = "/api/v1/windows/sign-in";

/// The routes of this domain.
pub(crate) fn table() -> Vec<Route> {
    let soap_limit = || DefaultBodyLimit::max(MAX_SOAP_BYTES);
    vec![
        Route::new("GET", DISCOVERY_PATH, get(discovery_probe)),
        Route::new("POST", DISCOVERY_PATH, post(discover).layer(soap_limit())),
        Route::new("POST", "/", post(discover).layer(soap_limit())),
        Route::new("POST", POLICY_PATH, post(policy).layer(soap_limit())),
        Route::new("POST", ENROLLMENT_PATH, post(enroll).layer(soap_limit())),
        Route::new(
            "POST",
            MANAGEMENT_PATH,
            post(manage).layer(DefaultBodyLimit::max(syncml::MAX_MESSAGE_BYTES)),
        ),
        Route::new("POST", ADMIN_PACKAGES, post(package)),
        Route::new("GET", ADMIN_DEVICES, get(list)),
        Route::new("POST", ADMIN_ASSIGN, post(assign)),
        Route::new("POST", ADMIN_COMMANDS, post(queue)),
        Route::new("POST", ADMIN_ENTRA_TENANT, post(connect_tenant)),
        Route::new("POST", ADMIN_ENTRA_USERS, post(tenant_user)),
        Route::new("POST", ADMIN_ENTRA_BULK_TOKEN, post(bulk_token)),
        Route::new("POST", ADMIN_ENTRA_SYNC, post(sync)),
        Route::new("GET", ADMIN_ENTRA_DEVICES, get(entra_devices)),
        Route::new("POST", AUTH_PATH, post(redeem)),
        Route::new("POST", SIGN_IN, post(sign_in)),
    ]
}

fn soap_reply(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/soap+xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A SOAP operation: the reply envelope (and the request's MessageID), or a fault.
type SoapOp = fn(&WindowsService<'_>, &str) -> Result<(String, Option<String>), SoapFault>;

/// Runs a SOAP operation; a refusal becomes an MS-MDE2 fault envelope.
async fn soap_op(core: AppState, body: Bytes, reply_action: &'static str, op: SoapOp) -> Response {
    let text = match std::str::from_utf8(&body) {
        Ok(t) => t.to_owned(),
        Err(_) => {
            let f = soap::fault(
                reply_action,
                None,
                &crate::common::new_id(),
                soap::FaultKind::MessageFormat,
                "the request is not UTF-8",
            );
            return soap_reply(StatusCode::BAD_REQUEST, f);
        }
    };
    let relates = enroll_wmdm::soap::Envelope::parse(&text)
        .ok()
        .and_then(|e| e.message_id);
    // Through the server's turns for blocking work (`ServerConfig::blocking_limit`), as every
    // other route's store work.
    let result = crate::http::blocking(core, move |s| Ok(op(&WindowsService(s), &text))).await;
    match result {
        Ok(Ok((xml, _))) => soap_reply(StatusCode::OK, xml),
        Ok(Err(f)) => {
            tracing::info!(fault = f.kind.subcode(), reason = %f.reason, "MS-MDE2 fault");
            let status = if f.kind.is_sender() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            soap_reply(
                status,
                soap::fault(
                    reply_action,
                    relates.as_deref(),
                    &crate::common::new_id(),
                    f.kind,
                    &f.reason,
                ),
            )
        }
        Err(e) => {
            tracing::error!(error = ?e.info.code, "SOAP task failed");
            soap_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                soap::fault(
                    reply_action,
                    relates.as_deref(),
                    "0",
                    soap::FaultKind::InternalServiceFault,
                    "internal error",
                ),
            )
        }
    }
}

async fn discovery_probe() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "").into_response()
}

async fn discover(State(core): State<AppState>, body: Bytes) -> Response {
    soap_op(core, body, enroll_wmdm::mde2::ACTION_DISCOVER_RESPONSE, |s, t| {
        s.discover(t)
    })
    .await
}

async fn policy(State(core): State<AppState>, body: Bytes) -> Response {
    soap_op(
        core,
        body,
        enroll_wmdm::mde2::ACTION_GET_POLICIES_RESPONSE,
        |s, t| s.policy(t),
    )
    .await
}

async fn enroll(State(core): State<AppState>, body: Bytes) -> Response {
    soap_op(core, body, enroll_wmdm::mde2::ACTION_RSTRC, |s, t| s.enroll(t)).await
}

async fn manage(State(core): State<AppState>, cert: Option<Extension<PeerCert>>, body: Bytes) -> ApiResult {
    let cert = cert.and_then(|Extension(PeerCert(c))| c);
    let reply = blocking(core, move |s| {
        WindowsService(s).manage(cert.as_deref().map(Vec::as_slice), &body)
    })
    .await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, syncml::CONTENT_TYPE)],
        reply,
    )
        .into_response())
}

async fn package(_: Admin, State(core): State<AppState>, ApiJson(req): ApiJson<PackageRequest>) -> ApiResult {
    let v = blocking(core, move |s| WindowsService(s).package(&req)).await?;
    Ok(json(StatusCode::OK, &v))
}

async fn list(_: Admin, State(core): State<AppState>) -> ApiResult {
    let v = blocking(core, |s| WindowsService(s).list()).await?;
    Ok(json(StatusCode::OK, &v))
}

async fn assign(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<AssignRequest>,
) -> ApiResult {
    let v = blocking(core, move |s| WindowsService(s).assign(&id, &req)).await?;
    Ok(json(StatusCode::OK, &v))
}

async fn queue(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<QueueRequest>,
) -> ApiResult {
    let v = blocking(core, move |s| WindowsService(s).queue(&id, &req)).await?;
    Ok(json(StatusCode::ACCEPTED, &v))
}

async fn connect_tenant(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<ConnectTenant>,
) -> ApiResult {
    let v = blocking(core, move |s| WindowsService(s).connect_tenant(&req)).await?;
    Ok(json(StatusCode::CREATED, &v))
}

async fn tenant_user(_: Admin, State(core): State<AppState>, ApiJson(req): ApiJson<TenantUser>) -> ApiResult {
    let v = blocking(core, move |s| WindowsService(s).tenant_user(&req)).await?;
    Ok(json(StatusCode::OK, &v))
}

async fn bulk_token(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<BulkTokenRequest>,
) -> ApiResult {
    let v = blocking(core, move |s| WindowsService(s).bulk_token(&req)).await?;
    Ok(json(StatusCode::CREATED, &v))
}

async fn sync(_: Admin, State(core): State<AppState>) -> ApiResult {
    let v = blocking(core, |s| WindowsService(s).sync()).await?;
    Ok(json(StatusCode::OK, &v))
}

async fn entra_devices(_: Admin, State(core): State<AppState>) -> ApiResult {
    let v = blocking(core, |s| WindowsService(s).entra_devices()).await?;
    Ok(json(StatusCode::OK, &v))
}

async fn redeem(State(core): State<AppState>, ApiJson(req): ApiJson<RedeemRequest>) -> ApiResult {
    let v = blocking(core, move |s| WindowsService(s).redeem(&req)).await?;
    Ok(json(StatusCode::OK, &v))
}

async fn sign_in(State(core): State<AppState>, ApiJson(req): ApiJson<SignInRequest>) -> ApiResult {
    let v = blocking(core, move |s| WindowsService(s).sign_in(&req)).await?;
    Ok(json(StatusCode::OK, &v))
}
