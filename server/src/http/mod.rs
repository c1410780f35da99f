//! HTTP layer: the route table, handlers, extractors that answer JSON errors, and the
//! middleware that stamps every reply.
//!
//! Handlers only parse and answer; rules live in `service`. Blocking work (SQLite, argon2,
//! signing) runs on tokio's blocking pool.

pub(crate) mod serve;

use crate::error::ApiError;
use crate::service::Core;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, MethodRouter};
use axum::Router;
use enroll_core::protocol::{
    routes, AckRequest, AddBulkDevicesRequest, BulkTokenRequest, CancelRequest, CheckinRequest,
    ConfirmRequest, CreateBulkProfileRequest, CreateTokenRequest, CreateUserRequest, DeviceAction,
    DeviceIdsRequest, EditBulkDevicesRequest, EnrollRequest, ErrorCode, InviteRequest, KmeApproveRequest,
    KmeIntegrationRequest, MoveDevicesRequest, ReenrollRequest, UpdateBulkProfileRequest, IDEMPOTENCY_HEADER,
    JSON_CONTENT_TYPE, MAX_BODY_BYTES, MAX_CSV_UPLOAD_BYTES, PROFILE_CONTENT_TYPE, PROFILE_EXPIRES_HEADER,
    PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

type AppState = Arc<Core>;

/// Every route the server answers, as (HTTP method, path template). The router is built from
/// this table and `docs/openapi.json` must list exactly the same pairs (a test checks both).
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GET", routes::INFO),
        ("POST", routes::ENROLLMENTS),
        ("GET", routes::ENROLLMENT_PROFILE),
        ("POST", routes::ENROLLMENT_CANCEL),
        ("POST", routes::ENROLLMENT_CONFIRM),
        ("POST", routes::DEVICE_CHECKIN),
        ("POST", routes::DEVICE_ACK),
        ("POST", routes::DEVICE_REENROLL),
        ("POST", routes::ADMIN_USERS),
        ("GET", routes::ADMIN_USERS),
        ("POST", routes::ADMIN_INVITATIONS),
        ("POST", routes::ADMIN_TOKENS),
        ("GET", routes::ADMIN_DEVICES),
        ("GET", routes::ADMIN_DEVICE),
        ("POST", routes::ADMIN_DEVICE_RETIRE),
        ("POST", routes::ADMIN_DEVICE_WIPE),
        ("POST", routes::ADMIN_DEVICE_RESET),
        ("GET", routes::ADMIN_PENDING),
        ("GET", routes::ADMIN_BULK_TEMPLATE),
        ("GET", routes::ADMIN_BULK_PROFILES),
        ("POST", routes::ADMIN_BULK_PROFILES),
        ("GET", routes::ADMIN_BULK_PROFILE),
        ("PATCH", routes::ADMIN_BULK_PROFILE),
        ("DELETE", routes::ADMIN_BULK_PROFILE),
        ("POST", routes::ADMIN_BULK_TOKEN),
        ("GET", routes::ADMIN_BULK_DEVICES),
        ("POST", routes::ADMIN_BULK_DEVICES),
        ("PATCH", routes::ADMIN_BULK_DEVICES),
        ("GET", routes::ADMIN_BULK_DEVICES_CSV),
        ("POST", routes::ADMIN_BULK_DEVICES_CSV),
        ("POST", routes::ADMIN_BULK_DEVICES_DELETE),
        ("POST", routes::ADMIN_BULK_DEVICES_MOVE),
        ("POST", routes::ADMIN_BULK_DEVICES_UNASSIGN),
        ("GET", routes::ADMIN_BULK_PROVISIONING),
        ("GET", routes::ADMIN_BULK_QR),
        ("GET", routes::ADMIN_INVITATION_QR),
        ("GET", routes::ADMIN_KME_INTEGRATION),
        ("POST", routes::ADMIN_KME_INTEGRATION),
        ("GET", routes::ADMIN_KME_UPLOADS),
        ("GET", routes::ADMIN_KME_UPLOADS_CSV),
        ("POST", routes::ADMIN_KME_UPLOADS_CSV),
        ("POST", routes::ADMIN_KME_APPROVE),
        ("GET", routes::GO),
        ("GET", routes::CA_PEM),
    ]
}

/// The handler of one (method, path) of [`route_table`].
fn method_router(method: &str, path: &str) -> Option<MethodRouter<AppState>> {
    let r = match (method, path) {
        ("GET", routes::INFO) => get(info),
        ("POST", routes::ENROLLMENTS) => post(enroll),
        ("GET", routes::ENROLLMENT_PROFILE) => get(profile),
        ("POST", routes::ENROLLMENT_CANCEL) => post(cancel),
        ("POST", routes::ENROLLMENT_CONFIRM) => post(confirm),
        ("POST", routes::DEVICE_CHECKIN) => post(checkin),
        ("POST", routes::DEVICE_ACK) => post(ack),
        ("POST", routes::DEVICE_REENROLL) => post(reenroll),
        ("POST", routes::ADMIN_USERS) => post(create_user),
        ("GET", routes::ADMIN_USERS) => get(list_users),
        ("POST", routes::ADMIN_INVITATIONS) => post(invite),
        ("POST", routes::ADMIN_TOKENS) => post(create_token),
        ("GET", routes::ADMIN_DEVICES) => get(list_devices),
        ("GET", routes::ADMIN_DEVICE) => get(device_detail),
        ("POST", routes::ADMIN_DEVICE_RETIRE) => post(retire),
        ("POST", routes::ADMIN_DEVICE_WIPE) => post(wipe),
        ("POST", routes::ADMIN_DEVICE_RESET) => post(reset),
        ("GET", routes::ADMIN_PENDING) => get(pending),
        ("GET", routes::ADMIN_BULK_TEMPLATE) => get(bulk_template),
        ("GET", routes::ADMIN_BULK_PROFILES) => get(list_bulk_profiles),
        ("POST", routes::ADMIN_BULK_PROFILES) => post(create_bulk_profile),
        ("GET", routes::ADMIN_BULK_PROFILE) => get(bulk_profile),
        ("PATCH", routes::ADMIN_BULK_PROFILE) => patch(update_bulk_profile),
        ("DELETE", routes::ADMIN_BULK_PROFILE) => delete(delete_bulk_profile),
        ("POST", routes::ADMIN_BULK_TOKEN) => post(bulk_token),
        ("GET", routes::ADMIN_BULK_DEVICES) => get(list_bulk_devices),
        ("POST", routes::ADMIN_BULK_DEVICES) => post(add_bulk_devices),
        ("PATCH", routes::ADMIN_BULK_DEVICES) => patch(edit_bulk_devices),
        ("GET", routes::ADMIN_BULK_DEVICES_CSV) => get(export_bulk_csv),
        ("POST", routes::ADMIN_BULK_DEVICES_CSV) => post(import_bulk_csv),
        ("POST", routes::ADMIN_BULK_DEVICES_DELETE) => post(delete_bulk_devices),
        ("POST", routes::ADMIN_BULK_DEVICES_MOVE) => post(move_bulk_devices),
        ("POST", routes::ADMIN_BULK_DEVICES_UNASSIGN) => post(unassign_bulk_devices),
        ("GET", routes::ADMIN_BULK_PROVISIONING) => get(bulk_provisioning),
        ("GET", routes::ADMIN_BULK_QR) => get(bulk_qr),
        ("GET", routes::ADMIN_INVITATION_QR) => get(invitation_qr),
        ("GET", routes::ADMIN_KME_INTEGRATION) => get(kme_integration),
        ("POST", routes::ADMIN_KME_INTEGRATION) => post(enable_kme),
        ("GET", routes::ADMIN_KME_UPLOADS) => get(kme_uploads),
        ("GET", routes::ADMIN_KME_UPLOADS_CSV) => get(export_kme_csv),
        ("POST", routes::ADMIN_KME_UPLOADS_CSV) => post(import_kme_csv),
        ("POST", routes::ADMIN_KME_APPROVE) => post(kme_approve),
        ("GET", routes::GO) => get(go_page),
        ("GET", routes::CA_PEM) => get(ca_pem),
        _ => return None,
    };
    Some(r)
}

/// Builds the application router over the shared state.
pub(crate) fn router(core: AppState) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for (method, path) in route_table() {
        match method_router(method, path) {
            Some(mr) => {
                let merged = match by_path.remove(path) {
                    Some(existing) => existing.merge(mr),
                    None => mr,
                };
                by_path.insert(path, merged);
            }
            None => tracing::error!(method, path, "route without handler"),
        }
    }
    let mut router = Router::new();
    for (path, mr) in by_path {
        router = router.route(path, mr);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log_request))
        .layer(middleware::map_response(stamp))
        .with_state(core)
}

// ---------------------------------------------------------------------------------------------
// middleware and fallbacks

async fn stamp(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    resp
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    // The route template, never the concrete path or query (they may carry identifiers).
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        %method,
        route = route.as_deref().unwrap_or("<unmatched>"),
        status = resp.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::bad_request("method not allowed on this route").with_status(StatusCode::METHOD_NOT_ALLOWED)
}

// ---------------------------------------------------------------------------------------------
// extractors

/// A JSON body, limited to `MAX_BODY_BYTES`; every failure is a JSON error (`payload_too_large`
/// or `bad_request`), never a plain-text rejection.
pub struct ApiJson<T>(pub T);

fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = e.source();
    }
    false
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|e| {
                let inner = e.into_inner();
                if is_length_limit(inner.as_ref()) {
                    too_large()
                } else {
                    ApiError::bad_request("could not read the request body")
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("a JSON body is required"));
        }
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            // serde's messages can quote input values (maybe secrets): keep only safe parts.
            let msg = e.to_string();
            let detail = if msg.starts_with("missing field") || msg.starts_with("unknown field") {
                msg.split(" at line").next().unwrap_or("invalid JSON").to_string()
            } else {
                match e.classify() {
                    serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                        "malformed JSON".into()
                    }
                    _ => "JSON does not match the expected shape".into(),
                }
            };
            ApiError::bad_request(format!("{detail} (line {}, column {})", e.line(), e.column()))
        })
    }
}

/// The single `{id}` / `{email}` path parameter, percent-decoded.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathParam(p.0))
            .map_err(|_| ApiError::bad_request("invalid path parameter"))
    }
}

/// Proof that the request carries the admin token (`Authorization: Bearer <admin token>`).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.admin_ok(bearer(&parts.headers).as_deref()) {
            Ok(Admin)
        } else {
            Err(ApiError::new(ErrorCode::Unauthorized, "admin token required"))
        }
    }
}

/// The `Authorization: Bearer` value, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let token = rest.trim();
        (!token.is_empty()).then(|| token.to_string())
    } else {
        None
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let v = headers
        .get(IDEMPOTENCY_HEADER)
        .ok_or_else(|| ApiError::bad_request("the idempotency-key header is required"))?;
    let key = v
        .to_str()
        .map_err(|_| ApiError::bad_request("invalid idempotency-key"))?
        .to_string();
    crate::service::validate_idempotency_key(&key)?;
    Ok(key)
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut resp = (status, bytes).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
            resp
        }
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

async fn blocking<T, F>(core: AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Core) -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&core))
        .await
        .map_err(|e| ApiError::internal(&e))?
}

type ApiResult = Result<Response, ApiError>;

// ---------------------------------------------------------------------------------------------
// public and device handlers

async fn info(State(core): State<AppState>) -> Response {
    json(StatusCode::OK, &core.info())
}

async fn enroll(
    State(core): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> ApiResult {
    let key = idempotency_key(&headers)?;
    let (resp, created) = blocking(core, move |c| c.enroll(&key, &req)).await?;
    Ok(json(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &resp,
    ))
}

async fn reenroll(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ReenrollRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let key = idempotency_key(&headers)?;
    let (resp, created) = blocking(core, move |c| c.reenroll(&id, Some(&bearer), &key, &req)).await?;
    Ok(json(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &resp,
    ))
}

async fn profile(State(core): State<AppState>, PathParam(id): PathParam, headers: HeaderMap) -> ApiResult {
    let bearer = bearer(&headers);
    let (der, expires_at) = blocking(core, move |c| c.issue_profile(&id, bearer.as_deref())).await?;
    let mut resp = (StatusCode::OK, der).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROFILE_CONTENT_TYPE),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"enroll.mobileconfig\""),
    );
    h.insert(PROFILE_EXPIRES_HEADER, HeaderValue::from(expires_at));
    Ok(resp)
}

async fn confirm(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let resp = blocking(core, move |c| c.confirm(&id, Some(&bearer), &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn cancel(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CancelRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let resp = blocking(core, move |c| c.cancel(&id, Some(&bearer), &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn checkin(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CheckinRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let resp = blocking(core, move |c| c.checkin(&id, Some(&bearer), &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn ack(
    State(core): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AckRequest>,
) -> ApiResult {
    let bearer = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let resp = blocking(core, move |c| c.ack(&id, Some(&bearer), &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

const GO_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Enroll your device</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 2em auto; padding: 0 1em">
<h1>Enroll your device</h1>
<p>Open this link <strong>on the device you want to enroll</strong>, in the enrollment app.
If you received it on a computer, type the address into the browser of your phone or tablet.</p>
<p>Sign in with your e-mail address and the one-time PIN or the password from your invitation
(directory accounts use their network credentials). The app then downloads a management profile:
install it within a few minutes, before it expires.</p>
<p lang="fr">Ouvrez ce lien <strong>sur l'appareil à inscrire</strong>, dans l'application d'inscription,
puis installez le profil de gestion dans les minutes qui suivent.</p>
</body></html>
"#;

async fn go_page() -> Response {
    let mut resp = (StatusCode::OK, GO_PAGE).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    resp
}

async fn ca_pem(State(core): State<AppState>) -> Response {
    let mut resp = (StatusCode::OK, core.pki.ca_pem().to_owned()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    resp
}

// ---------------------------------------------------------------------------------------------
// admin handlers

async fn create_user(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult {
    let user = blocking(core, move |c| c.create_user(&req)).await?;
    Ok(json(StatusCode::CREATED, &user))
}

async fn list_users(_: Admin, State(core): State<AppState>) -> ApiResult {
    let users = blocking(core, |c| c.list_users()).await?;
    Ok(json(StatusCode::OK, &users))
}

async fn invite(
    _: Admin,
    State(core): State<AppState>,
    PathParam(email): PathParam,
    ApiJson(req): ApiJson<InviteRequest>,
) -> ApiResult {
    let resp = blocking(core, move |c| c.invite(&email, &req)).await?;
    Ok(json(StatusCode::CREATED, &resp))
}

async fn create_token(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> ApiResult {
    let resp = blocking(core, move |c| c.create_token(&req)).await?;
    Ok(json(StatusCode::CREATED, &resp))
}

/// Reads `include_archived` from the query string (`true`/`1`/`false`/`0`).
fn include_archived(uri: &axum::http::Uri) -> Result<bool, ApiError> {
    let mut value = false;
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if k == "include_archived" {
            value = match v.as_ref() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(ApiError::bad_request("include_archived must be true or false")),
            };
        }
    }
    Ok(value)
}

async fn list_devices(_: Admin, State(core): State<AppState>, uri: axum::http::Uri) -> ApiResult {
    let archived = include_archived(&uri)?;
    let devices = blocking(core, move |c| c.list_devices(archived)).await?;
    Ok(json(StatusCode::OK, &devices))
}

async fn device_detail(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let detail = blocking(core, move |c| c.device_detail(&id)).await?;
    Ok(json(StatusCode::OK, &detail))
}

async fn action(core: AppState, id: String, action: DeviceAction) -> ApiResult {
    let view = blocking(core, move |c| c.device_action(&id, action)).await?;
    Ok(json(StatusCode::OK, &view))
}

async fn retire(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    action(core, id, DeviceAction::Retire).await
}

async fn wipe(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    action(core, id, DeviceAction::Wipe).await
}

async fn reset(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    action(core, id, DeviceAction::Reset).await
}

async fn pending(_: Admin, State(core): State<AppState>) -> ApiResult {
    let list = blocking(core, |c| c.pending_installs()).await?;
    Ok(json(StatusCode::OK, &list))
}

/// Methods used in [`route_table`], for tests that walk it.
pub fn parse_method(m: &str) -> Option<Method> {
    match m {
        "GET" => Some(Method::GET),
        "POST" => Some(Method::POST),
        "PATCH" => Some(Method::PATCH),
        "DELETE" => Some(Method::DELETE),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// bulk enrollment and Samsung KME

/// A CSV request body spooled to a private file of the data directory (deleted on drop), at
/// most [`MAX_CSV_UPLOAD_BYTES`]. Streamed: never held in memory. Only the CSV upload routes
/// take it; every other route keeps the 64 KiB JSON limit.
pub struct CsvUpload {
    path: std::path::PathBuf,
}

impl Drop for CsvUpload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn csv_too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the CSV file is larger than {MAX_CSV_UPLOAD_BYTES} bytes"),
    )
}

impl FromRequest<AppState> for CsvUpload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        use http_body_util::BodyExt as _;
        use tokio::io::AsyncWriteExt as _;
        let mime = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !matches!(mime.as_str(), "text/csv" | "application/csv" | "text/plain") {
            return Err(ApiError::bad_request(
                "the body must be a CSV file (content-type: text/csv)",
            ));
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_CSV_UPLOAD_BYTES) {
            return Err(csv_too_large());
        }
        let upload = CsvUpload {
            path: state.upload_dir.join(format!("{}.csv", uuid::Uuid::new_v4())),
        };
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options
            .open(&upload.path)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let mut body = req.into_body();
        let mut total: u64 = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ApiError::bad_request("could not read the request body"))?;
            if let Ok(data) = frame.into_data() {
                total += data.len() as u64;
                if total > MAX_CSV_UPLOAD_BYTES {
                    return Err(csv_too_large());
                }
                file.write_all(&data).await.map_err(|e| ApiError::internal(&e))?;
            }
        }
        file.flush().await.map_err(|e| ApiError::internal(&e))?;
        Ok(upload)
    }
}

/// Query parameters of the bulk routes; unknown names are refused.
fn query(uri: &axum::http::Uri, allowed: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(ApiError::bad_request("unknown query parameter"));
        }
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(ApiError::bad_request("repeated query parameter"));
        }
    }
    Ok(out)
}

fn number(q: &BTreeMap<String, String>, name: &str, default: u64, max: u64) -> Result<u64, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be an integer from 0 to {max}"))),
    }
}

fn page(uri: &axum::http::Uri) -> Result<(u64, u64), ApiError> {
    let q = query(uri, &["offset", "limit"])?;
    let (default, max) = crate::bulk_service::DEVICE_PAGE;
    Ok((
        number(&q, "offset", 0, u64::from(u32::MAX))?,
        number(&q, "limit", default, max)?.max(1),
    ))
}

fn image_params(uri: &axum::http::Uri) -> Result<(crate::qr::ImageFormat, u32), ApiError> {
    let q = query(uri, &["format", "scale"])?;
    let format = match q.get("format") {
        None => crate::qr::ImageFormat::Png,
        Some(f) => crate::qr::ImageFormat::parse(f)
            .ok_or_else(|| ApiError::bad_request("format must be png or svg"))?,
    };
    let scale = number(&q, "scale", u64::from(crate::qr::DEFAULT_SCALE), 32)?;
    let scale = u32::try_from(scale).unwrap_or(crate::qr::DEFAULT_SCALE);
    if !crate::qr::SCALE_RANGE.contains(&scale) {
        return Err(ApiError::bad_request("scale must be 2 to 32 pixels per module"));
    }
    Ok((format, scale))
}

fn csv_reply(bytes: Vec<u8>, filename: &'static str) -> Response {
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

fn image_reply(bytes: Vec<u8>, format: crate::qr::ImageFormat) -> Response {
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    resp
}

async fn bulk_template(_: Admin) -> Response {
    csv_reply(crate::bulk::template(), "bulk-enrollment-template.csv")
}

async fn list_bulk_profiles(_: Admin, State(core): State<AppState>) -> ApiResult {
    let list = blocking(core, |c| c.list_bulk_profiles()).await?;
    Ok(json(StatusCode::OK, &list))
}

async fn create_bulk_profile(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<CreateBulkProfileRequest>,
) -> ApiResult {
    let detail = blocking(core, move |c| c.create_bulk_profile(&req)).await?;
    Ok(json(StatusCode::CREATED, &detail))
}

async fn bulk_profile(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let detail = blocking(core, move |c| c.bulk_profile(&id)).await?;
    Ok(json(StatusCode::OK, &detail))
}

async fn update_bulk_profile(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<UpdateBulkProfileRequest>,
) -> ApiResult {
    let detail = blocking(core, move |c| c.update_bulk_profile(&id, &req)).await?;
    Ok(json(StatusCode::OK, &detail))
}

async fn delete_bulk_profile(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    blocking(core, move |c| c.delete_bulk_profile(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn bulk_token(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<BulkTokenRequest>,
) -> ApiResult {
    let resp = blocking(core, move |c| c.bulk_token(&id, &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn list_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    uri: axum::http::Uri,
) -> ApiResult {
    let (offset, limit) = page(&uri)?;
    let list = blocking(core, move |c| c.list_bulk_devices(&id, offset, limit)).await?;
    Ok(json(StatusCode::OK, &list))
}

async fn add_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<AddBulkDevicesRequest>,
) -> ApiResult {
    let report = blocking(core, move |c| c.add_bulk_devices(&id, &req)).await?;
    Ok(json(StatusCode::OK, &report))
}

async fn edit_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<EditBulkDevicesRequest>,
) -> ApiResult {
    let list = blocking(core, move |c| c.edit_bulk_devices(&id, &req)).await?;
    Ok(json(StatusCode::OK, &list))
}

async fn export_bulk_csv(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let bytes = blocking(core, move |c| c.export_bulk_csv(&id)).await?;
    Ok(csv_reply(bytes, "bulk-enrollment-inventory.csv"))
}

async fn import_bulk_csv(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    uri: axum::http::Uri,
    upload: CsvUpload,
) -> ApiResult {
    let q = query(&uri, &["mode"])?;
    let replace = match q.get("mode").map(String::as_str) {
        None | Some("append") => false,
        Some("replace") => true,
        Some(_) => return Err(ApiError::bad_request("mode must be append or replace")),
    };
    let report = blocking(core, move |c| c.import_bulk_csv(&id, &upload.path, replace)).await?;
    Ok(json(StatusCode::OK, &report))
}

async fn delete_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<DeviceIdsRequest>,
) -> ApiResult {
    let resp = blocking(core, move |c| c.delete_bulk_devices(&id, &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn move_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<MoveDevicesRequest>,
) -> ApiResult {
    let resp = blocking(core, move |c| c.move_bulk_devices(&id, &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn unassign_bulk_devices(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    ApiJson(req): ApiJson<DeviceIdsRequest>,
) -> ApiResult {
    let resp = blocking(core, move |c| c.unassign_bulk_devices(&id, &req)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn bulk_provisioning(_: Admin, State(core): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let resp = blocking(core, move |c| c.bulk_provisioning(&id)).await?;
    Ok(json(StatusCode::OK, &resp))
}

async fn bulk_qr(
    _: Admin,
    State(core): State<AppState>,
    PathParam(id): PathParam,
    uri: axum::http::Uri,
) -> ApiResult {
    let (format, scale) = image_params(&uri)?;
    let bytes = blocking(core, move |c| c.bulk_qr(&id, format, scale)).await?;
    Ok(image_reply(bytes, format))
}

async fn invitation_qr(
    _: Admin,
    State(core): State<AppState>,
    PathParam(email): PathParam,
    uri: axum::http::Uri,
) -> ApiResult {
    let (format, scale) = image_params(&uri)?;
    let bytes = blocking(core, move |c| c.invitation_qr(&email, format, scale)).await?;
    Ok(image_reply(bytes, format))
}

async fn kme_integration(_: Admin, State(core): State<AppState>) -> ApiResult {
    let view = blocking(core, |c| c.kme_integration()).await?;
    Ok(json(StatusCode::OK, &view))
}

async fn enable_kme(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<KmeIntegrationRequest>,
) -> ApiResult {
    let view = blocking(core, move |c| c.enable_kme(&req)).await?;
    Ok(json(StatusCode::OK, &view))
}

async fn kme_uploads(_: Admin, State(core): State<AppState>, uri: axum::http::Uri) -> ApiResult {
    let (offset, limit) = page(&uri)?;
    let list = blocking(core, move |c| c.kme_uploads(offset, limit)).await?;
    Ok(json(StatusCode::OK, &list))
}

async fn export_kme_csv(_: Admin, State(core): State<AppState>) -> ApiResult {
    let bytes = blocking(core, |c| c.export_kme_csv()).await?;
    Ok(csv_reply(bytes, "kme-unapproved-devices.csv"))
}

async fn import_kme_csv(_: Admin, State(core): State<AppState>, upload: CsvUpload) -> ApiResult {
    let report = blocking(core, move |c| c.import_kme_csv(&upload.path)).await?;
    Ok(json(StatusCode::OK, &report))
}

async fn kme_approve(
    _: Admin,
    State(core): State<AppState>,
    ApiJson(req): ApiJson<KmeApproveRequest>,
) -> ApiResult {
    let resp = blocking(core, move |c| c.kme_approve(&req)).await?;
    Ok(json(StatusCode::OK, &resp))
}
